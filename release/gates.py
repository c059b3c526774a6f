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
* **The probe's own requests stay out** of the requests, error-ratio and p95 comparisons
  (``traffic!="probe"``): its uploads and downloads, straight to the canary, are not in the
  baseline's mix and would skew the canary's latency. Its verdict is its own check, and its
  uploads still count in ``sandbox_uploads_total``.
* **Pilot units against like traffic**: while the pilot units' requests go to the canary, their
  own requests (``traffic="pilot"``) are judged against the stable servers' requests to the same
  handlers (``and on (handler)``): error ratio within the margin, p95 within the same ratio, and at
  least ``min_pilot_requests`` of them (no data never passes). A pilot cohort that uses other pages
  than everyone else is then neither hidden by the others' traffic nor compared with it.

Series come from the platform's own metrics: ``http_request_duration_seconds`` (``handler``,
``code``, ``version``, ``traffic``; health checks and scrapes excluded) and ``sandbox_uploads_total``
(``result``, ``version``), selected by ``instance`` (the servers' scrape targets) and ``version``,
so a restarted server's old-version series never count for the new one. ``traffic`` is ``pilot``
on the requests the load balancer routed by the pilot map (it sets ``X-Procops-Pilot: true``),
``probe`` on the probe's (``X-Procops-Probe: true``), else ``user``; the share
of the pilot units in all traffic comes from ``sandbox_unit_requests_total`` (``unit``).
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
UNIT_REQUESTS = "sandbox_unit_requests_total"
PILOT = 'traffic="pilot"'
NOT_PROBE = 'traffic!="probe"'  # also matches a platform's series without the label
SERVED = f'handler!~"{EXCLUDED_HANDLERS}",{NOT_PROBE}'  # requests people made: no health check, scrape, probe

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


def queries(canary: Selector, baseline: Selector | None, seconds: float, pilots: bool = False) -> dict[str, str]:
    """Every gate's PromQL over the last ``seconds`` (evaluated at the end of the analysis); with
    ``pilots`` (the pilot units' requests go to the canary, and there is a baseline) also the pilot
    units' requests on the canary and the baseline's requests to the same handlers."""
    w = window(seconds)

    def requests(sel: Selector) -> str:
        return f"sum(increase({DURATION}_count{sel.matcher(SERVED)}[{w}]))"

    def errors(sel: Selector) -> str:
        five = sel.matcher(SERVED + ',code=~"5.."')
        return f"(sum(increase({DURATION}_count{five}[{w}])) or vector(0)) / {requests(sel)}"

    def p95(sel: Selector) -> str:
        return f"histogram_quantile(0.95, sum by (le) (increase({DURATION}_bucket{sel.matcher(SERVED)}[{w}])))"

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
        if pilots:
            q.update(pilot_queries(canary, baseline, seconds))
    return q


def pilot_queries(canary: Selector, baseline: Selector, seconds: float) -> dict[str, str]:
    """The pilot units' requests on the canary, and like traffic: the baseline's requests to the
    handlers the pilots used in the same window."""
    w = window(seconds)
    pilot = canary.matcher(f"{SERVED},{PILOT}")
    used = f"(sum by (handler) (increase({DURATION}_count{pilot}[{w}])) > 0)"

    def like(metric: str, extra: str = "", by: str = "handler") -> str:
        return f"(sum by ({by}) (increase({DURATION}_{metric}{baseline.matcher(SERVED + extra)}[{w}])) and on (handler) {used})"

    pilot_five = canary.matcher(f'{SERVED},{PILOT},code=~"5.."')
    pilot_req = f"sum(increase({DURATION}_count{pilot}[{w}]))"
    like_req = f"sum{like('count')}"
    like_five = like("count", ',code=~"5.."')
    return {
        "pilot_requests": pilot_req,
        "pilot_error_ratio": f"(sum(increase({DURATION}_count{pilot_five}[{w}])) or vector(0)) / {pilot_req}",
        "pilot_p95_seconds": f"histogram_quantile(0.95, sum by (le) (increase({DURATION}_bucket{pilot}[{w}])))",
        "like_requests": like_req,
        "like_error_ratio": f"(sum{like_five} or vector(0)) / {like_req}",
        "like_p95_seconds": f"histogram_quantile(0.95, sum by (le) {like('bucket', by='le, handler')})",
    }


def pilot_share_queries(job: str, units: list[str], seconds: float) -> dict[str, str]:
    """``units``: the pilot units' requests and ``total``: all requests of the platform over the last
    ``seconds``; ``counted``: whether the platform counts requests by unit at all."""
    w = window(seconds)
    alts = "|".join(_re_escape(u) for u in units)
    return {
        "units": f'sum(increase({UNIT_REQUESTS}{{job="{_q(job)}",unit=~"{alts}"}}[{w}]))',
        "total": f'sum(increase({DURATION}_count{{job="{_q(job)}",{SERVED}}}[{w}]))',
        "counted": f'count({UNIT_REQUESTS}{{job="{_q(job)}"}})',
    }


def traffic_query(canary: Selector, seconds: float = 60.0) -> str:
    """Has the canary received requests (the analysis starts only then)."""
    sel = canary.matcher(SERVED)
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

    if "pilot_requests" in q:
        checks.extend(_pilot_checks(values, q, g))

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


def _pilot_checks(values: dict[str, float | None], q: dict[str, str], g: ReleaseGatesConfig) -> list[Check]:
    """The pilot units' requests on the canary against like traffic on the baseline."""
    checks: list[Check] = []
    n = values.get("pilot_requests")
    if _bad(n):
        checks.append(Check("pilot_requests", q["pilot_requests"], None, g.min_pilot_requests, False, "no data", True))
    elif n is not None and n < g.min_pilot_requests:
        checks.append(
            Check("pilot_requests", q["pilot_requests"], n, g.min_pilot_requests, False, "too few pilot requests", True)
        )
    else:
        checks.append(Check("pilot_requests", q["pilot_requests"], n, g.min_pilot_requests, True, ""))
    enough = checks[-1].passed
    why = "no data" if enough else "too few pilot requests"

    er, ler = values.get("pilot_error_ratio"), values.get("like_error_ratio")
    query = q["pilot_error_ratio"] + "  vs  " + q["like_error_ratio"]
    if not enough or _bad(er) or _bad(ler) or _bad(values.get("like_requests")):
        checks.append(Check("pilot_error_ratio", query, None if _bad(er) else er, None, False, why, True))
    else:
        assert er is not None and ler is not None
        th = ler + g.error_ratio_margin
        ok = er <= th + 1e-12
        checks.append(Check("pilot_error_ratio", query, er, th, ok, "" if ok else "above the threshold"))

    p, lp = values.get("pilot_p95_seconds"), values.get("like_p95_seconds")
    query = q["pilot_p95_seconds"] + "  vs  " + q["like_p95_seconds"]
    if not enough or _bad(p) or _bad(lp):
        checks.append(Check("pilot_p95_latency", query, None if _bad(p) else p, None, False, why, True))
    else:
        assert p is not None and lp is not None
        th = min(max(lp * g.p95_ratio, lp + g.p95_tolerance), g.p95_max)
        ok = p <= th
        checks.append(Check("pilot_p95_latency", query, p, th, ok, "" if ok else "above the threshold"))
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
