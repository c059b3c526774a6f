"""playbooks/monitoring.yml: syntax, lint, and a real run against an sshd in a network namespace."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    p = _run([str(BIN / "ansible-lint"), "--offline", str(PLAYBOOK.relative_to(ROOT))], cwd=ROOT, timeout=300,
             env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert p.returncode == 0, p.stdout + p.stderr


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns_host(tmp_path):
    """A test host: network namespace + veth pair + its own sshd (root only)."""
    if os.geteuid() != 0 or not shutil.which("ip") or not Path("/usr/sbin/sshd").exists():
        pytest.skip("needs root, iproute2 and openssh-server")
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    ns, veth, peer = f"pm{tag}", f"vpm{tag}", f"vpn{tag}"
    octet = random.randrange(10, 250)
    host_ip, ns_ip = f"10.231.{octet}.1", f"10.231.{octet}.2"
    d = tmp_path / "host"
    d.mkdir()
    try:
        _sh("ip", "netns", "add", ns)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot create a network namespace: {e.stderr.decode()[:200]}")
    pidfile = d / "sshd.pid"
    try:
        _sh("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
        _sh("ip", "link", "set", peer, "netns", ns)
        _sh("ip", "addr", "add", f"{host_ip}/24", "dev", veth)
        _sh("ip", "link", "set", veth, "up")
        _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/24", "dev", peer)
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "key"))
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "hostkey"))
        (d / "authorized_keys").write_text((d / "key.pub").read_text())
        (d / "sshd_config").write_text(
            f"ListenAddress {ns_ip}\nPort 22\nHostKey {d / 'hostkey'}\nPidFile {pidfile}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
            "PasswordAuthentication no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        _sh("ip", "netns", "exec", ns, "/usr/sbin/sshd", "-f", str(d / "sshd_config"))
        for _ in range(50):
            if pidfile.exists():
                break
            time.sleep(0.1)
        yield {"ip": ns_ip, "key": d / "key", "dir": d, "ns": ns}
    finally:
        # stop what runs in the namespace (the sshd and what the playbook started), then remove it
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10).stdout
            for pid in pids.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 15)
        time.sleep(0.5)
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=10)
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run(["ip", "link", "delete", veth], capture_output=True, timeout=10)


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
        "[prometheus]\nh1\n")
    argv = [str(BIN / "ansible-playbook"), "-i", str(inv), str(PLAYBOOK),
            "-e", "monitoring_install_packages=false", "-e", "monitoring_service_manager=process",
            "-e", f"monitoring_dir={hostdir}/monitoring", "-e", f"textfile_dir={hostdir}/textfile",
            "-e", f"rules_dir={rules_dir}", "-e", f"prometheus_rules_dir={hostdir}/prometheus-rules",
            "-e", "prometheus_reload=false"]
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "PATH": f"{BIN}:{os.environ['PATH']}"}
    p = _run(argv, cwd=ROOT, env=env, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "failed=0" in p.stdout
    assert (hostdir / "prometheus-rules" / rules.RULES_FILE).is_file()
    # the exporters run inside the namespace, on its own loopback
    out = subprocess.run(["ip", "netns", "exec", h["ns"], "python3", "-c",
                          "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9100/metrics').read().decode())"],
                         capture_output=True, text=True, timeout=30)
    assert "node_exporter_build_info" in out.stdout
    # a second run changes nothing that matters and still passes
    p2 = _run(argv, cwd=ROOT, env=env, timeout=240)
    assert p2.returncode == 0 and "failed=0" in p2.stdout
