"""Gray releases as an operator runs them, on the real sandbox (3 replicas behind HAProxy) with the
real monitoring stack (Prometheus, Alertmanager) and Ansible: a good version is promoted through
every stage, a bad one is rolled back by its upload gate."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml
from testsupport import monitoring_ports

from procops.haproxy import RuntimeAPI


def _cfg(sandbox_port: int, mon: int, **release) -> dict:
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
            "gates": {"min_requests": 10, "probe_uploads": 40, "traffic_timeout": "40s"},
            "load": {"rate": 12, "upload_share": 0.4},
            **release,
        },
    }


@pytest.fixture
def platform(cli, port_block, tmp_path, procops_home):
    sandbox_port = port_block(4)
    mon = port_block(7)
    path = tmp_path / "procops.yaml"
    path.write_text(yaml.safe_dump(_cfg(sandbox_port, mon)))
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", env=env, check=0)
        cli("monitor", "up", env=env, check=0)
        st = cli("sandbox", "status", "--json", env=env, check=0).json()
        yield {
            "env": env,
            "path": path,
            "socket": st["haproxy"]["runtime_api"],
            "home": procops_home,
            "sandbox_port": sandbox_port,
            "mon": mon,
        }
    finally:
        cli("monitor", "down", env=env)
        cli("sandbox", "down", env=env)


def _versions(cli, env) -> dict[str, str]:
    st = cli("sandbox", "status", "--json", env=env, check=0).json()
    return {r["name"]: r["version"] for r in st["replicas"]}


def _weights(socket: str) -> dict[str, tuple[int, str]]:
    return {s.server: (s.weight, s.status) for s in RuntimeAPI(socket).servers("replicas")}


def _journal(home) -> list[tuple[str, dict]]:
    db = sqlite3.connect(str(home / "journal.db"))
    try:
        return [(k, json.loads(d)) for k, d in db.execute("SELECT kind, data FROM events ORDER BY id")]
    finally:
        db.close()


def test_a_good_version_is_promoted_through_every_stage_and_opens_no_incident(cli, platform):
    env = platform["env"]
    assert set(_versions(cli, env).values()) == {"1.0.0"}
    r = cli("release", "start", "1.1.0", "--auto", "--json", env=env, timeout=400)
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert out["outcome"] == "rolled_out"
    assert set(_versions(cli, env).values()) == {"1.1.0"}
    w = _weights(platform["socket"])
    assert len({wt for wt, _s in w.values()}) == 1 and all(s == "UP" for _w, s in w.values()), w
    assert cli("incident", "list", "--json", env=env, check=0).json() == []
    kinds = [k for k, _d in _journal(platform["home"])]
    assert kinds.count("release.start") == 1 and kinds.count("release.end") == 1
    promotes = [d for d in out["release"]["decisions"] if d["decision"] == "promote"]
    assert len(promotes) == 3
    gates = [d for k, d in _journal(platform["home"]) if k == "release.gate"]
    assert gates and all(g["passed"] for g in gates)
    assert {g["gate"] for g in gates} >= {"requests", "error_ratio", "p95_latency", "upload_success", "probe"}
    st = cli("release", "status", "--json", env=env, check=0).json()["release"]
    assert st["status"] == "rolled_out"
    assert cli("release", "history", "--json", env=env, check=0).json()[-1]["status"] == "rolled_out"

    # the bad version: its upload gate fails at the first stage and it is rolled back
    r = cli("release", "start", "1.1.1-bad", "--auto", "--json", env=env, timeout=400)
    assert r.code == 1, r.out + r.err
    out = r.json()
    assert out["outcome"] == "rolled_back"
    rel = out["release"]
    assert set(_versions(cli, env).values()) == {"1.1.0"}
    w = _weights(platform["socket"])
    assert len({wt for wt, _s in w.values()}) == 1 and all(s == "UP" for _w, s in w.values()), w
    rb = [d for d in rel["decisions"] if d["decision"] == "rollback"]
    assert rb and rb[0]["stage"] == 1
    failed = [g for g in rel["last_gates"] if not g["passed"]]
    assert any(g["gate"] in ("upload_success", "probe") for g in failed), rel["last_gates"]
    up = next(g for g in rel["last_gates"] if g["gate"] == "upload_success")
    assert "sandbox_uploads_total" in up["query"] and up["threshold"] == 1.0
    assert rel["timings"]["rollback_traffic_on_stable_s"] >= 0
    end = [d for k, d in _journal(platform["home"]) if k == "release.end"][-1]
    assert end["outcome"] == "rolled_back"
    # a rolled-back release is a warning: no incident opened for it
    assert cli("incident", "list", "--json", env=env, check=0).json() == []
