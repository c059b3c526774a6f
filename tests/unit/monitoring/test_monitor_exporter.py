from __future__ import annotations

from dataclasses import dataclass

from procops.monitoring.exporter import JournalState, merge, succeeded
from procops.timeutil import parse_iso

DL = {"classify": 900.0, "standby": 3600.0, "report": 86400.0}


@dataclass
class Ev:
    id: int
    kind: str
    subject: str
    data: dict
    time: str = "2026-11-25T08:00:00Z"


T = parse_iso("2026-11-25T08:00:00Z").timestamp()


def test_succeeded_reads_the_areas_wording():
    assert succeeded({"ok": True}) and succeeded({"verdict": "pass"}) and succeeded({"status": "success"})
    assert not succeeded({"ok": False}) and not succeeded({"verdict": "fail"}) and not succeeded({})


def test_backup_events_give_freshness_per_repository_and_site():
    s = JournalState(DL)
    s.fold(
        [
            Ev(1, "backup.run", "local", {"repository": "local", "ok": True}),
            Ev(2, "backup.run", "offsite", {"repository": "offsite", "offsite": True, "ok": True}),
            Ev(3, "backup.run", "local", {"repository": "local", "ok": False}, time="2026-11-25T09:00:00Z"),
            Ev(4, "backup.check", "local", {"repository": "local", "ok": False}),
            Ev(5, "backup.verify", "local", {"repository": "local", "missing": [1, 2], "altered": 1}),
        ]
    )
    series = s.series(T)
    fresh = series["procops_backup_last_success_timestamp_seconds"]
    assert fresh[(("offsite", "false"), ("repository", "local"))] == T  # the failed run did not move it
    assert fresh[(("offsite", "true"), ("repository", "offsite"))] == T
    assert series["procops_backup_last_check_success"][(("repository", "local"),)] == 0
    assert series["procops_integrity_problems"][(("repository", "local"),)] == 3
    assert s.last_id == 5


def test_cadence_events():
    s = JournalState(DL)
    s.fold(
        [
            Ev(1, "drill.run", "app-crash", {"scenario": "app-crash", "verdict": "pass"}),
            Ev(2, "drill.run", "db", {"scenario": "db", "verdict": "fail"}),
            Ev(3, "loadtest.peak", "http://127.0.0.1:18080", {"verdict": "pass"}),
            Ev(4, "scan.run", "host", {"ok": True}),
            Ev(5, "release.stage", "1.1.0", {"release": "1.1.0", "stage": 1}),
            Ev(6, "weird.kind", "", {"ok": "maybe"}),
            Ev(7, "backup.run", "", "not a dict"),
        ]
    )  # type: ignore[arg-type]
    series = s.series(T)
    assert list(series["procops_drill_last_success_timestamp_seconds"]) == [(("scenario", "app-crash"),)]
    assert series["procops_loadtest_last_pass_timestamp_seconds"][(("scenario", "peak"),)] == T
    assert series["procops_scan_last_success_timestamp_seconds"][()] == T
    assert series["procops_release_stage"][(("release", "1.1.0"),)] == 1


def test_incident_clocks_from_the_journal():
    s = JournalState(DL)
    s.fold([Ev(1, "incident.open", "INC-1", {"t0": "2026-11-25T08:00:00Z"}), Ev(2, "incident.classify", "INC-1", {})])
    rem = s.series(T + 60)["procops_incident_deadline_remaining_seconds"]
    assert rem == {
        (("incident", "INC-1"), ("milestone", "report")): 86340.0,
        (("incident", "INC-1"), ("milestone", "standby")): 3540.0,
    }
    s.fold([Ev(3, "incident.standby", "INC-1", {}), Ev(4, "incident.report", "INC-1", {})])
    assert "procops_incident_deadline_remaining_seconds" not in s.series(T)


class Fam:
    def __init__(self, name, type_, samples):
        self.name, self.type, self.samples = name, type_, samples


class S:
    def __init__(self, labels, value):
        self.labels, self.value = labels, value


