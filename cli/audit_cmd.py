"""procops audit: the evidence journal (R10)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from procops.cli.common import JsonOpt, emit, say, set_lang

from procops.i18n import _

app = typer.Typer(
    help=_(
        "The compliance audit R1-R12 over a period (with no command), and the evidence journal: "
        "verify its chain, read its events (R10)."
    ),
    invoke_without_command=True,
    epilog=_("Example: {command}").format(command="procops audit --quarter 2026Q4 --format html --lang zh"),
)


@app.callback()
def audit(
    ctx: typer.Context,
    since: Annotated[
        Optional[str], typer.Option("--since", metavar="DURATION", help=_("The last DURATION, e.g. 90d (default)."))
    ] = None,
    quarter: Annotated[
        Optional[str],
        typer.Option("--quarter", metavar="YYYYQN", help=_("A calendar quarter of the display zone, e.g. 2026Q4.")),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="md|html|pdf|json", help=_("The report's format."))] = "md",
    out: Annotated[
        Optional[Path],
        typer.Option("--out", metavar="FILE", help=_("Write the report here (default: a new folder under reports/).")),
    ] = None,
    lang: Annotated[
        Optional[str], typer.Option("--lang", metavar="en|zh", help=_("Language of the report and of the output."))
    ] = None,
    journal_only: Annotated[
        bool,
        typer.Option(
            "--journal-only",
            help=_("Judge from the journal alone: no live check of the repositories, the platform or the state."),
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Per requirement R1-R12: met, not met or no evidence, with the figures, the evidence rows and what
    to do; exit 1 unless every requirement is met."""
    if ctx.invoked_subcommand is not None:
        if any(x is not None for x in (since, quarter, out)) or fmt != "md" or journal_only:
            from procops.errors import BadInput

            raise BadInput(_("--since, --quarter, --format, --out and --journal-only belong to the audit itself"))
        if lang is not None:
            set_lang(lang)
        return
    from procops import compliance as C
    from procops import desk
    from procops.cli.common import STATE
    from procops.display import when
    from procops.errors import ExitCode

    if lang is not None:
        set_lang(lang)
    if fmt not in desk.FORMATS:
        from procops.errors import BadInput

        raise BadInput(_("unknown format {fmt!r}: one of {formats}").format(fmt=fmt, formats=", ".join(desk.FORMATS)))
    period = desk.parse_period(since, quarter)
    result = desk.audit(STATE.config, period, live=not journal_only)
    path = desk.write_audit(STATE.config, result, STATE.lang, fmt, out)
    not_journaled = desk.record_audit(result, path)

    def human(_unused: object) -> None:
        say(
            _("compliance audit {label}: {start} - {end}").format(
                label=period.label, start=when(period.start), end=when(period.end)
            )
        )
        for f in result.findings:
            say(f"{f.id:<4} {C.status_text(f.status):<12} {f.title}")
            if f.status != C.MET:
                for line in f.figures[:6]:
                    say(f"       {line}")
                for line in f.todo[:3]:
                    say("       " + _("to do: {line}").format(line=line))
        say(_("report: {path}").format(path=path))
        if not_journaled:
            say(_("warning: the audit was not journaled: {error}").format(error=not_journaled))
        if result.ok:
            say(_("PASS: every requirement R1-R12 is met"))
        else:
            c = result.counts()
            say(
                _("FAIL: {not_met} requirements not met, {no_evidence} without evidence").format(
                    not_met=c[C.NOT_MET], no_evidence=c[C.NO_EVIDENCE]
                )
            )

    emit({**result.as_dict(), "report": str(path), "not_journaled": not_journaled}, json_, human)
    if not result.ok:
        raise typer.Exit(int(ExitCode.VERDICT_FAILED))


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
    head: Annotated[
        Optional[str],
        typer.Option(
            "--head",
            metavar="HASH",
            help=_(
                "A head hash noted down earlier (procops status shows it; 12 or more hex digits): "
                "exit 1 unless a row of the intact chain carries it."
            ),
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    import re

    from procops.cli.common import STATE
    from procops.display import when
    from procops.errors import BadInput, ExitCode
    from procops.journal import check_anchors, find_hash, home_state, journal_path, open_journal

    if head is not None and not re.fullmatch(r"[0-9a-fA-F]{12,64}", head.strip()):
        raise BadInput(_("--head: {head!r} is not a hash (12 to 64 hex digits)").format(head=head))

    found: dict = {"anchors": [], "repositories": {}}
    if anchors:
        from procops.backup import api as backup

        found = backup.journal_anchors(STATE.config)
    with open_journal() as j:
        v = j.verify()
        checks = check_anchors(j, found["anchors"])
        head_row = find_hash(j, head) if head is not None else None
    bad = [c for c in checks if not c.ok]
    # an empty journal on a home that was used was deleted or emptied: not "0 rows, chain intact"
    emptied = home_state() if v.rows == 0 else []
    head_ok = head is None or (head_row is not None and (v.ok or (v.first_bad_id or 0) > head_row))
    newest = max((c.anchor for c in checks), key=lambda a: a.rows, default=None)

    def human(_unused: object) -> None:
        if emptied:
            say(
                _(
                    "journal {journal_path}: EMPTY, but this home has state ({state}): "
                    "the journal was deleted or emptied"
                ).format(journal_path=journal_path(), state=", ".join(emptied[:5]))
            )
        elif v.ok:
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
        if head is not None:
            if head_ok:
                say(
                    _("noted head {head}: row {row} of {rows}, on the intact chain").format(
                        head=head, row=head_row, rows=v.rows
                    )
                )
            else:
                say(
                    _(
                        "NOTED HEAD NOT FOUND: no row of the intact chain carries {head} (rewritten or cut short)"
                    ).format(head=head)
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
            "emptied": emptied,
            "noted_head": None if head is None else {"hash": head, "row": head_row, "ok": head_ok},
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
    if not v.ok or bad or emptied or not head_ok:
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
