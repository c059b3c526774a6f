"""deploy.yml and rollback.yml on two real hosts over SSH (network namespaces with their own sshd),
in check mode and for real; then the Fabric host side (`procops hosts`) reads them back."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import pytest
import yaml
from testsupport import PROCOPS, netns_host

from procops.home import project_path
from procops.playbook import PlaybookStatus, run_playbook

pytestmark = pytest.mark.root

RESTART = """#!/bin/sh
# the platform service of a test host: a static server of current/ answering current/healthz
root="$1"; ip="$2"
if [ -f "$root/server.pid" ]; then kill "$(cat "$root/server.pid")" 2>/dev/null; sleep 0.3; fi
setsid python3 -m http.server 8000 --bind "$ip" --directory "$root/current" >"$root/server.log" 2>&1 </dev/null &
echo $! >"$root/server.pid"
"""


def _artifact(d: Path, version: str) -> Path:
    src = d / f"src-{version}"
    src.mkdir(parents=True)
    (src / "VERSION").write_text(version + "\n")
    (src / "healthz").write_text(json.dumps({"status": "ok", "version": version}))
    out = d / f"platform-{version}.tar.gz"
    with tarfile.open(out, "w:gz") as t:
        for f in src.iterdir():
            t.add(f, arcname=f.name)
    return out


def _answer(ip: str) -> str | None:
    try:
        return httpx.get(f"http://{ip}:8000/healthz", timeout=2).json()["version"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _wait(ip: str, version: str) -> str | None:
    for _ in range(40):
        v = _answer(ip)
        if v == version:
            return v
        time.sleep(0.25)
    return _answer(ip)


@pytest.fixture
def hosts(tmp_path):
    with netns_host(tmp_path / "h1", "rl") as h1, netns_host(tmp_path / "h2", "rl") as h2:
        yield [("h1", h1), ("h2", h2)]


def test_deploy_and_rollback_over_ssh_in_check_mode_and_for_real(hosts, tmp_path, procops_home):
    arts = tmp_path / "artifacts"
    arts.mkdir()
    a100, a110 = _artifact(arts, "1.0.0"), _artifact(arts, "1.1.0")
    inv: dict = {"all": {"hosts": {}}}
    for name, h in hosts:
        root = h["dir"] / "platform"
        script = h["dir"] / "restart.sh"
        script.write_text(RESTART)
        inv["all"]["hosts"][name] = {
            "ansible_host": h["ip"],
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(h["key"]),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "ansible_python_interpreter": "/usr/bin/python3",
            "release_root": str(root),
            "restart_command": ["/bin/sh", str(script), str(root), h["ip"]],
            "health_url": f"http://{h['ip']}:8000/healthz",
            "health_retries": 20,
        }
    inventory = yaml.safe_dump(inv)
    deploy, rollback = project_path("playbooks", "deploy.yml"), project_path("playbooks", "rollback.yml")
    (h1n, h1), (h2n, h2) = hosts

    # check mode on fresh hosts: ok, and nothing is installed
    res = run_playbook(
        deploy, inventory, extra_vars={"release_version": "1.0.0", "release_artifact": str(a100)}, check=True
    )
    assert res.status == PlaybookStatus.OK, res.summary()
    assert not (h1["dir"] / "platform").exists()

    # 1.0.0 on both, then 1.1.0 on h1 only (the canary)
    res = run_playbook(deploy, inventory, extra_vars={"release_version": "1.0.0", "release_artifact": str(a100)})
    assert res.status == PlaybookStatus.OK, res.summary()
    assert _wait(h1["ip"], "1.0.0") == "1.0.0" and _wait(h2["ip"], "1.0.0") == "1.0.0"
    res = run_playbook(
        deploy, inventory, extra_vars={"release_version": "1.1.0", "release_artifact": str(a110)}, limit=h1n
    )
    assert res.status == PlaybookStatus.OK, res.summary()
    assert set(res.hosts) == {h1n}
    assert _wait(h1["ip"], "1.1.0") == "1.1.0" and _answer(h2["ip"]) == "1.0.0"
    root1 = h1["dir"] / "platform"
    assert (root1 / "current").resolve() == root1 / "releases" / "1.1.0"
    assert (root1 / "previous").read_text().strip() == "1.0.0"
    assert (root1 / "releases" / "1.0.0" / "VERSION").exists()  # kept for the rollback

    # rollback in check mode changes nothing; for real, h1 is back on the previous release
    res = run_playbook(rollback, inventory, extra_vars={}, limit=h1n, check=True)
    assert res.status == PlaybookStatus.OK, res.summary()
    assert (root1 / "current").resolve() == root1 / "releases" / "1.1.0" and _answer(h1["ip"]) == "1.1.0"
    res = run_playbook(rollback, inventory, extra_vars={}, limit=h1n)
    assert res.status == PlaybookStatus.OK, res.summary()
    assert _wait(h1["ip"], "1.0.0") == "1.0.0"
    assert (root1 / "current").resolve() == root1 / "releases" / "1.0.0"

    # the Fabric side: procops hosts version|health|exec against the same hosts
    cfg = tmp_path / "procops.yaml"
    known = tmp_path / "known_hosts"  # both hosts' keys: procops refuses unknown host keys
    known.write_text("".join(h["known_hosts"].read_text() for _n, h in hosts))
    cfg.write_text(
        yaml.safe_dump(
            {
                "ssh": {"known_hosts": str(known)},
                "release": {
                    "haproxy_socket": str(tmp_path / "lb.sock"),
                    "inventory": [
                        {
                            "name": n,
                            "server": n,
                            "address": h["ip"],
                            "user": "root",
                            "health_url": f"http://{h['ip']}:8000/healthz",
                            "vars": {
                                "release_root": str(h["dir"] / "platform"),
                                "ansible_ssh_private_key_file": str(h["key"]),
                            },
                        }
                        for n, h in hosts
                    ],
                },
            }
        )
    )
    env = {"PROCOPS_CONFIG": str(cfg)}

    def procops(*args):
        return subprocess.run([PROCOPS, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=120)

    p = procops("hosts", "version", "--json")
    assert p.returncode == 0, p.stderr
    assert {r["host"]: r["version"] for r in json.loads(p.stdout)} == {"h1": "1.0.0", "h2": "1.0.0"}
    p = procops("hosts", "health", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    p = procops("hosts", "exec", "--host", "h2", "--json", "cat", str(h2["dir"] / "platform" / "current" / "VERSION"))
    assert p.returncode == 0 and json.loads(p.stdout)[0]["stdout"].strip() == "1.0.0"
    p = procops("hosts", "exec", "--host", "h1", "false")
    assert p.returncode == 1
