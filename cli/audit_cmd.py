"""procops audit: the evidence journal (R10)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import JsonOpt, emit, say

app = typer.Typer(help="The evidence journal: verify its chain, read its events (R10).", no_args_is_help=True)


@app.command("verify-journal")
def verify_journal(json_: JsonOpt = False) -> None:
    """Recompute the hash chain; exit 1 naming the first altered, deleted or inserted row."""
    from procops.errors import ExitCode
    from procops.journal import journal_path, open_journal

    with open_journal() as j:
        v = j.verify()

    def human(_: object) -> None:
        if v.ok:
            say(f"journal {journal_path()}: {v.rows} rows, chain intact; head hash {v.head_hash}")
        else:
            say(f"journal {journal_path()}: TAMPERED at row {v.first_bad_id}: {v.problem}")

    emit({**v.as_dict(), "path": str(journal_path())}, json_, human)
    if not v.ok:
        raise typer.Exit(int(ExitCode.VERDICT_FAILED))


@app.command("log")
def log(
    kind: Annotated[
        Optional[str], typer.Option(help="Only this kind; a trailing * matches a prefix (backup.*).")
    ] = None,
    subject: Annotated[Optional[str], typer.Option(help="Only this subject.")] = None,
    limit: Annotated[int, typer.Option(help="Newest N events.")] = 50,
    json_: JsonOpt = False,
) -> None:
    """Show journal events, newest last."""
    from procops.journal import open_journal

    with open_journal() as j:
        events = list(reversed(j.events(kind, subject, limit=limit, newest_first=True)))

    def human(_: object) -> None:
        for e in events:
            say(f"{e.id:>6}  {e.time}  {e.kind:<22} {e.subject:<24} {e.actor}")

    emit([e.as_dict() for e in events], json_, human)
