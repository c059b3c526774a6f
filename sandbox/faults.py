"""The fault knob of the sandbox platform (for tests and drills).

A fault state is ``{latency_s, errors, db_down, endpoint}``:

- ``latency_s``: extra seconds before the endpoint answers (an ``asyncio`` sleep:
  the worker keeps serving the other endpoints);
- ``errors``: probability (0..1) that the endpoint answers 500 instead;
- ``db_down``: every database access fails (the endpoint answers 503, and so does
  ``/healthz``, which checks the database);
- ``endpoint``: one endpoint name of :data:`ENDPOINTS`, or None for all of them.

Without an endpoint, latency and errors apply to every endpoint of
:data:`ENDPOINTS` and never to ``/healthz``, ``/metrics`` or the admin API (the
probes and the knob itself must keep working); ``db_down`` without an endpoint is
the database being down for everyone, ``/healthz`` included.

Faults are written as specs, as a drill scenario or the command line gives them::

    latency=2500ms   errors=0.1   db=down   db=up   endpoint=announcements.list
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from procops.timeutil import parse_duration

# Short stable endpoint names -> route templates (also the `handler` label of metrics).
ENDPOINTS: dict[str, str] = {
    "announcements.list": "/api/announcements",
    "announcements.detail": "/api/announcements/{id}",
    "announcements.search": "/api/announcements/search",
    "suppliers.register": "/api/suppliers/register",
    "suppliers.login": "/api/suppliers/login",
    "bids.upload": "/api/announcements/{id}/bids",
    "documents.download": "/api/documents/{id}",
    "archive.list": "/api/archive",
    "dashboard": "/api/dashboard",
}

MAX_LATENCY_S = 600.0
_SPEC_KEYS = ("latency", "errors", "db", "endpoint")


@dataclass(frozen=True)
class FaultState:
    latency_s: float = 0.0
    errors: float = 0.0
    db_down: bool = False
    endpoint: str | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.latency_s, bool)
            or not isinstance(self.latency_s, (int, float))
            or not 0 <= self.latency_s <= MAX_LATENCY_S
        ):
            raise ValueError(f"latency_s must be between 0 and {MAX_LATENCY_S:g} seconds, not {self.latency_s!r}")
        if isinstance(self.errors, bool) or not isinstance(self.errors, (int, float)) or not 0.0 <= self.errors <= 1.0:
            raise ValueError(f"errors must be a probability between 0 and 1, not {self.errors!r}")
        if not isinstance(self.db_down, bool):
            raise ValueError(f"db_down must be true or false, not {self.db_down!r}")
        if self.endpoint is not None and self.endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {self.endpoint!r} (one of {', '.join(ENDPOINTS)})")
        object.__setattr__(self, "latency_s", float(self.latency_s))
        object.__setattr__(self, "errors", float(self.errors))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultState:
        unknown = set(data) - {"latency_s", "errors", "db_down", "endpoint"}
        if unknown:
            raise ValueError(
                f"unknown fault field(s): {', '.join(sorted(unknown))} (latency_s, errors, db_down, endpoint)"
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def active(self) -> bool:
        return self.latency_s > 0 or self.errors > 0 or self.db_down

    def targets(self, endpoint: str | None) -> bool:
        """Whether latency/errors apply to ``endpoint`` (a name of ENDPOINTS; None: not one)."""
        if endpoint is None or endpoint not in ENDPOINTS:
            return False
        return self.endpoint is None or self.endpoint == endpoint

    def latency_for(self, endpoint: str | None) -> float:
        return self.latency_s if self.latency_s > 0 and self.targets(endpoint) else 0.0

    def should_fail(self, endpoint: str | None, rng: random.Random | None = None) -> bool:
        if self.errors <= 0 or not self.targets(endpoint):
            return False
        if self.errors >= 1:
            return True
        return (rng or random).random() < self.errors

    def database_down_for(self, endpoint: str | None) -> bool:
        """Whether database access fails for ``endpoint`` (``healthz`` included when global)."""
        if not self.db_down:
            return False
        return self.endpoint is None or self.endpoint == endpoint


NO_FAULT = FaultState()


def parse_fault_specs(specs: list[str]) -> dict[str, Any]:
    """``["latency=2500ms", "errors=0.1", "db=down", "endpoint=bids.upload"]`` -> a fault state.

    Returns the full state as a dict (``latency_s``, ``errors``, ``db_down``,
    ``endpoint``); what the specs leave out is "no fault". Raises ValueError naming
    the bad spec.
    """
    if isinstance(specs, str):
        raise ValueError("give a list of fault specs, e.g. ['latency=2500ms', 'errors=0.1']")
    state: dict[str, Any] = {"latency_s": 0.0, "errors": 0.0, "db_down": False, "endpoint": None}
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, str) or "=" not in spec:
            raise ValueError(
                f"bad fault spec {spec!r}: write KEY=VALUE with KEY one of {', '.join(_SPEC_KEYS)} "
                "(e.g. latency=2500ms, errors=0.1, db=down)"
            )
        key, _, value = spec.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key not in _SPEC_KEYS:
            raise ValueError(f"bad fault spec {spec!r}: unknown fault {key!r} (one of {', '.join(_SPEC_KEYS)})")
        if key in seen:
            raise ValueError(f"bad fault spec {spec!r}: {key} is given twice")
        seen.add(key)
        if not value:
            raise ValueError(f"bad fault spec {spec!r}: {key} has no value")
        if key == "latency":
            try:
                seconds = parse_duration(value)
            except ValueError as e:
                raise ValueError(f"bad fault spec {spec!r}: {e}") from None
            if seconds > MAX_LATENCY_S:
                raise ValueError(f"bad fault spec {spec!r}: latency above {MAX_LATENCY_S:g}s")
            state["latency_s"] = seconds
        elif key == "errors":
            try:
                p = float(value)
            except ValueError:
                raise ValueError(
                    f"bad fault spec {spec!r}: errors is a probability between 0 and 1 (e.g. errors=0.1)"
                ) from None
            if not 0.0 <= p <= 1.0 or p != p:
                raise ValueError(f"bad fault spec {spec!r}: errors must be between 0 and 1")
            state["errors"] = p
        elif key == "db":
            if value.lower() not in ("down", "up"):
                raise ValueError(f"bad fault spec {spec!r}: db is 'down' or 'up'")
            state["db_down"] = value.lower() == "down"
        else:
            if value not in ENDPOINTS:
                raise ValueError(f"bad fault spec {spec!r}: unknown endpoint (one of {', '.join(ENDPOINTS)})")
            state["endpoint"] = value
    return state
