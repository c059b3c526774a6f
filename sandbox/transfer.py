"""Copying one instance's data into another: the failback's data step (standby -> main).

The source keeps running (it serves nothing once main's HAProxy is stopped); the target must be
stopped. The database is copied with SQLite's online backup API (consistent while the source's
replicas have it open) to a temporary file next to the target, then renamed over it; the
documents store is copied to a temporary folder next to the target's, then swapped in. A server
database (PostgreSQL, MariaDB) is not copied here (``database=False``): the failback copies it
with the dump programs (``procops.backup.api.copy_database``), and this copies the documents.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from procops.errors import BadInput, EnvironmentFailure
from procops.i18n import _


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) else None


def copy_data(source: str, target: str, target_database_url: str | None = None, *, database: bool = True) -> dict:
    """Copy the running ``source`` instance's database and documents over the stopped ``target``'s
    (its database: ``target_database_url``, default its own SQLite file; only the documents when
    ``database`` is false).

    Returns ``{"database", "documents", "bytes"}`` (the target's paths, the documents' size)."""
    from procops.sandbox.platform import SandboxPaths, load_state

    src_state = load_state(SandboxPaths.of(source))
    if src_state is None:
        raise EnvironmentFailure(
            _("the sandbox '{source}' is not running: its data cannot be copied").format(source=source)
        )
    tgt_paths = SandboxPaths.of(target)
    if load_state(tgt_paths) is not None:
        raise EnvironmentFailure(
            _("the sandbox '{target}' is running: stop it before its data is replaced").format(target=target)
        )
    tmp_db: Path | None = None
    tgt_db: Path | None = None
    if database:
        src_db = _sqlite_path(src_state.database_url)
        tgt_db = _sqlite_path(target_database_url) if target_database_url else tgt_paths.database
        if src_db is None or tgt_db is None:
            raise BadInput(
                _(
                    "the sandbox '{source}' or '{target}' uses a server database: it is copied with its dump programs"
                ).format(source=source, target=target),
                hint=_("procops incident failback copies server databases itself"),
            )
        tmp_db = _copy_sqlite(source, src_db, tgt_db)
    src_docs = Path(src_state.documents_dir)
    tmp_docs = tgt_paths.documents.with_name(tgt_paths.documents.name + ".failback")
    old_docs = tgt_paths.documents.with_name(tgt_paths.documents.name + ".old")
    shutil.rmtree(tmp_docs, ignore_errors=True)
    shutil.rmtree(old_docs, ignore_errors=True)
    try:
        shutil.copytree(src_docs, tmp_docs, copy_function=shutil.copy2)
    except OSError as e:
        if tmp_db is not None:
            tmp_db.unlink(missing_ok=True)
        shutil.rmtree(tmp_docs, ignore_errors=True)
        raise EnvironmentFailure(
            _("copying the documents of sandbox '{source}' failed: {e}").format(source=source, e=e)
        ) from None
    size = sum(f.stat().st_size for f in tmp_docs.rglob("*") if f.is_file())
    if tmp_db is not None and tgt_db is not None:
        for suffix in ("-wal", "-shm", "-journal"):
            Path(str(tgt_db) + suffix).unlink(missing_ok=True)
        os.replace(tmp_db, tgt_db)
    if tgt_paths.documents.exists():
        os.replace(tgt_paths.documents, old_docs)
    os.replace(tmp_docs, tgt_paths.documents)
    shutil.rmtree(old_docs, ignore_errors=True)
    return {"database": str(tgt_db) if tgt_db else None, "documents": str(tgt_paths.documents), "bytes": size}


def _copy_sqlite(source: str, src_db: Path, tgt_db: Path) -> Path:
    """The source's SQLite database, copied with the online backup API to a temporary file next to the target."""
    tmp_db = tgt_db.with_name(tgt_db.name + ".failback")
    tmp_db.unlink(missing_ok=True)
    try:
        s = sqlite3.connect(f"file:{src_db}?mode=ro", uri=True, timeout=60)
        try:
            d = sqlite3.connect(tmp_db)
            try:
                s.backup(d)
                d.execute("PRAGMA journal_mode=DELETE")
            finally:
                d.close()
        finally:
            s.close()
    except sqlite3.Error as e:
        tmp_db.unlink(missing_ok=True)
        raise EnvironmentFailure(
            _("copying the database of sandbox '{source}' failed: {e}").format(source=source, e=e)
        ) from None
    return tmp_db


def remove_instance(instance: str) -> str:
    """Delete a stopped, non-main instance's folder (its database, documents, run files and logs)."""
    from procops.sandbox.platform import SandboxPaths, load_state

    if instance == "main":
        raise BadInput(_("the main sandbox's data is never removed this way"))
    paths = SandboxPaths.of(instance)
    if load_state(paths) is not None:
        raise EnvironmentFailure(
            _("the sandbox '{instance}' is running: stop it before removing it").format(instance=instance)
        )
    shutil.rmtree(paths.base, ignore_errors=True)
    return str(paths.base)
