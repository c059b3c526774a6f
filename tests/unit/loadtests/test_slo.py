"""SLO evaluation and exact percentiles from raw samples (pure functions)."""

from __future__ import annotations

import random

import pytest

from procops.loadtests import slo
from procops.loadtests.slo import Sample, SloPolicy


def _s(name, ms, ok=True, status=200, start=1000.0, node="local"):
    return Sample(start, name, ms, ok, status, 0, node)


def test_percentile_nearest_rank_is_an_observed_value():
    vals = sorted(float(v) for v in range(1, 101))
    assert slo.percentile(vals, 95) == 95.0
    assert slo.percentile(vals, 50) == 50.0
    assert slo.percentile(vals, 99) == 99.0
    assert slo.percentile(vals, 100) == 100.0
    assert slo.percentile([], 95) is None
    assert slo.percentile([7.0], 95) == 7.0


def test_percentile_keeps_full_precision_where_locust_rounds():
    # Locust would report 1234.567 ms as 1200 ms; the raw sample keeps it
    vals = sorted([1234.567] * 96 + [10.0] * 4)
    assert slo.percentile(vals, 95) == 1234.567


def test_percentile_matches_sorting_definition_on_random_data():
    rng = random.Random(1)
    vals = sorted(rng.expovariate(1 / 300) for _ in range(10_001))
    p95 = slo.percentile(vals, 95)
    assert sum(v <= p95 for v in vals) / len(vals) >= 0.95
    assert sum(v < p95 for v in vals) / len(vals) < 0.95


def test_parse_line_round_trip_and_garbage():
    from procops.loadtests.recorder import sample_line

    line = sample_line(1700000000.123456, "announcements.list", 12.3456, True, 200, 512, "w1")
    s = slo.parse_line(line)
    assert s == Sample(1700000000.123456, "announcements.list", 12.346, True, 200, 512, "w1")
    assert slo.parse_line("garbage\n") is None
    assert slo.parse_line("x\ty\tz\t1\t200\n") is None


def test_endpoint_stats_counts_failures_and_server_errors():
    samples = [
        _s("dashboard", 10),
        _s("dashboard", 20, ok=False, status=503),
        _s("bids.upload", 30, ok=False, status=401),
    ]
    st = slo.endpoint_stats(samples, duration=2.0)
    assert st["dashboard"].requests == 2 and st["dashboard"].failures == 1 and st["dashboard"].server_errors == 1
    assert st["bids.upload"].server_errors == 0
    assert st["Aggregated"].requests == 3 and st["Aggregated"].rps == 1.5


def _rows(samples, **kw):
    return {r.name: r for r in slo.evaluate(slo.endpoint_stats(samples, 10.0), SloPolicy(**kw))}


def test_all_slos_hold():
    samples = [_s("announcements.list", 100 + i) for i in range(100)] + [_s("bids.upload", 900, status=201)]
    rows = _rows(samples)
    assert all(r.ok for r in rows.values()), rows
    assert rows["p95 announcements.list"].observed == 194.0
    assert rows["upload success"].observed == 1.0


def test_slow_page_endpoint_fails_its_own_slo_only():
    samples = (
        [_s("announcements.list", 2500 + i) for i in range(50)]
        + [_s("dashboard", 50) for _ in range(50)]
        + [_s("bids.upload", 900, status=201)]
    )
    rows = _rows(samples)
    assert not rows["p95 announcements.list"].ok
    assert rows["p95 announcements.list"].observed == 2547.0
    assert rows["p95 announcements.list"].threshold == 2000.0
    assert rows["p95 dashboard"].ok
    assert rows["upload success"].ok and rows["no 5xx"].ok


def test_p95_exactly_at_the_limit_holds():
    rows = _rows([_s("dashboard", 2000.0) for _ in range(20)] + [_s("bids.upload", 1, status=201)])
    assert rows["p95 dashboard"].ok


def test_upload_failures_break_upload_and_5xx_slos():
    samples = [_s("bids.upload", 100, status=201) for _ in range(95)] + [
        _s("bids.upload", 100, ok=False, status=500) for _ in range(5)
    ]
    rows = _rows(samples)
    assert not rows["upload success"].ok
    assert rows["upload success"].observed == 0.95
    assert not rows["no 5xx"].ok and rows["no 5xx"].observed == 5
    assert "bids.upload: 5" in rows["no 5xx"].detail


def test_no_uploads_is_a_failed_check_not_a_pass():
    rows = _rows([_s("dashboard", 10)])
    assert not rows["upload success"].ok and rows["upload success"].observed is None


