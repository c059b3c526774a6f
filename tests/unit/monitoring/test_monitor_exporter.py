from __future__ import annotations

from dataclasses import dataclass

from procops import events
from procops.events import Kind, Status
from procops.monitoring.exporter import JournalState, merge
from procops.timeutil import parse_iso

DL = {"classify": 900.0, "standby": 3600.0, "report": 86400.0}


@dataclass
class Ev:
    """A stored row as the journal hands it to the exporter, built from the producer's record."""

    id: int
    kind: str
    subject: str
    data: dict
    time: str = "2026-11-25T08:00:00Z"

    @classmethod
    def of(cls, id: int, kind: Kind, subject: str, record: events.Record, time: str = "2026-11-25T08:00:00Z") -> Ev:
        events.check(kind, record)
        return cls(id, kind.value, subject, record.to_data(), time)


T = parse_iso("2026-11-25T08:00:00Z").timestamp()


def _run(ok_repos: dict[str, bool]) -> events.BackupRun:
    ok = all(ok_repos.values())
    return events.BackupRun(
        status=Status.of(ok),
        ok=ok,
        repositories={n: events.BackupRunRepo(status=Status.of(v)) for n, v in ok_repos.items()},
    )


def test_backup_events_give_freshness_per_repository_and_site():
    s = JournalState(DL)
    s.fold(
        [
            Ev.of(1, Kind.BACKUP_RUN, "all", _run({"local": True, "offsite": True})),
            Ev.of(2, Kind.BACKUP_RUN, "local", _run({"local": False}), time="2026-11-25T09:00:00Z"),
            Ev.of(
                3,
                Kind.BACKUP_CHECK,
                "local",
                events.BackupCheck(repositories={"local": events.BackupCheckRepo(repository="local", ok=False)}),
            ),
            Ev.of(
                4,
                Kind.BACKUP_VERIFY,
                "live",
                events.BackupVerify(problem_counts={"missing": 2, "altered": 1}, problems=[{}, {}, {}]),
            ),
        ]
    )
    series = s.series(T)
    fresh = series["procops_backup_last_success_timestamp_seconds"]
    assert fresh[(("offsite", "false"), ("repository", "local"))] == T  # the failed run did not move it
    assert fresh[(("offsite", "true"), ("repository", "offsite"))] == T
    assert series["procops_backup_last_check_success"][(("repository", "local"),)] == 0
    assert series["procops_integrity_problems"][(("repository", "live"),)] == 3
    assert s.last_id == 4


def test_success_is_the_records_status_and_unknown_kinds_are_skipped():
    s = JournalState(DL)
    s.fold(
        [
            Ev.of(
                1, Kind.LOADTEST_PEAK, "http://127.0.0.1:18080", events.LoadtestRun(status=Status.OK, verdict="pass")
            ),
            Ev.of(2, Kind.LOADTEST_CAPACITY, "http://x", events.LoadtestRun(status=Status.ERROR, verdict="invalid")),
            Ev.of(3, Kind.SCAN_RUN, "host", events.ScanRun(status=Status.OK, verdict="pass")),
            Ev(4, "drill.run", "app-crash", {"scenario": "app-crash", "verdict": "pass"}),  # not in the catalog
            Ev(5, "weird.kind", "", {"ok": "maybe"}),
            Ev(6, "backup.run", "", "not a dict"),  # type: ignore[arg-type]
        ]
    )
    series = s.series(T)
    assert series["procops_loadtest_last_pass_timestamp_seconds"] == {(("scenario", "peak"),): T}
    assert series["procops_scan_last_success_timestamp_seconds"][()] == T
    assert "procops_drill_last_success_timestamp_seconds" not in series
    assert s.last_id == 6


def test_rows_of_older_versions_without_status_are_read_from_their_verdict():
    s = JournalState(DL)
    s.fold(
        [
            Ev(1, "backup.run", "all", {"ok": True, "repositories": {"local": {"status": "ok"}}}),
            Ev(2, "backup.check", "all", {"ok": True, "repositories": {"local": {"repository": "local", "ok": True}}}),
            Ev(3, "loadtest.peak", "http://x", {"verdict": "pass"}),
            Ev(4, "scan.run", "host", {"verdict": "fail"}),
        ]
    )
    series = s.series(T)
    assert series["procops_backup_last_success_timestamp_seconds"] == {
        (("offsite", "false"), ("repository", "local")): T
    }
    assert series["procops_backup_last_check_success"] == {(("repository", "local"),): 1}
    assert series["procops_loadtest_last_pass_timestamp_seconds"] == {(("scenario", "peak"),): T}
    assert "procops_scan_last_success_timestamp_seconds" not in series


def _open(id: int, iid: str) -> Ev:
    return Ev.of(id, Kind.INCIDENT_OPEN, iid, events.IncidentOpen(title="x", t0="2026-11-25T08:00:00Z"))


def _reached(id: int, iid: str, milestone: str) -> Ev:
    return Ev.of(
        id,
        Kind.INCIDENT_MILESTONE,
        iid,
        events.IncidentMilestone(milestone=milestone, reached_at="2026-11-25T08:01:00Z"),
    )


def test_incident_clocks_from_the_journal():
    s = JournalState(DL)
    s.fold([_open(1, "INC-1"), _reached(2, "INC-1", "classify")])
    rem = s.series(T + 60)["procops_incident_deadline_remaining_seconds"]
    assert rem == {
        (("incident", "INC-1"), ("milestone", "report")): 86340.0,
        (("incident", "INC-1"), ("milestone", "standby")): 3540.0,
    }
    s.fold([_reached(3, "INC-1", "standby"), _reached(4, "INC-1", "report")])
    assert "procops_incident_deadline_remaining_seconds" not in s.series(T)


def test_a_report_draft_leaves_the_report_clock_running():
    s = JournalState(DL)
    draft = events.IncidentReport(lang="en", markdown="/r.md", html="/r.html", sha256="ab")
    s.fold([_open(1, "INC-1"), Ev.of(2, Kind.INCIDENT_REPORT, "INC-1", draft)])
    rem = s.series(T)["procops_incident_deadline_remaining_seconds"]
    assert (("incident", "INC-1"), ("milestone", "report")) in rem


def test_resolving_in_time_waives_the_standby_clock_but_not_the_report():
    s = JournalState(DL)
    resolved = events.IncidentResolve(resolved_at="2026-11-25T08:10:00Z", took_seconds=600.0, standby_waived=True)
    s.fold([_open(1, "INC-1"), _reached(2, "INC-1", "classify"), Ev.of(3, Kind.INCIDENT_RESOLVE, "INC-1", resolved)])
    series = s.series(T)
    assert set(series["procops_incident_deadline_remaining_seconds"]) == {
        (("incident", "INC-1"), ("milestone", "report"))
    }
    assert series["procops_incidents_open"][()] == 0


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
