"""procops backup: hourly local + off-site restic backups, integrity verification, restore tests (R3, R4, R5)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

app = typer.Typer(
    help="Hourly local + off-site restic backups, integrity verification, restore tests (R3, R4, R5).",
    no_args_is_help=True,
)

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
    from procops.backup import api

    _setup_logging()
    res = api.init(STATE.config, repo)

    def human(d: dict) -> None:
        for name, r in d["repositories"].items():
            say(f"{name:<10} {r['status']:<8} {r['url']}" + (f"  {r['error']}" if r.get("error") else ""))

    emit(res, json_, human)
    raise typer.Exit(int(api.init_exit_code(res)))


@app.command("run")
def run_(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Back up the database and the documents store to every repository (one run at a time)."""
    from procops.backup import api

    _setup_logging()
    res = api.backup(STATE.config, repo, loaded=STATE.loaded())

    def human(d: dict) -> None:
        tot = d.get("manifest_totals") or {}
        say(
            f"run {d['run']}: {'ok' if d['ok'] else 'FAILED'}"
            + (f"  ({tot.get('documents')} documents, {tot.get('bytes')} bytes in the manifest)" if tot else "")
        )
        if d["dump_error"]:
            say(f"  dump failed: {d['dump_error']}")
        for x in d.get("damaged_documents") or []:
            say(f"  DAMAGED document {x['id']} ({x['storage_path']}): {x['problem']}, {x['detail']}")
        if d.get("damaged_documents"):
            say("  backed up all the same (the evidence is kept); repair with: procops backup restore --document ID")
        for name, r in d["repositories"].items():
            if r["status"] == "ok":
                snap = r["files_snapshot"] or "-"
                extra = f"copied from {r['copied_from']}" if r["mode"] == "copy" else f"+{r['added_bytes']} bytes"
                say(
                    f"  {name:<10} ok      snapshot {snap}  {extra}  {r['seconds']:.1f}s  "
                    f"forget {r['forget']}, prune {r['prune']}"
                )
            else:
                say(f"  {name:<10} FAILED  {r['problem']}: {r['error']}")

    emit(res.as_dict(), json_, human)
    raise typer.Exit(int(api.run_exit_code(res)))


def _progress_bar():
    """A rich progress bar on stderr for long restores (a no-op callback when stderr is not a terminal)."""
    import sys

    if not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
        console=__import__("rich.console").console.Console(stderr=True),
    )
    task = bar.add_task("restoring", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None)

    return bar, update