def test_uploads_not_expected_gives_no_upload_row():
    rows = _rows([_s("dashboard", 10)], uploads_expected=False)
    assert "upload success" not in rows


def test_no_requests_fails():
    rows = _rows([])
    assert not rows["requests made"].ok


def test_download_time_is_not_a_page_slo():
    rows = _rows([_s("documents.download", 9000), _s("bids.upload", 1, status=201)])
    assert "p95 documents.download" not in rows
    assert all(r.ok for r in rows.values())


def test_policy_threshold_used():
    rows = _rows([_s("dashboard", 600) for _ in range(10)] + [_s("bids.upload", 1, status=201)], page_p95_s=0.5)
    assert not rows["p95 dashboard"].ok and rows["p95 dashboard"].threshold == 500.0


def test_tolerated_server_errors():
    rows = _rows([_s("dashboard", 1, ok=False, status=502), _s("bids.upload", 1, status=201)], max_server_errors=1)
    assert rows["no 5xx"].ok


def test_steps_are_judged_on_their_own_samples():
    from procops.loadtests.scenario import Stage

    stages = [Stage(2, 1, 10, "1x", 1.0), Stage(3, 1, 10, "1.5x", 1.5), Stage(4, 1, 10, "2x", 2.0)]
    windows = slo.stage_windows(100.0, stages)
    assert [(w.start, w.end) for w in windows] == [(100.0, 110.0), (110.0, 120.0), (120.0, 130.0)]
    samples = []
    for w, ms in zip(windows, (100, 150, 3000)):
        samples += [_s("announcements.list", ms, start=w.start + i * 0.1) for i in range(50)]
        samples += [_s("bids.upload", 10, status=201, start=w.start + 1)]
    steps = slo.evaluate_steps(samples, windows, SloPolicy())
    assert [s.ok for s in steps] == [True, True, False]
    # per step, not cumulative: the 2x step's p95 is its own 3000 ms; the 1x step's is 100 ms
    assert steps[0].endpoints["announcements.list"].p95_ms == 100
    assert steps[2].endpoints["announcements.list"].p95_ms == 3000
    assert steps[1].rps == pytest.approx(51 / 10)
    best = slo.highest_held(steps)
    assert best.multiple == 1.5 and best.users == 3


def test_highest_held_needs_every_lower_step():
    from procops.loadtests.slo import StepResult

    steps = [StepResult("1x", 1.0, 1, 1, 1, 1, False), StepResult("2x", 2.0, 2, 1, 1, 1, True)]
    assert slo.highest_held(steps) is None


def test_per_second_series():
    samples = [_s("dashboard", 10 * (i + 1), start=100.0 + i * 0.5) for i in range(6)]
    rows = list(slo.per_second(samples, 100.0, 103.0))
    assert [r[1] for r in rows] == [2, 2, 2]
    assert rows[0][3] == 20


def test_step_without_uploads_is_not_failed_for_it():
    from procops.loadtests.scenario import Stage

    windows = slo.stage_windows(0.0, [Stage(1, 1, 10, "1x", 1.0), Stage(2, 1, 10, "2x", 2.0)])
    samples = [
        _s("dashboard", 5, start=1.0),
        _s("dashboard", 5, start=11.0),
        _s("bids.upload", 5, ok=False, status=500, start=12.0),
    ]
    steps = slo.evaluate_steps(samples, windows, SloPolicy())
    assert steps[0].ok and "upload success" not in {r.name for r in steps[0].slos}
    assert not steps[1].ok


def test_per_bucket_series():
    samples = [_s("dashboard", float(i), start=100.0 + i) for i in range(10)]
    rows = list(slo.per_second(samples, 100.0, 110.0, bucket=5.0))
    assert [(r[0], r[1], r[4]) for r in rows] == [(0.0, 5, 4.0), (5.0, 5, 9.0)]


def test_a_request_started_after_the_last_stage_ended_counts_in_the_last_step():
    from procops.loadtests.scenario import Stage

    windows = slo.stage_windows(0.0, [Stage(1, 1, 10, "1x", 1.0), Stage(2, 1, 10, "2x", 2.0)])
    samples = [_s("dashboard", 5, start=1.0), _s("dashboard", 5, start=11.0), _s("dashboard", 5, start=20.3)]
    steps = slo.evaluate_steps(samples, windows, SloPolicy())
    assert [s.requests for s in steps] == [1, 2]
    assert sum(s.requests for s in steps) == len(samples)
