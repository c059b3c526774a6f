"""The live line of a load test reads Locust's stats history (the newest aggregated row)."""

from __future__ import annotations

from procops.loadtests import locustproc as lp


def test_the_newest_aggregated_row_gives_users_rps_p95_and_failures(tmp_path):
    (tmp_path / "locust_stats_history.csv").write_text(
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,Total Request Count,Total Failure Count\n"
        "1,10,,Aggregated,4.0,0.0,120,300,40,0\n"
        "2,20,GET,announcements.list,5.0,0.0,130,310,50,0\n"
        "3,20,,Aggregated,9.5,0.5,140,2100,95,2\n"
    )
    assert lp.live_stats(tmp_path) == {
        "users": 20,
        "rps": 9.5,
        "failures_per_s": 0.5,
        "p95_ms": 2100.0,
        "requests": 95,
        "failures": 2,
    }


def test_no_history_yet_is_no_line(tmp_path):
    assert lp.live_stats(tmp_path) is None
