"""The audit's evaluators (procops.compliance) over journals built in tmp dirs through the Journal API.

The journal stamps each row with the time of its append; the tests move that clock
(``procops.journal.utcnow``) to lay down weeks of history in a moment.
"""

from __future__ import annotations

import datetime as dt

import pytest

from procops import compliance as C
from procops import desk
from procops import events as ev
from procops.errors import BadInput
from procops.events import Kind, Status
from procops.journal import Journal

T0 = dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
REPOS = {"local": False, "offsite": True}


class Clock:
    def __init__(self, t: dt.datetime) -> None:
        self.t = t

    def __call__(self) -> dt.datetime:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock(T0)
    monkeypatch.setattr("procops.journal.utcnow", c)
    return c


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.db")
    yield j
    j.close()


def at(clock: Clock, t: dt.datetime) -> Clock:
    clock.t = t
    return clock


def backup(j, clock, t, ok=True, run=None, repos=("local", "offsite")):
    at(clock, t)
    st = Status.OK if ok else Status.FAILED
    j.append(
        Kind.BACKUP_RUN,
        "all",
        ev.BackupRun(
            status=st,
            ok=ok,
            run=run or t.strftime("run-%Y%m%d%H%M"),
            repositories={n: ev.BackupRunRepo(status=st) for n in repos},
        ),
    )


def routine(j, clock, start, hours, skip=()):
    """Hourly backups, daily checks, a weekly verify and scan and a stress test, from ``start``."""
    for h in range(hours):
        t = start + h * H + dt.timedelta(minutes=5)
        if h not in skip:
            backup(j, clock, t)
        if h % 24 == 1:
            at(clock, t + dt.timedelta(minutes=10))
            j.append(Kind.BACKUP_CHECK, "all", ev.BackupCheck(status=Status.OK, ok=True))
    at(clock, start + dt.timedelta(minutes=30))
    j.append(Kind.BACKUP_VERIFY, "all", ev.BackupVerify(status=Status.OK, ok=True, documents=100))
    j.append(Kind.SCAN_RUN, "host", ev.ScanRun(status=Status.OK, verdict="pass", hardening_index=70))
    j.append(Kind.LOADTEST_PEAK, "peak", ev.LoadtestRun(status=Status.OK, verdict="pass", users=150))


def evaluate(j, end, start=None, **facts):
    period = C.Period(start or T0, end, "test")
    evidence = C.Evidence.build(desk.items(j, C.KINDS, None, None))
    first = j.first_time()
    f = C.Facts(now=end, journal_first=desk.parse_iso(first) if first else None, repositories=REPOS, **facts)
    return {x.id: x for x in C.evaluate(evidence, C.Policy(), period, f)}


def test_r3_met_when_every_cadence_holds(journal, clock):
    routine(journal, clock, T0, 72)
    r3 = evaluate(journal, T0 + 72 * H)["R3"]
    assert r3.status == C.MET, r3.figures
    local = next(c for c in r3.data["cadences"] if c["name"] == "backup:local")
    assert local["slots_ok"] == local["slots"] and local["longest_gap_s"] <= 3600


def test_r3_hole_in_hourly_backups_is_named(journal, clock):
    routine(journal, clock, T0, 72, skip=range(30, 35))  # five hourly runs missing
    r3 = evaluate(journal, T0 + 72 * H)["R3"]
    assert r3.status == C.NOT_MET
    local = next(c for c in r3.data["cadences"] if c["name"] == "backup:local")
    assert local["longest_gap_s"] == 6 * 3600
    assert local["slots_ok"] == local["slots"] - 5
    text = "\n".join(r3.figures)
    assert "67 of 72 periods of 1 h" in text and "longest gap 6 h" in text
    assert any("'local'" in t for t in r3.todo)


