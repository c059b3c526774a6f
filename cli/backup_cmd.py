"""procops backup: hourly local + off-site restic backups, integrity verification, restore tests (R3, R4, R5)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

from procops.i18n import _

app = typer.Typer(
    help=_("Hourly local + off-site restic backups, integrity verification, restore tests (R3, R4, R5)."),
    no_args_is_help=True,
)

RepoOpt = Annotated[Optional[str], typer.Option("--repo", help=_("Only this repository (default: every one)."))]
SnapshotOpt = Annotated[str, typer.Option("--snapshot", help=_("'latest', a run id or a snapshot id."))]


def _setup_logging() -> None:
    import logging
    import os

    level = os.environ.get("PROCOPS_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING), format="%(levelname)s %(name)s: %(message)s")


@app.command(help=_("Initialise every repository (an already initialised one is fine)."))
def init(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    from procops.backup import api

    _setup_logging()
    res = api.init(STATE.config, repo)

    def human(d: dict) -> None:
        for name, r in d["repositories"].items():
            word = {"exists": _("already initialised"), "created": _("initialised"), "failed": _("FAILED")}
            say(
                f"{name:<10} {word.get(r['status'], r['status'])}  {r['url']}"
                + (f"  {r['error']}" if r.get("error") else "")
            )

    emit(res, json_, human)
    raise typer.Exit(int(api.init_exit_code(res)))


@app.command("run", help=_("Back up the database and the documents store to every repository (one run at a time)."))
def run_(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    from procops.backup import api

    from procops.progress import progress

    _setup_logging()
    with progress(_("Backing up"), unit="bytes") as bar:

        def on_status(repository: str, m: dict) -> None:
            bar.describe(_("backing up to {repository}").format(repository=repository))
            bar.update(
                m.get("bytes_done", 0),
                m.get("total_bytes"),
                _("{done} of {total} files").format(done=m.get("files_done", 0), total=m.get("total_files", "?")),
            )

        res = api.backup(STATE.config, repo, loaded=STATE.loaded(), progress=on_status if bar.live else None)

    def human(d: dict) -> None:
        tot = d.get("manifest_totals") or {}
        say(
            _("run {run}: {value}").format(run=d["run"], value=_("ok") if d["ok"] else _("FAILED"))
            + (
                _("  ({documents} documents, {bytes} bytes in the manifest)").format(
                    documents=tot.get("documents"), bytes=tot.get("bytes")
                )
                if tot
                else ""
            )
        )
        if d["dump_error"]:
            say(_("  dump failed: {dump_error}").format(dump_error=d["dump_error"]))
        for x in d.get("damaged_documents") or []:
            say(
                _("  DAMAGED document {id} ({storage_path}): {problem}, {detail}").format(
                    id=x["id"], storage_path=x["storage_path"], problem=x["problem"], detail=x["detail"]
                )
            )
        if d.get("damaged_documents"):
            say(_("  backed up all the same (the evidence is kept); repair with: procops backup restore --document ID"))
        for name, r in d["repositories"].items():
            if r["status"] == "ok":
                snap = r["files_snapshot"] or "-"
                extra = (
                    _("copied from {repository}").format(repository=r["copied_from"])
                    if r["mode"] == "copy"
                    else _("+{bytes} bytes").format(bytes=r["added_bytes"])
                )
                say(
                    _(
                        "  {name:<10} ok      snapshot {snap}  {extra}  {seconds:.1f}s  forget {forget}, prune {prune}"
                    ).format(
                        name=name, snap=snap, extra=extra, seconds=r["seconds"], forget=r["forget"], prune=r["prune"]
                    )
                )
            else:
                say(
                    _("  {name:<10} FAILED  {problem}: {error}").format(
                        name=name, problem=r["problem"], error=r["error"]
                    )
                )

    emit(res.as_dict(), json_, human)
    raise typer.Exit(int(api.run_exit_code(res)))


@app.command(
    help=_(
        "Restore a backup run to a folder (--target DIR) or to a serving standby sandbox (--to-sandbox), or one archived document in place (--document ID)."
    )
)
def restore(
    target: Annotated[Optional[str], typer.Option("--target", help=_("Restore into this new or empty folder."))] = None,
    to_sandbox: Annotated[
        bool,
        typer.Option(
            "--to-sandbox",
            help=_("Restore into a sandbox instance and start it serving the restored data (the standby system)."),
        ),
    ] = False,
    document: Annotated[
        Optional[int],
        typer.Option(
            "--document",
            help=_(
                "Restore this one archived document (its id) in place, from the newest backup run "
                "holding it with the platform's recorded sha256."
            ),
        ),
    ] = None,
    instance: Annotated[str, typer.Option("--instance", help=_("Sandbox instance for --to-sandbox."))] = "standby",
    bind_address: Annotated[
        Optional[str],
        typer.Option(
            "--bind-address", help=_("With --to-sandbox: the address it listens on (default: sandbox.bind_address).")
        ),
    ] = None,
    repo: RepoOpt = None,
    snapshot: SnapshotOpt = "latest",
    json_: JsonOpt = False,
) -> None:
    from procops.backup import api
    from procops.errors import BadInput

    _setup_logging()
    if (bool(target) + bool(to_sandbox) + (document is not None)) != 1:
        raise BadInput(_("give exactly one of --target DIR, --to-sandbox or --document ID"))
    if document is not None:
        if snapshot != "latest" or repo is not None:
            raise BadInput("--document takes no --snapshot or --repo: it uses the newest run holding a good copy")
        doc = api.restore_document(STATE.config, document, loaded=STATE.loaded())

        def human_doc(d: dict) -> None:
            if d["status"] == "restored":
                say(
                    _(
                        "document {id} ({storage_path}) restored from run {run} (snapshot {snapshot} in {repository}), sha256 {value}... as recorded"
                    ).format(
                        id=d["id"],
                        storage_path=d["storage_path"],
                        run=d["run"],
                        snapshot=d["snapshot"],
                        repository=d["repository"],
                        value=d["sha256"][:12],
                    )
                )
            elif d["status"] == "intact":
                say(
                    _("document {id} ({storage_path}) is intact: its sha256 matches the record").format(
                        id=d["id"], storage_path=d["storage_path"]
                    )
                )
            else:
                say(
                    _("document {id} ({storage_path}): NO backup run holds a copy with the recorded sha256").format(
                        id=d["id"], storage_path=d["storage_path"]
                    )
                )
                for t in d["tried"]:
                    say(
                        _("  {repository} run {run}: ").format(repository=t.get("repository"), run=t.get("run", "-"))
                        + (t.get("error") or t.get("sha256", ""))
                    )

        emit(doc, json_, human_doc)
        raise typer.Exit(int(api.restore_document_exit_code(doc)))
    from procops.progress import progress

    with progress(_("Restoring"), unit="bytes") as bar:
        update = (lambda done, total: bar.update(done, total or None)) if bar.live else None
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
    if to_sandbox:
        emit(
            res,
            json_,
            lambda d: say(
                _(
                    "standby '{instance}' serves run {run} (snapshot {snapshot} from {repository}) at {url}, {documents} documents, in {seconds:.1f}s"
                ).format(
                    instance=d["instance"],
                    run=d["run"],
                    snapshot=d["snapshot"],
                    repository=d["repository"],
                    url=d["url"],
                    documents=d["documents"],
                    seconds=d["seconds"],
                )
            ),
        )
    else:
        emit(
            res,
            json_,
            lambda d: say(
                _(
                    "restored run {run} (snapshot {files_snapshot} from {repository}) to {root}: documents/, manifest.json, {dump}"
                ).format(
                    run=d["run"],
                    files_snapshot=d["files_snapshot"],
                    repository=d["repository"],
                    root=d["root"],
                    dump=d["dump"],
                )
            ),
        )


@app.command(
    help=_(
        "`forget --prune` per the retention now. Run it on the host that owns a repository: an append-only off-site repository is pruned on the off-site host, never from here."
    )
)
def prune(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    from procops.backup import api

    _setup_logging()
    res = api.prune(STATE.config, repo, loaded=STATE.loaded())

    def human(d: dict) -> None:
        for n, v in d["repositories"].items():
            say(f"{n:<10} {v}")

    emit(res, json_, human)
    raise typer.Exit(int(api.prune_exit_code(res)))


@app.command(
    help=_("`restic check` of every repository, reading the next n/t subset of its packs; exit 1 on any error.")
)
def check(
    repo: RepoOpt = None,
    read_data_subset: Annotated[
        Optional[str],
        typer.Option(
            "--read-data-subset",
            help=_(
                "Read this part of the packs instead of the next rotating n/t subset: "
                "n/t, a percentage, a size (500M), or 'all'."
            ),
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    from procops.backup import api

    _setup_logging()
    res = api.check(STATE.config, repo=repo, read_data_subset=read_data_subset, loaded=STATE.loaded())

    def human(d: dict) -> None:
        for r in d["repositories"]:
            say(
                _("{repository:<10} {value}  read {read}  {seconds:.1f}s").format(
                    repository=r["repository"],
                    value=_("ok") if r["ok"] else _("ERRORS"),
                    read=r["read"],
                    seconds=r["seconds"],
                )
            )
            for p in r["packs"]:
                say(_("  damaged pack {p}").format(p=p))
            for e in r["errors"][:10]:
                say(f"  {e}")

    ok = all(r.ok for r in res)
    emit({"ok": ok, "repositories": [r.as_dict() for r in res]}, json_, human)
    raise typer.Exit(int(api.check_exit_code(res)))


@app.command(
    help=_(
        "Restore a backup run to scratch (files and database) and check it against its manifest; exit 1 on problems."
    )
)
def verify(
    repo: RepoOpt = None,
    snapshot: SnapshotOpt = "latest",
    live: Annotated[
        bool,
        typer.Option(
            "--live", help=_("Check the live platform (database against the documents store) instead of a backup.")
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    from procops.backup import api

    from procops.progress import progress

    _setup_logging()
    with progress(_("Verifying (sha256 of every document)"), unit="bytes") as bar:

        def hashed(done: int, total: int, nbytes: int) -> None:
            bar.update(nbytes, None, _("{done} of {total} documents").format(done=done, total=total))

        cb = hashed if bar.live else None
        results = (
            [api.verify_live(STATE.config, loaded=STATE.loaded(), progress=cb)]
            if live
            else api.verify_snapshot(STATE.config, repo=repo, snapshot=snapshot, loaded=STATE.loaded(), progress=cb)
        )

    def human(d: dict) -> None:
        for r in d["results"]:
            what = "live platform" if r["target"] == "live" else f"{r['target']} run {r['run']} ({r['snapshot']})"
            say(
                _("{what}: {value}  {documents} documents, {bytes_hashed} bytes hashed in {hash_seconds:.2f}s").format(
                    what=what,
                    value=_("ok") if r["ok"] else _("PROBLEMS"),
                    documents=r["documents"],
                    bytes_hashed=r["bytes_hashed"],
                    hash_seconds=r["hash_seconds"],
                )
            )
            for p in r["problems"][:100]:
                say(f"  {p['kind']:<15} {p['subject']}: {p['detail']}")
            if len(r["problems"]) > 100:
                say(_("  ... and {value} more (use --json)").format(value=len(r["problems"]) - 100))

    ok = all(r.ok for r in results)
    emit({"ok": ok, "results": [r.as_dict() for r in results]}, json_, human)
    raise typer.Exit(int(api.verify_exit_code(results)))


@app.command(help=_("Backup runs (database + files snapshots) in each repository."))
def snapshots(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    from procops.backup import api

    res = api.snapshots(STATE.config, repo)

    def human(d: dict) -> None:
        from procops.display import when

        for name, r in d["repositories"].items():
            kind = _("off-site") if r["offsite"] else _("local")
            if r["ok"]:
                say(f"{name} ({kind}):")
            elif r.get("problem") == "not_initialised":
                say(
                    f"{name} ({kind}): "
                    + _("no repository yet: run `procops backup init --repo {name}`").format(name=name)
                )
            else:
                say(f"{name} ({kind}):" + _(" UNREACHABLE: {error}").format(error=r["error"]))
            for x in r["runs"]:
                say(
                    _("  {value}  run {run}  files {files_snapshot}  database {value2}").format(
                        value=when(x["time"]),
                        run=x["run"],
                        files_snapshot=x["files_snapshot"],
                        value2=x["database_snapshot"] or "-",
                    )
                )
            for x in r.get("incomplete", []):
                say(
                    _("  {value}  incomplete snapshot {id} ({tags})").format(
                        value=when(x["time"]), id=x["id"], tags=", ".join(x["tags"])
                    )
                )

    emit(res, json_, human)
    raise typer.Exit(int(api.snapshots_exit_code(res)))


@app.command(
    help=_(
        "Per repository: latest backup and its age, RPO (1 h), last check and verify, off-site lag. Exit 1 when the RPO does not hold somewhere."
    )
)
def status(json_: JsonOpt = False) -> None:
    from procops.backup import api

    res = api.status(STATE.config)

    def human(d: dict) -> None:
        from procops.display import duration, when

        fresh = all(r.get("problem") == "not_initialised" for r in d["repositories"].values())
        if fresh and d["repositories"]:
            say(_("no backup repository yet: run `procops backup init`, then `procops backup run`"))
            return
        for name, r in d["repositories"].items():
            kind = _("off-site") if r["offsite"] else _("local")
            rpo = _("RPO ok") if r["rpo_ok"] else _("RPO MISSED")
            if r["age_seconds"] is not None:
                latest = _("latest backup {snapshot} at {time} ({age} ago)").format(
                    snapshot=r["latest_snapshot"], time=when(r["latest_time"]), age=duration(r["age_seconds"])
                )
            else:
                latest = _("no backup yet")
            say(
                _("{name} ({kind}): {rpo} (limit {limit}); {latest}; {runs} runs").format(
                    name=name, kind=kind, rpo=rpo, limit=duration(r["rpo_seconds"]), latest=latest, runs=r["runs"]
                )
            )
            if r["offsite"] and r.get("offsite_missing_runs"):
                say(_("  not yet copied off-site: {n} runs").format(n=r["offsite_missing_runs"]))
            if r.get("problem") == "not_initialised":
                say(_("  no repository yet: run `procops backup init --repo {name}`").format(name=name))
            elif not r["reachable"]:
                say(_("  unreachable: {error}").format(error=r["error"]))
                say(_("  see the runbook: procops runbook show backup-failure"))
            if r["last_run_status"] and r["last_run_status"] != "ok":
                say(_("  last run {run} failed: {error}").format(run=r["last_run"], error=r["last_run_error"]))
            c, v = r.get("check") or {}, r.get("verify") or {}
            check = (
                (_("ok at {time}") if c.get("ok") else _("ERRORS at {time}")).format(time=when(c.get("time")))
                if c
                else _("never")
            )
            verify = (
                (_("ok at {time}") if v.get("ok") else _("PROBLEMS at {time}")).format(time=when(v.get("time")))
                if v
                else _("never")
            )
            say(_("  repository check: {check}; restore-and-verify: {verify}").format(check=check, verify=verify))
        lv = d.get("live_verify")
        if lv:
            state = (_("ok at {time}") if lv["ok"] else _("{n} PROBLEMS at {time}")).format(
                n=lv["problems"], time=when(lv["time"])
            )
        else:
            state = _("never verified (procops backup verify --live)")
        say(_("live archive: {state}").format(state=state))

    emit(res, json_, human)
    raise typer.Exit(int(api.status_exit_code(res)))
