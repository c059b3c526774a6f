"""playbooks/failover.yml's wiring: the argv, the output parsing, and haproxy_switch.py's plan."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from procops.config import Config
from procops.incidents import response
from procops.errors import BadInput

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "failover.yml"


def _cfg(**drills) -> Config:
    return Config.model_validate({"platform": {"url": "https://bid.example.gov.cn"}, "drills": drills})


def test_argv_runs_the_playbook_on_the_configured_inventory():
    cfg = _cfg(failover_inventory="/etc/procops/hosts.ini")
    assert response.failover_playbook_argv(cfg, PLAYBOOK) == [
        "ansible-playbook",
        "-i",
        "/etc/procops/hosts.ini",
        str(PLAYBOOK),
    ]


def test_argv_passes_extra_vars_as_one_json_object_with_repo_and_snapshot_on_top():
    cfg = _cfg(
        failover_inventory="hosts.ini",
        failover_extra_vars={
            "haproxy_socket": "/run/haproxy/admin.sock",
            "procops_offsite_repo": "dr",
            "note": "a b=c",
        },
    )
    argv = response.failover_playbook_argv(
        cfg, PLAYBOOK, ansible_playbook="/opt/venv/bin/ansible-playbook", repo="city-dc", snapshot="abc123"
    )
    assert argv[:4] == ["/opt/venv/bin/ansible-playbook", "-i", "hosts.ini", str(PLAYBOOK)]
    assert argv[4] == "-e"
    assert json.loads(argv[5]) == {
        "haproxy_socket": "/run/haproxy/admin.sock",
        "procops_offsite_repo": "city-dc",
        "procops_snapshot": "abc123",
        "note": "a b=c",
    }
    assert len(argv) == 6


def test_latest_snapshot_is_the_playbook_default():
    argv = response.failover_playbook_argv(_cfg(failover_inventory="h"), PLAYBOOK, snapshot="latest")
    assert "-e" not in argv


def test_no_inventory_is_bad_input():
    with pytest.raises(BadInput, match="drills.failover_inventory"):
        response.failover_playbook_argv(_cfg(), PLAYBOOK)


OUTPUT = """
TASK [The standby] *************************************************************
ok: [s1] => {
    "msg": "standby 'standby' serves run 20261125T1040Z from offsite at http://10.231.7.2:18180 (replicas 18181, 18182)"
}

PLAY RECAP *********************************************************************
localhost                  : ok=3    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
s1                         : ok=5    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
"""


def test_output_gives_the_recap_and_the_standby():
    out = response.parse_playbook_output(OUTPUT)
    assert out["recap"]["s1"] == {
        "ok": 5,
        "changed": 1,
        "unreachable": 0,
        "failed": 0,
        "skipped": 0,
        "rescued": 0,
        "ignored": 0,
    }
    assert out["recap"]["localhost"]["ok"] == 3
    assert out["standby"] == {
        "instance": "standby",
        "run": "20261125T1040Z",
        "repository": "offsite",
        "url": "http://10.231.7.2:18180",
    }
    assert "errors" not in out


def test_output_of_a_failed_run_names_the_failure():
    text = (
        'fatal: [s1]: FAILED! => {"changed": true, "msg": "non-zero return code", "rc": 3}\n'
        "PLAY RECAP ***\ns1 : ok=1    changed=0    unreachable=0    failed=1    skipped=0\n"
    )
    out = response.parse_playbook_output(text)
    assert out["recap"]["s1"]["failed"] == 1
    assert out["errors"][0].startswith("fatal: [s1]")
    assert "standby" not in out


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
