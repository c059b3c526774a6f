"""An off-site repository served append-only (`rclone serve restic --append-only`) on a namespace host:
backups reach it, the ops host never prunes it, a delete from the ops host is refused; its own host prunes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from platform_data import config_yaml
from testsupport import netns_host

pytestmark = pytest.mark.root


ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "offsite.yml"
BIN = Path(sys.executable).parent


@pytest.fixture
def offsite_host(tmp_path):
    """A namespace host set up by playbooks/offsite.yml (rclone serve restic --append-only, no systemd there)."""
    if not os.path.exists("/usr/bin/rclone"):
        pytest.skip("needs rclone (scripts/bootstrap installs it)")
    with netns_host(tmp_path / "offsite-host", prefix="pao") as h:
        store = tmp_path / "offsite-store"
        port = 8000
        inv = tmp_path / "offsite.ini"
        inv.write_text(
            f"[offsite]\nh1 ansible_host={h['ip']} ansible_user=root ansible_ssh_private_key_file={h['key']} "
            "ansible_python_interpreter=/usr/bin/python3 "
            "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
        )
        extra = {
            "offsite_install_packages": False,
            "offsite_service_manager": "process",
            "offsite_repo_root": str(store),
            "offsite_state_dir": str(tmp_path / "offsite-state"),
            "offsite_listen": h["ip"],
            "offsite_port": port,
        }
        p = subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(inv), str(PLAYBOOK), "-e", json.dumps(extra)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env={**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "PATH": f"{BIN}:{os.environ['PATH']}"},
        )
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
        assert oct(store.stat().st_mode & 0o777) == "0o700"
        socket.create_connection((h["ip"], port), timeout=5).close()
        yield h | {"url": f"rest:http://{h['ip']}:{port}/procops/", "store": store / "procops"}


def test_the_offsite_playbook_passes_syntax_check_and_ansible_lint(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text("[offsite]\nh1 ansible_connection=local\n")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    p = subprocess.run(
        [str(BIN / "ansible-playbook"), "--syntax-check", "-i", str(inv), str(PLAYBOOK)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run(
        [str(BIN / "ansible-lint"), "--offline", str(PLAYBOOK.relative_to(ROOT))],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr


def _restic(url: str, password_file, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(RESTIC_REPOSITORY=url, RESTIC_PASSWORD_FILE=str(password_file))
    return subprocess.run(["restic", *args], capture_output=True, text=True, env=env, timeout=120)


def test_append_only_offsite_gets_backups_and_refuses_a_delete_from_the_ops_host(
    cli, procops_home, tmp_path, offsite_host, platform
):
    text = config_yaml(str(platform.db), platform.docs, {"local": (str(tmp_path / "local-repo"), False)})
    text += f"""    - name: offsite
      url: '{offsite_host["url"]}'
      offsite: true
      append_only: true
  retention: {{keep_last: 1}}
"""
    platform.config.write_text(text)
    cli("backup", "init", check=0)
    assert (offsite_host["store"] / "config").exists()  # created through the append-only server
    res = cli("backup", "run", "--json", check=0).json()
    assert res["repositories"]["offsite"]["status"] == "ok"
    assert res["repositories"]["offsite"]["forget"].startswith("skipped: append-only")
    res = cli("backup", "run", "--json", check=0).json()  # keep_last 1: a pruning host would forget run 1
    assert res["repositories"]["offsite"]["forget"].startswith("skipped: append-only")
    assert res["repositories"]["local"]["forget"] == "not due"  # pruned by the first run's cadence

    pw = procops_home / "secrets" / "restic-offsite"
    snaps = json.loads(_restic(offsite_host["url"], pw, "snapshots", "--json", "--no-lock").stdout)
    assert len(snaps) == 6  # two runs, database + files + confirmation each
    # a compromised ops host tries to erase the off-site copy: refused, everything still there
    gone = _restic(offsite_host["url"], pw, "forget", snaps[0]["id"])
    assert gone.returncode != 0, gone.stdout
    after = json.loads(_restic(offsite_host["url"], pw, "snapshots", "--json", "--no-lock").stdout)
    assert {s["id"] for s in after} == {s["id"] for s in snaps}
    r = cli("backup", "prune", "--repo", "offsite")
    assert r.code == 2 and "append-only" in r.err

    # the off-site host prunes its own copy, through the repository's path
    there = tmp_path / "offsite-host.yaml"
    there.write_text(
        f"""backup:
  database: '{platform.db}'
  documents_dir: '{platform.docs}'
  repositories:
    - name: offsite
      url: '{offsite_host["store"]}'
      offsite: true
      password: {{file: '{pw}'}}
  retention: {{keep_last: 1}}
"""
    )
    out = cli("--config", str(there), "backup", "prune", "--json", check=0).json()
    assert out["repositories"] == {"offsite": "ok"}
    left = json.loads(_restic(offsite_host["url"], pw, "snapshots", "--json", "--no-lock").stdout)
    assert len(left) == 3  # keep_last 1: the newest run, whole (database, files, confirmation)
    assert len({t for s in left for t in s["tags"] if t.startswith("run=")}) == 1
