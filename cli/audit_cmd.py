"""procops audit: the evidence journal (R10)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import JsonOpt, emit, say

app = typer.Typer(help="The evidence journal: verify its chain, read its events (R10).", no_args_is_help=True)


@app.command("verify-journal")
def verify_journal(
    anchors: Annotated[
        bool,
        typer.Option(
            "--anchors/--no-anchors",
            help="Also compare the journal with the heads that backup runs anchored in the repositories "
            "(off-site first); --no-anchors checks the local chain only.",
        ),
    ] = True,
    json_: JsonOpt = False,
) -> None:
    """Recompute the hash chain and compare it with its off-site anchors; exit 1 naming the first altered,
    deleted or inserted row, or an anchor the journal no longer matches (rewritten or cut short)."""
    from procops.cli.common import STATE
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

    def human(_: object) -> None:
        if v.ok:
            say(f"journal {journal_path()}: {v.rows} rows, chain intact; head hash {v.head_hash}")
        else:
            say(f"journal {journal_path()}: TAMPERED at row {v.first_bad_id}: {v.problem}")
        for name, r in found["repositories"].items():
            if not r["ok"]:
                say(f"warning: repository '{name}' could not be read, its anchors were not checked: {r['error']}")
        if bad:
            for c in bad[:10]:
                say(f"ANCHOR MISMATCH: {c.problem}")
        elif newest is not None:
            where = ", ".join(f"{n} {r['anchors']}" for n, r in found["repositories"].items() if r["anchors"])
            say(f"anchors: {len(checks)} checked ({where}), all match; newest: row {newest.rows} at {newest.at}")
        elif anchors:
            say("anchors: none yet (each backup run anchors the journal's head in the repositories)")

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
