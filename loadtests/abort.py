"""Stop conditions of a load test (like k6's ``abortOnFail`` with ``delayAbortEval``), pure.

A run against a real platform must not keep hammering it once it is failing: when the
error ratio or the p95 response time over a sliding ``window`` stays over its limit for
``hold`` seconds (not before ``delay`` seconds into the test), the condition fires and the
run stops. The rule reaches the Locust process that sees every sample (the single process,
or the master) as JSON in :data:`ENV_ABORT`; :class:`Watch` is fed there by the recorder and
checked once a second; what fired is written to :data:`ABORT_FILE` in the report folder, and
the run's verdict is ``fail`` naming the condition and when it fired.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procops.config import LoadtestConfig

ENV_ABORT = "PROCOPS_LOADTEST_ABORT"
ABORT_FILE = "abort.json"
MIN_SAMPLES = 5  # fewer samples in the window judge nothing


@dataclass(frozen=True)
class Rule:
    error_ratio: float  # failed share of the requests in the window
    p95_s: float  # p95 of the window's response times, seconds
    hold_s: float  # how long a condition must stay over its limit
    delay_s: float  # nothing is judged before this many seconds into the test
    window_s: float = 10.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Rule:
        return cls(**json.loads(text))

    @classmethod
    def from_config(cls, lt: LoadtestConfig) -> Rule:
        return cls(lt.abort_error_ratio, lt.abort_p95, lt.abort_hold, lt.abort_delay, lt.abort_window)


@dataclass(frozen=True)
class Fired:
    condition: str  # "error_ratio" or "p95"
    value: float
    limit: float
    over_since: float  # epoch seconds: the condition has been over its limit since then
    fired_at: float  # epoch seconds
    test_start: float
    window_s: float
    hold_s: float

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One sentence for the verdict: which condition, its value and limit, and when."""
        import datetime as dt

        def at(t: float) -> str:
            return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%H:%M:%SZ")

        what = (
            f"error ratio {self.value:.0%} over {self.limit:.0%}"
            if self.condition == "error_ratio"
            else f"p95 {self.value:.2f}s over {self.limit:g}s"
        )
        return (
            f"stop condition {self.condition} fired at {at(self.fired_at)} "
            f"({self.fired_at - self.test_start:.0f}s into the test): {what} over the last {self.window_s:g}s, "
            f"held since {at(self.over_since)} (limit {self.hold_s:g}s)"
        )


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (as the SLO evaluation)."""
    s = sorted(values)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


@dataclass
class Watch:
    rule: Rule
    test_start: float
    samples: deque[tuple[float, float, bool]] = field(default_factory=deque)  # (end time, seconds, ok)
    over: dict[str, float] = field(default_factory=dict)
    fired: Fired | None = None

    def add(self, end_time: float, seconds: float, ok: bool) -> None:
        self.samples.append((end_time, seconds, ok))

    def check(self, now: float) -> Fired | None:
        """Judge the window ending at ``now``; the first condition that held long enough, once."""
        if self.fired is not None:
            return self.fired
        while self.samples and self.samples[0][0] < now - self.rule.window_s:
            self.samples.popleft()
        if now - self.test_start < self.rule.delay_s:
            return None
        if len(self.samples) < MIN_SAMPLES:
            self.over.clear()  # no data judges nothing, and breaks a run of "over"
            return None
        values = {
            "error_ratio": sum(1 for s in self.samples if not s[2]) / len(self.samples),
            "p95": p95([s[1] for s in self.samples]),
        }
        limits = {"error_ratio": self.rule.error_ratio, "p95": self.rule.p95_s}
        for cond, v in values.items():
            if v > limits[cond]:
                since = self.over.setdefault(cond, now)
                if now - since >= self.rule.hold_s:
                    self.fired = Fired(
                        cond, v, limits[cond], since, now, self.test_start, self.rule.window_s, self.rule.hold_s
                    )
                    return self.fired
            else:
                self.over.pop(cond, None)
        return None


def read_fired(path: str) -> Fired | None:
    try:
        with open(path) as f:
            return Fired(**json.load(f))
    except (OSError, ValueError, TypeError):
        return None