@app.command()
def restore(
    target: Annotated[Optional[str], typer.Option("--target", help="Restore into this new or empty folder.")] = None,
    to_sandbox: Annotated[
        bool,
        typer.Option(
            "--to-sandbox",
            help="Restore into a sandbox instance and start it serving the restored data (the standby system).",
        ),
    ] = False,
    document: Annotated[
        Optional[int],
        typer.Option(
            "--document",
            help="Restore this one archived document (its id) in place, from the newest backup run "
            "holding it with the platform's recorded sha256.",
        ),
    ] = None,
    instance: Annotated[str, typer.Option("--instance", help="Sandbox instance for --to-sandbox.")] = "standby",
    bind_address: Annotated[
        Optional[str],
        typer.Option(
            "--bind-address", help="With --to-sandbox: the address it listens on (default: sandbox.bind_address)."
        ),
    ] = None,
    repo: RepoOpt = None,
    snapshot: SnapshotOpt = "latest",
    json_: JsonOpt = False,
) -> None:
    """Restore a backup run to a folder (--target DIR) or to a serving standby sandbox (--to-sandbox), or one
    archived document in place (--document ID)."""
    from procops.backup import api
    from procops.errors import BadInput

    _setup_logging()
    if (bool(target) + bool(to_sandbox) + (document is not None)) != 1:
        raise BadInput("give exactly one of --target DIR, --to-sandbox or --document ID")
    if document is not None:
        if snapshot != "latest" or repo is not None:
            raise BadInput("--document takes no --snapshot or --repo: it uses the newest run holding a good copy")
        doc = api.restore_document(STATE.config, document, loaded=STATE.loaded())

        def human_doc(d: dict) -> None:
            if d["status"] == "restored":
                say(
                    f"document {d['id']} ({d['storage_path']}) restored from run {d['run']} (snapshot "
                    f"{d['snapshot']} in {d['repository']}), sha256 {d['sha256'][:12]}... as recorded"
                )
            elif d["status"] == "intact":
                say(f"document {d['id']} ({d['storage_path']}) is intact: its sha256 matches the record")
            else:
                say(f"document {d['id']} ({d['storage_path']}): NO backup run holds a copy with the recorded sha256")
                for t in d["tried"]:
                    say(f"  {t.get('repository')} run {t.get('run', '-')}: " + (t.get("error") or t.get("sha256", "")))

        emit(doc, json_, human_doc)
        raise typer.Exit(int(api.restore_document_exit_code(doc)))
    bar, update = _progress_bar()
    if bar is not None:
        bar.start()
    try:
        if to_sandbox:
            res = api.restore_to_sandbox(
                STATE.config,
                repo=repo,
                snapshot=snapshot,
                instance=instance,
                progress=update,
                bind_address=bind_address,
                loaded=STATE.loaded(),
            )
        else:
            assert target is not None  # exactly one of --target and --to-sandbox
            res = api.restore_to_dir(
                STATE.config, target, repo=repo, snapshot=snapshot, progress=update, loaded=STATE.loaded()
            ).as_dict()
    finally:
        if bar is not None:
            bar.stop()
    if to_sandbox:
        emit(
            res,
            json_,
            lambda d: say(
                f"standby '{d['instance']}' serves run {d['run']} (snapshot {d['snapshot']} "
                f"from {d['repository']}) at {d['url']}, {d['documents']} documents, "
                f"in {d['seconds']:.1f}s"
            ),
        )
    else:
        emit(
            res,
            json_,
            lambda d: say(
                f"restored run {d['run']} (snapshot {d['files_snapshot']} from "
                f"{d['repository']}) to {d['root']}: documents/, manifest.json, {d['dump']}"
            ),
        )


