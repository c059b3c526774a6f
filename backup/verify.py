"""Integrity verification (R5): a backup run restored to scratch, or the live platform, against its records.

* ``verify(snapshot)``: restores the run's files and database dump into a
  scratch folder, loads the dump into a scratch database (the SQLite file
  itself; a temporary PostgreSQL/MariaDB database, dropped afterwards), and
  checks: row counts of the key tables equal the manifest's, the restored
  ``archive_documents`` table equals the manifest's document list, and every
  document is present with its recorded size and sha256; files nobody
  references are reported too.
* ``verify_live()``: the live database's ``archive_documents`` against the
  live documents store, the same way.

Problems are named by document and kind: ``missing``, ``altered`` (size or
sha256 differ), ``unreadable``, ``unreferenced``, ``row_count``,
``record_mismatch``, ``database``. Hashing runs in parallel threads (hashlib
releases the GIL while it hashes large buffers).
"""

from __future__ import annotations

import contextlib
import hashlib
from contextvars import ContextVar
import os
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterable

from procops.backup import dumps, state
from procops.backup.ops import make_restic
from procops.backup.restore import dump_database, find_run, restore_files
from procops.backup.sources import Database, backup_dir, select, sources
from procops.timeutil import iso, utcnow

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

INCOMING = ".incoming"
READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class IntegrityProblem:
    kind: str  # missing | altered | unreadable | unreferenced | row_count | record_mismatch | database | unrestorable | unreachable
    subject: str  # document id / storage path / table
    detail: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "subject": self.subject, "detail": self.detail}


@dataclass
class VerifyResult:
    target: str  # "live" or the repository name
    run: str | None = None
    snapshot: str | None = None
    documents: int = 0
    bytes_hashed: int = 0
    hash_seconds: float = 0.0
    seconds: float = 0.0
    tables: dict[str, Any] = field(default_factory=dict)
    problems: list[IntegrityProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "target": self.target,
            "run": self.run,
            "snapshot": self.snapshot,
            "documents": self.documents,
            "bytes_hashed": self.bytes_hashed,
            "hash_seconds": round(self.hash_seconds, 3),
            "seconds": round(self.seconds, 3),
            "tables": self.tables,
            "problem_counts": self.counts(),
            "problems": [p.as_dict() for p in self.problems],
        }


# --------------------------------------------------------------------------- hashing


def hash_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(READ_SIZE)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


# Who wants to hear how hashing goes: ``(files done, files in all, bytes hashed)`` after each file
# (a progress line; set around a verify by procops.backup.api, called from the calling thread).
HASH_PROGRESS: ContextVar[Callable[[int, int, int], None] | None] = ContextVar("hash_progress", default=None)


def hash_many(paths: Iterable[Path], workers: int = 0) -> dict[Path, tuple[str, int] | Exception]:
    """sha256 and size of each file, in parallel threads."""
    paths = list(paths)
    workers = workers or os.cpu_count() or 2
    report = HASH_PROGRESS.get()

    def one(p: Path) -> tuple[Path, tuple[str, int] | Exception]:
        try:
            return p, hash_file(p)
        except OSError as e:
            return p, e

    out: dict[Path, tuple[str, int] | Exception] = {}
    nbytes = 0
    with ThreadPoolExecutor(max_workers=workers) as ex:
        for p, got in ex.map(one, paths, chunksize=16):
            out[p] = got
            if report is not None:
                nbytes += 0 if isinstance(got, Exception) else got[1]
                report(len(out), len(paths), nbytes)
    return out


# --------------------------------------------------------------------------- comparison (pure apart from hashing)


def store_files(root: Path) -> set[str]:
    """Every file of a documents store as a storage path ('ab/ab12...'), unfinished writes excluded."""
    out: set[str] = set()
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == INCOMING or rel.startswith(INCOMING + os.sep):
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if not (rel == "." and d == INCOMING)]
        for f in filenames:
            out.add(f if rel == "." else f"{rel}/{f}".replace(os.sep, "/"))
    return out


