"""procops backup: hourly local + off-site restic backups, integrity verification, restore tests (R3, R4, R5)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

app = typer.Typer(help="Hourly local + off-site restic backups, integrity verification, restore tests "
                  "(R3, R4, R5).", no_args_is_help=True)

RepoOpt = Annotated[Optional[str], typer.Option("--repo", help="Only this repository (default: every one).")]
SnapshotOpt = Annotated[str, typer.Option("--snapshot", help="'latest', a run id or a snapshot id.")]


def _setup_logging() -> None:
    import logging
    import os

    level = os.environ.get("PROCOPS_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING), format="%(levelname)s %(name)s: %(message)s")


@app.command()
def init(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Initialise every repository (an already initialised one is fine)."""
    from procops.backup import run

    _setup_logging()
    res = run.init(STATE.config, repo)

    def human(d: dict) -> None:
        for name, r in d["repositories"].items():
            say(f"{name:<10} {r['status']:<8} {r['url']}" + (f"  {r['error']}" if r.get("error") else ""))

    emit(res, json_, human)
    if not res["ok"]:
        raise typer.Exit(3)


@app.command("run")
def run_(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Back up the database and the documents store to every repository (one run at a time)."""
    from procops.backup import run

    _setup_logging()
    res = run.backup(STATE.config, repo)

    def human(d: dict) -> None:
        tot = d.get("manifest_totals") or {}
        say(f"run {d['run']}: {'ok' if d['ok'] else 'FAILED'}"
            + (f"  ({tot.get('documents')} documents, {tot.get('bytes')} bytes in the manifest)" if tot else ""))
        if d["dump_error"]:
            say(f"  dump failed: {d['dump_error']}")
        for name, r in d["repositories"].items():
            if r["status"] == "ok":
                snap = r["files_snapshot"] or "-"
                extra = f"copied from {r['copied_from']}" if r["mode"] == "copy" else f"+{r['added_bytes']} bytes"
                say(f"  {name:<10} ok      snapshot {snap}  {extra}  {r['seconds']:.1f}s  "
                    f"forget {r['forget']}, prune {r['prune']}")
            else:
                say(f"  {name:<10} FAILED  {r['problem']}: {r['error']}")

    emit(res.as_dict(), json_, human)
    if not res.ok:
        raise typer.Exit(3 if res.live_lock_only else 1)
