"""Canary gates, pure: PromQL rendered from the stage's servers, values judged against thresholds.

    Selector(canary) / Selector(baseline) -> queries(...) -> {name: PromQL}
    Prometheus answers (done by the controller) -> {name: float | None}
    evaluate(values, thresholds, probe) -> [Check] -> decision(checks)

The rules of the field (Argo Rollouts, Flagger, Kayenta):

* **No data never passes.** An empty result, NaN, or fewer canary requests (uploads) than the
  minimum is a failed check with the reason ``no data`` / ``too few requests``; with
  ``on_no_data: pause`` such a check pauses the rollout instead of rolling it back.
* **Canary against baseline in the same window**: the baseline is the stable servers on the old
  version. Error ratio: canary <= baseline + margin (one point). p95 latency: canary <= the larger
  of ``p95_ratio`` x baseline and baseline + ``p95_tolerance`` (bucket noise), and <= the SLO.
  The last stage has no stable server left: the error ratio is then held to the margin alone and
  p95 to the SLO, and the check says so.
* **Bid uploads**: 100% of the canary's uploads succeed (R1), with at least ``min_uploads``.
* **Synthetic probe**: a file uploaded through the canary comes back with the same sha256.

Series come from the platform's own metrics: ``http_request_duration_seconds`` (``handler``,
``code``, ``version``; health checks and scrapes excluded) and ``sandbox_uploads_total``
(``result``, ``version``), selected by ``instance`` (the servers' scrape targets) and ``version``,
so a restarted server's old-version series never count for the new one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from procops.timeutil import format_duration

if TYPE_CHECKING:
    from procops.config import ReleaseGatesConfig

EXCLUDED_HANDLERS = "/healthz|/metrics|/_admin.*"
DURATION = "http_request_duration_seconds"
UPLOADS = "sandbox_uploads_total"

# closed set of decisions
PROMOTE = "promote"
PAUSE = "pause"
ROLLBACK = "rollback"


@dataclass(frozen=True)
class Selector:
    """The series of some servers on one version (a PromQL label matcher)."""

    job: str
    instances: tuple[str, ...]
    version: str

    def matcher(self, extra: str = "") -> str:
        inst = "|".join(_re_escape(i) for i in self.instances)
        parts = [f'job="{_q(self.job)}"', f'instance=~"{inst}"', f'version="{_q(self.version)}"']
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}"


def _q(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _re_escape(s: str) -> str:
    # RE2 inside a PromQL string: a literal dot is \. written \\.
    out = []
    for ch in s:
        if ch in ".^$*+?()[]{}|\\":
            out.append("\\\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def window(seconds: float) -> str:
    return format_duration(max(1.0, round(seconds)))


def queries(canary: Selector, baseline: Selector | None, seconds: float) -> dict[str, str]:
    """Every gate's PromQL over the last ``seconds`` (evaluated at the end of the analysis)."""
    w = window(seconds)
    h = f'handler!~"{EXCLUDED_HANDLERS}"'

    def requests(sel: Selector) -> str:
        return f"sum(increase({DURATION}_count{sel.matcher(h)}[{w}]))"

    def errors(sel: Selector) -> str:
        five = sel.matcher(h + ',code=~"5.."')
        return f"(sum(increase({DURATION}_count{five}[{w}])) or vector(0)) / {requests(sel)}"

    def p95(sel: Selector) -> str:
        return f"histogram_quantile(0.95, sum by (le) (increase({DURATION}_bucket{sel.matcher(h)}[{w}])))"

    up_all = f"sum(increase({UPLOADS}{canary.matcher()}[{w}]))"
    success = canary.matcher('result="success"')
    up_ok = f"(sum(increase({UPLOADS}{success}[{w}])) or vector(0))"
    q = {
        "canary_requests": requests(canary),
        "canary_error_ratio": errors(canary),
        "canary_p95_seconds": p95(canary),
        "canary_uploads": up_all,
        "canary_upload_success": f"{up_ok} / {up_all}",
    }
    if baseline is not None:
        q.update(
            {
                "baseline_requests": requests(baseline),
                "baseline_error_ratio": errors(baseline),
                "baseline_p95_seconds": p95(baseline),
            }
        )
    return q


def traffic_query(canary: Selector, seconds: float = 60.0) -> str:
    """Has the canary received requests (the analysis starts only then)."""
    sel = canary.matcher(f'handler!~"{EXCLUDED_HANDLERS}"')
    return f"sum(increase({DURATION}_count{sel}[{window(seconds)}]))"


