"""Settings of one sandbox platform process, read from its environment.

The orchestration (``procops sandbox up``) starts every uvicorn replica with these
variables; nothing else configures the app:

==================================  =========================================  ==========
variable                            meaning                                    default
==================================  =========================================  ==========
PROCOPS_SANDBOX_DB_URL              SQLAlchemy URL of the platform database    (required)
PROCOPS_SANDBOX_DOCS_DIR            documents store folder                     (required)
PROCOPS_SANDBOX_VERSION             ``1.0.0``, ``1.1.0`` or ``1.1.1-bad``      ``1.0.0``
PROCOPS_SANDBOX_MAX_UPLOAD          largest bid file (bytes, or ``20MB``)      20 MiB
PROCOPS_SANDBOX_ADMIN_TOKEN_FILE    file (mode 0600) holding the admin token   (admin API off)
PROCOPS_SANDBOX_REPLICA             replica name, e.g. ``r1``                  ``r1``
PROCOPS_SANDBOX_POOL_SIZE           database connection pool size              10
PROCOPS_SANDBOX_SESSION_LIFETIME    how long a login token is valid (``8h``)   8 hours
PROCOPS_SANDBOX_LOGIN_MAX_FAILURES  failed logins per e-mail (an address: 20x) 5
                                    within the window before 429
PROCOPS_SANDBOX_LOGIN_WINDOW        the throttling window (``15m``)            15 minutes
PROCOPS_SANDBOX_DATA_KEY_FILE       AES key of encrypted fields (0600)         ``<state>/keys/data.key``
PROCOPS_SANDBOX_ACCESS_LOG          access log (JSONL, 0600) of the audit      ``<state>/audit/access.jsonl``
==================================  =========================================  ==========

``<state>`` is the folder holding the documents store (the parent of
``PROCOPS_SANDBOX_DOCS_DIR``): the sandbox instance's state folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping

from procops.sandbox.secure import access_log_for, key_file_for
from procops.timeutil import parse_duration, parse_size

VERSIONS = ("1.0.0", "1.1.0", "1.1.1-bad")
DEFAULT_VERSION = "1.0.0"
DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024
DEFAULT_REPLICA = "r1"
DEFAULT_POOL_SIZE = 10
DEFAULT_SESSION_LIFETIME = 8 * 3600.0
DEFAULT_LOGIN_MAX_FAILURES = 5
DEFAULT_LOGIN_WINDOW = 15 * 60.0

ENV_DB_URL = "PROCOPS_SANDBOX_DB_URL"
ENV_DOCS_DIR = "PROCOPS_SANDBOX_DOCS_DIR"
ENV_VERSION = "PROCOPS_SANDBOX_VERSION"
ENV_MAX_UPLOAD = "PROCOPS_SANDBOX_MAX_UPLOAD"
ENV_ADMIN_TOKEN_FILE = "PROCOPS_SANDBOX_ADMIN_TOKEN_FILE"
ENV_REPLICA = "PROCOPS_SANDBOX_REPLICA"
ENV_POOL_SIZE = "PROCOPS_SANDBOX_POOL_SIZE"
ENV_SESSION_LIFETIME = "PROCOPS_SANDBOX_SESSION_LIFETIME"
ENV_LOGIN_MAX_FAILURES = "PROCOPS_SANDBOX_LOGIN_MAX_FAILURES"
ENV_LOGIN_WINDOW = "PROCOPS_SANDBOX_LOGIN_WINDOW"
ENV_DATA_KEY_FILE = "PROCOPS_SANDBOX_DATA_KEY_FILE"
ENV_ACCESS_LOG = "PROCOPS_SANDBOX_ACCESS_LOG"

_REPLICA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_DRIVERS = ("sqlite", "postgresql", "mysql", "mariadb")


@dataclass(frozen=True)
class Settings:
    db_url: str
    docs_dir: Path
    version: str = DEFAULT_VERSION
    max_upload: int = DEFAULT_MAX_UPLOAD
    admin_token_file: Path | None = None
    replica: str = DEFAULT_REPLICA
    pool_size: int = DEFAULT_POOL_SIZE
    session_lifetime: float = DEFAULT_SESSION_LIFETIME
    login_max_failures: int = DEFAULT_LOGIN_MAX_FAILURES
    login_window: float = DEFAULT_LOGIN_WINDOW
    data_key_file: Path | None = None  # None: <state>/keys/data.key
    access_log: Path | None = None  # None: <state>/audit/access.jsonl

    def __post_init__(self) -> None:
        # The same checks whether the settings come from the environment or from code.
        _check_db_url(self.db_url, "db_url")
        if self.version not in VERSIONS:
            raise ValueError(f"version: unknown platform version {self.version!r} (one of {', '.join(VERSIONS)})")
        if not isinstance(self.max_upload, int) or isinstance(self.max_upload, bool) or self.max_upload < 1:
            raise ValueError(f"max_upload: must be a positive number of bytes, not {self.max_upload!r}")
        if not _REPLICA.match(self.replica):
            raise ValueError(f"replica: {self.replica!r} is not a replica name (letters, digits, '.', '_', '-')")
        if not isinstance(self.pool_size, int) or isinstance(self.pool_size, bool) or not 1 <= self.pool_size <= 1000:
            raise ValueError(f"pool_size: must be an integer between 1 and 1000, not {self.pool_size!r}")
        if not 1 <= self.session_lifetime <= 30 * 86400:
            raise ValueError(f"session_lifetime: must be 1 s to 30 days, not {self.session_lifetime!r}")
        if isinstance(self.login_max_failures, bool) or not 1 <= self.login_max_failures <= 1000:
            raise ValueError(f"login_max_failures: must be 1 to 1000, not {self.login_max_failures!r}")
        if not 1 <= self.login_window <= 86400:
            raise ValueError(f"login_window: must be 1 s to 1 day, not {self.login_window!r}")

    @property
    def state_dir(self) -> Path:
        """The sandbox instance's state folder: the parent of the documents store."""
        return Path(self.docs_dir).parent

    @property
    def key_path(self) -> Path:
        return self.data_key_file or key_file_for(self.state_dir)

    @property
    def access_log_path(self) -> Path:
        return self.access_log or access_log_for(self.state_dir)

    @property
    def has_search(self) -> bool:
        """Versions 1.1.0 and later have announcement search."""
        return self.version != "1.0.0"

    @property
    def flaky_uploads(self) -> bool:
        """The bad release fails about one upload in ten."""
        return self.version == "1.1.1-bad"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; a missing or invalid variable raises ValueError naming it."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None or not value.strip():
                return None
            return value.strip()

        def required(name: str, what: str) -> str:
            value = get(name)
            if value is None:
                raise ValueError(f"{name} is not set: give the {what}")
            return value

        db_url = required(
            ENV_DB_URL, "SQLAlchemy URL of the platform database (e.g. sqlite:////var/lib/procops/platform.db)"
        )
        try:
            _check_db_url(db_url, ENV_DB_URL)
        except ValueError as e:
            raise ValueError(str(e)) from None

        docs_dir = Path(required(ENV_DOCS_DIR, "documents store folder")).expanduser()

        version = get(ENV_VERSION) or DEFAULT_VERSION
        if version not in VERSIONS:
            raise ValueError(f"{ENV_VERSION}: unknown platform version {version!r} (one of {', '.join(VERSIONS)})")

        max_upload = DEFAULT_MAX_UPLOAD
        raw = get(ENV_MAX_UPLOAD)
        if raw is not None:
            try:
                max_upload = parse_size(raw)
            except ValueError as e:
                raise ValueError(f"{ENV_MAX_UPLOAD}: {e}") from None
            if max_upload < 1:
                raise ValueError(f"{ENV_MAX_UPLOAD}: must be at least 1 byte, not {raw!r}")

        token_file = get(ENV_ADMIN_TOKEN_FILE)
        admin_token_file = Path(token_file).expanduser() if token_file else None

        replica = get(ENV_REPLICA) or DEFAULT_REPLICA
        if not _REPLICA.match(replica):
            raise ValueError(
                f"{ENV_REPLICA}: {replica!r} is not a replica name (letters, digits, '.', '_', '-'; e.g. r1)"
            )

        pool_size = DEFAULT_POOL_SIZE
        raw = get(ENV_POOL_SIZE)
        if raw is not None:
            try:
                pool_size = int(raw)
            except ValueError:
                raise ValueError(f"{ENV_POOL_SIZE}: not an integer: {raw!r}") from None
            if not 1 <= pool_size <= 1000:
                raise ValueError(f"{ENV_POOL_SIZE}: must be between 1 and 1000, not {pool_size}")

        def duration(name: str, default: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = parse_duration(raw)
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
            if value < 1:
                raise ValueError(f"{name}: must be at least 1 second, not {raw!r}")
            return value

        session_lifetime = duration(ENV_SESSION_LIFETIME, DEFAULT_SESSION_LIFETIME)
        login_window = duration(ENV_LOGIN_WINDOW, DEFAULT_LOGIN_WINDOW)
        login_max_failures = DEFAULT_LOGIN_MAX_FAILURES
        raw = get(ENV_LOGIN_MAX_FAILURES)
        if raw is not None:
            try:
                login_max_failures = int(raw)
            except ValueError:
                raise ValueError(f"{ENV_LOGIN_MAX_FAILURES}: not an integer: {raw!r}") from None
            if not 1 <= login_max_failures <= 1000:
                raise ValueError(f"{ENV_LOGIN_MAX_FAILURES}: must be between 1 and 1000, not {login_max_failures}")
        key_file = get(ENV_DATA_KEY_FILE)
        access_log = get(ENV_ACCESS_LOG)

        return cls(
            session_lifetime=session_lifetime,
            login_window=login_window,
            login_max_failures=login_max_failures,
            data_key_file=Path(key_file).expanduser() if key_file else None,
            access_log=Path(access_log).expanduser() if access_log else None,
            db_url=db_url,
            docs_dir=docs_dir,
            version=version,
            max_upload=max_upload,
            admin_token_file=admin_token_file,
            replica=replica,
            pool_size=pool_size,
        )

    def to_env(self) -> dict[str, str]:
        """The environment that gives these settings back through :meth:`from_env`."""
        env = {
            ENV_DB_URL: self.db_url,
            ENV_DOCS_DIR: str(self.docs_dir),
            ENV_VERSION: self.version,
            ENV_MAX_UPLOAD: str(self.max_upload),
            ENV_REPLICA: self.replica,
            ENV_POOL_SIZE: str(self.pool_size),
            ENV_SESSION_LIFETIME: str(self.session_lifetime),
            ENV_LOGIN_MAX_FAILURES: str(self.login_max_failures),
            ENV_LOGIN_WINDOW: str(self.login_window),
        }
        if self.data_key_file is not None:
            env[ENV_DATA_KEY_FILE] = str(self.data_key_file)
        if self.access_log is not None:
            env[ENV_ACCESS_LOG] = str(self.access_log)
        if self.admin_token_file is not None:
            env[ENV_ADMIN_TOKEN_FILE] = str(self.admin_token_file)
        return env


def _check_db_url(url: str, name: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(
            f"{name}: not a SQLAlchemy URL: {_redact(url)!r} "
            "(e.g. sqlite:////path/platform.db, postgresql+psycopg://user@host:5432/db, "
            "mysql+pymysql://user@host:3306/db)"
        ) from None
    if parsed.get_backend_name() not in _DRIVERS:
        raise ValueError(
            f"{name}: unsupported database {parsed.get_backend_name()!r} (sqlite, postgresql or mysql/mariadb)"
        )
    if parsed.get_backend_name() == "sqlite" and not parsed.database:
        raise ValueError(
            f"{name}: give a SQLite file path (sqlite:////path/platform.db), "
            "an in-memory database cannot be shared by replicas"
        )
    if parsed.get_backend_name() != "sqlite" and not parsed.database:
        raise ValueError(f"{name}: the URL names no database")


def _redact(url: str) -> str:
    # Never echo a password back in an error message.
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1********@", url)
