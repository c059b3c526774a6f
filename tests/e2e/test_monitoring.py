"""The monitoring stack as an operator runs it, on the real sandbox: a real fault opens exactly one incident."""

from __future__ import annotations

import time

import httpx
import psutil
import pytest
import yaml
from testsupport import monitoring_ports


@pytest.fixture
def stack(cli, port_block, tmp_path):
    sandbox_port = port_block(3)
    mon = port_block(7)
    cfg = {
        "sandbox": {
            "port": sandbox_port,
            "replicas": 2,
            "seed": {"announcements": 10, "suppliers": 3, "documents": 3, "document_size": "10KB"},
        },
        "monitoring": {
            **monitoring_ports(mon),
            "scrape_interval": "2s",
            "evaluation_interval": "2s",
            "group_wait": "1s",
            "platform_down_for": "5s",
        },
    }
    path = tmp_path / "procops.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", env=env, check=0)
        r = cli("monitor", "up", "--json", env=env, check=0)
        yield {"env": env, "up": r.json(), "sandbox_url": f"http://127.0.0.1:{sandbox_port}", "mon": mon}
    finally:
        cli("monitor", "down", env=env)
        cli("sandbox", "down", env=env)


def _incidents(cli, env):
    return cli("incident", "list", "--json", env=env, check=0).json()


def test_upload_fault_opens_exactly_one_incident(cli, stack):
    env = stack["env"]
    up = stack["up"]
    names = {c["name"] for c in up["components"]}
    assert names == {"exporter", "webhook", "node_exporter", "blackbox_exporter", "alertmanager", "prometheus"}
    assert all(c["healthy"] for c in up["components"])
    assert cli("monitor", "up", "--json", env=env, check=0).json()["started"] is False  # idempotent

    cli("sandbox", "fault", "set", "errors=1.0", "--endpoint", "bids.upload", env=env, check=0)
    with httpx.Client(base_url=stack["sandbox_url"], timeout=10) as c:
        token = c.post(
            "/api/suppliers/login", json={"email": "supplier-1@example.test", "password": "password-1"}
        ).json()["token"]
        for _ in range(3):
            r = c.post(
                "/api/announcements/1/bids",
                files={"file": ("bid.pdf", b"%PDF" + b"x" * 2000)},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code >= 500
    deadline = time.monotonic() + 90
    incs = []
    while time.monotonic() < deadline:
        incs = _incidents(cli, env)
        if incs:
            break
        time.sleep(1)
    assert len(incs) == 1, "no incident within 90 s"
    inc = incs[0]
    assert inc["source"]["alertname"] == "UploadFailures" and inc["source"]["kind"] == "alert"
    assert inc["status"] == "open"
    # more notifications of the same alert (Alertmanager repeats, Prometheus resends) open nothing new
    time.sleep(12)
    assert len(_incidents(cli, env)) == 1

    chk = cli("monitor", "check", "--json", env=env)
    assert chk.code == 1
    assert "UploadFailures" in {a["alertname"] for a in chk.json()["firing"]}

    # the procops exporter serves the incident's running clocks
    m = httpx.get(f"http://127.0.0.1:{stack['mon'] + 5}/metrics").text
    assert f'procops_incident_deadline_remaining_seconds{{incident="{inc["id"]}",milestone="classify"}}' in m


def test_status_and_down_stop_only_what_up_started(cli, stack):
    env = stack["env"]
    st = cli("monitor", "status", "--json", env=env, check=0).json()
    assert st["running"] and st["healthy"]
    pids = [c["pid"] for c in st["components"]]
    sandbox_pids = [r["pid"] for r in cli("sandbox", "status", "--json", env=env, check=0).json()["replicas"]]
    assert cli("monitor", "check", "--json", env=env).code in (0, 1)
    down = cli("monitor", "down", "--json", env=env, check=0).json()
    assert set(down["stopped"]) == {c["name"] for c in st["components"]}
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert all(psutil.pid_exists(p) for p in sandbox_pids)  # the platform is not ours to stop
    assert cli("monitor", "check", env=env).code == 3
    assert cli("monitor", "status", "--json", env=env, check=0).json()["running"] is False


def test_readiness_steps_rules_stack_and_synthetic_alert(cli, stack, tmp_path):
    from procops.config import load
    from procops.journal import open_journal
    from procops.monitoring import steps
    from procops.readiness import Context

    cfg = load(stack["env"]["PROCOPS_CONFIG"]).config
    ctx = Context(config=cfg, lang="en", report_dir=tmp_path)
    detail, ev = steps.rules_tested(ctx)
    assert "promtool" in detail and len(ev["alerts"]) >= 17
    detail, ev = steps.stack_up(ctx)
    assert "already running" in detail and all(t["health"] == "up" for t in ev["targets"])
    detail, ev = steps.synthetic_alert(ctx)
    with open_journal() as j:
        row = [e for e in j.events("monitor.webhook") if ev["tag"] in (e.data.get("synthetic") or [])]
    assert len(row) >= 1
    assert _incidents(cli, stack["env"]) == []  # a synthetic alert opens no incident


def _wait_for_incidents(cli, env, timeout=90):
    deadline = time.monotonic() + timeout
    incs = []
    while time.monotonic() < deadline:
        incs = _incidents(cli, env)
        if incs:
            break
        time.sleep(1)
    return incs


def test_a_killed_replica_opens_one_warning_incident_and_no_critical_one(cli, stack):
    env = stack["env"]
    replica = cli("sandbox", "status", "--json", env=env, check=0).json()["replicas"][0]
    psutil.Process(replica["pid"]).kill()  # kill -9: the replica is gone, HAProxy still serves
    incs = _wait_for_incidents(cli, env)
    assert len(incs) == 1, "no incident within 90 s"
    inc = incs[0]
    assert inc["source"]["alertname"] == "ReplicaDown" and inc["severity"] == "warning"
    assert inc["source"]["labels"]["instance"] == f"127.0.0.1:{replica['port']}"
    assert inc["drill"] is False
    time.sleep(8)
    incs = _incidents(cli, env)
    assert len(incs) == 1 and incs[0]["severity"] == "warning"  # the front end still serves: nothing critical


def test_stopping_the_whole_platform_opens_exactly_one_critical_incident(cli, stack):
    env = stack["env"]
    cli("sandbox", "down", env=env, check=0)  # the front end and both replicas stop
    incs = _wait_for_incidents(cli, env)
    assert incs, "no incident within 90 s"
    # long enough for every replica's alert (and Alertmanager's group_wait) to have come and gone
    time.sleep(15)
    incs = _incidents(cli, env)
    assert len(incs) == 1, [(i["id"], i["source"].get("alertname")) for i in incs]
    inc = incs[0]
    assert inc["severity"] == "critical" and inc["group"] == "service=procurement-platform"
    names = {inc["source"]["alertname"]} | {a["alertname"] for a in inc["alerts"]}
    assert "PlatformDown" in names and names <= {"PlatformDown", "ReplicaDown", "PageLoadSlow"}
    m = httpx.get(f"http://127.0.0.1:{stack['mon'] + 5}/metrics").text
    assert "procops_incidents_open 1.0" in m


@pytest.fixture
def fast_stack(cli, port_block, tmp_path):
    """The stack with Alertmanager re-sending a still-firing alert every few seconds."""
    sandbox_port = port_block(3)
    mon = port_block(7)
    cfg = {
        "sandbox": {"port": sandbox_port, "replicas": 1, "seed": {"announcements": 3, "suppliers": 1, "documents": 1}},
        "monitoring": {
            **monitoring_ports(mon),
            "scrape_interval": "2s",
            "evaluation_interval": "2s",
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "4s",
        },
    }
    path = tmp_path / "procops.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", env=env, check=0)
        cli("monitor", "up", "--json", env=env, check=0)
        from procops import config as procops_config
        from procops.monitoring import webauth

        auth = webauth.of(procops_config.load(path).config).httpx()  # Alertmanager refuses strangers
        yield {"env": env, "am": f"http://127.0.0.1:{mon + 1}", "auth": auth}
    finally:
        cli("monitor", "down", env=env)
        cli("sandbox", "down", env=env)


