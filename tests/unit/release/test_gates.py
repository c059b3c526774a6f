"""Canary gates: PromQL rendering and verdicts (pure: no Prometheus here)."""

from __future__ import annotations

import math

from procops.config import ReleaseGatesConfig
from procops.release import gates as G

CANARY = G.Selector("platform", ("127.0.0.1:18082",), "1.1.0")
BASE = G.Selector("platform", ("127.0.0.1:18083", "127.0.0.1:18084"), "1.0.0")


def _values(**over):
    v = {
        "canary_requests": 200.0,
        "canary_error_ratio": 0.0,
        "canary_p95_seconds": 0.02,
        "canary_uploads": 30.0,
        "canary_upload_success": 1.0,
        "baseline_requests": 400.0,
        "baseline_error_ratio": 0.0,
        "baseline_p95_seconds": 0.02,
    }
    v.update(over)
    return v


def _by_gate(checks):
    return {c.gate: c for c in checks}


def test_queries_select_servers_by_instance_and_version_and_leave_out_health_and_scrapes():
    q = G.queries(CANARY, BASE, 15)
    assert set(q) == {
        "canary_requests",
        "canary_error_ratio",
        "canary_p95_seconds",
        "canary_uploads",
        "canary_upload_success",
        "baseline_requests",
        "baseline_error_ratio",
        "baseline_p95_seconds",
    }
    assert 'instance=~"127\\\\.0\\\\.0\\\\.1:18082",version="1.1.0"' in q["canary_requests"]
    assert (
        'instance=~"127\\\\.0\\\\.0\\\\.1:18083|127\\\\.0\\\\.0\\\\.1:18084",version="1.0.0"' in q["baseline_requests"]
    )
    assert 'handler!~"/healthz|/metrics|/_admin.*"' in q["canary_p95_seconds"]
    # the probe's own uploads and downloads are not in the baseline's mix: they stay out of the comparisons
    assert all('traffic!="probe"' in q[k] for k in ("canary_requests", "canary_error_ratio", "canary_p95_seconds"))
    assert 'traffic!="probe"' in q["baseline_p95_seconds"] and "traffic" not in q["canary_upload_success"]
    assert "[15s]" in q["canary_requests"]
    assert q["canary_p95_seconds"].startswith("histogram_quantile(0.95, sum by (le) (increase(")
    # no 5xx series at all is a ratio of 0, not an empty result
    assert "or vector(0)" in q["canary_error_ratio"]
    assert 'result="success"' in q["canary_upload_success"]


def test_the_last_stage_has_no_baseline_queries():
    assert not any(k.startswith("baseline_") for k in G.queries(CANARY, None, 60))


def test_a_healthy_canary_passes_every_gate_and_is_promoted():
    q = G.queries(CANARY, BASE, 15)
    checks = G.evaluate(_values(), q, ReleaseGatesConfig(), G.ProbeResult(5, 5, ""))
    assert all(c.passed for c in checks), checks
    assert G.decision(checks) == G.PROMOTE


def test_one_failed_upload_fails_the_upload_gate_with_its_value_and_threshold():
    q = G.queries(CANARY, BASE, 15)
    c = _by_gate(G.evaluate(_values(canary_upload_success=0.9), q, ReleaseGatesConfig(), None))["upload_success"]
    assert not c.passed and c.value == 0.9 and c.threshold == 1.0 and c.query == q["canary_upload_success"]
    assert (
        G.decision(
            list(_by_gate(G.evaluate(_values(canary_upload_success=0.9), q, ReleaseGatesConfig(), None)).values())
        )
        == G.ROLLBACK
    )


def test_error_ratio_may_exceed_the_baseline_by_one_point_and_no_more():
    q = G.queries(CANARY, BASE, 15)
    g = ReleaseGatesConfig()
    ok = _by_gate(G.evaluate(_values(canary_error_ratio=0.019, baseline_error_ratio=0.01), q, g, None))["error_ratio"]
    bad = _by_gate(G.evaluate(_values(canary_error_ratio=0.021, baseline_error_ratio=0.01), q, g, None))["error_ratio"]
    assert ok.passed and math.isclose(ok.threshold, 0.02)
    assert not bad.passed and bad.reason == "above the threshold"


