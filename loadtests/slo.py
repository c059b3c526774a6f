"""Raw samples -> exact per-endpoint statistics -> SLO rows -> verdict (pure functions).

Percentiles are nearest-rank over every raw sample (the smallest observed value
with at least p% of the samples at or below it): an observed response time, to
the microsecond the generator measured, not a histogram bucket or Locust's
two-significant-digit rounding.

SLOs (k6-style thresholds, per endpoint, from the policy):

* ``p95 <endpoint>`` for every page endpoint that was exercised:
  p95 <= ``policy.page_load_p95``;
* ``upload success``: successful uploads / uploads >= ``policy.upload_success_ratio``
  (no uploads at all is a failed check, not a pass);
* ``no 5xx``: responses with status >= 500 <= ``policy.max_server_errors``;
* ``requests``: the run made at least one request.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procops.config import Config

UPLOAD_ENDPOINT = "bids.upload"


@dataclass(frozen=True, slots=True)
class Sample:
    start: float  # epoch seconds at request start
    name: str
    ms: float  # response time in milliseconds
    ok: bool
    status: int
    size: int = 0
    node: str = "local"


def parse_line(line: str) -> Sample | None:
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 5:
        return None
    try:
        return Sample(
            float(parts[0]),
            parts[1],
            float(parts[2]),
            parts[3] == "1",
            int(parts[4]),
            int(parts[5]) if len(parts) > 5 else 0,
            parts[6] if len(parts) > 6 else "local",
        )
    except ValueError:
        return None


def read_samples(path: Path) -> list[Sample]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [s for s in (parse_line(ln) for ln in f) if s is not None]


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    if p <= 0:
        return sorted_values[0]
    rank = math.ceil(p / 100.0 * len(sorted_values))
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


@dataclass
class EndpointStats:
    name: str
    requests: int
    failures: int
    server_errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    rps: float

    def as_dict(self) -> dict:
        return asdict(self)


def _stats(name: str, samples: list[Sample], duration: float) -> EndpointStats:
    times = sorted(s.ms for s in samples)
    n = len(times)
    return EndpointStats(
        name=name,
        requests=n,
        failures=sum(1 for s in samples if not s.ok),
        server_errors=sum(1 for s in samples if s.status >= 500),
        p50_ms=percentile(times, 50),
        p95_ms=percentile(times, 95),
        p99_ms=percentile(times, 99),
        max_ms=times[-1] if times else None,
        mean_ms=(sum(times) / n) if n else None,
        rps=(n / duration) if duration > 0 else 0.0,
    )


def endpoint_stats(samples: Iterable[Sample], duration: float) -> dict[str, EndpointStats]:
    """Per-endpoint statistics plus an ``Aggregated`` row, endpoints sorted by name."""
    by: dict[str, list[Sample]] = {}
    everything: list[Sample] = []
    for s in samples:
        by.setdefault(s.name, []).append(s)
        everything.append(s)
    out = {name: _stats(name, by[name], duration) for name in sorted(by)}
    out["Aggregated"] = _stats("Aggregated", everything, duration)
    return out


@dataclass(frozen=True)
class SloPolicy:
    page_p95_s: float = 2.0
    page_endpoints: tuple[str, ...] = (
        "announcements.list",
        "announcements.detail",
        "announcements.search",
        "suppliers.login",
        "suppliers.register",
        "archive.list",
        "dashboard",
    )
    upload_success_ratio: float = 1.0
    max_server_errors: int = 0
    uploads_expected: bool = True

    @classmethod
    def from_config(cls, config: Config, *, uploads_expected: bool = True) -> SloPolicy:
        return cls(
            page_p95_s=config.policy.page_load_p95,
            page_endpoints=tuple(config.loadtest.page_endpoints),
            upload_success_ratio=config.policy.upload_success_ratio,
            max_server_errors=config.policy.max_server_errors,
            uploads_expected=uploads_expected,
        )


@dataclass
class SloResult:
    name: str
    metric: str
    threshold: float
    observed: float | None
    ok: bool
    unit: str = ""
    endpoint: str | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        obs = "no data" if self.observed is None else f"{self.observed:g}{self.unit}"
        op = {"p95": "<=", "success_ratio": ">=", "server_errors": "<=", "requests": ">="}.get(self.metric, "vs")
        return f"{self.name}: {obs} (threshold {op} {self.threshold:g}{self.unit}) {'ok' if self.ok else 'FAILED'}"


def evaluate(stats: dict[str, EndpointStats], policy: SloPolicy) -> list[SloResult]:
    """The SLO rows of one run or one step, in a stable order."""
    rows: list[SloResult] = []
    total = stats.get("Aggregated")
    n_total = total.requests if total else 0
    rows.append(
        SloResult(
            "requests made",
            "requests",
            1,
            n_total,
            n_total >= 1,
            "",
            detail="" if n_total else "the run made no request",
        )
    )
    limit_ms = policy.page_p95_s * 1000.0
    for name in policy.page_endpoints:
        st = stats.get(name)
        if st is None or st.requests == 0:
            continue  # not exercised (e.g. search on a version without it)
        p95 = round(st.p95_ms, 3) if st.p95_ms is not None else None
        rows.append(
            SloResult(
                f"p95 {name}",
                "p95",
                round(limit_ms, 3),
                p95,
                p95 is not None and p95 <= limit_ms,
                "ms",
                endpoint=name,
                detail=f"{st.requests} requests",
            )
        )
    if policy.uploads_expected or (UPLOAD_ENDPOINT in stats and stats[UPLOAD_ENDPOINT].requests):
        up = stats.get(UPLOAD_ENDPOINT)
        if up is None or up.requests == 0:
            rows.append(
                SloResult(
                    "upload success",
                    "success_ratio",
                    policy.upload_success_ratio,
                    None,
                    False,
                    endpoint=UPLOAD_ENDPOINT,
                    detail="no bid file was uploaded",
                )
            )
        else:
            ratio = (up.requests - up.failures) / up.requests
            rows.append(
                SloResult(
                    "upload success",
                    "success_ratio",
                    policy.upload_success_ratio,
                    round(ratio, 6),
                    ratio >= policy.upload_success_ratio - 1e-12,
                    endpoint=UPLOAD_ENDPOINT,
                    detail=f"{up.requests - up.failures}/{up.requests} uploads succeeded",
                )
            )
    errors5xx = sum(st.server_errors for name, st in stats.items() if name != "Aggregated")
    rows.append(
        SloResult(
            "no 5xx",
            "server_errors",
            policy.max_server_errors,
            errors5xx,
            errors5xx <= policy.max_server_errors,
            detail=", ".join(
                f"{name}: {st.server_errors}" for name, st in stats.items() if name != "Aggregated" and st.server_errors
            ),
        )
    )
    return rows


def failed(rows: list[SloResult]) -> list[SloResult]:
    return [r for r in rows if not r.ok]


# --------------------------------------------------------------------------- time slices


@dataclass(frozen=True)
class Window:
    label: str
    start: float  # epoch
    end: float
    users: int
    multiple: float | None = None


def stage_windows(test_start: float, stages: list) -> list[Window]:
    """Epoch windows of consecutive stages (each has ``users``, ``duration``, ``label``, ``multiple``)."""
    out, t = [], test_start
    for st in stages:
        out.append(Window(st.label, t, t + st.duration, st.users, st.multiple))
        t += st.duration
    return out


def in_window(samples: Iterable[Sample], w: Window) -> list[Sample]:
    return [s for s in samples if w.start <= s.start < w.end]


@dataclass
class StepResult:
    label: str
    multiple: float | None
    users: int
    duration_s: float
    requests: int
    rps: float
    ok: bool
    slos: list[SloResult] = field(default_factory=list)
    endpoints: dict[str, EndpointStats] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "multiple": self.multiple,
            "users": self.users,
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "rps": round(self.rps, 3),
            "ok": self.ok,
            "slos": [r.as_dict() for r in self.slos],
            "endpoints": {k: v.as_dict() for k, v in self.endpoints.items()},
        }


def evaluate_steps(samples: list[Sample], windows: list[Window], policy: SloPolicy) -> list[StepResult]:
    """Each step judged on its own samples only (per-step, not cumulative, percentiles).

    A short step without an upload is not failed for it (the step did not
    exercise uploads); an upload that failed in it does fail it.
    """
    from dataclasses import replace

    policy = replace(policy, uploads_expected=False)
    out = []
    for i, w in enumerate(windows):
        dur = w.end - w.start
        # a request started after the last stage's planned end (the shape stops on its next tick)
        # still ran at the last stage's users: it is the last step's, so the steps add up to the run
        last = i == len(windows) - 1
        mine = [s for s in samples if s.start >= w.start] if last else in_window(samples, w)
        stats = endpoint_stats(mine, dur)
        rows = evaluate(stats, policy)
        agg = stats["Aggregated"]
        out.append(StepResult(w.label, w.multiple, w.users, dur, agg.requests, agg.rps, not failed(rows), rows, stats))
    return out


def highest_held(steps: list[StepResult]) -> StepResult | None:
    """The highest step such that it and every step below it held every SLO."""
    best = None
    for st in steps:
        if not st.ok:
            break
        best = st
    return best


def per_second(
    samples: list[Sample], start: float, end: float, names: set[str] | None = None, bucket: float = 1.0
) -> Iterator[tuple[float, int, float | None, float | None, float | None]]:
    """(bucket start in seconds since ``start``, requests, p50, p95, p99) per ``bucket`` seconds.

    ``names`` filters the endpoints; requests is the count in the bucket (per second when bucket=1).
    """
    buckets: dict[int, list[float]] = {}
    for s in samples:
        if names is not None and s.name not in names:
            continue
        if start <= s.start < end:
            buckets.setdefault(int((s.start - start) // bucket), []).append(s.ms)
    for i in range(0, max(0, math.ceil((end - start) / bucket))):
        vals = sorted(buckets.get(i, []))
        yield (i * bucket, len(vals), percentile(vals, 50), percentile(vals, 95), percentile(vals, 99))
