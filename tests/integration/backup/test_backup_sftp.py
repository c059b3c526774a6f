"""Off-site over sftp: to an sshd in a network namespace (a test host of our own), down and back up."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import subprocess
import time

import pytest
from platform_data import config_yaml

pytestmark = pytest.mark.root


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def sftp_host(tmp_path):
    if os.geteuid() != 0 or not shutil.which("ip") or not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("needs root, iproute2 and openssh-server")
    tag = secrets.token_hex(3)
    ns, host_if, peer_if = f"pbk{tag}", f"pbk{tag}a", f"pbk{tag}b"
    net = f"10.{random.randrange(100, 250)}.{random.randrange(0, 250)}"
    host_ip, peer_ip = f"{net}.1", f"{net}.2"
    d = tmp_path / "sftp-host"
    d.mkdir()
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key"))
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client_key"))
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    (d / "sshd_config").write_text(f"""ListenAddress {peer_ip}
Port 22
HostKey {d / 'host_key'}
PidFile {d / 'sshd.pid'}
AuthorizedKeysFile {d / 'authorized_keys'}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
""")
    os.makedirs("/run/sshd", exist_ok=True)
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        sh("ip", "link", "set", peer_if, "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{peer_ip}/30", "dev", peer_if)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", peer_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "/usr/sbin/sshd", "-f", str(d / "sshd_config"))
        for _ in range(50):
            if (d / "sshd.pid").exists():
                break
            time.sleep(0.1)
        ssh = (f"ssh -i {d / 'client_key'} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
               f"-o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR root@{peer_ip} -s sftp")
        yield {"ip": peer_ip, "dir": d, "ssh": ssh, "host_if": host_if, "remote": tmp_path / "remote-repo"}
    finally:
        pid = (d / "sshd.pid").read_text().strip() if (d / "sshd.pid").exists() else None
        if pid:
            sh("kill", pid, check=False)
        sh("ip", "link", "del", host_if, check=False)
        sh("ip", "netns", "del", ns, check=False)


def test_offsite_over_sftp_down_then_caught_up(cli, procops_home, tmp_path, sftp_host, platform):
    url = f"sftp:root@{sftp_host['ip']}:{sftp_host['remote']}"
    extra = ("  retention: {keep_last: 20}\n")
    text = config_yaml(str(platform.db), platform.docs, {"local": (str(tmp_path / "local-repo"), False)}, extra)
    text = text.replace("  retention:", f"""    - name: offsite
      url: '{url}'
      offsite: true
      options: {{sftp.command: '{sftp_host['ssh']}'}}
  retention:""")
    platform.config.write_text(text)
    cli("backup", "init", check=0)
    assert (sftp_host["remote"] / "config").exists()  # written through the sshd in the namespace
    cli("backup", "run", check=0)
    sh("ip", "link", "set", sftp_host["host_if"], "down")  # the off-site host is unreachable
    try:
        r = cli("backup", "run", "--json")
        assert r.code == 1
        res = r.json()["repositories"]
        assert res["local"]["status"] == "ok" and res["offsite"]["status"] == "failed"
        assert res["offsite"]["problem"] == "unreachable", res["offsite"]
    finally:
        sh("ip", "link", "set", sftp_host["host_if"], "up")
    r = cli("backup", "run", "--json", check=0).json()
    assert r["repositories"]["offsite"]["status"] == "ok"
    st = cli("backup", "status", "--json", check=0).json()["repositories"]
    assert st["offsite"]["runs"] == st["local"]["runs"] == 3 and st["offsite"]["offsite_missing_runs"] == 0
    v = cli("backup", "verify", "--repo", "offsite", "--json", check=0).json()
    assert v["results"][0]["ok"] and v["results"][0]["documents"] == 20
