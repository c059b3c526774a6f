"""procops audit: the evidence journal (R10)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import JsonOpt, emit, say

from procops.i18n import _

app = typer.Typer(help=_("The evidence journal: verify its chain, read its events (R10)."), no_args_is_help=True)


@app.command(
    "verify-journal",
    help=_(
        "Recompute the hash chain and compare it with its off-site anchors; exit 1 naming the first altered, "
        "deleted or inserted row, or an anchor the journal no longer matches (rewritten or cut short)."
    ),
)
def verify_journal(
    anchors: Annotated[
        bool,
        typer.Option(
            "--anchors/--no-anchors",
            help=_(
                "Also compare the journal with the heads that backup runs anchored in the repositories "
                "(off-site first); --no-anchors checks the local chain only."
            ),
        ),
    ] = True,
    json_: JsonOpt = False,
) -> None:
    from procops.cli.common import STATE
    from procops.display import when
    from procops.errors import ExitCode
    from procops.journal import check_anchors, journal_path, open_journal

    found: dict = {"anchors": [], "repositories": {}}
    if anchors:
        from procops.backup import api as backup

        found = backup.journal_anchors(STATE.config)
    with open_journal() as j:
        v = j.verify()
        checks = check_anchors(j, found["anchors"])
    bad = [c for c in checks if not c.ok]
    newest = max((c.anchor for c in checks), key=lambda a: a.rows, default=None)

    def human(_unused: object) -> None:
        if v.ok:
            say(
                _("journal {journal_path}: {rows} rows, chain intact; head hash {head_hash}").format(
                    journal_path=journal_path(), rows=v.rows, head_hash=v.head_hash
                )
            )
        else:
            say(
                _("journal {journal_path}: TAMPERED at row {first_bad_id}: {problem}").format(
                    journal_path=journal_path(), first_bad_id=v.first_bad_id, problem=v.problem
                )
            )
        for name, r in found["repositories"].items():
            if not r["ok"]:
                say(
                    _("warning: repository '{name}' could not be read, its anchors were not checked: {error}").format(
                        name=name, error=r["error"]
                    )
                )
        if bad:
            for c in bad[:10]:
                say(_("ANCHOR MISMATCH: {problem}").format(problem=c.problem))
        elif newest is not None:
            where = ", ".join(f"{n} {r['anchors']}" for n, r in found["repositories"].items() if r["anchors"])
            say(
                _("anchors: {checked} checked ({where}), all match; newest: row {rows} at {at}").format(
                    checked=len(checks), where=where, rows=newest.rows, at=when(newest.at)
                )
            )
        elif anchors:
            say(_("anchors: none yet (each backup run anchors the journal's head in the repositories)"))

    emit(
        {
            **v.as_dict(),
            "path": str(journal_path()),
            "anchors": {
                "checked": len(checks),
                "mismatched": [c.as_dict() for c in bad],
                "repositories": found["repositories"],
                "newest": None if newest is None else {"rows": newest.rows, "at": newest.at, "where": newest.where},
            },
        },
        json_,
        human,
    )
    if not v.ok or bad:
        raise typer.Exit(int(ExitCode.VERDICT_FAILED))


@app.command("log", help=_("Show journal events, newest last."))
def log(
    kind: Annotated[
        Optional[str],
        typer.Option(
            help=_(
                "Only this kind: an area (backup: every backup.* event), a kind (backup.run), "
                "or a prefix ending in * (incident.mile*)."
            )
        ),
    ] = None,
    subject: Annotated[Optional[str], typer.Option(help=_("Only this subject."))] = None,
    limit: Annotated[int, typer.Option(help=_("Newest N events."))] = 50,
    json_: JsonOpt = False,
) -> None:
    from procops.display import when
    from procops.journal import open_journal

    pattern = kind_pattern(kind)
    with open_journal() as j:
        events = list(reversed(j.events(pattern, subject, limit=limit, newest_first=True)))
        if pattern is not None and pattern.endswith(".*") and not pattern[:-2].count("."):
            # "backup" names the area; a kind named exactly so counts too
            exact = list(reversed(j.events(pattern[:-2], subject, limit=limit, newest_first=True)))
            events = sorted(events + exact, key=lambda e: e.id)[-limit:]

    def human(_unused: object) -> None:
        if not events:
            say(
                _("nothing matched {what} (the kinds of events: procops status)").format(
                    what=" ".join(
                        x for x in (f"--kind {kind}" if kind else "", f"--subject {subject}" if subject else "") if x
                    )
                    or _("in the journal")
                )
            )
            return
        for e in events:
            say(f"{e.id:>6}  {when(e.time)}  {e.kind:<22} {e.subject:<24} {e.actor}")

    emit([e.as_dict() for e in events], json_, human)


def kind_pattern(kind: str | None) -> str | None:
    """``backup`` -> ``backup.*`` (an area's events); ``backup.run`` and ``backup.*`` as they are."""
    if kind is None or "." in kind or kind.endswith("*"):
        return kind
    return f"{kind}.*"
