"""What a load test runs: the personas' settings and the load stages (pure, no locust import).

The locustfiles run in separate Locust processes (a master and its workers,
perhaps on other hosts), so everything they need travels in two environment
variables as JSON: :data:`ENV_SCENARIO` (:class:`Scenario`) and
:data:`ENV_STAGES` (a list of :class:`Stage`). :data:`ENV_OUT` names the folder
where the process that collects samples writes them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procops.config import LoadtestConfig

ENV_SCENARIO = "PROCOPS_LOADTEST_SCENARIO"
ENV_STAGES = "PROCOPS_LOADTEST_STAGES"
ENV_OUT = "PROCOPS_LOADTEST_OUT"

# Request names (Locust's ``name=``) are the platform's endpoint names, the same
# names the sandbox's fault knob and metrics use.
SUPPLIER_ENDPOINTS = (
    "announcements.list",
    "announcements.detail",
    "announcements.search",
    "suppliers.login",
    "suppliers.register",
    "documents.download",
    "bids.upload",
)
REGULATOR_ENDPOINTS = ("dashboard", "archive.list")
UPLOAD_ENDPOINT = "bids.upload"


@dataclass(frozen=True)
class Scenario:
    """Settings of the personas, as the locustfile reads them."""

    supplier_weight: int = 10
    regulator_weight: int = 1
    supplier_tasks: dict[str, int] = field(
        default_factory=lambda: {"browse": 4, "detail": 3, "search": 2, "download": 2, "bid": 2, "registration": 1}
    )
    regulator_tasks: dict[str, int] = field(default_factory=lambda: {"dashboard": 3, "archive": 2})
    think_time_min: float = 1.0
    think_time_max: float = 5.0
    upload_size_min: int = 512 * 1024
    upload_size_max: int = 5 * 1024 * 1024
    upload_size_distribution: str = "loguniform"
    suppliers: int = 50  # seeded logins supplier-1 .. supplier-N
    announcements: int = 200
    search: bool = False  # the platform version has /api/announcements/search
    request_timeout: float = 60.0

    @classmethod
    def from_config(cls, lt: LoadtestConfig, *, suppliers: int, announcements: int, search: bool) -> Scenario:
        return cls(
            supplier_weight=lt.supplier_weight,
            regulator_weight=lt.regulator_weight,
            supplier_tasks=lt.supplier_tasks.model_dump(),
            regulator_tasks=lt.regulator_tasks.model_dump(),
            think_time_min=lt.think_time_min,
            think_time_max=lt.think_time_max,
            upload_size_min=lt.upload_size_min,
            upload_size_max=lt.upload_size_max,
            upload_size_distribution=lt.upload_size_distribution,
            suppliers=suppliers,
            announcements=announcements,
            search=search,
            request_timeout=lt.request_timeout,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        return cls(**json.loads(text))

    @classmethod
    def from_env(cls, env: dict | None = None) -> Scenario:
        text = (env if env is not None else os.environ).get(ENV_SCENARIO)
        return cls.from_json(text) if text else cls()

    def uploads_expected(self) -> bool:
        return self.supplier_weight > 0 and self.supplier_tasks.get("bid", 0) > 0


@dataclass(frozen=True)
class Stage:
    """Hold ``users`` (reached at ``spawn_rate`` per second) for ``duration`` seconds."""

    users: int
    spawn_rate: float
    duration: float
    label: str = ""
    multiple: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def peak_stages(users: int, spawn_rate: float, hold: float) -> list[Stage]:
    """Ramp to ``users`` at ``spawn_rate``, then hold them ``hold`` seconds."""
    ramp = users / spawn_rate
    return [Stage(users, spawn_rate, ramp + hold, label=f"peak {users} users", multiple=1.0)]


def capacity_multiples(target: float, cap: float) -> list[float]:
    """1x, 1.5x, 2x, then whole multiples up to ``cap``; the target multiple is always a step."""
    out = [1.0, 1.5, 2.0]
    m = 3.0
    while m <= cap + 1e-9:
        out.append(m)
        m += 1.0
    out = [x for x in out if x <= cap + 1e-9]
    if target <= cap + 1e-9 and not any(abs(x - target) < 1e-9 for x in out):
        out.append(target)
    if not any(abs(x - cap) < 1e-9 for x in out):
        out.append(cap)
    return sorted(set(out))


def capacity_stages(
    baseline_users: int, multiples: list[float], spawn_rate: float, step_duration: float
) -> list[Stage]:
    """One stage per multiple of the baseline, each ``step_duration`` long (users rounded up)."""
    return [
        Stage(max(1, math.ceil(baseline_users * m - 1e-9)), spawn_rate, step_duration, label=f"{m:g}x", multiple=m)
        for m in multiples
    ]


def stages_to_json(stages: list[Stage]) -> str:
    return json.dumps([s.as_dict() for s in stages])


def stages_from_json(text: str) -> list[Stage]:
    return [Stage(**d) for d in json.loads(text)]


def total_duration(stages: list[Stage]) -> float:
    return sum(s.duration for s in stages)


def upload_size(u: float, lo: int, hi: int, distribution: str) -> int:
    """The bid file size for a uniform random number ``u`` in [0, 1)."""
    if hi <= lo:
        return lo
    if distribution == "uniform":
        return int(lo + u * (hi - lo))
    size = round(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
    return min(hi, max(lo, size))


def multipart_body(filename: str, content: bytes, boundary: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one field ``file``; returns (body, content type)."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"
