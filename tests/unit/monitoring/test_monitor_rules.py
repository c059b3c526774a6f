from __future__ import annotations

import pytest
import yaml

from procops.config import Config
from procops.errors import BadInput
from procops.monitoring import rules


def _cfg(**policy) -> Config:
    return Config.model_validate({"policy": policy, "monitoring": {"runbook_base_url": "https://rb.example/en/"}})


def test_alerts_cover_the_issue_list():
    names = [a.name for a in rules.alerts(_cfg())]
    for required in (
        "HostCpuHigh",
        "HostMemoryHigh",
        "HostDiskFull",
        "DatabaseConnectionsHigh",
        "PlatformDown",
        "ReplicaDown",
        "PageLoadSlow",
        "UploadFailures",
        "ErrorRatioHigh",
        "BackupStale",
        "OffsiteBackupStale",
        "BackupCheckFailed",
        "IntegrityProblems",
        "DrillOverdue",
        "LoadTestOverdue",
        "ScanOverdue",
        "IncidentDeadlineNear",
        "IncidentDeadlineMissed",
    ):
        assert required in names
    assert tuple(dict.fromkeys(names)) == rules.ALERT_NAMES  # no-data rules repeat a name per repository


def test_every_alert_has_a_firing_and_a_quiet_case_and_annotations():
    for a in rules.alerts(_cfg()):
        assert any(c.firing for c in a.cases), a.name
        assert a.name == rules.WATCHDOG or any(not c.firing for c in a.cases), a.name
        rule = a.rule("https://rb.example/en/")
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["labels"]["severity"] in (("none",) if a.name == rules.WATCHDOG else ("critical", "warning"))
        assert a.runbook in rules.RUNBOOKS
        assert rule["annotations"]["runbook_url"] == f"https://rb.example/en/{a.runbook}.md"


def test_render_is_deterministic():
    a, b = rules.render(_cfg()), rules.render(_cfg())
    assert a.rules == b.rules and a.tests == b.tests


def test_thresholds_come_from_the_policy():
    doc = yaml.safe_load(rules.render(_cfg(thresholds={"cpu_ratio": 0.7}, backup_interval="4h")).rules)
    by_name: dict = {}
    for g in doc["groups"]:
        for r in g["rules"]:
            by_name.setdefault(r["alert"], r)  # the first rule of a name (no-data rules follow)
    assert by_name["HostCpuHigh"]["expr"].endswith("> 0.7")
    assert by_name["BackupStale"]["expr"].endswith(f"> {4 * 3600 + 600}")
    assert by_name["PageLoadSlow"]["expr"].count("> 2") == 2


def test_tests_file_has_one_group_per_case_and_names_the_rules_file():
    r = rules.render(_cfg())
    doc = yaml.safe_load(r.tests)
    hourly = yaml.safe_load(r.hourly_tests)
    assert doc["rule_files"] == hourly["rule_files"] == [rules.RULES_FILE]
    tests = doc["tests"] + hourly["tests"]
    assert len(tests) == sum(len(a.cases) for a in r.alerts)
    quiet = [t for t in tests if t["alert_rule_test"][0]["exp_alerts"] == []]
    # every alert has a quiet case but the Watchdog, which fires always by design
    assert {t["alert_rule_test"][0]["alertname"] for t in quiet} == {a.name for a in r.alerts} - {rules.WATCHDOG}


def test_severity_override_and_unknown_name():
    cfg = Config.model_validate({"monitoring": {"severity_overrides": {"PageLoadSlow": "critical"}}})
    assert {a.name: a.severity for a in rules.alerts(cfg)}["PageLoadSlow"] == "critical"
    bad = Config.model_validate({"monitoring": {"severity_overrides": {"NoSuchAlert": "critical"}}})
    with pytest.raises(BadInput):
        rules.alerts(bad)


def test_a_threshold_that_can_never_fire_is_bad_input():
    with pytest.raises(BadInput):
        rules.alerts(_cfg(thresholds={"cpu_ratio": 1.0}))


@pytest.mark.parametrize(
    "seconds,text", [(3600, "1h"), (900, "15m"), (90, "90s"), (1.5, "1500ms"), (0, "0s"), (92 * 86400, "92d")]
)
def test_prom_duration(seconds, text):
    assert rules.prom_duration(seconds) == text


@pytest.mark.parametrize(
    "v,text",
    [(0, "0s"), (4200, "1h 10m 0s"), (90061, "1d 1h 1m 1s"), (42.5, "42.5s"), (-120, "-2m 0s"), (0.25, "250ms")],
)
def test_humanize_duration_matches_prometheus(v, text):
    assert rules.humanize_duration(v) == text


