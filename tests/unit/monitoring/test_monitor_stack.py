import json
from pathlib import Path

import yaml

from procops.config import Config
from procops.monitoring import stack
from procops.monitoring.rules import JOB_BLACKBOX_HEALTH, JOB_PLATFORM, JOB_POSTGRES


def _mon(**kw):
    return Config.model_validate({"monitoring": kw}).monitoring


PATHS = stack.StackPaths(Path("/h/monitoring"))
TARGET = stack.Target("http://127.0.0.1:18080", ("127.0.0.1:18081", "127.0.0.1:18082"))


def test_prometheus_config_scrapes_replicas_probes_and_exporters():
    cfg = yaml.safe_load(stack.prometheus_config(_mon(scrape_interval="2s"), PATHS, TARGET, Path("/r.yml")))
    assert cfg["global"]["scrape_interval"] == "2s" and cfg["rule_files"] == ["/r.yml"]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert jobs[JOB_PLATFORM]["file_sd_configs"][0]["files"] == ["/h/monitoring/platform-targets.json"]
    probe = jobs[JOB_BLACKBOX_HEALTH]
    assert probe["static_configs"][0]["targets"] == ["http://127.0.0.1:18080/healthz"]
    assert probe["relabel_configs"][-1]["replacement"] == "127.0.0.1:19115"
    assert JOB_POSTGRES not in jobs
    pg = stack.Target(TARGET.url, TARGET.replicas, "postgresql://u:p@127.0.0.1:5432/db")
    cfg = yaml.safe_load(stack.prometheus_config(_mon(), PATHS, pg, Path("/r.yml")))
    assert JOB_POSTGRES in {j["job_name"] for j in cfg["scrape_configs"]}


def test_alertmanager_routes_critical_to_the_webhook_and_deadlines_to_escalation():
    cfg = yaml.safe_load(
        stack.alertmanager_config(
            _mon(webhook_port=1234, group_wait="1s"),
            Path("/s/tok"),
            [{"name": "leader", "url": "https://x/y", "credentials_file": None}],
        )
    )
    routes = cfg["route"]["routes"]
    assert routes[0]["receiver"] == "procops-escalation" and "IncidentDeadline" in routes[0]["matchers"][0]
    assert routes[1] == {"receiver": "procops-webhook", "matchers": ['severity="critical"']}
    assert cfg["route"]["group_wait"] == "1s"
    rec = {r["name"]: r for r in cfg["receivers"]}
    hook = rec["procops-webhook"]["webhook_configs"][0]
    assert hook["url"] == "http://127.0.0.1:1234/alerts"
    assert hook["http_config"]["authorization"] == {"type": "Bearer", "credentials_file": "/s/tok"}
    assert [c["url"] for c in rec["procops-escalation"]["webhook_configs"]] == [
        "http://127.0.0.1:1234/escalation",
        "https://x/y",
    ]


def test_component_argv_listens_on_loopback_only():
    mon = _mon()
    for name in stack.COMPONENTS:
        argv = stack.component_argv(name, mon, PATHS)
        joined = " ".join(argv)
        assert (
            f"127.0.0.1:{stack.component_port(name, mon)}" in joined
            or f"--port {stack.component_port(name, mon)}" in joined
        )
    am = stack.component_argv("alertmanager", mon, PATHS)
    assert "--cluster.listen-address=" in am
    assert not any("DATA_SOURCE" in a for a in stack.component_argv("postgres_exporter", mon, PATHS))


def test_postgres_dsn_only_for_postgresql():
    assert stack._postgres_dsn("sqlite:////x.db") is None
    assert stack._postgres_dsn(None) is None
    assert stack._postgres_dsn("postgresql+psycopg://u:p@h:5432/d") == "postgresql://u:p@h:5432/d"
    assert stack._postgres_dsn("postgresql://u@127.0.0.1/d") == "postgresql://u@127.0.0.1/d?sslmode=disable"
    assert stack._postgres_dsn("postgresql://u@127.0.0.1/d?sslmode=require").endswith("sslmode=require")


