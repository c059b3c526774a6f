"""`procops backup restore`: a backup run back to a folder, or to a standby sandbox serving it.

Layout of ``restore --target DIR``::

    DIR/documents/          the documents store (content-addressed, as live)
    DIR/manifest.json       the run's manifest (row counts, every document's path, size, sha256)
    DIR/database/<dump>     the database dump (SQLite file or plain SQL)
    DIR/files/...           extra paths of the backup, under their absolute paths

``restore_to_sandbox`` restores the same into a sandbox instance's data paths
(``procops.sandbox.api.paths(instance)``) and starts it: the standby
system of R7. It is the API ``incident standby --execute`` calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from procops.backup import dumps
from procops.backup.ops import RunSet, make_restic, resolve, run_sets, snapshots, with_stale_unlock
from procops.backup.restic import Problem, Repo, Restic, ResticError, dump_args, restore_args
from procops.backup.sources import Database, select
from procops.errors import BadInput, EnvironmentFailure
from procops.timeutil import iso, utcnow

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class Restored:
    repository: str
    run: RunSet
    root: Path
    documents: Path
    manifest: dict
    dump: Path | None

    def as_dict(self) -> dict:
        return {
            "repository": self.repository,
            **self.run.as_dict(),
            "root": str(self.root),
            "documents": str(self.documents),
            "dump": str(self.dump) if self.dump else None,
            "manifest_totals": self.manifest.get("totals"),
        }


def find_run(restic: Restic, repos: list[Repo], snapshot: str) -> tuple[Repo, RunSet]:
    """The first repository (in order) that has the run; the errors of the others if none has."""
    errors = []
    for r in repos:
        try:
            return r, resolve(run_sets(snapshots(restic, r)), snapshot, r.name)
        except (EnvironmentFailure, BadInput) as e:
            errors.append(f"{r.name}: {e.message}")
    if errors and all("no backup run or snapshot" in e for e in errors):
        raise BadInput("; ".join(errors))  # an unknown snapshot is bad input, wherever it was looked for
    if len(repos) == 1 and errors:
        raise EnvironmentFailure(errors[0])
    raise EnvironmentFailure(_("no repository can provide the backup: ") + "; ".join(errors))


def _tree_bytes(path: Path) -> int:
    total = 0
    stack = [path]
    while stack:
        p = stack.pop()
        try:
            with os.scandir(p) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(Path(e.path))
                        elif e.is_file(follow_symlinks=False):
                            total += e.stat(follow_symlinks=False).st_size
                    except OSError:
                        pass
        except OSError:
            pass
    return total


@contextlib.contextmanager
def _watch(path: Path, total: int, progress: Progress | None):
    """Report the bytes under ``path`` twice a second (restic 0.14's restore prints no progress)."""
    if progress is None:
        yield
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            done = _tree_bytes(path)
            progress(min(done, total) if total else done, total)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(2)
        done = total or _tree_bytes(path)
        progress(done, total or done)


def restore_files(
    restic: Restic,
    repo: Repo,
    run: RunSet,
    target: Path,
    *,
    timeout: float,
    progress: Progress | None = None,
    expected_bytes: int = 0,
    keep_modes: bool = False,
) -> tuple[Path, dict]:
    """Restore the run's files snapshot under ``target``; returns (documents dir, manifest).

    The restored files are made private (0600/0700) unless ``keep_modes``
    (``backup.restore_keep_modes``): restic restores the modes recorded in the
    snapshot, which may be readable by others."""
    from procops.home import make_private_tree, private_dir

    private_dir(target)
    with _watch(target, expected_bytes, progress):
        with_stale_unlock(restic, repo, lambda: restic.run(repo, restore_args(run.files.id, target), timeout=timeout))
    if not keep_modes:
        make_private_tree(target)
    manifest_src = next((p for p in run.files.paths if p.endswith("/manifest.json")), None)
    if manifest_src is None:
        raise EnvironmentFailure(
            _("snapshot {short_id} in '{name}' has no manifest").format(short_id=run.files.short_id, name=repo.name)
        )
    mpath = target / manifest_src.lstrip("/")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError) as e:
        raise EnvironmentFailure(
            _("the manifest of snapshot {short_id} is unreadable: {e}").format(short_id=run.files.short_id, e=e)
        ) from None
    docs = target / manifest["documents_dir"].lstrip("/")
    return docs, manifest