def test_p95_is_held_to_the_baseline_ratio_and_to_the_slo():
    q = G.queries(CANARY, BASE, 15)
    g = ReleaseGatesConfig()
    slow = _by_gate(G.evaluate(_values(canary_p95_seconds=0.7, baseline_p95_seconds=0.5), q, g, None))["p95_latency"]
    assert not slow.passed and math.isclose(slow.threshold, 0.6)
    within = _by_gate(G.evaluate(_values(canary_p95_seconds=0.59, baseline_p95_seconds=0.5), q, g, None))["p95_latency"]
    assert within.passed
    # a slow baseline does not lift the SLO
    slo = _by_gate(G.evaluate(_values(canary_p95_seconds=2.3, baseline_p95_seconds=2.5), q, g, None))["p95_latency"]
    assert not slo.passed and slo.threshold == 2.0
    # bucket noise: 30 ms against 20 ms is within the tolerance
    noise = _by_gate(G.evaluate(_values(canary_p95_seconds=0.03, baseline_p95_seconds=0.02), q, g, None))["p95_latency"]
    assert noise.passed


def test_no_data_never_passes():
    q = G.queries(CANARY, BASE, 15)
    g = ReleaseGatesConfig()
    empty = dict.fromkeys(q)
    checks = G.evaluate(empty, q, g, None)
    assert checks and not any(c.passed for c in checks)
    assert all(c.no_data for c in checks)
    assert G.decision(checks) == G.ROLLBACK
    nan = G.evaluate(_values(canary_p95_seconds=float("nan")), q, g, None)
    assert not _by_gate(nan)["p95_latency"].passed and _by_gate(nan)["p95_latency"].reason == "no data"
    # a missing baseline is no data too
    nob = G.evaluate(_values(baseline_error_ratio=None), q, g, None)
    assert not _by_gate(nob)["error_ratio"].passed


def test_too_few_requests_fail_every_ratio_check():
    q = G.queries(CANARY, BASE, 15)
    checks = _by_gate(G.evaluate(_values(canary_requests=3.0), q, ReleaseGatesConfig(min_requests=20), None))
    assert not checks["requests"].passed and checks["requests"].reason == "too few requests"
    assert not checks["error_ratio"].passed and not checks["p95_latency"].passed


def test_no_data_pauses_instead_when_configured_but_a_real_failure_still_rolls_back():
    q = G.queries(CANARY, BASE, 15)
    g = ReleaseGatesConfig(on_no_data="pause")
    assert G.decision(G.evaluate(dict.fromkeys(q), q, g, None), g.on_no_data) == G.PAUSE
    mixed = G.evaluate(_values(canary_upload_success=0.5, canary_p95_seconds=None), q, g, None)
    assert G.decision(mixed, g.on_no_data) == G.ROLLBACK


def test_a_probe_whose_file_comes_back_different_fails():
    q = G.queries(CANARY, BASE, 15)
    c = _by_gate(G.evaluate(_values(), q, ReleaseGatesConfig(), G.ProbeResult(5, 4, "download 3: sha256 differs")))[
        "probe"
    ]
    assert not c.passed and c.reason == "download 3: sha256 differs" and c.value == 4.0 and c.threshold == 5.0


def test_the_last_stage_holds_the_error_ratio_to_the_margin_and_p95_to_the_slo():
    q = G.queries(CANARY, None, 15)
    g = ReleaseGatesConfig()
    v = _values(canary_error_ratio=0.02, canary_p95_seconds=1.5)
    checks = _by_gate(G.evaluate({k: v[k] for k in q}, q, g, None))
    assert not checks["error_ratio"].passed and checks["error_ratio"].threshold == 0.01
    assert checks["p95_latency"].passed and checks["p95_latency"].threshold == 2.0


