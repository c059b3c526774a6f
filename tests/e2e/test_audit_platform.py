"""The audit's live checks and the ops desk against the real sandbox: R9 reads the platform's database
(credit codes encrypted at rest), the state's modes and the repositories; status shows the site."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

SMALL_SEED = ["--seed-announcements", "10", "--seed-suppliers", "3", "--seed-documents", "4", "--document-size", "4KB"]


@pytest.fixture
def procops_home(tmp_path, monkeypatch):
    """A short $PROCOPS_HOME: HAProxy refuses stats socket paths over 97 characters."""
    home = Path(tempfile.mkdtemp(prefix="pau-", dir="/tmp"))
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    monkeypatch.setenv("PROCOPS_LANG", "en")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("PROCOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _r9(cli) -> dict:
    res = cli("audit", "--since", "1d", "--json").json()
    return {r["id"]: r for r in res["requirements"]}["R9"]


def test_r9_and_status_on_the_running_platform(cli, port_block, procops_home):
    port = port_block(3)
    cli("sandbox", "up", "--port", str(port), "--replicas", "1", *SMALL_SEED, check=0)
    try:
        cli("backup", "init", check=0, timeout=120)
        r9 = _r9(cli)
        assert r9["status"] == "met", r9["figures"]
        assert any("credit codes at rest: 3 checked, 0 in plain text" in f for f in r9["figures"]), r9["figures"]
        assert any("2 repositories, encrypted: 2" in f for f in r9["figures"]), r9["figures"]

        desk = cli("status", "--json").json()
        site = desk["sections"]["site"]
        assert site["verdict"] == "ok" and site["site"] == "main" and site["healthy"] and site["version"] == "1.0.0"

        # a credit code written in plain text, and a secret readable by others
        from procops.sandbox import api as sandbox

        db = sqlite3.connect(sandbox.paths("main").database)
        db.execute("UPDATE suppliers SET credit_code = '91110000600037341L' WHERE id = (SELECT MIN(id) FROM suppliers)")
        db.commit()
        db.close()
        secret = next(p for p in (procops_home / "secrets").iterdir() if p.is_file())
        secret.chmod(0o644)
        r9 = _r9(cli)
        assert r9["status"] == "not_met"
        text = "\n".join(r9["figures"])
        assert "1 in plain text" in text and f"{secret} has mode 0644" in text, text
    finally:
        cli("sandbox", "down", "--force")


def test_status_names_the_critical_alert_firing(cli, port_block, procops_home, tmp_path):
    import time

    import yaml
    from testsupport import monitoring_ports

    cfg = {
        "sandbox": {"port": port_block(3), "replicas": 1},
        "monitoring": {
            **monitoring_ports(port_block(7)),
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "group_wait": "1s",
            "platform_down_for": "2s",
        },
    }
    path = tmp_path / "procops.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", *SMALL_SEED, env=env, check=0)
        cli("monitor", "up", env=env, check=0)
        alerts = cli("status", "--json", env=env).json()["sections"]["alerts"]
        assert alerts["verdict"] in ("ok", "attention") and "firing" in alerts
        cli("sandbox", "down", "--force", env=env, check=0)  # the platform is gone: a critical alert fires
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            d = cli("status", "--json", env=env).json()
            critical = [a for a in d["sections"]["alerts"]["firing"] if a["severity"] == "critical"]
            if critical:
                break
            time.sleep(2)
        assert critical, d["sections"]["alerts"]
        assert d["sections"]["alerts"]["verdict"] == "attention" and "alerts" in d["attention"]
        assert d["sections"]["site"]["verdict"] == "attention"
        human = cli("status", env=env)
        assert human.code == 1 and critical[0]["alertname"] in human.out
    finally:
        cli("monitor", "down", env=env)
        cli("sandbox", "down", "--force", env=env)
