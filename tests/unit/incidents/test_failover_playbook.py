"""playbooks/failover.yml's wiring: inventory, variables, errors, what it reports, and haproxy_switch.py's plan."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from procops.config import Config
from procops.incidents import response
from procops.errors import BadInput, EnvironmentFailure

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "failover.yml"


def _cfg(**drills) -> Config:
    return Config.model_validate({"platform": {"url": "https://bid.example.gov.cn"}, "drills": drills})


def test_the_playbook_runs_on_the_configured_inventory():
    cfg = _cfg(failover_inventory="/etc/procops/hosts.ini")
    assert response.failover_inventory(cfg) == Path("/etc/procops/hosts.ini")


def test_extra_vars_are_the_configured_ones_with_repo_and_snapshot_on_top():
    cfg = _cfg(
        failover_inventory="hosts.ini",
        failover_extra_vars={
            "haproxy_socket": "/run/haproxy/admin.sock",
            "procops_offsite_repo": "dr",
            "note": "a b=c",
        },
    )
    assert response.failover_extra_vars(cfg, repo="city-dc", snapshot="abc123") == {
        "haproxy_socket": "/run/haproxy/admin.sock",
        "procops_offsite_repo": "city-dc",
        "procops_snapshot": "abc123",
        "note": "a b=c",
    }


def test_latest_snapshot_is_the_playbook_default():
    assert response.failover_extra_vars(_cfg(failover_inventory="h"), snapshot="latest") == {}


def test_no_inventory_is_bad_input():
    with pytest.raises(BadInput, match="drills.failover_inventory"):
        response.failover_inventory(_cfg())


def test_an_unusable_playbook_or_inventory_is_exit_2_and_anything_else_exit_3():
    bad = response.failover_error({"exit_code": 2, "error": "inventory /x does not exist"}, prefix="INC-1: ")
    assert (
        isinstance(bad, BadInput) and bad.message == "INC-1: the failover playbook failed: inventory /x does not exist"
    )
    for code in (1, 3, 130):
        err = response.failover_error({"exit_code": code, "error": "s1: Restore: rc=3"})
        assert isinstance(err, EnvironmentFailure) and err.exit_code == 3


def test_the_playbook_reports_the_standby_with_set_stats():
    plays = yaml.safe_load(PLAYBOOK.read_text())
    tasks = [t for t in plays[0]["tasks"] if "ansible.builtin.set_stats" in t]
    assert len(tasks) == 1
    stats = tasks[0]["ansible.builtin.set_stats"]
    assert stats["per_host"] is False and stats["aggregate"] is False
    assert set(stats["data"]["standby"]) == {"instance", "run", "repository", "url", "replica_ports"}


# --------------------------------------------------------------------------- haproxy_switch.py


def _switch():
    spec = importlib.util.spec_from_file_location("haproxy_switch", ROOT / "playbooks" / "files" / "haproxy_switch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


STAT = (
    "# pxname,svname,qcur,status,addr,\n"
    "platform,FRONTEND,0,OPEN,,\n"
    "replicas,r1,0,UP,127.0.0.1:18081,\n"
    "replicas,r2,0,UP,127.0.0.1:18082,\n"
    "replicas,r3,0,DOWN,127.0.0.1:18083,\n"
    "replicas,BACKEND,0,UP,,\n"
)


def test_switch_parses_the_backend_servers_of_show_stat():
    rows = _switch().parse_stat(STAT, "replicas")
    assert [(r["svname"], r["status"], r["addr"]) for r in rows] == [
        ("r1", "UP", "127.0.0.1:18081"),
        ("r2", "UP", "127.0.0.1:18082"),
        ("r3", "DOWN", "127.0.0.1:18083"),
    ]
    with pytest.raises(ValueError):
        _switch().parse_stat("Unknown command", "replicas")


def test_switch_plan_points_servers_at_targets_and_puts_the_rest_in_maintenance():
    cmds, switched, maint = _switch().plan(["r1", "r2", "r3"], [("10.0.0.12", 18181), ("10.0.0.12", 18182)], "replicas")
    assert cmds == [
        "set server replicas/r1 addr 10.0.0.12 port 18181",
        "set server replicas/r1 state ready",
        "set server replicas/r2 addr 10.0.0.12 port 18182",
        "set server replicas/r2 state ready",
        "set server replicas/r3 state maint",
    ]
    assert switched == {"r1": "10.0.0.12:18181", "r2": "10.0.0.12:18182"}
    assert maint == ["r3"]


def test_switch_verification_wants_up_at_the_new_address_and_maint_for_the_rest():
    sw = _switch()
    rows = sw.parse_stat(STAT, "replicas")
    problems = sw.verified(rows, {"r1": "10.0.0.12:18181"}, ["r3"])
    assert any("r1: addr 127.0.0.1:18081" in p for p in problems)
    assert any(p.startswith("r3: DOWN") for p in problems)
    ok = [{"svname": "r1", "status": "UP", "addr": "10.0.0.12:18181"}, {"svname": "r3", "status": "MAINT"}]
    assert sw.verified(ok, {"r1": "10.0.0.12:18181"}, ["r3"]) == []


def test_switch_rejects_a_target_without_a_port():
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        _switch().target("10.0.0.12")
    assert _switch().target("10.0.0.12:18181") == ("10.0.0.12", 18181)
