"""Database engines of the sandbox platform, and the access path the fault knob can cut.

``make_engine`` is the one place that knows each database's settings:

- SQLite: WAL journal (readers never wait for the writer), a busy timeout so
  concurrent writers queue instead of failing, foreign keys on, a connection pool;
- PostgreSQL and MariaDB: a pool of ``pool_size`` connections (no overflow, so
  "connections in use / pool size" is a true ratio), ``pool_pre_ping`` so a
  restarted server does not fail the first requests, connections recycled hourly
  (below MariaDB's ``wait_timeout``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
POOL_TIMEOUT_S = 10


class DatabaseUnavailable(RuntimeError):
    """Database access refused: the fault knob says the database is down."""


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT_S,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cur = dbapi_connection.cursor()
            try:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
            finally:
                cur.close()

        return engine
    if backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_S,
        pool_pre_ping=True,
        pool_recycle=3600,
    )


def pool_stats(engine: Engine) -> tuple[int, int]:
    """(connections checked out, pool size) of the engine's pool."""
    pool = engine.pool
    in_use = getattr(pool, "checkedout", None)
    size = getattr(pool, "size", None)
    return (in_use() if callable(in_use) else 0, size() if callable(size) else 0)


class Database:
    """The app's access to its engine; every access first asks the fault knob.

    ``is_down(endpoint)`` is read on every access, so turning ``db=down`` on or off
    takes effect on the next request.
    """

    def __init__(self, engine: Engine, is_down: Callable[[str], bool] | None = None) -> None:
        self.engine = engine
        self._is_down = is_down or (lambda _endpoint: False)

    def _check(self, endpoint: str) -> None:
        if self._is_down(endpoint):
            raise DatabaseUnavailable("database unavailable (injected fault db=down)")

    @contextlib.contextmanager
    def connect(self, endpoint: str) -> Iterator[Connection]:
        """A connection for reads (``endpoint``: the name the fault knob targets)."""
        self._check(endpoint)
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def begin(self, endpoint: str) -> Iterator[Connection]:
        """A connection in a transaction, committed on success, rolled back on error."""
        self._check(endpoint)
        with self.engine.begin() as conn:
            yield conn
