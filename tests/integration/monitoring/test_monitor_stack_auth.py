"""The embedded stack's Prometheus and Alertmanager refuse strangers and answer procops (basic auth, bcrypt)."""

from __future__ import annotations

import os
import stat

import httpx
import pytest
from testsupport import monitoring_ports

from procops.config import Config
from procops.monitoring import api, stack, webauth


@pytest.fixture
def running(procops_home, port_block):
    mon = port_block(8)
    cfg = Config.model_validate(
        {
            "platform": {"url": f"http://127.0.0.1:{mon + 7}"},
            "monitoring": {
                **monitoring_ports(mon),
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
                "group_wait": "1s",
                "platform_down_for": "10m",
            },
        }
    )
    try:
        state, started = stack.up(cfg)
        assert started
        yield cfg, state, mon
    finally:
        stack.down()


def _alert() -> list[dict]:
    return [{"labels": {"alertname": "Stranger", "severity": "critical"}, "annotations": {"summary": "forged"}}]


def _silence() -> dict:
    return {
        "matchers": [{"name": "severity", "value": "critical", "isRegex": False}],
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "2036-01-01T00:00:00Z",
        "createdBy": "stranger",
        "comment": "silence every page",
    }


def test_prometheus_and_alertmanager_refuse_requests_without_credentials_and_answer_with_them(running, procops_home):
    cfg, state, mon = running
    prom, am = f"http://127.0.0.1:{mon}", f"http://127.0.0.1:{mon + 1}"
    auth = webauth.of(cfg)
    password = auth.password()
    wrong = (auth.user, password + "x")
    for creds in (None, wrong):
        assert httpx.get(f"{prom}/api/v1/alerts", auth=creds, timeout=10).status_code == 401
        assert httpx.post(f"{prom}/-/reload", auth=creds, timeout=10).status_code == 401
        assert httpx.post(f"{am}/api/v2/alerts", json=_alert(), auth=creds, timeout=10).status_code == 401
        assert httpx.post(f"{am}/api/v2/silences", json=_silence(), auth=creds, timeout=10).status_code == 401
    ok = auth.httpx()
    assert httpx.get(f"{prom}/api/v1/alerts", auth=ok, timeout=10).status_code == 200
    assert httpx.get(f"{am}/api/v2/silences", auth=ok, timeout=10).status_code == 200
    assert not httpx.get(f"{am}/api/v2/silences", auth=ok, timeout=10).json()  # the strangers' silence never landed

    # Prometheus still scrapes itself and Alertmanager, and reaches Alertmanager for alerts
    targets = httpx.get(f"{prom}/api/v1/targets", auth=ok, timeout=10).json()["data"]["activeTargets"]
    health = {t["labels"]["job"]: t["health"] for t in targets}
    assert health["prometheus"] == "up" and health["alertmanager"] == "up", targets
    ams = httpx.get(f"{prom}/api/v1/alertmanagers", auth=ok, timeout=10).json()["data"]["activeAlertmanagers"]
    assert len(ams) == 1

    # procops' own clients: status, check and the synthetic alert through the credentials
    assert stack.status()["healthy"]
    assert api.check(cfg).prometheus is not None
    res = api.deliver_synthetic(cfg)
    assert res["journal_event"]

    # the web config holds a bcrypt hash, 0600; the password is nowhere in argv, the config files or the journal
    web = stack.StackPaths.of().web_yml
    assert stat.S_IMODE(web.stat().st_mode) == 0o600
    assert webauth.current_hash(web, auth.user).startswith("$2")
    assert stat.S_IMODE(auth.password_file.stat().st_mode) == 0o600
    for c in state.components:
        with open(f"/proc/{c.pid}/cmdline", "rb") as f:
            assert password.encode() not in f.read(), c.name
    base = stack.StackPaths.of().base
    for p in (base / "prometheus.yml", base / "alertmanager.yml", web):
        assert password not in p.read_text()
    journal = (procops_home / "journal.db").read_bytes()
    assert password.encode() not in journal
    for name in os.listdir(base / "logs"):
        assert password not in (base / "logs" / name).read_text(errors="replace")


def test_a_configured_password_file_is_used_and_the_generated_one_is_not(procops_home, tmp_path):
    pw = tmp_path / "web-password"
    pw.write_text("s3cret-web-pass\n")
    pw.chmod(0o600)
    cfg = Config.model_validate({"monitoring": {"web_user": "ops", "web_password": {"file": str(pw)}}})
    paths = stack.StackPaths.of()
    stack.render_all(cfg, paths, stack.Target("http://127.0.0.1:1", ()))
    stack.validate(paths)  # promtool check web-config accepts it
    h = webauth.current_hash(paths.web_yml, "ops")
    assert h is not None and webauth.hash_matches("s3cret-web-pass", h)
    assert "s3cret-web-pass" not in paths.prometheus_yml.read_text()
    assert str(pw) in paths.prometheus_yml.read_text()