def dump_database(restic: Restic, repo: Repo, run: RunSet, dump_file: str, dest: Path, *, timeout: float) -> Path:
    """`restic dump` of the run's database snapshot to ``dest`` (written to a temporary name, then renamed)."""
    if run.database is None:
        raise EnvironmentFailure(
            _("run {run_id} in '{name}' has no database snapshot").format(run_id=run.run_id, name=repo.name)
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        with open(tmp, "wb") as out:
            restic.run(
                repo, dump_args(run.database.id, "/" + dump_file.lstrip("/")), stdout=out, timeout=timeout, check=True
            )
    except ResticError as e:
        tmp.unlink(missing_ok=True)
        if e.problem is Problem.TIMEOUT:
            raise EnvironmentFailure(
                _("restic dump of the database took longer than {timeout:.0f}s").format(timeout=timeout)
            ) from None
        raise
    os.replace(tmp, dest)
    return dest


def restore_to_dir(
    config: Config,
    target: str | Path,
    *,
    repo: str | None = None,
    snapshot: str = "latest",
    progress: Progress | None = None,
) -> Restored:
    """`procops backup restore --target DIR`."""
    target = Path(target).expanduser().resolve()
    if target.exists() and any(target.iterdir()):
        raise BadInput(_("the target {target} is not empty: restore into a new or empty folder").format(target=target))
    restic = make_restic(config)
    t0 = time.monotonic()
    r, run = find_run(restic, select(config, repo), snapshot)
    tmp = target / ".restore"
    docs, manifest = restore_files(
        restic,
        r,
        run,
        tmp,
        timeout=config.backup.command_timeout,
        progress=progress,
        expected_bytes=_expected_bytes(r.name),
        keep_modes=config.backup.restore_keep_modes,
    )
    os.replace(docs, target / "documents")
    mpath = tmp / next(p for p in run.files.paths if p.endswith("/manifest.json")).lstrip("/")
    os.replace(mpath, target / "manifest.json")
    if any(tmp.rglob("*")):
        leftovers = [p for p in tmp.rglob("*") if p.is_file()]
        if leftovers:
            os.replace(tmp, target / "files")
    shutil.rmtree(tmp, ignore_errors=True)
    dump = dump_database(
        restic,
        r,
        run,
        manifest["database"]["dump_file"],
        target / manifest["database"]["dump_file"],
        timeout=config.backup.command_timeout,
    )
    out = Restored(r.name, run, target, target / "documents", manifest, dump)
    from procops.events import BackupRestore, Kind
    from procops.journal import record

    record(
        Kind.BACKUP_RESTORE,
        str(target),
        BackupRestore(
            repository=r.name,
            **run.as_dict(),
            seconds=round(time.monotonic() - t0, 3),
            documents=(manifest.get("totals") or {}).get("documents"),
        ),
    )
    return out


def _expected_bytes(repo: str) -> int:
    """Roughly how much a restore writes (the last run's manifest), for the progress bar; 0: unknown."""
    try:
        from procops.backup.run import manifest_path

        return int(json.loads(manifest_path().read_text())["totals"]["bytes"])
    except Exception:  # noqa: BLE001
        return 0


def _free_port_block(start: int, n: int, host: str = "127.0.0.1") -> int:
    from procops.execute import port_free

    for first in list(range(start, min(start + 500, 65000 - n), 10)) + list(range(20000, 60000, 10)):
        if all(port_free(p, host) for p in range(first, first + n)):
            return first
    raise EnvironmentFailure(_("no free loopback port block for the standby sandbox"))


def restore_to_sandbox(
    config: Config,
    *,
    repo: str | None = None,
    snapshot: str = "latest",
    instance: str = "standby",
    progress: Progress | None = None,
    bind_address: str | None = None,
) -> dict:
    """Restore a backup run into the sandbox instance ``instance`` and start it serving the restored data.

    Returns ``{"url", "snapshot", "repository", "seconds", "run", "instance", "port", "database",
    "documents", "bind_address", "replica_ports"}``. A running instance of that name is stopped first
    (its data is replaced). ``bind_address`` (default: ``sandbox.bind_address``) is where it listens: a
    standby that another host's load balancer reaches binds this host's address.
    """
    from procops.sandbox import api as sandbox

    if instance == "main":
        raise BadInput(_("restore --to-sandbox never overwrites the main sandbox: use another instance name"))
    t0 = time.monotonic()
    restic = make_restic(config)
    r, run = find_run(restic, select(config, repo), snapshot)
    paths = sandbox.paths(instance)
    sandbox.down(instance, journal=False)
    work = paths.base / ".restore"
    shutil.rmtree(work, ignore_errors=True)
    try:
        docs, manifest = restore_files(
            restic,
            r,
            run,
            work / "files",
            timeout=config.backup.command_timeout,
            progress=progress,
            expected_bytes=_expected_bytes(r.name),
            keep_modes=config.backup.restore_keep_modes,
        )
        dump_file = manifest["database"]["dump_file"]
        dump = dump_database(restic, r, run, dump_file, work / dump_file, timeout=config.backup.command_timeout)
        if paths.documents.exists():
            shutil.rmtree(paths.documents)
        os.replace(docs, paths.documents)
        kind = manifest["database"]["kind"]
        if kind == "sqlite":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(paths.database) + suffix).unlink(missing_ok=True)
            os.replace(dump, paths.database)
            database_url = paths.sqlite_url()
        else:
            from procops.backup.sources import sources

            live = sources(config).database
            if live.kind != kind:
                raise EnvironmentFailure(
                    _(
                        "the backup holds a {kind} dump but the configured database is {kind2}: no server to restore it into"
                    ).format(kind=kind, kind2=live.kind)
                )
            name = f"{live.name}_{instance}".replace("-", "_")
            target = live.with_database(name)
            dumps.drop_server_database(target)
            dumps.create_server_database(live, name)
            dumps.load_dump(target, dump, config.backup.command_timeout)
            database_url = target.sqlalchemy_url()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bind = bind_address or config.sandbox.bind_address
    port = _free_port_block(config.sandbox.port + 100, config.sandbox.replicas + 1, bind)
    opts = sandbox.up_options(
        config,
        port=port,
        database_url=database_url,
        seed_announcements=0,
        seed_suppliers=0,
        seed_documents=0,
        bind_address=bind,
    )
    state, _unused = sandbox.up(opts, instance)
    seconds = round(time.monotonic() - t0, 3)
    result: dict[str, Any] = {
        "url": state.url,
        "snapshot": run.files.short_id,
        "database_snapshot": run.database.short_id if run.database else None,
        "run": run.run_id,
        "time": run.time,  # the snapshot's time: the restored data stops there
        "repository": r.name,
        "seconds": seconds,
        "instance": instance,
        "port": port,
        "bind_address": bind,
        "replica_ports": [r.port for r in state.replicas],
        "database": Database.parse(database_url).masked_url if "://" in database_url else database_url,
        "documents": (manifest.get("totals") or {}).get("documents"),
        "restored_at": iso(utcnow()),
    }
    from procops.events import BackupRestore, Kind
    from procops.journal import record

    record(Kind.BACKUP_RESTORE, f"sandbox:{instance}", BackupRestore(**result))
    return result
