"""Fixtures of the drill e2e tests: a short $PROCOPS_HOME, the sandbox with the real monitoring stack
tuned to detect within seconds, and a bare config with only a scenarios folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from testsupport import monitoring_ports


@pytest.fixture
def procops_home(tmp_path, monkeypatch):
    """A short $PROCOPS_HOME: HAProxy refuses stats socket paths over 97 characters."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    monkeypatch.delenv("PROCOPS_CONFIG", raising=False)
    monkeypatch.setenv("PROCOPS_LANG", "en")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.chdir(tmp_path)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def stack(cli, port_block, tmp_path):
    sandbox_port = port_block(3)
    mon = port_block(7)
    (tmp_path / "scenarios").mkdir()
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
        "drills": {"scenarios_dir": str(tmp_path / "scenarios"), "poll_interval": "1s"},
        "policy": {"thresholds": {"for_duration": "4s"}},  # HostDiskFull within seconds, not a minute
    }
    path = tmp_path / "procops.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", env=env, check=0)
        cli("monitor", "up", env=env, check=0)
        yield {"env": env, "url": f"http://127.0.0.1:{sandbox_port}", "mon": mon, "config": path}
    finally:
        cli("monitor", "down", env=env)
        cli("sandbox", "down", "--force", env=env)


@pytest.fixture
def bare(tmp_path):
    """A config with a scenarios_dir and no platform: what is refused is refused before anything runs."""
    (tmp_path / "scenarios").mkdir()
    path = tmp_path / "procops.yaml"
    path.write_text(yaml.safe_dump({"drills": {"scenarios_dir": str(tmp_path / "scenarios")}}))
    return {"PROCOPS_CONFIG": str(path)}