def test_r3_a_failed_run_is_not_a_success(journal, clock):
    routine(journal, clock, T0, 48, skip=[20, 21])
    backup(journal, clock, T0 + 20 * H + dt.timedelta(minutes=5), ok=False)
    backup(journal, clock, T0 + 21 * H + dt.timedelta(minutes=5), ok=False)
    r3 = evaluate(journal, T0 + 48 * H)["R3"]
    local = next(c for c in r3.data["cadences"] if c["name"] == "backup:local")
    assert local["longest_gap_s"] == 3 * 3600 and local["runs"] == 48 and local["runs_ok"] == 46
    assert r3.status == C.NOT_MET
    assert any(not r.ok for r in r3.rows)


def test_r3_window_starts_with_the_journal(journal, clock):
    routine(journal, clock, T0 + 24 * H, 24)
    r3 = evaluate(journal, T0 + 48 * H, start=T0 - dt.timedelta(days=90))["R3"]
    assert r3.status == C.MET
    assert r3.data["window"]["start"].startswith("2026-11-02T00:05")


def test_r4_offsite_run_removed_is_named(journal, clock):
    backup(journal, clock, T0, run="run-a")
    backup(journal, clock, T0 + 30 * dt.timedelta(minutes=1), run="run-b")
    now = T0 + H
    listing = {"offsite": {"ok": True, "runs": [{"run": "run-a", "time": "2026-11-01T00:00:00Z"}]}}
    r4 = evaluate(journal, now, offsite_listing=listing)["R4"]
    assert r4.status == C.NOT_MET
    assert any("run-b" in f and "no longer" in f for f in r4.figures)
    listing["offsite"]["runs"].append({"run": "run-b", "time": "2026-11-01T00:30:00Z"})
    assert evaluate(journal, now, offsite_listing=listing)["R4"].status == C.MET


def test_r4_stale_and_unreachable(journal, clock):
    backup(journal, clock, T0, run="run-a")
    listing = {"offsite": {"ok": True, "runs": [{"run": "run-a", "time": "2026-11-01T00:00:00Z"}]}}
    assert evaluate(journal, T0 + 3 * H, offsite_listing=listing)["R4"].status == C.NOT_MET
    down = {"offsite": {"ok": False, "error": "connection refused", "runs": []}}
    r4 = evaluate(journal, T0 + 10 * dt.timedelta(minutes=1), offsite_listing=down)["R4"]
    assert r4.status == C.NOT_MET and any("connection refused" in f for f in r4.figures)


def test_r1_needs_peak_at_the_multiple_and_a_capacity_test(journal, clock):
    at(clock, T0)
    journal.append(Kind.LOADTEST_PEAK, "peak", ev.LoadtestRun(status=Status.OK, verdict="pass", users=100))
    assert evaluate(journal, T0 + H)["R1"].status == C.NOT_MET  # 2x is not 3x
    journal.append(Kind.LOADTEST_PEAK, "peak", ev.LoadtestRun(status=Status.OK, verdict="pass", users=150))
    r1 = evaluate(journal, T0 + H)["R1"]
    assert r1.status == C.NOT_MET and r1.data["capacity_tests"] == 0
    journal.append(
        Kind.LOADTEST_CAPACITY, "capacity", ev.LoadtestRun(status=Status.OK, verdict="pass", capacity_multiple=3.5)
    )
    assert evaluate(journal, T0 + H)["R1"].status == C.MET
    assert evaluate(journal, T0 + dt.timedelta(days=40))["R1"].status == C.NOT_MET  # older than a month


def test_r2_rules_and_delivery_within_the_week(journal, clock):
    at(clock, T0)
    journal.append(Kind.MONITOR_RULES, "rules", ev.MonitorRules(status=Status.OK, verdict="pass", alerts=20))
    assert evaluate(journal, T0 + H)["R2"].status == C.NOT_MET
    journal.append(
        Kind.MONITOR_WEBHOOK, "default", ev.WebhookDelivery(status="firing", alerts=1, synthetic=["readiness-1"])
    )
    assert evaluate(journal, T0 + H)["R2"].status == C.MET
    assert evaluate(journal, T0 + dt.timedelta(days=8))["R2"].status == C.NOT_MET


