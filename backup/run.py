"""`procops backup init` and `procops backup run`.

A run (one at a time: a second run exits 3 naming the holder's pid):

1. dumps the database consistently and reads the manifest from the same state
   (see :mod:`procops.backup.dumps`);
2. for every non-off-site repository (or the one asked for): streams the dump to
   ``restic backup --stdin`` (the producer's exit status is checked before
   restic sees the end of its input; on failure restic gets SIGINT and saves
   nothing) while a second restic backs up the documents store with the
   manifest; restic's exit 3 (files unreadable) is a failure; a run that failed
   in either half forgets the other half's snapshot;
3. for every off-site repository: ``restic copy`` from a repository that got
   this run (which also catches up every run missing there), or a direct backup
   when no local repository succeeded;
4. ``forget --prune`` per retention on each repository that succeeded, when the
   prune cadence is due (daily by policy).

Each repository is handled independently; the run exits 1 when any failed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procops.backup import documents, dumps, retention, state
from procops.backup.ops import (
    CONFIRMATION_FILE,
    TAG,
    TAG_CONFIRMATION,
    TAG_CONFIRMED,
    TAG_DB,
    TAG_FILES,
    LiveLock,
    RunSet,
    Snapshot,
    make_restic,
    run_sets,
    snapshots,
    unconfirmed,
    with_stale_unlock,
)
from procops.backup.restic import (
    Problem,
    Repo,
    Restic,
    ResticError,
    backup_args,
    backup_stdin_args,
    copy_args,
    forget_args,
    init_args,
    prune_args,
    tail,
    unlock_args,
)
from procops.backup.sources import Sources, backup_dir, select, sources
from procops.errors import EnvironmentFailure
from procops.home import atomic_write, exclusive_lock
from procops.journal import open_journal
from procops.timeutil import iso, parse_iso, utcnow

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config
    from procops.operation import Operation

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- init


def init(config: Config, repo_name: str | None = None) -> dict:
    """Initialise every repository; already initialised is fine. Off-site ones copy the chunker
    parameters of the first local one so copies deduplicate."""
    restic = make_restic(config)
    repos = select(config, repo_name)
    results: dict[str, dict] = {}
    first_local: Repo | None = None
    for r in repos:
        try:
            if _initialised(restic, r):
                results[r.name] = {"status": "exists", "url": _masked(r.url)}
            else:
                if r.local_path is not None:
                    r.local_path.parent.mkdir(parents=True, exist_ok=True)
                src = first_local if (r.offsite and first_local is not None) else None
                restic.run(r, init_args(copy_chunker_params=src is not None), source=src, timeout=600)
                results[r.name] = {"status": "created", "url": _masked(r.url)}
                state.update(r.name, last_prune=iso(utcnow()))  # an empty repository needs no prune yet
            if not r.offsite and first_local is None:
                first_local = r
        except ResticError as e:
            results[r.name] = {"status": "failed", "url": _masked(r.url), "error": e.message}
    from procops.events import BackupInit, BackupInitRepo, Kind, Status
    from procops.journal import record

    ok = all(v["status"] != "failed" for v in results.values())
    record(
        Kind.BACKUP_INIT,
        repo_name or "all",
        BackupInit(status=Status.of(ok), repositories={n: BackupInitRepo(**v) for n, v in results.items()}),
    )
    return {"ok": ok, "repositories": results}


def _initialised(restic: Restic, repo: Repo) -> bool:
    from procops.backup.restic import cat_config_args

    c = restic.run(repo, cat_config_args(), no_lock=True, check=False, timeout=300)
    if c.rc == 0:
        return True
    err = restic.error(repo, "cat", c.rc, c.stderr)
    if err.problem is Problem.NOT_INITIALISED:
        return False
    raise err


def _masked(url: str) -> str:
    from procops.config import _mask_url

    return _mask_url(url)


# --------------------------------------------------------------------------- streaming a dump to restic --stdin


class DumpFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def stream_backup(
    restic: Restic, repo: Repo, producer: dumps.Producer, filename: str, tags: list[str], timeout: float
) -> dict:
    """Feed the producer's bytes to ``restic backup --stdin``; return restic's JSON summary.

    :func:`procops.execute.pipeline` closes restic's input only after the producer
    has exited 0: on a failed producer restic is sent SIGINT while its input is
    still open (and waited for), so it cannot save a snapshot of a truncated dump.
    """
    from procops import execute

    args = backup_stdin_args(filename, tags=tags)
    if producer.argv is not None:
        source: execute.Command | Path = execute.Command(producer.tool, producer.argv, env=producer.env)
    else:
        source = producer.file  # type: ignore[assignment]
    res = execute.pipeline(source, restic.command(repo, args, json_output=True), timeout=timeout)
    if res.timed_out:
        raise DumpFailed(
            _("the dump did not finish within {seconds:.0f}s; restic was interrupted, no snapshot was saved").format(
                seconds=timeout
            )
        )
    if res.failed == "producer":
        assert res.producer is not None
        raise DumpFailed(
            _("{program} exited {code}: {tail}; restic was interrupted, no snapshot was saved").format(
                program=producer.label, code=res.producer.rc, tail=tail(res.producer.stderr) or _("no message")
            )
        )
    c = res.consumer
    log.info("restic backup --stdin on %s: exit %d", repo.name, c.rc)
    if c.rc != 0:
        raise restic.error(repo, "backup", c.rc, c.stderr)
    return {**_summary(c.stdout), "stream_sha256": res.sha256, "stream_bytes": res.bytes}


def _summary(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("message_type") == "summary":
                return d
    return {}


# --------------------------------------------------------------------------- run


@dataclass
class RepoResult:
    name: str
    offsite: bool
    mode: str  # backup | copy
    status: str = "failed"  # ok | failed
    problem: str | None = None
    error: str | None = None
    database_snapshot: str | None = None
    files_snapshot: str | None = None
    added_bytes: int = 0
    seconds: float = 0.0
    copied_from: str | None = None
    forget: str | None = None
    prune: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class RunResult:
    run_id: str
    started_at: str
    ended_at: str = ""
    repositories: list[RepoResult] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)
    dump_error: str | None = None
    # documents changed since the last run that no longer match the platform's record (backed up all the same)
    damaged: list[dict] = field(default_factory=list)
    documents_hashed: int | None = None

    @property
    def ok(self) -> bool:
        return bool(self.repositories) and all(r.status == "ok" for r in self.repositories) and not self.damaged

    @property
    def live_lock_only(self) -> bool:
        bad = [r for r in self.repositories if r.status != "ok"]
        return bool(bad) and all(r.problem == "live_lock" for r in bad)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "run": self.run_id,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "dump_error": self.dump_error,
            "damaged_documents": self.damaged,
            "documents_hashed": self.documents_hashed,
            "manifest_totals": self.manifest.get("totals"),
            "tables": self.manifest.get("tables"),
            "repositories": {r.name: r.as_dict() for r in self.repositories},
        }


def new_run_id() -> str:
    return f"{utcnow().strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def journal_copy_path() -> Path:
    """Where a run puts the consistent copy of the evidence journal that its files snapshot holds."""
    return backup_dir() / "staging" / "journal.db"


def incident_store_copy_path() -> Path:
    """Where a run puts the consistent copy of the incident store (``procops.db``) its files snapshot holds."""
    return backup_dir() / "staging" / "procops.db"


def copy_incident_store() -> Path | None:
    """A consistent copy of the incident store (incidents, rectification items, drills, release state)
    for the run's files (SQLite's online backup, 0600); None when this home has none yet."""
    import sqlite3

    from procops.home import private_file, state_home

    src = state_home() / "procops.db"
    dest = incident_store_copy_path()
    if not src.exists():
        dest.unlink(missing_ok=True)
        return None
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    private_file(tmp)
    try:
        db = sqlite3.connect(src, timeout=60)
        out = sqlite3.connect(tmp)
        try:
            db.backup(out)
            out.execute("PRAGMA journal_mode=DELETE")
        finally:
            out.close()
            db.close()
        tmp.replace(dest)
    except (sqlite3.Error, OSError) as e:
        tmp.unlink(missing_ok=True)
        raise EnvironmentFailure(_("cannot copy the incident store to {dest}: {e}").format(dest=dest, e=e)) from None
    return dest


def evidence_paths(anchor: tuple[int, str] | None) -> list[Path]:
    """The evidence a run's files snapshot holds beside the data: the journal's copy (whose head is the
    run's anchor) and the incident store's."""
    paths = [journal_copy_path()] if anchor else []
    if incident_store_copy_path().exists():
        paths.append(incident_store_copy_path())
    return paths


def manifest_path() -> Path:
    # a stable path: restic finds the previous snapshot of the same paths as parent (fast incrementals)
    return backup_dir() / "staging" / "manifest.json"


def backup(
    config: Config,
    repo_name: str | None = None,
    op: Operation | None = None,
    progress: Callable[[str, dict], None] | None = None,
) -> RunResult:
    """`procops backup run`: one run at a time (LockHeld, exit 3, names the holder's pid).

    In an operation (``op``) each phase is a step, and a rollback forgets, in every repository
    the run reached, the snapshots tagged with this run's id unless the run's ``backup.run``
    event was journaled: an interrupted run leaves no snapshot the journal does not know.
    """
    with exclusive_lock("backup"):
        return _backup_locked(config, repo_name, op, progress)


def _step(op: Operation | None, name: str) -> contextlib.AbstractContextManager[Any]:
    return op.step(name) if op is not None else contextlib.nullcontext()


def _backup_locked(
    config: Config,
    repo_name: str | None,
    op: Operation | None = None,
    progress: Callable[[str, dict], None] | None = None,
) -> RunResult:
    cfg = config.backup
    restic = make_restic(config)
    repos = select(config, repo_name)
    for r in repos:
        r.check_password_source()
    src = sources(config)
    result = RunResult(new_run_id(), iso(utcnow()))
    tags = [TAG, f"run={result.run_id}"]
    targets = repos if repo_name is not None else [r for r in repos if not r.offsite] or repos
    copies = [] if repo_name is not None else [r for r in repos if r.offsite and r not in targets]
    staging = backup_dir() / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    t_all = time.monotonic()
    done: list[Repo] = []
    reached: list[Repo] = []  # every repository a restic of this run wrote to (or may have)
    journaled: list[bool] = []
    if op is not None:

        def forget_unjournaled() -> None:
            if journaled:
                return  # the backup.run event names these snapshots: they stay
            for r in reached:
                _forget_run(restic, r, tags[1], check=True)

        def remove_stale_locks() -> None:
            # a restic stopped between writing its lock and registering its cleanup leaves a stale
            # lock (its pid is dead); `restic unlock` removes only such locks, never a live one
            for r in reached:
                restic.run(r, unlock_args(), check=False, timeout=300)

        op.add_rollback("remove the stale locks of this run's restic processes", remove_stale_locks)
        op.add_rollback(f"forget the snapshots of run {result.run_id}", forget_unjournaled)

    def direct(r: Repo) -> RepoResult:
        reached.append(r)
        # a run that does not end confirmed (killed, failed) leaves this mark: the next good run lists the
        # repository and forgets what it left (an hourly run that follows a good one lists nothing)
        left_behind = state.repo_state(r.name).get("unconfirmed_run")
        state.update(r.name, unconfirmed_run=result.run_id)
        with _step(op, f"backup {r.name}"):
            on_status = (lambda m: progress(r.name, m)) if progress is not None else None
            rr = _direct(restic, r, producer, src, tags, cfg.command_timeout, anchor, on_status)
        if rr.status == "ok" and (not left_behind or _clean_left_behind(restic, r, tags[1])):
            state.update(r.name, unconfirmed_run=None)
        return rr

    try:
        with _step(op, "dump"), dumps.prepare_dump(src.database, staging, cfg.key_tables) as (producer, manifest):
            manifest.update(
                {
                    "run": result.run_id,
                    "created_at": result.started_at,
                    "database": {
                        "kind": src.database.kind,
                        "url": src.database.masked_url,
                        "dump_file": src.database.dump_filename,
                    },
                    "documents_dir": str(src.documents),
                }
            )
            result.manifest = manifest
            atomic_write(manifest_path(), json.dumps(manifest, indent=1, sort_keys=True))
            with open_journal() as journal:  # the evidence goes with the data, its head anchored off the host
                anchor = journal.copy_to(journal_copy_path())
            copy_incident_store()

            def changed_documents() -> documents.ChangedCheck:
                with _step(op, "changed documents"):
                    return documents.changed_documents(config, src.documents, manifest["documents"])

            # the documents changed since the last run are hashed while restic reads them too (the
            # page cache serves the second reader); the verdict is needed only before retention
            with ThreadPoolExecutor(max_workers=1) as ex:
                f_changed = ex.submit(changed_documents)
                for r in targets:
                    result.repositories.append(direct(r))
                done = [r for r in targets if _ok(result, r.name)]
                if not done:  # no local copy to copy from (e.g. its disk is full): back up off-site directly
                    for r in copies:
                        result.repositories.append(direct(r))
                changed = f_changed.result()
            result.damaged = [d.as_dict() for d in changed.damaged or []]
            result.documents_hashed = changed.hashed
        # the dump's transaction and staging copy are released before the (possibly long) off-site copies
        if done:
            for r in copies:
                reached.append(r)
                with _step(op, f"copy {r.name}"):
                    result.repositories.append(_copy(restic, r, done[0], cfg.command_timeout))
    except (EnvironmentFailure, DumpFailed, OSError) as e:
        # the dump could not even start (database unreachable, file missing): nothing was saved anywhere
        msg = e.message if isinstance(e, (EnvironmentFailure, DumpFailed)) else f"{type(e).__name__}: {e}"
        result.dump_error = msg
        seen = {r.name for r in result.repositories}
        for r in repos:
            if r.name not in seen:
                result.repositories.append(RepoResult(r.name, r.offsite, "backup", problem="dump_failed", error=msg))
    with _step(op, "retention"):
        for rr in result.repositories:
            if rr.status == "ok" and result.damaged:
                # the older runs hold the good copies of the damaged documents: forget nothing now
                rr.forget = rr.prune = "skipped: damaged documents found"
            elif rr.status == "ok":
                repo = next(r for r in repos if r.name == rr.name)
                _retention(restic, repo, rr, config)
    result.ended_at = iso(utcnow())
    with _step(op, "record"):
        _record(config, result, repos, time.monotonic() - t_all, op_id=op.id if op else None)
        journaled.append(True)
    return result


def _ok(result: RunResult, name: str) -> bool:
    return any(r.name == name and r.status == "ok" for r in result.repositories)


def _direct(
    restic: Restic,
    repo: Repo,
    producer: dumps.Producer,
    src: Sources,
    tags: list[str],
    timeout: float,
    anchor: tuple[int, str] | None = None,
    on_status: Callable[[dict], None] | None = None,
) -> RepoResult:
    """The database dump (streamed to --stdin) and the files, as two restic processes running side by side
    (both take restic's shared lock). A run keeps its snapshots only when both succeeded."""
    from concurrent.futures import ThreadPoolExecutor

    rr = RepoResult(repo.name, repo.offsite, "backup")
    t0 = time.monotonic()
    paths = [src.documents, manifest_path(), *evidence_paths(anchor), *src.paths]
    excludes = [str(src.documents / ".incoming"), *src.excludes]
    made_any = False
    try:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise EnvironmentFailure(_("paths to back up do not exist: {missing}").format(missing=", ".join(missing)))
        args = backup_args(paths, tags=[*tags, TAG_FILES], excludes=excludes)
        with ThreadPoolExecutor(max_workers=2) as ex:
            f_files = ex.submit(
                lambda: with_stale_unlock(
                    restic,
                    repo,
                    lambda: restic.run(repo, args, json_output=True, timeout=timeout, on_status=on_status),
                )
            )
            f_db = ex.submit(
                lambda: with_stale_unlock(
                    restic,
                    repo,
                    lambda: stream_backup(restic, repo, producer, src.database.dump_filename, [*tags, TAG_DB], timeout),
                )
            )
            errors: list[BaseException] = []
            s_db: dict = {}
            s_files: dict = {}
            try:
                s_db = f_db.result()
                rr.database_snapshot = s_db.get("snapshot_id")
                made_any = True
            except BaseException as e:  # noqa: BLE001 - reported below, after the other half ends
                errors.append(e)
            try:
                s_files = _summary(f_files.result().stdout)
                rr.files_snapshot = s_files.get("snapshot_id")
                made_any = True
            except ResticError as e:
                # exit 3 saved a snapshot without some unreadable files: not a backup we keep
                made_any = made_any or e.problem is Problem.INCOMPLETE
                errors.append(e)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
        if errors:
            raise errors[0]
        rr.added_bytes = int(s_db.get("data_added", 0)) + int(s_files.get("data_added", 0))
        confirmed = confirm(restic, repo, tags, src.database.dump_filename, s_db, s_files, anchor)
        rr.database_snapshot = confirmed.database.short_id if confirmed.database else None
        rr.files_snapshot = confirmed.files.short_id
        rr.status = "ok"
    except DumpFailed as e:
        rr.problem, rr.error = "dump_failed", e.message
    except Unconfirmed as e:
        rr.problem, rr.error = "unconfirmed", e.message
    except LiveLock as e:
        rr.problem, rr.error = "live_lock", e.message
    except ResticError as e:
        rr.problem, rr.error = e.problem.value, e.message
    except EnvironmentFailure as e:
        rr.problem, rr.error = "environment", e.message
    if rr.status != "ok" and made_any:
        _forget_run(restic, repo, tags[1])
        rr.database_snapshot = rr.files_snapshot = None
    rr.seconds = round(time.monotonic() - t0, 3)
    return rr


class Unconfirmed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def confirm(
    restic: Restic,
    repo: Repo,
    tags: list[str],
    dump_filename: str,
    s_db: dict,
    s_files: dict,
    anchor: tuple[int, str] | None = None,
) -> RunSet:
    """Confirm this run's two snapshots in ``repo`` complete by saving its confirmation snapshot.

    The database snapshot must hold exactly the bytes procops handed restic (restic's own count of what
    it read and stored from its input equals the producer's count, and both halves reported their
    snapshot). Then a third, small snapshot (``procops/confirmation.json`` through ``--stdin``, tags
    ``confirmation``, ``confirmed``, ``dump-sha256=``, ``dump-size=``) names the two: only with it does
    the run count anywhere (:func:`procops.backup.ops.run_sets`). One more restic process, no re-tagging
    of the others (whose ids therefore stay what restic reported) and no listing. ``anchor`` (the
    evidence journal's rows and head hash, whose copy is in the files snapshot) is recorded in its tags
    too (``journal-rows=``, ``journal-head=``): copied off-site, it is what the journal is checked against.
    """
    sha, size = s_db.get("stream_sha256"), s_db.get("stream_bytes")
    db_id, files_id = s_db.get("snapshot_id"), s_files.get("snapshot_id")
    run_tag = tags[1]
    if not sha or size is None or not db_id or not files_id:
        raise Unconfirmed(
            _("restic did not report both snapshots of {run} in '{repository}'").format(
                run=run_tag, repository=repo.name
            )
        )
    processed = s_db.get("total_bytes_processed")
    if processed is None or int(processed) != size:
        raise Unconfirmed(
            _(
                "the database snapshot {snapshot} in '{repository}' holds {stored} bytes of {file}, "
                "but {written} bytes were written to restic: not counted"
            ).format(snapshot=db_id[:8], repository=repo.name, stored=processed, file=dump_filename, written=size)
        )
    body = {
        "run": run_tag[4:],
        "database_snapshot": db_id,
        "files_snapshot": files_id,
        "dump_file": "/" + dump_filename.lstrip("/"),
        "dump_sha256": sha,
        "dump_size": size,
    }
    conf_tags = [*tags, TAG_CONFIRMATION, TAG_CONFIRMED, f"dump-sha256={sha}", f"dump-size={size}"]
    if anchor is not None:
        conf_tags += [f"journal-rows={anchor[0]}", f"journal-head={anchor[1]}"]
        body["journal"] = {"rows": anchor[0], "head": anchor[1]}
    c = with_stale_unlock(
        restic,
        repo,
        lambda: restic.run(
            repo,
            backup_stdin_args(CONFIRMATION_FILE, tags=conf_tags),
            input=json.dumps(body, sort_keys=True).encode(),
            json_output=True,
            timeout=600,
        ),
    )
    conf_id = _summary(c.stdout).get("snapshot_id")
    if not conf_id:
        raise Unconfirmed(
            _("restic did not report the confirmation snapshot of {run} in '{repository}'").format(
                run=run_tag, repository=repo.name
            )
        )
    now = iso(utcnow())

    def snap(sid: str, kind: str, extra: tuple[str, ...] = ()) -> Snapshot:
        return Snapshot(sid, sid[:8], now, (), (*tags, kind, *extra), "")

    return RunSet(run_tag[4:], snap(files_id, TAG_FILES), snap(db_id, TAG_DB), snap(conf_id, TAG_CONFIRMATION))


def forget_unconfirmed(
    restic: Restic, repo: Repo, snaps: list[Snapshot], *, keep_run: str, before: str | None = None
) -> int:
    """Forget what earlier runs left without confirming it (killed or failed runs, a copy that stopped
    half-way; older than ``before`` when given), except the snapshots of ``keep_run``. Best effort: the
    number forgotten, or -1 after a failure (logged; the next run tries again)."""
    stale = [s.id for s in unconfirmed(snaps) if (before is None or s.time < before) and keep_run not in s.tags]
    if not stale or repo.append_only:
        return 0
    try:
        _forget_ids(restic, repo, stale)
        log.info("forgot %d unconfirmed snapshots in %s", len(stale), repo.name)
    except Exception:  # noqa: BLE001
        log.warning("could not forget the unconfirmed snapshots in %s", repo.name, exc_info=True)
        return -1
    return len(stale)


def _clean_left_behind(restic: Restic, repo: Repo, keep_run: str) -> bool:
    try:
        return forget_unconfirmed(restic, repo, snapshots(restic, repo), keep_run=keep_run) >= 0
    except Exception:  # noqa: BLE001 - the mark stays: the next run tries again
        log.warning("could not list %s to forget what earlier runs left", repo.name, exc_info=True)
        return False


FORGET_BATCH = 500  # snapshot ids per restic invocation (an argv of about 33 KB)


def _forget_ids(restic: Restic, repo: Repo, ids: list[str], timeout: float = 600) -> None:
    for i in range(0, len(ids), FORGET_BATCH):
        args = forget_args(
            keep_hourly=0, keep_daily=0, keep_weekly=0, keep_monthly=0, snapshot_ids=ids[i : i + FORGET_BATCH]
        )
        with_stale_unlock(restic, repo, functools.partial(restic.run, repo, args, timeout=timeout))


def _forget_run(restic: Restic, repo: Repo, run_tag: str, *, check: bool = False) -> None:
    """Forget the snapshots of a failed run (best effort: the next run cleans up otherwise;
    ``check`` raises instead, so a rollback that could not forget says so). An append-only repository
    refuses every forget: its run stays there unconfirmed until the off-site host prunes it."""
    if repo.append_only:
        log.warning("run %s left in append-only repository %s: it cannot be forgotten from here", run_tag, repo.name)
        return
    try:
        ids = [s.id for s in snapshots(restic, repo) if run_tag in s.tags]
        if ids:
            _forget_ids(restic, repo, ids)
    except Exception:  # noqa: BLE001
        if check:
            raise
        log.warning("could not forget the snapshots of failed run %s in %s", run_tag, repo.name, exc_info=True)


COPY_BATCH = 300  # snapshot ids per `restic copy`


def _copy(restic: Restic, repo: Repo, source: Repo, timeout: float) -> RepoResult:
    """Copy every confirmed run missing in ``repo`` from ``source``, by snapshot id: what a killed run left
    in the source never leaves it. A copy that stops half-way leaves a run without its confirmation (or
    without a half) in ``repo``: it does not count there, and the next copy completes it."""
    from concurrent.futures import ThreadPoolExecutor

    rr = RepoResult(repo.name, repo.offsite, "copy", copied_from=source.name)
    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=2) as ex:
            f_have, f_want = ex.submit(snapshots, restic, repo), ex.submit(snapshots, restic, source)
            have_snaps, want = f_have.result(), run_sets(f_want.result())
        have = {s.run_id for s in run_sets(have_snaps)}
        ids = [s.id for r in want if r.run_id not in have for s in r.snapshots]
        for i in range(0, len(ids), COPY_BATCH):
            args = copy_args(snapshot_ids=ids[i : i + COPY_BATCH])
            with_stale_unlock(restic, repo, functools.partial(restic.run, repo, args, source=source, timeout=timeout))
        snaps = snapshots(restic, repo) if ids else have_snaps
        mine = run_sets(snaps)
        got = {s.run_id for s in mine}
        missing = [s.run_id for s in want if s.run_id not in got]
        if missing:
            raise EnvironmentFailure(
                _("after the copy, runs {value} are still missing").format(value=", ".join(missing[:5]))
            )
        if mine:
            rr.files_snapshot = mine[-1].files.short_id
            rr.database_snapshot = mine[-1].database.short_id if mine[-1].database else None
        state.update(repo.name, offsite_missing_runs=0)
        if mine:  # a direct backup or a copy stopped here earlier left unconfirmed snapshots
            forget_unconfirmed(restic, repo, snaps, before=mine[-1].time, keep_run=f"run={mine[-1].run_id}")
        rr.status = "ok"
    except LiveLock as e:
        rr.problem, rr.error = "live_lock", e.message
    except ResticError as e:
        rr.problem, rr.error = e.problem.value, e.message
    except EnvironmentFailure as e:
        rr.problem, rr.error = "environment", e.message
    rr.seconds = round(time.monotonic() - t0, 3)
    return rr


def _retention(restic: Restic, repo: Repo, rr: RepoResult, config: Config) -> None:
    """Retention on the prune cadence (policy.prune_interval, daily): prune takes an exclusive lock and
    rewrites packs, so it does not run every hour; keep_hourly still holds since the policy looks at every
    run's time."""
    if repo.append_only:
        rr.forget = rr.prune = "skipped: append-only, pruned on the off-site host"
        return
    last = state.repo_state(repo.name).get("last_prune")
    due = last is None or (utcnow() - parse_iso(last)).total_seconds() >= config.policy.prune_interval
    if not due:
        rr.forget = rr.prune = "not due"
        return
    try:
        apply_retention(restic, repo, config)
        rr.forget = rr.prune = "ok"
        state.update(repo.name, last_prune=iso(utcnow()))
    except Exception as e:  # noqa: BLE001 - retention problems are reported, the backup itself stands
        rr.forget = rr.prune = f"failed: {getattr(e, 'message', e)}"


def retention_policy(config: Config) -> retention.Policy:
    ret = config.backup.retention
    return retention.Policy(
        keep_last=ret.keep_last,
        keep_hourly=ret.keep_hourly,
        keep_daily=ret.keep_daily,
        keep_weekly=ret.keep_weekly,
        keep_monthly=ret.keep_monthly,
        keep_yearly=ret.keep_yearly,
        keep_within=ret.keep_within,
    )


def retention_plan(snaps: list[Snapshot], policy: retention.Policy) -> list[str]:
    """The snapshot ids to forget: every snapshot of the confirmed runs ``policy`` does not keep, and what
    runs older than the newest confirmed one left unconfirmed. Whole runs are kept or forgotten."""
    sets = run_sets(snaps)
    if not sets:
        return []
    kept = retention.keep([(r.run_id, r.time) for r in sets], policy)
    drop = [s.id for r in sets if r.run_id not in kept for s in r.snapshots]
    newest = sets[-1]
    drop += [s.id for s in unconfirmed(snaps) if s.time < newest.time and s.run_id != newest.run_id]
    return drop


def apply_retention(restic: Restic, repo: Repo, config: Config) -> int:
    """Forget per :func:`retention_plan`, then `restic prune` when anything was forgotten."""
    ids = retention_plan(snapshots(restic, repo), retention_policy(config))
    if ids:
        _forget_ids(restic, repo, ids, timeout=config.backup.command_timeout)
        with_stale_unlock(restic, repo, lambda: restic.run(repo, prune_args(), timeout=config.backup.command_timeout))
    return len(ids)


def prune(config: Config, repo_name: str | None = None) -> dict:
    """`procops backup prune`: `forget --prune` per retention now, on every (or one) repository this host may
    prune. On the off-site host its config names the repository directly (a path), not append-only. A
    repository configured ``append_only`` here is refused (BadInput, exit 2): its host prunes it."""
    from procops.errors import BadInput

    restic = make_restic(config)
    repos = select(config, repo_name)
    locked = [r.name for r in repos if r.append_only]
    if repo_name is not None and locked:
        raise BadInput(
            _(
                "repository '{repo_name}' is append-only from this host: run `procops backup prune` on the host that serves it, against the repository's own path"
            ).format(repo_name=repo_name)
        )
    results: dict[str, str] = {}
    problems: list[str] = []
    for r in repos:
        if r.append_only:
            results[r.name] = "skipped: append-only, pruned on the off-site host"
            continue
        r.check_password_source()
        try:
            with exclusive_lock("backup"):
                apply_retention(restic, r, config)
            results[r.name] = "ok"
            state.update(r.name, last_prune=iso(utcnow()))
        except ResticError as e:
            results[r.name] = f"failed: {e.problem.value}: {e.message}"
            problems.append(e.problem.value)
        except EnvironmentFailure as e:
            results[r.name] = f"failed: {e.message}"
            problems.append("environment")
    ok = not problems
    from procops.events import BackupPrune, Kind, Status
    from procops.journal import record

    record(Kind.BACKUP_PRUNE, repo_name or "all", BackupPrune(status=Status.of(ok), repositories=results))
    return {"ok": ok, "repositories": results, "problems": problems}


def _record(config: Config, result: RunResult, repos: list[Repo], seconds: float, op_id: str | None = None) -> None:
    from procops.events import BackupRun, BackupRunRepo, Kind, Status
    from procops.journal import record

    now = iso(utcnow())
    for rr in result.repositories:
        values: dict[str, Any] = {
            "last_run": now,
            "last_status": rr.status,
            "last_error": rr.error,
            "last_duration_s": rr.seconds,
            "last_added_bytes": rr.added_bytes,
            "last_run_id": result.run_id,
            "offsite": rr.offsite,
        }
        if rr.status == "ok":
            values["last_success"] = now
            values["last_snapshot"] = rr.files_snapshot
        state.update(rr.name, **values)
    # off-site lag: runs the first local repository has that an off-site one lacks (after this run)
    local_ok = [rr.name for rr in result.repositories if rr.status == "ok" and not rr.offsite]
    offsite_failed = [rr for rr in result.repositories if rr.offsite and rr.status != "ok"]
    if local_ok and offsite_failed:
        try:
            restic = make_restic(config)
            src = next(r for r in repos if r.name == local_ok[0])
            want = {s.run_id for s in run_sets(snapshots(restic, src))}
            for rr in result.repositories:
                if rr.offsite and rr.status != "ok":
                    repo = next(r for r in repos if r.name == rr.name)
                    try:
                        have = {s.run_id for s in run_sets(snapshots(restic, repo))}
                        state.update(rr.name, offsite_missing_runs=len(want - have))
                    except Exception:  # noqa: BLE001 - unreachable: at least one more run is missing there
                        prev = state.repo_state(rr.name).get("offsite_missing_runs") or 0
                        state.update(rr.name, offsite_missing_runs=prev + 1)
        except Exception:  # noqa: BLE001
            log.warning("could not compute the off-site lag", exc_info=True)
    state.write_metrics(
        [r.name for r in repos], {r.name: r.offsite for r in repos}, rpo_seconds=config.policy.backup_interval
    )
    record(
        Kind.BACKUP_RUN,
        "all" if len(result.repositories) > 1 else result.repositories[0].name if result.repositories else "none",
        BackupRun(
            status=Status.of(result.ok),
            ok=result.ok,
            run=result.run_id,
            seconds=round(seconds, 3),
            dump_error=result.dump_error,
            documents=(result.manifest.get("totals") or {}).get("documents"),
            operation=op_id,
            damaged_documents=result.damaged,
            documents_hashed=result.documents_hashed,
            repositories={
                rr.name: BackupRunRepo(
                    status=Status(rr.status),
                    mode=rr.mode,
                    problem=rr.problem,
                    error=rr.error,
                    files_snapshot=rr.files_snapshot,
                    database_snapshot=rr.database_snapshot,
                    added_bytes=rr.added_bytes,
                    forget=rr.forget,
                    prune=rr.prune,
                )
                for rr in result.repositories
            },
        ),
    )