def _pilot_values(**over):
    v = _values(
        pilot_requests=40.0,
        pilot_error_ratio=0.0,
        pilot_p95_seconds=0.03,
        like_requests=300.0,
        like_error_ratio=0.0,
        like_p95_seconds=0.03,
    )
    v.update(over)
    return v


def test_pilot_queries_select_the_pilots_requests_and_like_traffic_on_the_same_handlers():
    q = G.queries(CANARY, BASE, 15, pilots=True)
    assert {"pilot_requests", "pilot_error_ratio", "pilot_p95_seconds", "like_requests", "like_error_ratio"} <= set(q)
    assert 'traffic="pilot"' in q["pilot_requests"] and 'version="1.1.0"' in q["pilot_requests"]
    # like traffic: the baseline's series, kept only on the handlers the pilots used in the window
    like = q["like_error_ratio"]
    assert 'version="1.0.0"' in like and "and on (handler)" in like and 'traffic="pilot"' in like
    assert 'traffic="pilot"' not in like.split("and on (handler)")[0]
    assert q["like_p95_seconds"].startswith("histogram_quantile(0.95, sum by (le) (sum by (le, handler)")
    # no pilot queries without a baseline (the last stage: the pilots' routes are cleared) or without pilots
    assert "pilot_requests" not in G.queries(CANARY, None, 15, pilots=True)
    assert "pilot_requests" not in G.queries(CANARY, BASE, 15)


def test_the_pilots_are_judged_against_like_traffic_not_the_whole_canary():
    g = ReleaseGatesConfig()
    q = G.queries(CANARY, BASE, 15, pilots=True)
    ok = _by_gate(G.evaluate(_pilot_values(), q, g, None))
    assert all(ok[k].passed for k in ("pilot_requests", "pilot_error_ratio", "pilot_p95_latency"))
    # the canary as a whole is healthy, but the pilot units' own requests fail more than like traffic
    bad = _by_gate(G.evaluate(_pilot_values(pilot_error_ratio=0.05, like_error_ratio=0.01), q, g, None))
    assert bad["error_ratio"].passed and not bad["pilot_error_ratio"].passed
    assert bad["pilot_error_ratio"].threshold == 0.01 + g.error_ratio_margin
    assert G.decision(list(bad.values())) == G.ROLLBACK
    slow = _by_gate(G.evaluate(_pilot_values(pilot_p95_seconds=1.0, like_p95_seconds=0.5), q, g, None))
    assert slow["p95_latency"].passed and not slow["pilot_p95_latency"].passed
    assert slow["pilot_p95_latency"].threshold == 0.5 * g.p95_ratio


def test_too_few_pilot_requests_or_none_never_pass():
    g = ReleaseGatesConfig(min_pilot_requests=10)
    q = G.queries(CANARY, BASE, 15, pilots=True)
    few = _by_gate(G.evaluate(_pilot_values(pilot_requests=3.0), q, g, None))
    assert not few["pilot_requests"].passed and few["pilot_requests"].reason == "too few pilot requests"
    assert not few["pilot_error_ratio"].passed and few["pilot_error_ratio"].no_data
    none = _by_gate(G.evaluate(_pilot_values(pilot_requests=None, like_p95_seconds=math.nan), q, g, None))
    assert none["pilot_requests"].reason == "no data" and not none["pilot_p95_latency"].passed
    # missing pilot data alone pauses when configured so, like any missing data
    assert G.decision(list(few.values()), on_no_data="pause") == G.PAUSE


def test_the_pilot_share_queries_count_the_units_requests_against_all_requests():
    q = G.pilot_share_queries("platform", ["unit-0001", "unit.2"], 7 * 86400)
    assert 'sandbox_unit_requests_total{job="platform",unit=~"unit-0001|unit\\\\.2"}[7d]' in q["units"]
    assert 'http_request_duration_seconds_count{job="platform",handler!~' in q["total"] and "[7d]" in q["total"]
    assert 'traffic!="probe"' in q["total"] and q["counted"] == 'count(sandbox_unit_requests_total{job="platform"})'