@dataclass(frozen=True)
class Check:
    gate: str
    query: str
    value: float | None
    threshold: float | None
    passed: bool
    reason: str  # empty when passed
    no_data: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "query": self.query,
            "value": self.value,
            "threshold": self.threshold,
            "passed": self.passed,
            "reason": self.reason,
            "no_data": self.no_data,
        }


@dataclass(frozen=True)
class ProbeResult:
    uploads: int
    ok: int
    detail: str  # the first failure, or empty

    @property
    def passed(self) -> bool:
        return self.uploads > 0 and self.ok == self.uploads


def _bad(v: float | None) -> bool:
    return v is None or math.isnan(v) or math.isinf(v)


def evaluate(
    values: dict[str, float | None],
    q: dict[str, str],
    g: ReleaseGatesConfig,
    probe: ProbeResult | None,
) -> list[Check]:
    """Judge the measured values (``None``: empty result or an error of the query)."""
    checks: list[Check] = []
    has_baseline = "baseline_requests" in q

    def nodata(gate: str, query: str, value: float | None, threshold: float | None, what: str) -> Check:
        return Check(gate, query, None if _bad(value) else value, threshold, False, what, no_data=True)

    # traffic: enough canary requests to judge at all
    req = values.get("canary_requests")
    if _bad(req):
        checks.append(nodata("requests", q["canary_requests"], req, g.min_requests, "no data"))
    elif req is not None and req < g.min_requests:
        checks.append(nodata("requests", q["canary_requests"], req, g.min_requests, "too few requests"))
    else:
        checks.append(Check("requests", q["canary_requests"], req, g.min_requests, True, ""))
    enough = checks[-1].passed

    # error ratio
    er, ber = values.get("canary_error_ratio"), values.get("baseline_error_ratio")
    query = q["canary_error_ratio"] + ("  vs  " + q["baseline_error_ratio"] if has_baseline else "")
    if not enough or _bad(er) or (has_baseline and (_bad(ber) or _bad(values.get("baseline_requests")))):
        checks.append(nodata("error_ratio", query, er, None, "no data" if enough else "too few requests"))
    else:
        assert er is not None
        th = (ber or 0.0) + g.error_ratio_margin if has_baseline else g.error_ratio_margin
        ok = er <= th + 1e-12
        reason = "" if ok else "above the threshold"
        if not has_baseline and ok:
            reason = ""
        checks.append(Check("error_ratio", query, er, th, ok, reason))

    # p95 latency
    p, bp = values.get("canary_p95_seconds"), values.get("baseline_p95_seconds")
    query = q["canary_p95_seconds"] + ("  vs  " + q["baseline_p95_seconds"] if has_baseline else "")
    if not enough or _bad(p) or (has_baseline and _bad(bp)):
        checks.append(nodata("p95_latency", query, p, None, "no data" if enough else "too few requests"))
    else:
        assert p is not None
        th = g.p95_max
        if has_baseline:
            assert bp is not None
            th = min(max(bp * g.p95_ratio, bp + g.p95_tolerance), g.p95_max)
        ok = p <= th
        checks.append(Check("p95_latency", query, p, th, ok, "" if ok else "above the threshold"))

    # uploads: all successful, and enough of them
    n, ratio = values.get("canary_uploads"), values.get("canary_upload_success")
    if _bad(n) or (n is not None and n < g.min_uploads):
        checks.append(nodata("upload_success", q["canary_upload_success"], ratio, g.upload_success, "too few uploads"))
    elif _bad(ratio):
        checks.append(nodata("upload_success", q["canary_upload_success"], ratio, g.upload_success, "no data"))
    else:
        assert ratio is not None
        # increase() extrapolates: a ratio within a hair of 1 with no failure series is 1
        ok = ratio >= g.upload_success - 1e-9
        checks.append(
            Check(
                "upload_success",
                q["canary_upload_success"],
                ratio,
                g.upload_success,
                ok,
                "" if ok else "uploads failed",
            )
        )

    if probe is not None:
        checks.append(
            Check(
                "probe",
                f"upload {probe.uploads} bid file(s) through the canary, download each, compare sha256",
                float(probe.ok),
                float(probe.uploads),
                probe.passed,
                "" if probe.passed else (probe.detail or "probe failed"),
            )
        )
    return checks


def decision(checks: list[Check], on_no_data: str = "fail") -> str:
    """promote when every check passed; pause when the only failures are missing data and the
    config says pause; else roll back."""
    failed = [c for c in checks if not c.passed]
    if not failed:
        return PROMOTE
    if on_no_data == "pause" and all(c.no_data for c in failed):
        return PAUSE
    return ROLLBACK