def check_documents(root: Path, documents: list[dict], workers: int = 0) -> tuple[list[IntegrityProblem], int, float]:
    """Documents against a store: missing, altered, unreadable, unreferenced. Returns (problems, bytes, seconds)."""
    problems: list[IntegrityProblem] = []
    present = store_files(root)
    referenced = {d["storage_path"] for d in documents}
    by_path: dict[str, list[dict]] = {}
    for d in documents:
        by_path.setdefault(d["storage_path"], []).append(d)
    to_hash = [root / p for p in sorted(referenced & present)]
    t0 = time.monotonic()
    hashes = hash_many(to_hash, workers)
    seconds = time.monotonic() - t0
    total = 0
    for d in documents:
        sp = d["storage_path"]
        subject = f"document {d['id']} ({sp})"
        if sp not in present:
            problems.append(IntegrityProblem("missing", subject, "the file is not in the documents store"))
            continue
        got = hashes[root / sp]
        if isinstance(got, Exception):
            problems.append(IntegrityProblem("unreadable", subject, str(got)))
            continue
        sha, size = got
        if sha != d["sha256"] or size != d["size"]:
            problems.append(
                IntegrityProblem(
                    "altered",
                    subject,
                    f"recorded size {d['size']} sha256 {d['sha256'][:12]}..., found size {size} sha256 {sha[:12]}...",
                )
            )
    for v in hashes.values():
        if not isinstance(v, Exception):
            total += v[1]
    for sp in sorted(present - referenced):
        problems.append(IntegrityProblem("unreferenced", sp, "a file in the store no archive record refers to"))
    return problems, total, seconds


def compare_records(manifest: dict, restored: dict) -> list[IntegrityProblem]:
    """The restored database's counts and document records against the manifest."""
    problems = []
    for t, n in (manifest.get("tables") or {}).items():
        got = (restored.get("tables") or {}).get(t)
        if n != got:
            problems.append(IntegrityProblem("row_count", t, f"manifest {n} rows, restored database {got}"))
    want = {d["id"]: d for d in manifest.get("documents", [])}
    have = {d["id"]: d for d in restored.get("documents", [])}
    for i in sorted(set(want) | set(have)):
        if want.get(i) != have.get(i):
            problems.append(
                IntegrityProblem(
                    "record_mismatch", f"document {i}", f"manifest {want.get(i)}, restored database {have.get(i)}"
                )
            )
    return problems


# --------------------------------------------------------------------------- verify a backup run


def verify_snapshot(
    config: Config, *, repo: str | None = None, snapshot: str = "latest", keep_scratch: bool = False
) -> list[VerifyResult]:
    """Restore-and-verify in each selected repository (every one by default)."""
    repos = select(config, repo)
    if snapshot != "latest" and len(repos) > 1:
        # a snapshot id names one repository's copy of a run: verify that run everywhere
        from procops.errors import ProcopsError

        try:
            _unused, run = find_run(make_restic(config), repos, snapshot)
            snapshot = run.run_id
        except ProcopsError:
            pass  # each repository then reports it cannot find it
    return [_verify_one(config, r, snapshot, keep_scratch) for r in repos]


