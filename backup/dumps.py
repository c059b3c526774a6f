"""Consistent database dumps, their restore into a scratch database, and the manifest.

* SQLite: the online backup API copies the live database (WAL-safe) to a staging
  file; the manifest is read from that copy, so both describe the same instant.
* PostgreSQL: the manifest is read in a REPEATABLE READ transaction that exports
  its snapshot, and ``pg_dump --snapshot`` dumps that very snapshot (plain SQL,
  no owners or privileges, so it restores into any scratch database).
* MariaDB/MySQL: ``mysqldump --single-transaction``; the manifest is read just
  before in a consistent-snapshot transaction (concurrent writes between the two
  can make row counts differ: verify reports it).

Passwords go to the dump programs through their environment (``PGPASSWORD``,
``MYSQL_PWD``), never argv. argv builders are pure.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator, Sequence

from procops import execute
from procops.backup.sources import Database
from procops.errors import EnvironmentFailure

from procops.i18n import _

MANIFEST_FORMAT = 1
Query = Callable[[str], list[tuple]]

# --------------------------------------------------------------------------- argv builders (pure)


def pg_dump_argv(db: Database, *, snapshot: str | None = None) -> list[str]:
    a = [
        "pg_dump",
        "--no-owner",
        "--no-privileges",
        "--format=plain",
        "--encoding=UTF8",
        "--host",
        str(db.host),
        "--port",
        str(db.port),
        "--username",
        str(db.user),
        "--no-password",
    ]
    if snapshot:
        a.append(f"--snapshot={snapshot}")
    return [*a, "--dbname", str(db.name)]


def psql_restore_argv(db: Database) -> list[str]:
    return [
        "psql",
        "--quiet",
        "--no-psqlrc",
        "--set",
        "ON_ERROR_STOP=1",
        "--host",
        str(db.host),
        "--port",
        str(db.port),
        "--username",
        str(db.user),
        "--no-password",
        "--dbname",
        str(db.name),
    ]


def mysqldump_argv(db: Database) -> list[str]:
    return [
        "mysqldump",
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--hex-blob",
        "--default-character-set=utf8mb4",
        "--no-tablespaces",
        "--host",
        str(db.host),
        "--port",
        str(db.port),
        "--user",
        str(db.user),
        "--protocol=TCP",
        str(db.name),
    ]


def mysql_restore_argv(db: Database) -> list[str]:
    return [
        "mysql",
        "--default-character-set=utf8mb4",
        "--host",
        str(db.host),
        "--port",
        str(db.port),
        "--user",
        str(db.user),
        "--protocol=TCP",
        str(db.name),
    ]


def dump_env(db: Database) -> dict[str, str]:
    """What the dump program is told beyond the runner's exact environment: the password (if any) and a
    connect timeout."""
    extra: dict[str, str] = {}
    pw = db.password
    if db.kind == "postgresql":
        extra["PGCONNECT_TIMEOUT"] = "10"
        if pw:
            extra["PGPASSWORD"] = pw
    elif db.kind == "mysql" and pw:
        extra["MYSQL_PWD"] = pw
    return extra


# --------------------------------------------------------------------------- manifest


def build_manifest(query: Query, tables: Sequence[str]) -> dict:
    """Row counts of the key tables and every archived document as the database records it."""
    counts: dict[str, int | None] = {}
    for t in tables:
        if not t.replace("_", "").isalnum():
            raise ValueError(f"bad table name {t!r}")
        try:
            counts[t] = int(query(f"SELECT COUNT(*) FROM {t}")[0][0])
        except Exception:  # noqa: BLE001 - a missing table is recorded as such
            counts[t] = None
    docs = [
        {"id": int(r[0]), "storage_path": str(r[1]), "size": int(r[2]), "sha256": str(r[3]).strip().lower()}
        for r in query("SELECT id, storage_path, size, sha256 FROM archive_documents ORDER BY id")
    ]
    return {
        "format": MANIFEST_FORMAT,
        "tables": counts,
        "documents": docs,
        "totals": {"documents": len(docs), "bytes": sum(d["size"] for d in docs)},
    }


def sqlite_query(path: Path) -> contextlib.AbstractContextManager[Query]:
    return _sqlite_ctx(path)


@contextlib.contextmanager
def _sqlite_ctx(path: Path) -> Iterator[Query]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        yield lambda sql: con.execute(sql).fetchall()
    finally:
        con.close()


@contextlib.contextmanager
def sqlalchemy_query(db: Database, *, repeatable_read: bool = False) -> Iterator[tuple[Query, Any]]:
    """A read-only query function on a server database; yields (query, connection)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        eng = create_engine(db.sqlalchemy_url(), pool_pre_ping=False, connect_args={"connect_timeout": 10})
        conn = eng.connect()
    except SQLAlchemyError as e:
        raise EnvironmentFailure(
            _("cannot connect to {masked_url}: {first_line}").format(
                masked_url=db.masked_url, first_line=_first_line(e)
            )
        ) from None
    try:
        if repeatable_read:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        conn.begin()
        yield (lambda sql: [tuple(r) for r in conn.execute(text(sql)).fetchall()]), conn
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()
        eng.dispose()