def release(j, rid, *, notice=True, gates=(True, True, True), outcome="promoted", stages=3):
    j.append(
        Kind.RELEASE_START,
        rid,
        ev.ReleaseStart(release_id=rid, version="1.1.0", from_version="1.0.0", stages=stages, change_notice=notice),
    )
    passed = 0
    for s, ok in enumerate(gates, start=1):
        j.append(Kind.RELEASE_STAGE, rid, ev.ReleaseStage(release_id=rid, stage=s, decision="promote"))
        j.append(Kind.RELEASE_GATE, rid, ev.ReleaseGate(release_id=rid, stage=s, gate="error_ratio", passed=ok))
        passed += ok
    j.append(
        Kind.RELEASE_END,
        rid,
        ev.ReleaseEnd(
            release_id=rid,
            version="1.1.0",
            from_version="1.0.0",
            status=Status.OK if outcome == "promoted" else Status.FAILED,
            outcome=outcome,
            stages_passed=passed if outcome == "promoted" else passed,
            stages_total=stages,
            change_notice=notice,
        ),
    )


def test_r6_releases_through_stages_gates_and_notice(journal, clock):
    at(clock, T0)
    assert evaluate(journal, T0 + H)["R6"].status == C.NO_EVIDENCE
    release(journal, "rel-1")
    release(journal, "rel-2", gates=(True, False), outcome="rolled_back")  # the gate caught it: the process worked
    r6 = evaluate(journal, T0 + H)["R6"]
    assert r6.status == C.MET, r6.figures
    assert r6.data["promoted"] == 1 and r6.data["rolled_back"] == 1
    release(journal, "rel-3", notice=False)
    r6 = evaluate(journal, T0 + H)["R6"]
    assert r6.status == C.NOT_MET and any("rel-3" in f and "no change notice" in f for f in r6.figures)


def test_r6_promoted_in_one_stage_is_not_gray(journal, clock):
    at(clock, T0)
    release(journal, "rel-big", gates=(True,), stages=1)
    r6 = evaluate(journal, T0 + H)["R6"]
    assert r6.status == C.NOT_MET and any("one stage" in f for f in r6.figures)


def incident(j, clock, iid, t0, *, drill=False, reached=None):
    at(clock, t0)
    deadlines = {
        "classify": (t0 + dt.timedelta(minutes=15)).isoformat().replace("+00:00", "Z"),
        "standby": (t0 + H).isoformat().replace("+00:00", "Z"),
        "report": (t0 + 24 * H).isoformat().replace("+00:00", "Z"),
    }
    j.append(
        Kind.INCIDENT_OPEN,
        iid,
        ev.IncidentOpen(title="down", t0=deadlines["classify"], deadlines=deadlines, drill=drill),
    )
    for m, after in (reached or {}).items():
        t = t0 + after
        at(clock, t)
        j.append(
            Kind.INCIDENT_MILESTONE,
            iid,
            ev.IncidentMilestone(
                milestone=m,
                reached_at=t.isoformat().replace("+00:00", "Z"),
                deadline=deadlines[m],
                late=t > desk.parse_iso(deadlines[m]),
            ),
        )


def test_r7_breaches_listed_and_drills_left_out(journal, clock):
    m = dt.timedelta(minutes=1)
    incident(journal, clock, "INC-1", T0, reached={"classify": 10 * m, "standby": 40 * m, "report": 5 * H})
    incident(journal, clock, "DRILL-1", T0, drill=True, reached={"classify": 50 * m})
    r7 = evaluate(journal, T0 + 30 * H)["R7"]
    assert r7.status == C.MET and r7.data["incidents"] == 1
    incident(journal, clock, "INC-2", T0 + 2 * H, reached={"classify": 20 * m, "standby": 30 * m})
    r7 = evaluate(journal, T0 + 30 * H)["R7"]
    assert r7.status == C.NOT_MET
    assert {(b["incident"], b["milestone"]) for b in r7.data["breaches"]} == {
        ("INC-2", "classify"),
        ("INC-2", "report"),
    }


