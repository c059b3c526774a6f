"""What is backed up and where to: repositories, the database and the documents store, resolved from the config.

The embedded default backs the local sandbox up to two repositories under
``$PROCOPS_HOME/backup/repos``: ``local`` and ``offsite`` (a stand-in for a
remote host: a real deployment points it at ``sftp:`` or another remote
backend), each with a generated password in a 0600 file.

The database is, in this order: ``backup.database``, ``platform.database_url``,
the database of the running sandbox instance that serves the site (``main``, or
``standby`` after a failover: ``procops.sandbox.api.serving()``), ``sandbox.database_url``,
the sandbox's SQLite file. The documents store likewise. So after
``incident standby --execute`` the bids written on the standby are what is backed up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.backup.restic import Repo, backend_of
from procops.errors import BadInput

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

DEFAULT_REPOSITORIES = (("local", False), ("offsite", True))


def backup_dir() -> Path:
    from procops.home import area_dir

    return area_dir("backup")


def repositories(config: Config) -> list[Repo]:
    """Every configured repository (or the embedded two), non-off-site first."""
    from procops.home import generated_secret

    cfg = config.backup
    repos: list[Repo] = []
    if not cfg.repositories:
        for name, offsite in DEFAULT_REPOSITORIES:
            repos.append(
                Repo(
                    name=name,
                    url=str(backup_dir() / "repos" / name),
                    password_file=generated_secret(f"restic-{name}"),
                    offsite=offsite,
                )
            )
    else:
        for r in cfg.repositories:
            if r.password is None:
                pw_file, pw_cmd = generated_secret(f"restic-{r.name}"), None
            elif r.password.file is not None:
                pw_file, pw_cmd = r.password.file.expanduser(), None
            else:
                pw_file, pw_cmd = None, tuple(r.password.command or ())
            url = r.url
            if backend_of(url) == "local" and not url.startswith("local:"):
                url = str(Path(url).expanduser().resolve())
            repos.append(
                Repo(
                    name=r.name,
                    url=url,
                    password_file=pw_file,
                    password_command=pw_cmd,
                    offsite=r.offsite,
                    options=tuple(sorted(r.options.items())),
                    append_only=r.append_only,
                )
            )
    return sorted(repos, key=lambda r: r.offsite)


def select(config: Config, name: str | None) -> list[Repo]:
    repos = repositories(config)
    if name is None:
        return repos
    for r in repos:
        if r.name == name:
            return [r]
    raise BadInput(
        _("unknown repository {name!r}; configured: {value}").format(name=name, value=", ".join(r.name for r in repos))
    )


@dataclass(frozen=True)
class Database:
    """A database to dump, parsed from a URL or a SQLite path (the password is kept out of repr)."""

    kind: str  # sqlite | postgresql | mysql
    url: str  # SQLAlchemy URL (with the password, if any)
    path: Path | None = None  # sqlite
    host: str | None = None
    port: int | None = None
    user: str | None = None
    name: str | None = None

    def __repr__(self) -> str:
        return f"Database(kind={self.kind!r}, url={self.masked_url!r})"

    @property
    def masked_url(self) -> str:
        from procops.config import _mask_url

        return _mask_url(self.url)

    @property
    def password(self) -> str | None:
        from sqlalchemy.engine import make_url

        return make_url(self.url).password if self.kind != "sqlite" else None

    @property
    def dump_filename(self) -> str:
        """The file name of the dump inside the database snapshot."""
        if self.kind == "sqlite":
            return "database/platform.sqlite3"
        return f"database/{self.name}.{self.kind}.sql"

    @classmethod
    def parse(cls, text: str) -> Database:
        text = text.strip()
        if "://" not in text:
            p = Path(text).expanduser().resolve()
            return cls("sqlite", f"sqlite:///{p}", path=p)
        if text.startswith("sqlite:///") and "?" not in text:
            # the common case (the sandbox's database) without importing SQLAlchemy, a quarter of a
            # second of every hourly run: the path is what make_url gives (sqlite:////abs, sqlite:///rel)
            path = text[len("sqlite:///") :]
            if not path or path == ":memory:":
                raise BadInput(_("a SQLite database to back up must be a file"))
            p = Path(path).expanduser().resolve()
            return cls("sqlite", f"sqlite:///{p}", path=p)
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            u = make_url(text)
        except ArgumentError as e:
            raise BadInput(_("not a database URL: {e}").format(e=e)) from None
        backend = u.get_backend_name()
        if backend == "sqlite":
            if not u.database or u.database == ":memory:":
                raise BadInput(_("a SQLite database to back up must be a file"))
            p = Path(u.database).expanduser().resolve()
            return cls("sqlite", f"sqlite:///{p}", path=p)
        if backend in ("postgresql", "postgres"):
            kind, default_port, default_user = "postgresql", 5432, "postgres"
        elif backend in ("mysql", "mariadb"):
            kind, default_port, default_user = "mysql", 3306, "root"
        else:
            raise BadInput(
                _("cannot back up a {backend} database: use SQLite, PostgreSQL or MariaDB/MySQL").format(
                    backend=backend
                )
            )
        if not u.database:
            raise BadInput(_("the database URL names no database"))
        return cls(
            kind,
            text,
            host=u.host or "127.0.0.1",
            port=u.port or default_port,
            user=u.username or default_user,
            name=u.database,
        )

    def sqlalchemy_url(self) -> str:
        """A URL SQLAlchemy can open with the installed drivers (psycopg 3, PyMySQL)."""
        from sqlalchemy.engine import make_url

        u = make_url(self.url)
        if self.kind == "postgresql" and u.drivername in ("postgresql", "postgres"):
            u = u.set(drivername="postgresql+psycopg")
        elif self.kind == "mysql" and u.drivername in ("mysql", "mariadb"):
            u = u.set(drivername="mysql+pymysql")
        return u.render_as_string(hide_password=False)

    def with_database(self, name: str) -> Database:
        from sqlalchemy.engine import make_url

        u = make_url(self.url).set(database=name)
        return Database(
            self.kind,
            u.render_as_string(hide_password=False),
            host=self.host,
            port=self.port,
            user=self.user,
            name=name,
        )


@dataclass(frozen=True)
class Sources:
    database: Database
    documents: Path
    paths: tuple[Path, ...]
    excludes: tuple[str, ...]


def _running_sandbox() -> Any:
    try:
        from procops.sandbox import api as sandbox

        return sandbox.serving()
    except Exception:  # noqa: BLE001 - no running sandbox is a normal case
        return None


def sources(config: Config) -> Sources:
    from procops.sandbox.api import SandboxPaths

    cfg = config.backup
    state = None
    db_text = cfg.database or config.platform.database_url
    if not db_text:
        state = _running_sandbox()
        db_text = (
            (state.database_url if state else None)
            or config.sandbox.database_url
            or SandboxPaths.of("main").sqlite_url()
        )
    docs = cfg.documents_dir or config.platform.documents_dir
    if docs is None:
        state = state or _running_sandbox()
        docs = Path(state.documents_dir) if state else SandboxPaths.of("main").documents
    return Sources(
        Database.parse(db_text),
        Path(docs).expanduser().resolve(),
        tuple(Path(p).expanduser().resolve() for p in cfg.paths),
        tuple(cfg.excludes),
    )
