"""The rollout plan, pure: which hosts run the new version at each stage, the HAProxy weights that
give them the stage's share of the traffic, the freeze windows, the change notices.

    hosts (inventory order) + stages -> stage_hosts(stage, n) -> weights_for(canary, stable, traffic)
        -> Stage rows (hosts, weights, effective traffic %) -> the plan `release plan` prints

Weights: HAProxy's round robin sends a server ``w / sum(w)`` of the requests. With ``c`` canary
and ``s`` stable servers, stable servers keep ``base`` and each canary gets
``w = base * s * p / (c * (1 - p))`` (bounded to 1..256, HAProxy's range), so the canary share is
``p`` up to the rounding, which :func:`effective_traffic` reports as it is. No I/O here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procops.config import ReleaseConfig, ReleaseStageConfig

MAX_WEIGHT = 256
BASE_WEIGHT = 100
NOTICES_DIR = Path(__file__).parent / "notices"


@dataclass(frozen=True)
class Host:
    """A host of the rollout: inventory name, HAProxy server, how to reach it."""

    name: str
    server: str
    address: str | None = None  # SSH address; None: the sandbox replica of the same name, local connection
    user: str | None = None
    health_url: str = ""
    vars: dict[str, str] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.address is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "server": self.server,
            "address": self.address,
            "health_url": self.health_url,
        }


@dataclass(frozen=True)
class Stage:
    index: int  # 0-based
    hosts: tuple[str, ...]  # every host on the new version at this stage (cumulative)
    new_hosts: tuple[str, ...]  # the ones deployed at this stage
    weights: dict[str, int]  # server -> weight
    traffic_percent: float  # effective share of the new version
    analysis: float
    manual_gate: bool
    last: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.index + 1,
            "hosts": list(self.hosts),
            "new_hosts": list(self.new_hosts),
            "weights": dict(self.weights),
            "traffic_percent": round(self.traffic_percent, 1),
            "analysis_s": self.analysis,
            "manual_gate": self.manual_gate,
            "last": self.last,
        }


def stage_host_count(spec: str, n: int) -> int:
    """How many of ``n`` hosts a stage's ``hosts`` (``1``, ``50%``, ``half``, ``all``) names (at least 1)."""
    if spec == "all":
        return n
    if spec == "half":
        return max(1, math.ceil(n / 2))
    if spec.endswith("%"):
        return max(1, min(n, math.ceil(n * int(spec[:-1]) / 100)))
    return min(n, int(spec))


def weights_for(canary: list[str], stable: list[str], traffic: int, base: int = BASE_WEIGHT) -> dict[str, int]:
    """Server weights sending about ``traffic`` percent to the canary servers."""
    if not stable or traffic >= 100:
        return dict.fromkeys([*canary, *stable], base)
    if not canary:
        return dict.fromkeys(stable, base)
    p = traffic / 100.0
    w = base * len(stable) * p / (len(canary) * (1.0 - p))
    stable_w = base
    if w > MAX_WEIGHT:  # scale the stable servers down instead
        stable_w = max(1, round(base * MAX_WEIGHT / w))
        w = MAX_WEIGHT
    cw = max(1, min(MAX_WEIGHT, round(w)))
    return {**dict.fromkeys(canary, cw), **dict.fromkeys(stable, stable_w)}


def effective_traffic(weights: dict[str, int], canary: list[str]) -> float:
    """Percent of the requests the ``canary`` servers get with these weights (round robin)."""
    total = sum(weights.values())
    return 100.0 * sum(weights[s] for s in canary) / total if total else 0.0


def stages(hosts: list[Host], cfg_stages: list[ReleaseStageConfig], analysis: float | None = None) -> list[Stage]:
    """The stages over ``hosts`` (in rollout order); ``analysis`` overrides every window."""
    n = len(hosts)
    out: list[Stage] = []
    before: tuple[str, ...] = ()
    for i, st in enumerate(cfg_stages):
        k = stage_host_count(st.hosts, n)
        k = max(k, len(before))  # never fewer hosts than the stage before
        on = tuple(h.name for h in hosts[:k])
        canary = [h.server for h in hosts[:k]]
        stable = [h.server for h in hosts[k:]]
        w = weights_for(canary, stable, st.traffic)
        out.append(
            Stage(
                index=i,
                hosts=on,
                new_hosts=tuple(h for h in on if h not in before),
                weights=w,
                traffic_percent=effective_traffic(w, canary),
                analysis=analysis if analysis is not None else st.analysis,
                manual_gate=st.manual_gate,
                last=i == len(cfg_stages) - 1,
            )
        )
        before = on
    return out


def short_stages(cfg: ReleaseConfig, analysis: float = 15.0) -> list[ReleaseStageConfig]:
    """The configured stages with every analysis window set to ``analysis`` and no manual gate
    (readiness and drills rehearse a release in a minute or two)."""
    return [s.model_copy(update={"analysis": analysis, "manual_gate": False}) for s in cfg.stages]


def stage_problems(hosts: list[Host], plan: list[Stage]) -> list[str]:
    """What makes the plan unusable: no hosts, a non-final stage with every host on the new version
    (no baseline to compare with). A stage that adds no host but more traffic is fine (two hosts:
    the one canary at 10%, then at 50%)."""
    if not hosts:
        return ["the release inventory is empty (no hosts to deploy to)"]
    problems = []
    for st in plan:
        if not st.last and len(st.hosts) == len(hosts):
            problems.append(f"stage {st.index + 1} puts every host on the new version before the last stage")
    return problems


# --------------------------------------------------------------------------- freeze windows


@dataclass(frozen=True)
class Window:
    name: str
    start: dt.datetime  # UTC
    end: dt.datetime

    def contains(self, t: dt.datetime) -> bool:
        return self.start <= t < self.end

    def as_dict(self) -> dict[str, str]:
        from procops.timeutil import iso

        return {"name": self.name, "start": iso(self.start), "end": iso(self.end)}


def freeze_windows(
    deadlines: list[tuple[str, dt.datetime]],
    before: float,
    configured: list[tuple[str, dt.datetime, dt.datetime]],
) -> list[Window]:
    """Every freeze window: ``before`` seconds up to each bid deadline (name, UTC time), and the
    configured ones; sorted by start."""
    out = [Window(name, d - dt.timedelta(seconds=before), d) for name, d in deadlines if before > 0]
    out += [Window(n, s.astimezone(dt.UTC), e.astimezone(dt.UTC)) for n, s, e in configured]
    return sorted(out, key=lambda w: (w.start, w.name))


def active_window(windows: list[Window], now: dt.datetime) -> Window | None:
    return next((w for w in windows if w.contains(now)), None)


def next_windows(windows: list[Window], now: dt.datetime, count: int = 5) -> list[Window]:
    return [w for w in windows if w.end > now][:count]


# --------------------------------------------------------------------------- change notices


@dataclass(frozen=True)
class Notice:
    version: str
    zh: str
    en: str
    workflows: tuple[str, ...]
    source: str

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "zh": self.zh, "en": self.en, "workflows": list(self.workflows)}


def parse_notice(version: str, data: Any, source: str) -> Notice:
    """A notice from its YAML mapping; ValueError naming what is missing."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a change notice is a mapping with zh, en and workflows")
    zh, en = str(data.get("zh") or "").strip(), str(data.get("en") or "").strip()
    if not zh or not en:
        raise ValueError(f"{source}: a change notice needs both zh and en text")
    wf = data.get("workflows") or []
    if not isinstance(wf, list):
        raise ValueError(f"{source}: workflows is a list")
    return Notice(version, zh, en, tuple(str(w) for w in wf), source)