def test_non_http_escalation_receivers_are_not_given_to_alertmanager(procops_home):
    cfg = Config.model_validate(
        {
            "notifications": {
                "escalation_receivers": [
                    {"name": "local", "url": "local:"},
                    {"name": "leader", "url": "https://pager.example/hook"},
                ]
            }
        }
    )
    out = stack._escalation_receivers(cfg, stack.StackPaths.of())
    assert [r["name"] for r in out] == ["leader"]


def test_platform_down_inhibits_its_replicas_and_pages_per_service_and_drill():
    cfg = yaml.safe_load(stack.alertmanager_config(_mon(), Path("/s/tok"), []))
    assert cfg["inhibit_rules"][0] == {
        "source_matchers": ['alertname="PlatformDown"'],
        "target_matchers": ['alertname=~"ReplicaDown|PageLoadSlow|ErrorRatioHigh|UploadFailures"'],
        "equal": ["service", "drill"],
    }


def test_a_silent_repository_pages_once_not_once_per_alert():
    cfg = yaml.safe_load(stack.alertmanager_config(_mon(), Path("/s/tok"), []))
    assert cfg["inhibit_rules"][1] == {
        "source_matchers": ['alertname=~"BackupStale|OffsiteBackupStale"', 'reason="no_data"'],
        "target_matchers": ['alertname=~"BackupCheckFailed|IntegrityProblems|RestoreVerifyStale"', 'reason="no_data"'],
        "equal": ["repository"],
    }


def test_the_watchdog_goes_to_its_own_receiver_never_the_incident_webhook():
    cfg = yaml.safe_load(stack.alertmanager_config(_mon(), Path("/s/tok"), []))
    wd = cfg["route"]["routes"][-1]
    assert wd["receiver"] == "procops-watchdog" and wd["matchers"] == ['alertname="Watchdog"']
    assert wd["repeat_interval"] == "5m"
    assert {r["name"]: r for r in cfg["receivers"]}["procops-watchdog"] == {"name": "procops-watchdog"}
    cfg = yaml.safe_load(stack.alertmanager_config(_mon(watchdog_url="https://dms.example/p"), Path("/s/tok"), []))
    rec = {r["name"]: r for r in cfg["receivers"]}["procops-watchdog"]
    assert rec["webhook_configs"] == [{"url": "https://dms.example/p", "send_resolved": False}]


def test_silences_covering_critical_alerts_are_found():
    def sil(i, *matchers, state="active"):
        return {
            "id": i,
            "status": {"state": state},
            "matchers": [dict(name=n, value=v, isRegex=r, isEqual=True) for n, v, r in matchers],
            "createdBy": "ops",
            "endsAt": "2026-12-02T00:00:00Z",
        }

    rules_ = [{"alertname": "PlatformDown", "severity": "critical", "service": "procurement-platform"}]
    live = [{"severity": "critical", "labels": {"alertname": "UploadFailures", "severity": "critical", "version": "1"}}]
    found = stack.critical_silences(
        [
            sil("a", ("alertname", "PlatformDown", False)),
            sil("b", ("severity", "warning", False)),
            sil("c", ("version", "1", False)),
            sil("d", ("alertname", "Platform.*", True), state="expired"),
            sil("e", ("instance", "h1", False)),
        ],
        live,
        rules_,
    )
    assert {f["id"]: f["covers"] for f in found} == {
        "a": ["PlatformDown"],
        "c": ["PlatformDown", "UploadFailures"],
        "e": ["PlatformDown"],
    }
    assert found[0]["matchers"] == 'alertname="PlatformDown"'


def test_platform_targets_carry_the_service_label_the_rules_group_by():
    from procops.monitoring.rules import SERVICE_PLATFORM

    doc = json.loads(stack.platform_targets(TARGET))
    assert doc[0]["labels"] == {"service": SERVICE_PLATFORM}
