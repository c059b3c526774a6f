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

from procops.sandbox.platform import SandboxPaths, UpOptions, replica_ports
from procops.sandbox.secure import AccessRecord, access_log_for, read_access_log

if TYPE_CHECKING:
    from procops.readiness import Step
    from procops.config import Config

__all__ = [
    "AccessRecord",
    "Replica",
    "Running",
    "SandboxPaths",
    "access_log",
    "UpOptions",
    "clear_fault",
    "down",
    "paths",
    "readiness_steps",
    "replica_ports",
    "running",
    "set_fault",
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


def up_options(config: Config, **overrides: Any) -> UpOptions:
    """Start options from the config's ``sandbox`` section; ``None`` overrides are ignored."""
    return UpOptions.from_config(config.sandbox, **overrides)


def up(opts: UpOptions, instance: str = "main") -> tuple[Running, bool]:
    """Start the instance (idempotent); returns (what runs, started now)."""
    from procops.sandbox import platform

    state, started = platform.up(opts, instance)
    return _running(state, SandboxPaths.of(instance)), started


def down(instance: str = "main", *, journal: bool = True) -> list[str]:
    """Stop what ``up`` started; the names of the stopped processes."""
    from procops.sandbox import platform

    return platform.down(instance, journal=journal)


def status(instance: str = "main") -> dict:
    """Health of every process of the instance (what ``procops sandbox status`` prints)."""
    from procops.sandbox import platform

    return platform.status(instance)


def set_fault(specs: list[str], endpoint: str | None, instance: str = "main") -> dict:
    from procops.sandbox import platform

    return platform.set_fault(specs, endpoint, instance)


def clear_fault(instance: str = "main") -> dict:
    from procops.sandbox import platform

    return platform.clear_fault(instance)


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
