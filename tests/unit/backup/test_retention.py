"""Retention applied to whole runs, with restic's forget rules (procops.backup.retention)."""

import datetime as dt

import pytest

from procops.backup import retention
from procops.backup.ops import Snapshot, run_sets, unconfirmed
from procops.backup.retention import Policy, keep, within_cutoff
from procops.backup.run import retention_plan


def _hourly(n: int, start: str = "2026-11-30T23:00:00+08:00") -> list[tuple[str, str]]:
    t0 = dt.datetime.fromisoformat(start)
    return [(f"r{i}", (t0 - dt.timedelta(hours=i)).isoformat()) for i in range(n)]


def test_keep_hourly_keeps_the_newest_run_of_each_of_the_last_hours():
    runs = _hourly(10) + [("r0b", "2026-11-30T23:30:00+08:00")]  # two runs in the newest hour
    assert keep(runs, Policy(keep_hourly=3)) == {"r0b", "r1", "r2"}


def test_keep_last_counts_runs_and_buckets_use_the_time_zone_the_run_was_recorded_in():
    runs = [("a", "2026-12-01T00:30:00+08:00"), ("b", "2026-11-30T23:30:00+08:00"), ("c", "2026-11-30T10:00:00Z")]
    # a and b are on different days in +08:00 although both are 30 November in UTC
    assert keep(runs, Policy(keep_daily=2)) == {"a", "b"}
    assert keep(runs, Policy(keep_last=1)) == {"a"}


def test_rules_add_up_and_weeks_are_iso_weeks():
    runs = [
        ("sun", "2026-11-29T12:00:00Z"),  # ISO week 48
        ("mon", "2026-11-30T12:00:00Z"),  # ISO week 49
        ("tue", "2026-12-01T12:00:00Z"),
    ]
    assert keep(runs, Policy(keep_weekly=2)) == {"tue", "sun"}
    assert keep(runs, Policy(keep_last=1, keep_weekly=2)) == {"tue", "sun"}
    assert keep(runs, Policy(keep_daily=2, keep_weekly=2)) == {"tue", "mon", "sun"}


def test_keep_within_is_measured_from_the_newest_run_with_calendar_months():
    newest = dt.datetime.fromisoformat("2026-03-31T10:00:00+00:00")
    # Go's AddDate: 31 February normalises to 3 March
    assert within_cutoff(newest, "1m") == dt.datetime.fromisoformat("2026-03-03T10:00:00+00:00")
    assert within_cutoff(newest, "1y2d3h") == dt.datetime.fromisoformat("2025-03-29T07:00:00+00:00")
    runs = [("new", "2026-03-31T10:00:00Z"), ("mid", "2026-03-04T00:00:00Z"), ("old", "2026-03-03T10:00:00Z")]
    assert keep(runs, Policy(keep_within="1m")) == {"new", "mid"}  # strictly after the cutoff


def test_a_policy_that_keeps_nothing_is_refused():
    with pytest.raises(ValueError, match="keeps nothing"):
        keep([("a", "2026-01-01T00:00:00Z")], Policy())
    with pytest.raises(ValueError, match="keep_within"):
        within_cutoff(dt.datetime.now(dt.UTC), "2w")


def test_restic_times_with_nanoseconds_parse():
    t = retention.parse_time("2026-12-02T06:28:25.716175803+08:00")
    assert t.microsecond == 716175 and t.utcoffset() == dt.timedelta(hours=8)


def _snap(sid: str, run: str, kind: str, time: str, *extra: str) -> Snapshot:
    return Snapshot(sid, sid[:8], time, (), ("procops", f"run={run}", kind, *extra), "host")


def _run(run: str, time: str, confirmed: bool = True) -> list[Snapshot]:
    out = [_snap(f"{run}-db", run, "database", time), _snap(f"{run}-files", run, "files", time)]
    if confirmed:
        out.append(_snap(f"{run}-conf", run, "confirmation", time, "confirmed", "dump-sha256=ab", "dump-size=2"))
    return out


def test_a_run_counts_only_with_its_confirmation_or_both_halves_confirmed_by_an_earlier_version():
    legacy = [
        _snap("old-db", "old", "database", "2026-11-01T00:00:00Z", "confirmed", "dump-sha256=cd"),
        _snap("old-files", "old", "files", "2026-11-01T00:00:00Z", "confirmed"),
    ]
    killed = _run("killed", "2026-11-02T00:00:00Z", confirmed=False)
    half_copied = [_snap("half-files", "half", "files", "2026-11-03T00:00:00Z")] + [
        _snap("half-conf", "half", "confirmation", "2026-11-03T00:00:00Z", "confirmed")
    ]
    snaps = legacy + killed + half_copied + _run("good", "2026-11-04T00:00:00Z")
    sets = run_sets(snaps)
    assert [r.run_id for r in sets] == ["old", "good"]
    assert sets[0].dump_sha256 == "cd" and sets[1].dump_sha256 == "ab"
    assert {s.id for s in unconfirmed(snaps)} == {"killed-db", "killed-files", "half-files", "half-conf"}


def test_the_retention_plan_forgets_whole_runs_and_what_killed_runs_left():
    snaps = (
        _run("a", "2026-11-30T10:00:00Z")
        + _run("b", "2026-11-30T11:00:00Z")
        + _run("k", "2026-11-30T11:30:00Z", confirmed=False)
        + _run("c", "2026-11-30T12:00:00Z")
        + _run("later", "2026-11-30T12:30:00Z", confirmed=False)  # newer than every confirmed run: in progress
    )
    drop = retention_plan(snaps, Policy(keep_last=2))
    assert sorted(drop) == sorted(["a-db", "a-files", "a-conf", "k-db", "k-files"])