def test_merge_textfile_wins_except_older_timestamps_and_live_series():
    j = {
        "procops_backup_last_success_timestamp_seconds": {(("repository", "r"),): 200.0},
        "procops_integrity_problems": {(("repository", "r"),): 0.0},
    }
    fams = [
        Fam("procops_backup_last_success_timestamp_seconds", "gauge", [S({"repository": "r"}, 100.0)]),
        Fam("procops_integrity_problems", "gauge", [S({"repository": "r"}, 4.0)]),
        Fam("procops_incident_deadline_remaining_seconds", "gauge", [S({"incident": "x"}, 1.0)]),
        Fam("procops_backup_duration_seconds", "histogram", []),
    ]
    gauges, passthrough = merge(j, fams)
    assert gauges["procops_backup_last_success_timestamp_seconds"][(("repository", "r"),)] == 200.0
    assert gauges["procops_integrity_problems"][(("repository", "r"),)] == 4.0
    assert "procops_incident_deadline_remaining_seconds" not in gauges
    assert [f.name for f in passthrough] == ["procops_backup_duration_seconds"]


def test_backup_area_event_shapes():
    """The shapes `procops backup run/check/verify` journal: one event for all repositories."""
    s = JournalState(DL, frozenset({"offsite"}))
    s.fold(
        [
            Ev(
                1,
                "backup.run",
                "all",
                {
                    "ok": False,
                    "repositories": {
                        "local": {"status": "ok"},
                        "offsite": {"status": "failed", "error": "unreachable"},
                    },
                },
            ),
            Ev(
                2,
                "backup.check",
                "all",
                {
                    "ok": False,
                    "repositories": {
                        "local": {"repository": "local", "ok": True},
                        "offsite": {"repository": "offsite", "ok": False},
                    },
                },
            ),
            Ev(
                3,
                "backup.verify",
                "live",
                {"ok": False, "problem_counts": {"missing": 2, "altered": 1}, "problems": [{}, {}, {}]},
            ),
        ]
    )
    series = s.series(T)
    assert list(series["procops_backup_last_success_timestamp_seconds"]) == [
        (("offsite", "false"), ("repository", "local"))
    ]
    assert series["procops_backup_last_check_success"] == {
        (("repository", "local"),): 1,
        (("repository", "offsite"),): 0,
    }
    assert series["procops_integrity_problems"][(("repository", "live"),)] == 3


def test_textfile_backup_series_get_the_offsite_label():
    fams = [
        Fam(
            "procops_backup_last_success_timestamp_seconds",
            "gauge",
            [S({"repository": "local"}, 10.0), S({"repository": "dr"}, 20.0)],
        ),
        Fam(
            "procops_backup_repository_offsite",
            "gauge",
            [S({"repository": "local"}, 0.0), S({"repository": "dr"}, 1.0)],
        ),
    ]
    gauges, _ = merge({}, fams)
    assert gauges["procops_backup_last_success_timestamp_seconds"] == {
        (("offsite", "false"), ("repository", "local")): 10.0,
        (("offsite", "true"), ("repository", "dr")): 20.0,
    }


def test_drill_incidents_are_kept_out_of_the_real_incident_figures():
    s = JournalState(DL)
    s.fold(
        [
            Ev(1, "incident.open", "INC-1", {"t0": "2026-11-25T08:00:00Z", "drill": False}),
            Ev(2, "incident.open", "INC-2", {"t0": "2026-11-25T08:00:00Z", "drill": True}),
            Ev(3, "incident.alert", "INC-1", {"fingerprint": "fp", "alertname": "ReplicaDown"}),
        ]
    )
    series = s.series(T + 60)
    assert series["procops_incidents_open"] == {(): 1.0}
    assert series["procops_drill_incidents_open"] == {(): 1.0}
    assert {k[0][1] for k in series["procops_incident_deadline_remaining_seconds"]} == {"INC-1"}
    assert {k[0][1] for k in series["procops_drill_incident_deadline_remaining_seconds"]} == {"INC-2"}