def live_manifest(db: Database, tables: Sequence[str]) -> dict:
    if db.kind == "sqlite":
        if not db.path or not db.path.is_file():
            raise EnvironmentFailure(_("the SQLite database {path} does not exist").format(path=db.path))
        with _sqlite_ctx(db.path) as q:
            return build_manifest(q, tables)
    with sqlalchemy_query(db) as (q, _unused):
        return build_manifest(q, tables)


def _first_line(e: BaseException) -> str:
    orig = getattr(e, "orig", None)
    return (str(orig or e).strip().splitlines() or [type(e).__name__])[0]


# --------------------------------------------------------------------------- producers


@dataclass
class Producer:
    """Where a dump's bytes come from: a staging file (SQLite) or a program writing to stdout."""

    label: str
    file: Path | None = None
    argv: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def tool(self) -> execute.Tool:
        """The program's entry in the runner's table (pg_dump, mysqldump), or a plain one named by its label."""
        return execute.TOOLS.get(self.label) or execute.Tool(self.label, (self.argv or [self.label])[0])


def sqlite_online_backup(src: Path, dst: Path) -> None:
    """Copy a live SQLite database with the online backup API (consistent, WAL-safe)."""
    if not src.is_file():
        raise EnvironmentFailure(_("the SQLite database {src} does not exist").format(src=src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        s = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=60)
        try:
            d = sqlite3.connect(dst)
            try:
                s.backup(d, pages=4096)
                d.execute("PRAGMA journal_mode=DELETE")
            finally:
                d.close()
        finally:
            s.close()
    except sqlite3.Error as e:
        dst.unlink(missing_ok=True)
        raise EnvironmentFailure(_("SQLite online backup of {src} failed: {e}").format(src=src, e=e)) from None


@contextlib.contextmanager
def prepare_dump(db: Database, staging: Path, tables: Sequence[str]) -> Iterator[tuple[Producer, dict]]:
    """Yield (producer, manifest) describing one consistent state of the database.

    For PostgreSQL the manifest's transaction (and its exported snapshot) stays
    open while the caller streams the dump.
    """
    if db.kind == "sqlite":
        copy = staging / "platform.sqlite3"
        sqlite_online_backup(db.path, copy)  # type: ignore[arg-type]
        try:
            with _sqlite_ctx(copy) as q:
                manifest = build_manifest(q, tables)
            yield Producer("sqlite online backup", file=copy), manifest
        finally:
            copy.unlink(missing_ok=True)
        return
    if db.kind == "postgresql":
        with sqlalchemy_query(db, repeatable_read=True) as (q, conn):
            snap = q("SELECT pg_export_snapshot()")[0][0]
            manifest = build_manifest(q, tables)
            yield Producer("pg_dump", argv=pg_dump_argv(db, snapshot=snap), env=dump_env(db)), manifest
        return
    with sqlalchemy_query(db, repeatable_read=True) as (q, _unused):
        manifest = build_manifest(q, tables)
    yield Producer("mysqldump", argv=mysqldump_argv(db), env=dump_env(db)), manifest


# --------------------------------------------------------------------------- scratch databases (verify, restore)


def scratch_name(prefix: str = "procops_verify") -> str:
    import secrets

    return f"{prefix}_{secrets.token_hex(4)}"


def create_server_database(db: Database, name: str) -> Database:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    admin = db.with_database("postgres" if db.kind == "postgresql" else "mysql")
    try:
        eng = create_engine(admin.sqlalchemy_url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            if db.kind == "postgresql":
                c.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                c.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        eng.dispose()
    except SQLAlchemyError as e:
        raise EnvironmentFailure(
            _("cannot create the scratch database {name} on {masked_url}: {first_line}").format(
                name=name, masked_url=db.masked_url, first_line=_first_line(e)
            )
        ) from None
    return db.with_database(name)


def drop_server_database(db: Database) -> None:
    from sqlalchemy import create_engine, text

    admin = db.with_database("postgres" if db.kind == "postgresql" else "mysql")
    with contextlib.suppress(Exception):
        eng = create_engine(admin.sqlalchemy_url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            if db.kind == "postgresql":
                c.execute(text(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)'))
            else:
                c.execute(text(f"DROP DATABASE IF EXISTS `{db.name}`"))
        eng.dispose()


def load_dump(target: Database, dump_file: Path, timeout: float) -> None:
    """Load a plain SQL dump into a (new, empty) server database."""
    argv = psql_restore_argv(target) if target.kind == "postgresql" else mysql_restore_argv(target)
    tool = execute.PSQL if target.kind == "postgresql" else execute.MYSQL
    with open(dump_file, "rb") as f:
        try:
            p = execute.run(tool, argv, stdin=f, env=dump_env(target), timeout=timeout, check=False)
        except execute.ToolFailed:
            raise EnvironmentFailure(
                _("loading the dump into {masked_url} took longer than {timeout:.0f}s").format(
                    masked_url=target.masked_url, timeout=timeout
                )
            ) from None
    if p.rc != 0:
        from procops.backup.restic import tail

        raise EnvironmentFailure(
            _("{value} could not load the dump into {masked_url}: {tail}").format(
                value=argv[0], masked_url=target.masked_url, tail=tail(p.stderr)
            )
        )


def copy_server_database(source: Database, target: Database, staging: Path, timeout: float) -> int:
    """Replace the server database ``target`` with a copy of ``source`` (same server kind): a plain SQL
    dump of ``source`` to a private staging file, then ``target`` dropped, created empty and loaded.
    Returns the dump's size in bytes. Used by the failback (the standby's database back into main's)."""
    if source.kind != target.kind or source.kind not in ("postgresql", "mysql"):
        raise EnvironmentFailure(
            _("cannot copy {source} into {target}: both must be PostgreSQL or both MariaDB").format(
                source=source.masked_url, target=target.masked_url
            )
        )
    staging.mkdir(parents=True, exist_ok=True)
    dump = staging / f"copy-{scratch_name('db')}.sql"
    if source.kind == "postgresql":
        tool, argv = execute.PG_DUMP, pg_dump_argv(source)
    else:
        tool, argv = execute.MYSQLDUMP, mysqldump_argv(source)
    try:
        with open(dump, "wb") as out:
            try:
                p = execute.run(tool, argv, stdout=out, env=dump_env(source), timeout=timeout, check=False)
            except execute.ToolFailed:
                raise EnvironmentFailure(
                    _("{program} of {source} took longer than {seconds:.0f}s").format(
                        program=argv[0], source=source.masked_url, seconds=timeout
                    )
                ) from None
        if p.rc != 0:
            from procops.backup.restic import tail

            raise EnvironmentFailure(
                _("{program} of {source} failed: {tail}").format(
                    program=argv[0], source=source.masked_url, tail=tail(p.stderr)
                )
            )
        size = dump.stat().st_size
        drop_server_database(target)
        create_server_database(target, str(target.name))
        load_dump(target, dump, timeout)
        return size
    finally:
        dump.unlink(missing_ok=True)