def test_r11_late_steps_need_an_escalation(journal, clock):
    incident(journal, clock, "INC-1", T0, reached={"classify": dt.timedelta(minutes=20)})
    r11 = evaluate(journal, T0 + 30 * dt.timedelta(minutes=1))["R11"]
    assert r11.status == C.NOT_MET and any("INC-1" in f and "classify" in f for f in r11.figures)
    journal.append(
        Kind.INCIDENT_ESCALATION,
        "INC-1",
        ev.IncidentEscalation(milestone="classify", level="missed", receiver="leader", status="sent"),
    )
    assert evaluate(journal, T0 + 30 * dt.timedelta(minutes=1))["R11"].status == C.MET


def test_r12_overdue_rectification_items(journal, clock):
    at(clock, T0)
    due = (T0 + 48 * H).isoformat().replace("+00:00", "Z")
    journal.append(Kind.INCIDENT_ACTION_ADD, "INC-1", ev.IncidentActionAdd(action=1, problem="no runbook", due=due))
    journal.append(Kind.INCIDENT_ACTION_ADD, "INC-1", ev.IncidentActionAdd(action=2, problem="alert late", due=due))
    assert evaluate(journal, T0 + 24 * H)["R12"].status == C.MET  # within the due date
    r12 = evaluate(journal, T0 + 72 * H)["R12"]
    assert r12.status == C.NOT_MET and any("no runbook" in f for f in r12.figures)
    journal.append(Kind.INCIDENT_ACTION_UPDATE, "INC-1", ev.IncidentActionUpdate(action=1, status="rectified"))
    journal.append(Kind.INCIDENT_ACTION_UPDATE, "INC-1", ev.IncidentActionUpdate(action=2, status="accepted"))
    assert evaluate(journal, T0 + 72 * H)["R12"].status == C.MET


def test_r8_a_drill_in_every_quarter(journal, clock):
    start = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    at(clock, start)
    journal.append(Kind.SANDBOX_UP, "main", ev.SandboxUp())  # the journal starts in Q3
    end = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    at(clock, dt.datetime(2026, 11, 5, tzinfo=dt.UTC))
    journal.append(Kind.DRILL_RUN, "app-crash", ev.DrillRun(scenario="app-crash", status=Status.OK, verdict="pass"))
    r8 = evaluate(journal, end, start=start)["R8"]
    assert r8.status == C.NOT_MET and any("2026Q3" in f for f in r8.figures)
    at(clock, dt.datetime(2026, 9, 5, tzinfo=dt.UTC))
    journal.append(Kind.DRILL_RUN, "db-down", ev.DrillRun(scenario="db-down", status=Status.FAILED, verdict="fail"))
    assert evaluate(journal, end, start=start)["R8"].status == C.MET
    # one that could not run is no drill
    at(clock, dt.datetime(2027, 1, 5, tzinfo=dt.UTC))
    journal.append(Kind.DRILL_RUN, "x", ev.DrillRun(scenario="x", status=Status.ERROR))
    r8 = evaluate(journal, dt.datetime(2027, 4, 2, tzinfo=dt.UTC), start=start)["R8"]
    assert r8.status == C.NOT_MET and any("2027Q1" in f for f in r8.figures)


def test_r10_emptied_or_mismatched_journal(journal, clock):
    at(clock, T0)
    base = {"ok": True, "rows": 10, "problem": None, "anchors": 3, "mismatched": [], "unreadable": []}
    assert evaluate(journal, T0 + H, journal=base)["R10"].status == C.MET
    assert evaluate(journal, T0 + H, journal={**base, "anchors": 0})["R10"].status == C.NO_EVIDENCE
    r10 = evaluate(journal, T0 + H, journal={**base, "mismatched": ["row 5 is not the row anchored"]})["R10"]
    assert r10.status == C.NOT_MET
    r10 = evaluate(journal, T0 + H, journal={**base, "rows": 0, "anchors": 0, "emptied": ["procops.db"]})["R10"]
    assert r10.status == C.NOT_MET and any("EMPTY" in f for f in r10.figures)


