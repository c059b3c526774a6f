"""The sandbox's public API: the only module other areas and ``cli/`` import.

The running state of an instance is read here (:func:`running`), never from its
``state.json`` by other areas. Results crossing the boundary are typed:
:class:`Running` (what is serving, where), :class:`SandboxPaths` (where an
instance keeps its data) and :class:`UpOptions` (how to start one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.errors import BadInput
from procops.sandbox.platform import SandboxPaths, UpOptions, replica_ports
from procops.sandbox.secure import AccessRecord, access_log_for, read_access_log
from procops.sandbox.site import ActiveSite

from procops.i18n import _

if TYPE_CHECKING:
    from procops.readiness import Step
    from procops.config import Config

__all__ = [
    "AccessRecord",
    "ActiveSite",
    "Replica",
    "Running",
    "SandboxPaths",
    "access_log",
    "UpOptions",
    "active_site",
    "clear_fault",
    "copy_data",
    "down",
    "frontend",
    "paths",
    "readiness_steps",
    "record_active_site",
    "refuse_stopping_the_site",
    "remove_instance",
    "replica_ports",
    "running",
    "serving",
    "sensitive_fields_at_rest",
    "serving_instance",
    "reload_haproxy",
    "set_fault",
    "switch_version",
    "versions",
    "status",
    "up",
    "up_options",
]


@dataclass(frozen=True)
class Replica:
    name: str
    port: int
    pid: int
    version: str | None
    alive: bool


@dataclass(frozen=True)
class Running:
    """A started sandbox instance, as recorded when it started (``alive`` flags read now)."""

    instance: str
    url: str
    port: int
    host: str  # where this machine reaches the replicas
    bind_address: str
    database_url: str
    documents_dir: Path
    started_at: str
    replicas: tuple[Replica, ...]
    haproxy_alive: bool
    haproxy_socket: Path
    pilot_map: Path | None = None  # the HAProxy map of pilot units, when its config has one

    def as_dict(self) -> dict:
        return {
            "instance": self.instance,
            "url": self.url,
            "port": self.port,
            "host": self.host,
            "bind_address": self.bind_address,
            "documents_dir": str(self.documents_dir),
            "started_at": self.started_at,
            "replicas": [r.__dict__ for r in self.replicas],
            "haproxy_alive": self.haproxy_alive,
        }


def _running(state: Any, sp: SandboxPaths) -> Running:
    return Running(
        instance=state.instance,
        url=state.url,
        port=state.port,
        host=state.host,
        bind_address=state.bind_address,
        database_url=state.database_url,
        documents_dir=Path(state.documents_dir),
        started_at=state.started_at,
        replicas=tuple(Replica(r.name, r.port or 0, r.pid, r.version, r.alive()) for r in state.replicas),
        haproxy_alive=bool(state.haproxy and state.haproxy.alive()),
        haproxy_socket=sp.haproxy_socket,
        pilot_map=sp.pilot_map if sp.haproxy_cfg.exists() and "pilot.map" in sp.haproxy_cfg.read_text() else None,
    )


def paths(instance: str = "main") -> SandboxPaths:
    """Where an instance keeps its database, documents and run files (whether or not it runs)."""
    return SandboxPaths.of(instance)


def running(instance: str = "main") -> Running | None:
    """The instance as it was started, or None when it is not started (its state file is absent)."""
    from procops.sandbox.platform import load_state

    sp = SandboxPaths.of(instance)
    state = load_state(sp)
    return None if state is None else _running(state, sp)


def active_site() -> ActiveSite:
    """The recorded active site (``main`` unless a failover switched to the standby)."""
    from procops.sandbox import site

    return site.read()


def record_active_site(
    site: str,
    *,
    incident: str | None = None,
    operation: str | None = None,
    url: str | None = None,
    data_cutoff: str | None = None,
) -> ActiveSite:
    """Record (atomically, and in the journal as ``sandbox.site``) which site is active."""
    from procops.sandbox import site as _site

    return _site.write(site, incident=incident, operation=operation, url=url, data_cutoff=data_cutoff)


def serving_instance() -> str:
    """The instance whose data users reach: the active site when it runs, else ``main``."""
    site = active_site().site
    if site != "main" and running(site) is None:
        return "main"
    return site


def serving() -> Running | None:
    """The running instance whose replicas and data are live (see :func:`serving_instance`)."""
    return running(serving_instance())


def frontend() -> Running | None:
    """The instance whose HAProxy users reach: main when its HAProxy runs (after a failover it
    points at the standby's replicas), else the serving instance."""
    main = running("main")
    if main is not None and main.haproxy_alive:
        return main
    return serving()


def up_options(config: Config, **overrides: Any) -> UpOptions:
    """Start options from the config's ``sandbox`` section; ``None`` overrides are ignored."""
    return UpOptions.from_config(config.sandbox, **overrides)


def up(opts: UpOptions, instance: str = "main") -> tuple[Running, bool]:
    """Start the instance (idempotent); returns (what runs, started now)."""
    from procops.journal import require_writable
    from procops.sandbox import platform

    require_writable()
    state, started = platform.up(opts, instance)
    return _running(state, SandboxPaths.of(instance)), started


def refuse_stopping_the_site(instance: str) -> None:
    """BadInput when stopping ``instance`` would take the site down while failed over: the standby
    serves the users (its replicas), and main's HAProxy is the door they come in by."""
    site = active_site()
    if not site.failed_over or running(site.site) is None:
        return
    if instance == site.site:
        what = f"the '{instance}' instance serves the site since {site.since}" + (
            f" (failover of {site.incident})" if site.incident else ""
        )
    elif instance == "main" and (main := running("main")) is not None and main.haproxy_alive:
        what = f"main's HAProxy ({main.url}) sends the users to the '{site.site}' instance, which serves the site"
    else:
        return
    cmd = f"procops incident failback {site.incident}" if site.incident else "procops incident failback INCIDENT"
    raise BadInput(
        _("refusing to stop sandbox '{instance}': {what}; stopping it takes the site down").format(
            instance=instance, what=what
        ),
        hint=_("fail back first ({cmd} --execute), or add --force to stop it anyway").format(cmd=cmd),
    )


def down(instance: str = "main", *, journal: bool = True, force: bool = True) -> list[str]:
    """Stop what ``up`` started; the names of the stopped processes.

    With ``force=False`` stopping what serves the site while failed over is refused
    (:func:`refuse_stopping_the_site`); internal callers that know what they do pass the default.
    """
    from procops.sandbox import platform

    if not force:
        refuse_stopping_the_site(instance)
    return platform.down(instance, journal=journal)


def _resolve(instance: str | None) -> str:
    return serving_instance() if instance is None else instance


def status(instance: str | None = None) -> dict:
    """Health of every process of the instance (what ``procops sandbox status`` prints), with the
    active site. ``None``: the instance that serves the site (main, or the standby after a failover)."""
    from procops.sandbox import platform

    name = _resolve(instance)
    st = platform.status(name)
    site = active_site()
    st["active_site"] = site.as_dict()
    st["serving"] = name == serving_instance()
    if site.failed_over and name == site.site and (fe := frontend()) is not None and fe.instance != name:
        st["frontend"] = fe.url  # users reach this instance through main's HAProxy
    return st


def set_fault(specs: list[str], endpoint: str | None, instance: str | None = None) -> dict:
    """Set a fault on the instance's replicas (``None``: those that serve the site)."""
    from procops.journal import require_writable
    from procops.sandbox import platform

    require_writable()
    return platform.set_fault(specs, endpoint, _resolve(instance))


def reload_haproxy(instance: str = "main") -> dict:
    """Reload the instance's HAProxy keeping runtime weights and states (server-state-file)."""
    from procops.journal import require_writable
    from procops.sandbox import platform

    require_writable()
    return platform.reload_haproxy(instance)


def versions() -> tuple[str, ...]:
    """The platform versions the sandbox can run (the release artifacts of the sandbox inventory)."""
    from procops.sandbox.platform import VERSIONS

    return VERSIONS


def switch_version(replica: str, version: str, instance: str = "main") -> dict:
    """Restart one replica of the instance on ``version`` (the sandbox's deploy; drain it first)."""
    from procops.journal import require_writable
    from procops.sandbox import platform

    require_writable()
    return platform.switch_version(replica, version, instance)


def clear_fault(instance: str | None = None) -> dict:
    from procops.journal import require_writable
    from procops.sandbox import platform

    require_writable()
    return platform.clear_fault(_resolve(instance))


def admin_view(instance: str) -> tuple[str, dict[str, str]]:
    """A direct replica URL of a running instance and the admin header, for reading all of it (bids
    included: the archive lists bid rows to their supplier and the admin only). Never through
    HAProxy: the app takes the admin token only from a direct loopback connection."""
    from procops.errors import EnvironmentFailure
    from procops.sandbox import platform

    r = running(instance)
    live = [rep for rep in r.replicas if rep.alive] if r is not None else []
    if r is None or not live:
        raise EnvironmentFailure(_("sandbox '{instance}' has no running replica to read").format(instance=instance))
    return f"http://{r.host}:{live[0].port}", {"X-Admin-Token": platform.admin_token()}


def copy_data(source: str, target: str, target_database_url: str | None = None, *, database: bool = True) -> dict:
    """Copy a running instance's database (a SQLite file; not with ``database=False``) and documents over
    a stopped one's (the failback)."""
    from procops.sandbox import transfer

    return transfer.copy_data(source, target, target_database_url, database=database)


def remove_instance(instance: str) -> str:
    """Delete a stopped non-main instance's folder (database, documents, run files, logs)."""
    from procops.sandbox import transfer

    return transfer.remove_instance(instance)


def readiness_steps() -> list[Step]:
    """The sandbox's readiness steps (platform up and healthy, seeded data served), in order."""
    from procops.sandbox import steps

    return list(steps.STEPS)


def access_log(since: dt.datetime | None = None, instance: str = "main") -> list[AccessRecord]:
    """The platform's access log (R9's access audit), read-only: every read of a bid file or
    of a supplier's credit code, granted or refused, from ``since`` (UTC) on, oldest first.

    The rows stay in the sandbox's state (``audit/access.jsonl``), not in procops' journal:
    an audit reads them here and journals its own verdict.
    """
    return list(read_access_log(access_log_for(SandboxPaths.of(instance).base), since))


def sensitive_fields_at_rest(instance: str | None = None) -> dict:
    """R9: the suppliers' credit codes as the platform's database stores them, read-only:
    ``{"instance", "checked", "plaintext"}`` (a stored value without the cipher's prefix is plain
    text). Raises EnvironmentFailure when the instance has no database to read."""
    from sqlalchemy import select

    from procops.errors import EnvironmentFailure
    from procops.sandbox import models as m
    from procops.sandbox.db import make_engine
    from procops.sandbox.secure import PREFIX

    name = _resolve(instance)
    r = running(name)
    url = r.database_url if r is not None else SandboxPaths.of(name).sqlite_url()
    if r is None and not SandboxPaths.of(name).database.exists():
        raise EnvironmentFailure(_("sandbox '{instance}' has no database yet").format(instance=name))
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            values = [row[0] for row in conn.execute(select(m.suppliers.c.credit_code))]
    except Exception as e:  # sqlalchemy's errors: the database is unreachable or not the platform's
        raise EnvironmentFailure(
            _("cannot read the suppliers of sandbox '{instance}': {e}").format(instance=name, e=type(e).__name__)
        ) from None
    finally:
        engine.dispose()
    plain = sum(1 for v in values if v and not str(v).startswith(PREFIX))
    return {"instance": name, "checked": len(values), "plaintext": plain}
