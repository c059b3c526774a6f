"""playbooks/monitoring.yml: syntax, lint, and a real run against an sshd in a network namespace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import testsupport

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "monitoring.yml"
BIN = Path(sys.executable).parent


def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)


def test_syntax_check(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text("[platform]\nh1 ansible_connection=local\n[prometheus]\nh1\n")
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


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns_host(tmp_path):
    """A test host: network namespace + veth pair + its own sshd (root only)."""
    with testsupport.netns_host(tmp_path / "host", prefix="pm") as h:
        yield h


@pytest.mark.root
def test_playbook_installs_agents_and_rules_on_a_test_host(netns_host, tmp_path):
    from procops.config import Config
    from procops.monitoring import rules

    rules_dir = tmp_path / "rules"
    assert rules.write_and_test(Config(), rules_dir, journal=False).ok
    h = netns_host
    hostdir = h["dir"]
    inv = tmp_path / "inv.ini"
    inv.write_text(
        f"[platform]\nh1 ansible_host={h['ip']} ansible_user=root ansible_ssh_private_key_file={h['key']} "
        "ansible_python_interpreter=/usr/bin/python3 "
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
        "[prometheus]\nh1\n"
    )
    argv = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(inv),
        str(PLAYBOOK),
        "-e",
        "monitoring_install_packages=false",
        "-e",
        "monitoring_service_manager=process",
        "-e",
        f"monitoring_dir={hostdir}/monitoring",
        "-e",
        f"textfile_dir={hostdir}/textfile",
        "-e",
        f"rules_dir={rules_dir}",
        "-e",
        f"prometheus_rules_dir={hostdir}/prometheus-rules",
        "-e",
        "prometheus_reload=false",
    ]
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "PATH": f"{BIN}:{os.environ['PATH']}"}
    p = _run(argv, cwd=ROOT, env=env, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "failed=0" in p.stdout
    assert (hostdir / "prometheus-rules" / rules.RULES_FILE).is_file()
    # the exporters run inside the namespace, on its own loopback
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            h["ns"],
            "python3",
            "-c",
            "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9100/metrics').read().decode())",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "node_exporter_build_info" in out.stdout
    # procops' batch metrics, written where monitoring.textfile_dir says, reach that node_exporter
    cfg = tmp_path / "procops.yaml"
    cfg.write_text(f"monitoring:\n  textfile_dir: {hostdir}/textfile\n")
    job = subprocess.run(
        [str(BIN / "procops"), "--config", str(cfg), "schedule", "run-job", "backup-verify"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PROCOPS_HOME": str(tmp_path / "home")},
    )
    assert job.returncode not in (0, 2), job.stderr  # no backup yet: the job fails, and says so
    assert (hostdir / "textfile" / "schedule.prom").is_file()
    assert not (tmp_path / "home" / "textfile" / "schedule.prom").exists()
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            h["ns"],
            "python3",
            "-c",
            "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9100/metrics').read().decode())",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert f'procops_job_last_exit_code{{scheduled_job="backup-verify"}} {job.returncode}' in out.stdout
    # a second run changes nothing that matters and still passes
    p2 = _run(argv, cwd=ROOT, env=env, timeout=240)
    assert p2.returncode == 0 and "failed=0" in p2.stdout
