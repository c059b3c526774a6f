"""drill status: last run, next due a quarter after the last live success, overdue (pure)."""

from __future__ import annotations

import datetime as dt

from procops.drills.status import summarize

Q = 92 * 86400.0
NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


def test_a_scenario_never_drilled_is_overdue():
    (row,) = summarize(["app-crash"], [], Q, NOW)
    assert row.overdue and row.last_run is None and row.next_due is None


def test_a_success_makes_it_due_a_quarter_later_and_a_later_failure_does_not_move_it():
    runs = [
        ("2026-11-01T00:00:00Z", "app-crash", {"status": "ok", "mode": "auto"}),
        ("2026-11-20T00:00:00Z", "app-crash", {"status": "failed", "mode": "interactive", "incident_id": "INC-1"}),
    ]
    (row,) = summarize(["app-crash"], runs, Q, NOW)
    assert not row.overdue
    assert row.last_result == "failed" and row.last_mode == "interactive" and row.incident_id == "INC-1"
    assert row.last_success == "2026-11-01T00:00:00Z" and row.next_due == "2027-02-01T00:00:00Z"


def test_a_success_older_than_a_quarter_is_overdue():
    runs = [("2026-08-01T00:00:00Z", "db-loss", {"status": "ok", "mode": "auto"})]
    (row,) = summarize(["db-loss"], runs, Q, NOW)
    assert row.overdue


def test_a_tabletop_is_a_run_but_not_the_quarters_live_drill():
    runs = [("2026-11-30T00:00:00Z", "db-loss", {"status": "ok", "mode": "tabletop"})]
    (row,) = summarize(["db-loss"], runs, Q, NOW)
    assert row.last_mode == "tabletop" and row.overdue and row.last_success is None


def test_runs_of_a_scenario_no_longer_shipped_are_still_listed():
    runs = [("2026-11-30T00:00:00Z", "old", {"status": "ok", "mode": "auto"})]
    names = [r.scenario for r in summarize(["app-crash"], runs, Q, NOW)]
    assert names == ["app-crash", "old"]