@app.command()
def prune(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """`forget --prune` per the retention now. Run it on the host that owns a repository: an append-only
    off-site repository is pruned on the off-site host, never from here."""
    from procops.backup import api

    _setup_logging()
    res = api.prune(STATE.config, repo, loaded=STATE.loaded())

    def human(d: dict) -> None:
        for n, v in d["repositories"].items():
            say(f"{n:<10} {v}")

    emit(res, json_, human)
    raise typer.Exit(int(api.prune_exit_code(res)))


@app.command()
def check(
    repo: RepoOpt = None,
    read_data_subset: Annotated[
        Optional[str],
        typer.Option(
            "--read-data-subset",
            help="Read this part of the packs instead of the next rotating n/t subset: "
            "n/t, a percentage, a size (500M), or 'all'.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """`restic check` of every repository, reading the next n/t subset of its packs; exit 1 on any error."""
    from procops.backup import api

    _setup_logging()
    res = api.check(STATE.config, repo=repo, read_data_subset=read_data_subset, loaded=STATE.loaded())

    def human(d: dict) -> None:
        for r in d["repositories"]:
            say(f"{r['repository']:<10} {'ok' if r['ok'] else 'ERRORS'}  read {r['read']}  {r['seconds']:.1f}s")
            for p in r["packs"]:
                say(f"  damaged pack {p}")
            for e in r["errors"][:10]:
                say(f"  {e}")

    ok = all(r.ok for r in res)
    emit({"ok": ok, "repositories": [r.as_dict() for r in res]}, json_, human)
    raise typer.Exit(int(api.check_exit_code(res)))


@app.command()
def verify(
    repo: RepoOpt = None,
    snapshot: SnapshotOpt = "latest",
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Check the live platform (database against the documents store) instead of a backup."
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Restore a backup run to scratch (files and database) and check it against its manifest; exit 1 on problems."""
    from procops.backup import api

    _setup_logging()
    results = (
        [api.verify_live(STATE.config, loaded=STATE.loaded())]
        if live
        else api.verify_snapshot(STATE.config, repo=repo, snapshot=snapshot, loaded=STATE.loaded())
    )

    def human(d: dict) -> None:
        for r in d["results"]:
            what = "live platform" if r["target"] == "live" else f"{r['target']} run {r['run']} ({r['snapshot']})"
            say(
                f"{what}: {'ok' if r['ok'] else 'PROBLEMS'}  {r['documents']} documents, "
                f"{r['bytes_hashed']} bytes hashed in {r['hash_seconds']:.2f}s"
            )
            for p in r["problems"][:100]:
                say(f"  {p['kind']:<15} {p['subject']}: {p['detail']}")
            if len(r["problems"]) > 100:
                say(f"  ... and {len(r['problems']) - 100} more (use --json)")

    ok = all(r.ok for r in results)
    emit({"ok": ok, "results": [r.as_dict() for r in results]}, json_, human)
    raise typer.Exit(int(api.verify_exit_code(results)))


@app.command()
def snapshots(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Backup runs (database + files snapshots) in each repository."""
    from procops.backup import api

    res = api.snapshots(STATE.config, repo)

    def human(d: dict) -> None:
        for name, r in d["repositories"].items():
            say(f"{name}{' (off-site)' if r['offsite'] else ''}:" + ("" if r["ok"] else f" UNREACHABLE: {r['error']}"))
            for x in r["runs"]:
                say(
                    f"  {x['time'][:19]}  run {x['run']}  files {x['files_snapshot']}  "
                    f"database {x['database_snapshot'] or '-'}"
                )
            for x in r.get("incomplete", []):
                say(f"  {x['time'][:19]}  incomplete snapshot {x['id']} ({', '.join(x['tags'])})")

    emit(res, json_, human)
    raise typer.Exit(int(api.snapshots_exit_code(res)))


@app.command()
def status(json_: JsonOpt = False) -> None:
    """Per repository: latest backup and its age, RPO (1 h), last check and verify, off-site lag. Exit 1 when
    the RPO does not hold somewhere."""
    from procops.backup import api
    from procops.timeutil import format_duration

    res = api.status(STATE.config)

    def human(d: dict) -> None:
        for name, r in d["repositories"].items():
            latest = (
                f"latest {r['latest_snapshot']} ({format_duration(r['age_seconds'])} ago, "
                if r["age_seconds"] is not None
                else "no backup yet ("
            )
            line = (
                f"{name:<10} {'RPO ok' if r['rpo_ok'] else 'RPO MISSED'}  {latest}"
                f"limit {format_duration(r['rpo_seconds'])})  {r['runs']} runs"
            )
            if r["offsite"] and r.get("offsite_missing_runs") is not None:
                line += f"  missing off-site: {r['offsite_missing_runs']}"
            say(line)
            if not r["reachable"]:
                say(f"  unreachable: {r['error']}")
            if r["last_run_status"] and r["last_run_status"] != "ok":
                say(f"  last run {r['last_run']} failed: {r['last_run_error']}")
            c, v = r.get("check") or {}, r.get("verify") or {}
            say(
                f"  check: {('ok' if c.get('ok') else 'ERRORS') if c else 'never'} {c.get('time', '')} "
                f"{c.get('read', '')}   verify: {('ok' if v.get('ok') else 'PROBLEMS') if v else 'never'} "
                f"{v.get('time', '')}"
            )
        lv = d.get("live_verify")
        say(
            f"live data: {('ok' if lv['ok'] else str(lv['problems']) + ' PROBLEMS') + ' ' + lv['time'] if lv else 'never verified'}"
        )

    emit(res, json_, human)
    raise typer.Exit(int(api.status_exit_code(res)))
