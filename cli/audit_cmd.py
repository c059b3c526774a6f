"""procops audit: the evidence journal (R10)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import JsonOpt, emit, say

from procops.i18n import _

app = typer.Typer(help=_("The evidence journal: verify its chain, read its events (R10)."), no_args_is_help=True)


@app.command(
    "verify-journal", help=_("Recompute the hash chain; exit 1 naming the first altered, deleted or inserted row.")
)
def verify_journal(json_: JsonOpt = False) -> None:
    from procops.errors import ExitCode
    from procops.journal import journal_path, open_journal

    with open_journal() as j:
        v = j.verify()

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

    emit({**v.as_dict(), "path": str(journal_path())}, json_, human)
    if not v.ok:
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
