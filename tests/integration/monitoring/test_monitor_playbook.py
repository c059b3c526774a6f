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
def test_playbook_installs_agents_rules_and_basic_auth_on_a_test_host(netns_host, tmp_path, procops_home):
    from procops.config import Config
    from procops.monitoring import api, rules

    rules_dir = tmp_path / "rules"
    password = "web-pass-" + os.urandom(6).hex()
    pw_file = tmp_path / "web-password"
    pw_file.write_text(password + "\n")
    pw_file.chmod(0o600)
    cfg = Config.model_validate({"monitoring": {"web_password": {"file": str(pw_file)}}})
    assert api.rules(cfg, rules_dir).ok
    assert (rules_dir / "web.yml").is_file() and password not in (rules_dir / "web.yml").read_text()
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
        "-e",
        f"monitoring_web_password_file={pw_file}",
        "-e",
        f"prometheus_config_dir={hostdir}/prometheus",
        "-e",
        "prometheus_owner=root",
    ]
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "PATH": f"{BIN}:{os.environ['PATH']}"}
    p = _run(argv, cwd=ROOT, env=env, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "failed=0" in p.stdout
    assert (hostdir / "prometheus-rules" / rules.RULES_FILE).is_file()
    web, host_pw = hostdir / "prometheus" / "web.yml", hostdir / "prometheus" / "procops-web-password"
    assert (web.stat().st_mode & 0o777, host_pw.stat().st_mode & 0o777) == (0o600, 0o600)
    assert host_pw.read_text().strip() == password
    assert password not in p.stdout + p.stderr  # no_log: the secret is not in Ansible's output
    _prometheus_with_web_config_refuses_strangers(web, password, tmp_path)
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


def _prometheus_with_web_config_refuses_strangers(web: Path, password: str, tmp_path: Path) -> None:
    """The installed web config, given to a real Prometheus: 401 without the credentials, 200 with them."""
    import time

    import httpx

    port = testsupport.free_port_block(1)
    cfg = tmp_path / "prom.yml"
    cfg.write_text("global: {scrape_interval: 15s}\n")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.config.file={web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/status/buildinfo"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                r = httpx.get(url, auth=("procops", password), timeout=2)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert httpx.get(url, auth=("procops", password), timeout=5).status_code == 200
        assert httpx.get(url, timeout=5).status_code == 401
        assert httpx.get(url, auth=("procops", password + "x"), timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
