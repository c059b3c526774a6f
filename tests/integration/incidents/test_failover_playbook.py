"""playbooks/failover.yml for real: syntax, lint, a failing run that reaches nothing, and a failover to a
standby host (a network namespace with its own sshd) with the main sandbox's HAProxy switched to it.

The standby host shares this machine's filesystem (a network namespace isolates only the network), so
it runs this worktree's procops with its own $PROCOPS_HOME and restores from the main home's off-site
repository, a stand-in for the remote one. Its sandbox binds the namespace's veth address, which the
main HAProxy (in the root namespace, the `lb` host, connection local) reaches.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from testsupport import netns_host

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "failover.yml"
BIN = Path(sys.executable).parent
PROCOPS = BIN / "procops"
SMALL_SEED = ["--seed-announcements", "20", "--seed-suppliers", "5", "--seed-documents", "8", "--document-size", "16KB"]


def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def procops_home(tmp_path, monkeypatch):
    """A short $PROCOPS_HOME (HAProxy's stats socket path limit)."""
    home = Path(tempfile.mkdtemp(prefix="pf-", dir="/tmp"))
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    monkeypatch.delenv("PROCOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_syntax_check(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text("[standby]\ns1 ansible_connection=local\n[lb]\nlocalhost ansible_connection=local\n")
    p = _run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", str(inv), str(PLAYBOOK)], cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr


def test_ansible_lint():
    p = _run(
        [str(BIN / "ansible-lint"), "--offline", str(PLAYBOOK.relative_to(ROOT))],
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    assert p.returncode == 0, p.stdout + p.stderr


def _config(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def test_a_failed_playbook_is_exit_3_on_the_timeline_and_reaches_nothing(cli, procops_home, tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text(
        f"[standby]\ns1 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        f"[lb]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    cfg = _config(
        tmp_path / "procops.yaml",
        {
            "platform": {"url": "http://127.0.0.1:9"},
            "drills": {"failover_inventory": str(inv), "failover_extra_vars": {"procops_bin": "/bin/false"}},
        },
    )
    iid = cli("incident", "open", "--title", "database lost", check=0).out.strip()
    r = cli("--config", str(cfg), "incident", "standby", iid, "--execute", timeout=180)
    assert r.code == 3, r.out + r.err
    assert "failover playbook failed" in r.err
    inc = cli("incident", "show", iid, "--json", check=0).json()
    assert inc["milestones"]["standby"]["reached_at"] is None
    kinds = [e["kind"] for e in inc["timeline"]]
    assert "standby.execute" in kinds and "standby.failed" in kinds
    pb = next(e for e in inc["timeline"] if e["kind"] == "standby.playbook")
    assert pb["data"]["ok"] is False and pb["data"]["recap"]["s1"]["failed"] == 1
    assert pb["data"]["status"] == "failed"
    assert [(f["host"], f["task"]) for f in pb["data"]["failures"]] == [
        ("s1", "Restore and start the standby instance")
    ]


def test_an_inventory_without_hosts_is_not_a_failover(procops_home, tmp_path):
    """ansible-playbook exits 0 when no host matches: that reaches nothing either."""
    from procops.config import Config
    from procops.incidents import response

    cfg = Config.model_validate(
        {"platform": {"url": "http://127.0.0.1:9"}, "drills": {"failover_inventory": str(tmp_path / "missing.ini")}}
    )
    res = response.failover_on_hosts(cfg, timeout=120)
    assert res["ok"] is False and res["recap"] == {}
    assert res["exit_code"] == 2 and "does not exist" in res["error"]
    (tmp_path / "empty.ini").write_text("[standby]\n[lb]\n")
    cfg.drills.failover_inventory = tmp_path / "empty.ini"
    res = response.failover_on_hosts(cfg, timeout=120)
    assert res["ok"] is False and res["recap"] == {} and res["status"] == "no_hosts" and res["exit_code"] == 2


# --------------------------------------------------------------------------- the real failover


@pytest.fixture
def standby_host(tmp_path):
    """A test host: network namespace + veth pair + its own sshd (root only); the standby sandbox in it
    is stopped, everything else there too, and the namespace removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="pfs-", dir="/tmp"))  # also the standby's short $PROCOPS_HOME parent
    home = d / "h"
    home.mkdir()

    def stop_standby() -> None:
        _run(
            [str(PROCOPS), "sandbox", "down", "--instance", "standby"],
            timeout=60,
            env={**os.environ, "PROCOPS_HOME": str(home)},
        )

    try:
        with netns_host(d, prefix="pfo", before_teardown=stop_standby) as h:
            yield h | {"home": home}
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def main_sandbox(cli, port_block):
    port = port_block(4)
    cli("sandbox", "up", "--port", str(port), "--replicas", "2", *SMALL_SEED, "--json", check=0)
    try:
        yield cli("sandbox", "status", "--json", check=0).json()
    finally:
        cli("sandbox", "down")


@pytest.mark.root
def test_incident_standby_execute_fails_over_to_a_standby_host(cli, procops_home, tmp_path, standby_host, main_sandbox):
    from procops.backup.sources import repositories
    from procops.config import Config

    main_url = main_sandbox["url"]
    cli("backup", "init", timeout=120, check=0)
    cli("backup", "run", timeout=300, check=0)
    offsite = next(r for r in repositories(Config()) if r.offsite)

    with httpx.Client(base_url=main_url, timeout=30) as c:
        seeded = c.get("/api/archive", params={"page": 1, "size": 3}).json()["items"]
        assert seeded
        token = c.post(
            "/api/suppliers/login", json={"email": "supplier-1@example.test", "password": "password-1"}
        ).json()["token"]
        ann = c.get("/api/announcements", params={"page": 1, "size": 1}).json()["items"][0]["id"]
        late = c.post(
            f"/api/announcements/{ann}/bids",
            files={"file": ("late.pdf", b"after the backup")},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert late.status_code in (200, 201), late.text
        late_id = late.json()["document_id"]
        # a bid file is sealed: its supplier reads it
        assert c.get(f"/api/documents/{late_id}", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    h = standby_host
    standby_cfg = _config(
        h["dir"] / "standby.yaml",
        {
            "backup": {
                "repositories": [
                    {
                        "name": "offsite",
                        "url": offsite.url,
                        "offsite": True,
                        "password": {"file": str(offsite.password_file)},
                    }
                ]
            }
        },
    )
    inv = tmp_path / "inventory.ini"
    inv.write_text(
        f"[standby]\ns1 ansible_host={h['ip']} ansible_user=root ansible_ssh_private_key_file={h['key']} "
        "ansible_python_interpreter=/usr/bin/python3 "
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
        f"[lb]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    sock = main_sandbox["haproxy"]["runtime_api"]
    cfg = _config(
        tmp_path / "procops.yaml",
        {
            "platform": {"url": main_url},
            "drills": {
                "failover_inventory": str(inv),
                "failover_extra_vars": {
                    "procops_bin": str(PROCOPS),
                    "procops_config": str(standby_cfg),
                    "procops_home": str(h["home"]),
                    "haproxy_socket": sock,
                    "failover_backend": "replicas",
                    "haproxy_switch_python": sys.executable,
                },
            },
        },
    )

    iid = cli("incident", "open", "--title", "database server lost", check=0).out.strip()
    cli("incident", "classify", iid, "--type", "database-failure", check=0)
    env = {"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}
    r = cli("--config", str(cfg), "incident", "standby", iid, "--execute", "--json", timeout=400, env=env)
    assert r.code == 0, r.out[-3000:] + r.err[-3000:]
    inc = r.json()
    m = inc["milestones"]["standby"]
    assert m["reached_at"]
    ev = m["evidence"]
    assert ev["playbook"] == "playbooks/failover.yml" and ev["url"] == main_url
    assert ev["recap"]["s1"]["failed"] == 0 and ev["recap"]["localhost"]["failed"] == 0
    assert ev["standby"]["url"].startswith(f"http://{h['ip']}:")
    pb = next(e for e in inc["timeline"] if e["kind"] == "standby.playbook")
    assert pb["data"]["ok"] is True and pb["data"]["rc"] == 0

    # the main HAProxy's servers now point at the standby host ...
    from procops.haproxy import RuntimeAPI

    stat = RuntimeAPI(Path(sock)).command("show stat").strip()
    lines = stat.splitlines()
    header = lines[0][2:].split(",")
    servers = [dict(zip(header, ln.split(","))) for ln in lines[1:] if ln.startswith(("replicas,r1,", "replicas,r2,"))]
    assert len(servers) == 2
    assert {s["addr"].rsplit(":", 1)[0] for s in servers} == {h["ip"]}
    assert all(s["status"].startswith("UP") for s in servers)
    # ... so the main URL serves the restored data: seeded documents intact, the late bid gone
    with httpx.Client(base_url=main_url, timeout=30) as c:
        for d in seeded:
            got = c.get(f"/api/documents/{d['id']}")
            assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == d["sha256"]
        assert c.get(f"/api/documents/{late_id}").status_code == 404
        assert c.get("/healthz").status_code == 200
