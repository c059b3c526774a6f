"""Load-test stop conditions (pure)."""

from __future__ import annotations

from procops.loadtests.abort import Rule, Watch

RULE = Rule(error_ratio=0.2, p95_s=2.0, hold_s=5.0, delay_s=3.0, window_s=10.0)


def _feed(w: Watch, t0: float, t1: float, *, ok: bool, seconds: float = 0.1) -> None:
    t = t0
    while t < t1:
        w.add(t, seconds, ok)
        t += 0.1


def test_errors_that_stay_over_the_limit_fire_after_the_hold_naming_the_condition():
    w = Watch(RULE, test_start=0.0)
    fired = None
    for now in range(1, 20):
        _feed(w, now - 1, now, ok=False)
        fired = fired or w.check(float(now))
    assert fired is not None and fired.condition == "error_ratio"
    assert fired.over_since == 3.0 and fired.fired_at == 8.0  # judged from the delay, held 5 s
    assert "error_ratio" in fired.describe() and "100%" in fired.describe()


def test_nothing_is_judged_before_the_delay_and_a_short_spike_does_not_fire():
    w = Watch(Rule(0.2, 2.0, hold_s=5.0, delay_s=3.0, window_s=2.0), test_start=0.0)
    for now in range(1, 30):
        _feed(w, now - 1, now, ok=not 4 <= now <= 6)  # 3 s of errors: over for less than the hold
        assert w.check(float(now)) is None


def test_slow_responses_fire_the_p95_condition_and_too_few_samples_judge_nothing():
    w = Watch(RULE, test_start=0.0)
    assert w.check(10.0) is None  # no data
    fired = None
    for now in range(1, 20):
        _feed(w, now - 1, now, ok=True, seconds=3.0)
        fired = fired or w.check(float(now))
    assert fired is not None and fired.condition == "p95" and fired.value == 3.0