def _verify_one(config: Config, repo: Any, snapshot: str, keep_scratch: bool) -> VerifyResult:
    from procops.errors import EnvironmentFailure, ProcopsError

    t0 = time.monotonic()
    res = VerifyResult(repo.name)
    scratch = backup_dir() / "scratch" / f"verify-{repo.name}-{utcnow().strftime('%Y%m%dT%H%M%S%f')}"
    scratch_db: Database | None = None
    try:
        restic = make_restic(config)
        _unused, run = find_run(restic, [repo], snapshot)
        res.run, res.snapshot = run.run_id, run.files.short_id
        docs, manifest = restore_files(restic, repo, run, scratch / "files", timeout=config.backup.command_timeout)
        dump_file = manifest["database"]["dump_file"]
        dump = dump_database(restic, repo, run, dump_file, scratch / dump_file, timeout=config.backup.command_timeout)
        recorded = run.dump_sha256
        if recorded:  # the dump as the producer wrote it, hashed while it streamed into restic
            got_sha, _size = hash_file(dump)
            if got_sha != recorded:
                res.problems.append(
                    IntegrityProblem(
                        "database",
                        dump_file,
                        _(
                            "the restored dump's sha256 {got}... is not the {recorded}... recorded when the run "
                            "was confirmed"
                        ).format(got=got_sha[:12], recorded=recorded[:12]),
                    )
                )
        kind = manifest["database"]["kind"]
        tables = list((manifest.get("tables") or {}).keys())
        if kind == "sqlite":
            con = sqlite3.connect(dump)
            try:
                ic = con.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                con.close()
            if ic != "ok":
                res.problems.append(IntegrityProblem("database", dump_file, f"integrity_check: {ic}"))
            with dumps.sqlite_query(dump) as q:
                restored = dumps.build_manifest(q, tables)
        else:
            live = sources(config).database
            if live.kind != kind:
                raise ProcopsError(
                    _("the dump is {kind} but the configured database is {kind2}: no server to load it into").format(
                        kind=kind, kind2=live.kind
                    )
                )
            name = dumps.scratch_name()
            scratch_db = dumps.create_server_database(live, name)
            dumps.load_dump(scratch_db, dump, config.backup.command_timeout)
            with dumps.sqlalchemy_query(scratch_db) as (q, _unused):
                restored = dumps.build_manifest(q, tables)
        res.tables = restored["tables"]
        res.problems += compare_records(manifest, restored)
        problems, nbytes, secs = check_documents(docs, manifest["documents"], config.backup.hash_workers)
        res.problems += problems
        res.documents, res.bytes_hashed, res.hash_seconds = len(manifest["documents"]), nbytes, secs
    except EnvironmentFailure as e:  # the repository (or the database server) could not be reached
        res.problems.append(IntegrityProblem("unreachable", repo.name, e.message))
    except ProcopsError as e:
        res.problems.append(IntegrityProblem("unrestorable", repo.name, e.message))
    except (sqlite3.Error, OSError, KeyError, ValueError) as e:
        res.problems.append(IntegrityProblem("unrestorable", repo.name, f"{type(e).__name__}: {e}"))
    finally:
        if scratch_db is not None:
            dumps.drop_server_database(scratch_db)
        if not keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    res.seconds = time.monotonic() - t0
    _record(config, res)
    return res


def verify_live(config: Config) -> VerifyResult:
    t0 = time.monotonic()
    src = sources(config)
    res = VerifyResult("live")
    manifest = dumps.live_manifest(src.database, config.backup.key_tables)
    res.tables = manifest["tables"]
    problems, nbytes, secs = check_documents(src.documents, manifest["documents"], config.backup.hash_workers)
    res.problems, res.documents, res.bytes_hashed, res.hash_seconds = problems, len(manifest["documents"]), nbytes, secs
    res.seconds = time.monotonic() - t0
    _record(config, res)
    return res


def _record(config: Config, res: VerifyResult) -> None:
    from procops.events import BackupVerify, Kind, Status
    from procops.journal import record

    now = iso(utcnow())
    values = {
        "time": now,
        "ok": res.ok,
        "problems": len(res.problems),
        "run": res.run,
        "snapshot": res.snapshot,
        "counts": res.counts(),
    }
    prev = state.repo_state(res.target).get("verify") or {}
    if res.ok:
        values["last_success"] = now
    elif prev.get("last_success"):
        values["last_success"] = prev["last_success"]
    state.update(res.target, verify=values)
    with contextlib.suppress(Exception):
        repos = select(config, None)
        names = [r.name for r in repos]
        state.write_metrics(names, {r.name: r.offsite for r in repos}, rpo_seconds=config.policy.backup_interval)
    record(
        Kind.BACKUP_VERIFY,
        res.target,
        BackupVerify(
            status=Status.of(res.ok),
            ok=res.ok,
            run=res.run,
            snapshot=res.snapshot,
            documents=res.documents,
            problem_counts=res.counts(),
            problems=[p.as_dict() for p in res.problems[:50]],
            seconds=round(res.seconds, 3),
        ),
    )