def test_render_annotation():
    t = 'x {{ $labels.repository }} {{ $value | humanizePercentage }} {{ $value | printf "%.2f" }}'
    assert rules.render_annotation(t, {"repository": "local"}, 0.925) == "x local 92.5% 0.93"
    with pytest.raises(ValueError):
        rules.render_annotation("{{ $value | title }}", {}, 1.0)


def test_promql_string_escapes():
    assert rules.promql_string('a"b\\c') == '"a\\"b\\\\c"'


def test_every_runbook_url_points_at_an_existing_runbook():
    from procops.home import project_path

    for a in rules.alerts(Config()):
        assert project_path("runbooks", "en", f"{a.runbook}.md").is_file(), a.runbook
        assert project_path("runbooks", "zh", f"{a.runbook}.md").is_file(), a.runbook


def _by_name():
    return {a.name: a for a in rules.alerts(_cfg())}


def test_platform_down_is_the_front_end_probe_only_and_critical():
    a = _by_name()["PlatformDown"]
    assert a.severity == "critical"
    assert a.expr == 'probe_success{job="blackbox-health"} == 0'
    assert a.rule("x")["labels"] == {"severity": "critical", "service": rules.SERVICE_PLATFORM}
    quiet = [c for c in a.cases if not c.firing]
    # one replica down while the front end serves is among the quiet cases
    assert any(any(s.startswith("up{") and v.startswith("0x") for s, v in c.series) for c in quiet)


def test_replica_down_is_a_warning_that_opens_an_incident_and_is_quiet_during_an_outage():
    a = _by_name()["ReplicaDown"]
    assert a.severity == "warning" and a.runbook == "app-crash"
    assert a.rule("x")["labels"] == {
        "severity": "warning",
        "service": rules.SERVICE_PLATFORM,
        rules.OPENS_INCIDENT_LABEL: "true",
    }
    assert "unless on ()" in a.expr and "probe_success" in a.expr
    both_down = [
        c for c in a.cases if not c.firing and all(v.startswith("0x") for _, v in c.series)
    ]  # front end and replica down: PlatformDown's, not ReplicaDown's
    assert both_down


def test_every_platform_alert_carries_the_service_label_and_no_other_alert_does():
    for a in rules.alerts(_cfg()):
        labels = a.rule("x")["labels"]
        if a.group == "procops-platform":
            assert labels["service"] == rules.SERVICE_PLATFORM, a.name
        else:
            assert "service" not in labels, a.name


def test_every_configured_repository_gets_no_data_rules_naming_it():
    cfg = Config.model_validate(
        {
            "backup": {
                "repositories": [
                    {"name": "nas", "url": "/srv/nas"},
                    {"name": "dr-site", "url": "sftp:b@h:/r", "offsite": True},
                ]
            }
        }
    )
    nodata = [a for a in rules.alerts(cfg) if a.labels.get(rules.NO_DATA_LABEL) == rules.NO_DATA]
    got = {(a.name, a.labels["repository"]) for a in nodata}
    assert got == {
        ("BackupStale", "nas"),
        ("OffsiteBackupStale", "dr-site"),
        *((n, r) for n in ("BackupCheckFailed", "IntegrityProblems", "RestoreVerifyStale") for r in ("nas", "dr-site")),
    }
    stale = next(a for a in nodata if a.name == "BackupStale")
    assert stale.expr == 'absent(procops_backup_last_success_timestamp_seconds{repository="nas"})'
    assert stale.for_s == cfg.policy.backup_interval + cfg.monitoring.staleness_grace
    assert stale.severity == "critical"
    for a in nodata:
        assert any(c.firing for c in a.cases) and any(not c.firing for c in a.cases)
        assert all(c.interval == rules.HOURLY for c in a.cases)


def test_no_data_cases_go_to_the_hourly_test_file():
    r = rules.render(_cfg())
    hourly = yaml.safe_load(r.hourly_tests)
    minute = yaml.safe_load(r.tests)
    assert hourly["evaluation_interval"] == "1h" and minute["evaluation_interval"] == "1m"
    names = {t["alert_rule_test"][0]["alertname"] for t in hourly["tests"]}
    assert names == {
        "BackupStale",
        "OffsiteBackupStale",
        "BackupCheckFailed",
        "IntegrityProblems",
        "RestoreVerifyStale",
    }
    assert all(t["interval"] == "1h" for t in hourly["tests"])
    assert not any(t["interval"] == "1h" for t in minute["tests"])


def test_watchdog_always_fires_and_a_failed_job_alerts():
    al = {a.name: a for a in rules.alerts(_cfg())}
    assert al["Watchdog"].expr == "vector(1)" and all(c.firing for c in al["Watchdog"].cases)
    assert "procops_job_last_exit_code" in al["ScheduledJobFailed"].expr