def test_silences_of_critical_alerts_are_reported_and_the_watchdog_has_its_own_receiver(cli, fast_stack):
    import datetime as dt

    from procops.timeutil import iso, utcnow

    env, am, auth = fast_stack["env"], fast_stack["am"], fast_stack["auth"]
    # a silence over a critical alert is reported by monitor check (a warning line and --json)
    ends = iso(utcnow() + dt.timedelta(hours=1))
    sil = {
        "matchers": [{"name": "alertname", "value": "PlatformDown", "isRegex": False, "isEqual": True}],
        "startsAt": iso(utcnow()),
        "endsAt": ends,
        "createdBy": "night-shift",
        "comment": "maintenance",
    }
    sid = httpx.post(f"{am}/api/v2/silences", json=sil, timeout=10, auth=auth).json()["silenceID"]
    chk = cli("monitor", "check", "--json", env=env)
    assert chk.code in (0, 1)
    found = chk.json()["silences_covering_critical"]
    assert [s["id"] for s in found] == [sid] and found[0]["covers"] == ["PlatformDown"]
    assert found[0]["created_by"] == "night-shift"
    human = cli("monitor", "check", env=env)
    assert f"warning: silence {sid}" in human.out and "PlatformDown" in human.out
    # the Watchdog fires all along and reaches its own receiver, never an incident
    deadline = time.monotonic() + 60
    wd: list = []
    while time.monotonic() < deadline and not wd:
        wd = httpx.get(f"{am}/api/v2/alerts", params={"filter": 'alertname="Watchdog"'}, timeout=10, auth=auth).json()
        time.sleep(1)
    assert wd and wd[0]["receivers"][0]["name"] == "procops-watchdog"
    assert all(i["source"]["alertname"] != "Watchdog" for i in _incidents(cli, env))


def test_an_alert_still_firing_after_its_incident_was_resolved_opens_a_new_incident(cli, fast_stack):
    """Through the real Alertmanager: the re-notification of a still-firing alert (repeat_interval)
    after its incident was resolved opens a new incident that names the previous one."""
    from procops.timeutil import iso, utcnow

    env, am, auth = fast_stack["env"], fast_stack["am"], fast_stack["auth"]
    alert = [{"labels": {"alertname": "DatabaseDown", "severity": "critical"}, "startsAt": iso(utcnow())}]
    assert httpx.post(f"{am}/api/v2/alerts", json=alert, timeout=10, auth=auth).status_code == 200
    incs = _wait_for_incidents(cli, env)
    assert len(incs) == 1
    cli("incident", "resolve", incs[0]["id"], "--summary", "restarted", env=env, check=0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_incidents(cli, env)) < 2:
        httpx.post(f"{am}/api/v2/alerts", json=alert, timeout=10, auth=auth)  # Prometheus keeps resending it too
        time.sleep(2)
    incs = _incidents(cli, env)
    assert [i["status"] for i in incs] == ["resolved", "open"], "no new incident within 60 s"
    assert incs[1]["source"]["previous_incident"] == incs[0]["id"]
