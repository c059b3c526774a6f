"""What the gray-release e2e tests share: a sandbox of 3 replicas with the monitoring stack and short
analysis windows, and readers of its versions, HAProxy weights, release state and journal."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

import yaml
from testsupport import monitoring_ports

from procops.haproxy import RuntimeAPI


def release_config(sandbox_port: int, mon: int, **release) -> dict:
    return {
        "sandbox": {
            "port": sandbox_port,
            "replicas": 3,
            "seed": {"announcements": 10, "suppliers": 3, "documents": 3, "document_size": "10KB"},
        },
        "monitoring": {
            **monitoring_ports(mon),
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "group_wait": "1s",
            "platform_down_for": "5s",
        },
        "release": {
            "stages": [
                {"hosts": "1", "traffic": 10, "analysis": "12s", "manual_gate": True},
                {"hosts": "2", "traffic": 50, "analysis": "12s", "manual_gate": True},
                {"hosts": "all", "traffic": 100, "analysis": "8s", "manual_gate": False},
            ],
            # p95 within 250 ms of the baseline: the suite runs four workers on two cores, and
            # latency noise is not what these tests judge (the gates' arithmetic has unit tests)
            "gates": {"min_requests": 10, "probe_uploads": 40, "traffic_timeout": "40s", "p95_tolerance": "250ms"},
            "load": {"rate": 12, "upload_share": 0.4},
            **release,
        },
    }


@contextlib.contextmanager
def running_platform(cli, port_block, tmp_path: Path, home: Path, **release):
    sandbox_port = port_block(4)
    mon = port_block(7)
    path = tmp_path / "procops.yaml"
    cfg = release_config(sandbox_port, mon, **release)
    path.write_text(yaml.safe_dump(cfg))
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", env=env, check=0)
        cli("monitor", "up", env=env, check=0)
        st = cli("sandbox", "status", "--json", env=env, check=0).json()
        yield {
            "env": env,
            "path": path,
            "config": cfg,
            "socket": st["haproxy"]["runtime_api"],
            "home": home,
            "sandbox_port": sandbox_port,
            "mon": mon,
        }
    finally:
        cli("monitor", "down", env=env)
        cli("sandbox", "down", env=env)


def write_config(p: dict, **release) -> None:
    cfg = json.loads(json.dumps(p["config"]))
    cfg["release"].update(release)
    p["path"].write_text(yaml.safe_dump(cfg))


def versions(cli, env) -> dict[str, str]:
    st = cli("sandbox", "status", "--json", env=env, check=0).json()
    return {r["name"]: r["version"] for r in st["replicas"]}


def weights(socket: str) -> dict[str, tuple[int, str]]:
    return {s.server: (s.weight, s.status) for s in RuntimeAPI(socket).servers("replicas")}


def all_equal_and_up(w: dict[str, tuple[int, str]]) -> bool:
    return len({wt for wt, _s in w.values()}) == 1 and all(s == "UP" and wt > 0 for wt, s in w.values())


def journal(home: Path) -> list[tuple[str, dict]]:
    db = sqlite3.connect(str(home / "journal.db"))
    try:
        return [(k, json.loads(d)) for k, d in db.execute("SELECT kind, data FROM events ORDER BY id")]
    finally:
        db.close()


def release_state(home: Path) -> dict | None:
    try:
        return json.loads((home / "release" / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def wait_phase(home: Path, phase: str, timeout: float = 120.0, stage: int | None = None) -> dict:
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = release_state(home)
        if st and st.get("phase") == phase and (stage is None or st.get("stage") == stage):
            return st
        time.sleep(0.2)
    raise AssertionError(f"the release did not reach phase {phase!r} within {timeout}s: {st}")
