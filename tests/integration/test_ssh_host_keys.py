"""SSH host keys are checked on every connection procops makes (a host of our own: a network
namespace with its own sshd): an unknown key is refused with its fingerprint and the line that adds
it, accept-new records it once, a changed key is always refused, and the CLI says exit 3."""

from __future__ import annotations

import json
import os
import subprocess

import paramiko
import pytest
import yaml
from testsupport import PROCOPS, netns_host

from procops import ssh

pytestmark = pytest.mark.root


@pytest.fixture
def host(tmp_path):
    with netns_host(tmp_path / "h1", prefix="pk") as h:
        yield h


def _run_true(h, known_hosts=None):
    with ssh.connection(h["ip"], "root", key_file=h["key"], known_hosts=known_hosts, timeout=5) as c:
        return c.run("true", hide=True, warn=True, in_stream=False).exited


def _fingerprint(h) -> str:
    return paramiko.Ed25519Key.from_private_key_file(str(h["dir"] / "hostkey")).fingerprint


def test_an_unknown_host_key_is_refused_with_its_fingerprint_and_the_fix(host, tmp_path, monkeypatch):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    monkeypatch.setattr(ssh, "_known_hosts", empty)
    monkeypatch.setattr(ssh, "_policy", ssh.REJECT)
    with pytest.raises(paramiko.SSHException) as e:
        _run_true(host)
    text = str(e.value)
    assert _fingerprint(host) in text and f"ssh-keyscan -p 22 {host['ip']} >> {empty}" in text
    assert "ssh.unknown_host_keys: accept-new" in text
    assert empty.read_text() == ""  # nothing recorded
    # the host's key in the file: the same connection works
    assert _run_true(host, known_hosts=host["known_hosts"]) == 0


def test_accept_new_records_the_key_once_and_a_changed_key_is_still_refused(host, tmp_path, monkeypatch):
    known = tmp_path / "ssh" / "known_hosts"  # does not exist yet
    monkeypatch.setattr(ssh, "_known_hosts", known)
    monkeypatch.setattr(ssh, "_policy", ssh.ACCEPT_NEW)
    assert _run_true(host) == 0
    assert host["ip"] in known.read_text() and oct(known.stat().st_mode & 0o777) == "0o600"
    # recorded: the strict policy accepts it now
    monkeypatch.setattr(ssh, "_policy", ssh.REJECT)
    assert _run_true(host) == 0
    # another key under the same address (an impostor, or a reinstalled host): refused even with accept-new
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, blob = (tmp_path / "other.pub").read_text().split()[:2]
    known.write_text(f"{host['ip']} {kind} {blob}\n")
    monkeypatch.setattr(ssh, "_policy", ssh.ACCEPT_NEW)
    with pytest.raises(paramiko.BadHostKeyException):
        _run_true(host)
    assert known.read_text() == f"{host['ip']} {kind} {blob}\n"  # not overwritten


def test_hosts_exec_on_a_host_with_an_unknown_key_is_exit_3_naming_it(host, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    cfg = tmp_path / "procops.yaml"

    def write(known_hosts) -> None:
        cfg.write_text(
            yaml.safe_dump(
                {
                    "ssh": {"known_hosts": str(known_hosts)},
                    "release": {
                        "haproxy_socket": str(tmp_path / "lb.sock"),
                        "inventory": [
                            {
                                "name": "h1",
                                "server": "h1",
                                "address": host["ip"],
                                "user": "root",
                                "vars": {"ansible_ssh_private_key_file": str(host["key"])},
                            }
                        ],
                    },
                }
            )
        )

    env = {**os.environ, "PROCOPS_CONFIG": str(cfg), "PROCOPS_LANG": "en", "PROCOPS_HOME": str(tmp_path / "home")}
    write(empty)
    p = subprocess.run(
        [PROCOPS, "hosts", "exec", "--host", "h1", "--json", "true"], capture_output=True, text=True, env=env
    )
    assert p.returncode == 3, p.stdout + p.stderr
    (row,) = json.loads(p.stdout)
    assert row["unreachable"] is True and _fingerprint(host) in row["stderr"]
    write(host["known_hosts"])
    p = subprocess.run([PROCOPS, "hosts", "exec", "--host", "h1", "true"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