def test_r9_modes_and_plaintext(journal, clock):
    at(clock, T0)
    ok = dict(
        encrypted_repositories={"local": True, "offsite": True},
        private_files=[{"path": "/h/journal.db", "mode": "0600", "ok": True}],
        sensitive_fields={"checked": 50, "plaintext": 0},
        access_log={"records": 3},
    )
    assert evaluate(journal, T0 + H, **ok)["R9"].status == C.MET
    bad = {**ok, "private_files": [{"path": "/h/secrets/x", "mode": "0644", "ok": False}]}
    r9 = evaluate(journal, T0 + H, **bad)["R9"]
    assert r9.status == C.NOT_MET and any("0644" in f for f in r9.figures)
    r9 = evaluate(journal, T0 + H, **{**ok, "sensitive_fields": {"checked": 50, "plaintext": 2}})["R9"]
    assert r9.status == C.NOT_MET
    assert evaluate(journal, T0 + H)["R9"].status == C.NO_EVIDENCE
    # a part that could not be checked is no evidence, not a pass
    r9 = evaluate(journal, T0 + H, **{**ok, "sensitive_fields": {"error": "no database"}})["R9"]
    assert r9.status == C.NO_EVIDENCE and r9.data["unchecked"] == ["sensitive_fields"]


def test_verdict_needs_every_requirement_met():
    f = [C.Finding(f"R{i}", C.MET) for i in range(1, 13)]
    assert C.verdict(f)
    f[3] = C.Finding("R4", C.NO_EVIDENCE)
    assert not C.verdict(f)


def test_parse_period():
    now = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
    p = desk.parse_period(None, "2026Q4", now)
    assert p.start == dt.datetime(2026, 10, 1, tzinfo=dt.UTC) and p.end == now and p.label == "2026Q4"
    p = desk.parse_period(None, "2026Q3", now)
    assert p.end == dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    p = desk.parse_period("7d", None, now)
    assert p.start == now - dt.timedelta(days=7)
    for since, quarter in (("7d", "2026Q4"), (None, "2026Q5"), ("soon", None), (None, "2027Q2")):
        with pytest.raises(BadInput):
            desk.parse_period(since, quarter, now)


def test_r5_verifies_clean_and_a_measured_restore(journal, clock):
    at(clock, T0)
    journal.append(Kind.BACKUP_VERIFY, "local", ev.BackupVerify(status=Status.OK, ok=True, documents=10))
    r5 = evaluate(journal, T0 + H)["R5"]
    assert r5.status == C.NOT_MET and r5.data["restore_seconds"] is None  # no restore measured
    journal.append(Kind.BACKUP_VERIFY, "local", ev.BackupVerify(status=Status.OK, ok=True, documents=10, seconds=80.0))
    r5 = evaluate(journal, T0 + H)["R5"]
    assert r5.status == C.MET and r5.data["restore_seconds"] == 80.0
    journal.append(Kind.BACKUP_RESTORE, "/tmp/x", ev.BackupRestore(status=Status.OK, seconds=4000.0))
    r5 = evaluate(journal, T0 + H)["R5"]
    assert r5.status == C.NOT_MET and r5.data["restore_seconds"] == 4000.0  # over the 1 h target
    journal.append(
        Kind.BACKUP_VERIFY,
        "offsite",
        ev.BackupVerify(status=Status.FAILED, ok=False, problem_counts={"missing": 2}),
    )
    r5 = evaluate(journal, T0 + H)["R5"]
    assert any("'offsite'" in f and "missing 2" in f for f in r5.figures)
