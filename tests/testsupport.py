"""Helpers shared by tests and benchmarks (importable as ``testsupport``: tests/ is on pytest's path)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
PROCOPS = str(BIN / "procops")


_RESERVED: list = []  # lock files held for the life of the process: a block is never handed out twice


def free_port_block(n: int = 1, start: int = 20000, end: int | None = None) -> int:
    """First port of ``n`` consecutive free loopback ports.

    The block lies below the kernel's ephemeral range (``ip_local_port_range``), so an outgoing
    connection of another test (a scrape, a load-test client) cannot take one of its ports between this
    check and the server's bind; and it is reserved by a lock file for as long as this process lives, so
    two test workers never get the same block. The start is randomised to spread parallel runs.
    """
    import fcntl
    import os
    import random
    import socket
    import tempfile

    if end is None:
        end = _ephemeral_low()
    lockdir = Path(tempfile.gettempdir()) / "procops-test-ports"
    lockdir.mkdir(mode=0o700, exist_ok=True)
    span = 10
    if not 1 <= n <= span:
        raise ValueError(f"a block holds 1 to {span} ports, not {n}")
    candidates = list(range(start, end - span, span))
    offset = random.randrange(len(candidates))
    for first in candidates[offset:] + candidates[:offset]:
        fd = os.open(lockdir / f"{first}-{span}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        socks = []
        try:
            for p in range(first, first + n):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                socks.append(s)
        except OSError:
            os.close(fd)
            continue
        finally:
            for s in socks:
                s.close()
        _RESERVED.append(fd)
        return first
    raise RuntimeError(f"no block of {n} free loopback ports between {start} and {end}")


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 by default): the end of the test ports."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def monitoring_ports(first: int) -> dict:
    """A monitoring config section whose seven components listen on ``first`` .. ``first + 6``."""
    names = (
        "prometheus_port",
        "alertmanager_port",
        "node_exporter_port",
        "blackbox_exporter_port",
        "postgres_exporter_port",
        "exporter_port",
        "webhook_port",
    )
    return {name: first + i for i, name in enumerate(names)}


def readiness_config(port_block, directory: Path) -> int:
    """A procops.yaml in ``directory`` for a quick readiness run on free ports (a small seed, a normal
    peak of 2 users); returns the sandbox's port."""
    import yaml

    port = port_block(4)
    cfg = {
        "sandbox": {
            "port": port,
            "seed": {"announcements": 30, "suppliers": 5, "documents": 10, "document_size": "20KB"},
        },
        "monitoring": monitoring_ports(port_block(7)),
        "loadtest": {"normal_peak_users": 2},
    }
    (directory / "procops.yaml").write_text(yaml.safe_dump(cfg))
    return port


def _sh(*argv: str, check: bool = True):
    import subprocess

    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def _kill_namespace_processes(ns: str) -> None:
    import contextlib
    import os
    import subprocess
    import time

    for sig in (15, 9):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            pids = _sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), sig)
            if not pids:
                return
            time.sleep(0.5)


def netns_host(directory: Path, prefix: str = "pt", before_teardown=None):
    """A test host of our own: a network namespace with a veth pair and its own sshd (root only).

    A context manager yielding ``{"ns", "ip", "host_ip", "host_if", "dir", "key", "known_hosts", "ssh"}``:
    ``ip`` is the host's address, ``key`` the client key root may log in with, ``known_hosts`` a file
    with the host's key, ``ssh`` an ssh command line for it.
    The namespace shares this machine's filesystem: give the host its own folder. On exit,
    ``before_teardown()`` runs (if given), every process in the namespace is stopped, and the
    namespace and the veth pair are removed.
    """
    import contextlib
    import os
    import secrets
    import shutil
    import subprocess
    import time

    import pytest

    @contextlib.contextmanager
    def host():
        if os.geteuid() != 0 or not shutil.which("ip") or not Path("/usr/sbin/sshd").exists():
            pytest.skip("needs root, iproute2 and openssh-server")
        tag = secrets.token_hex(3)
        ns, host_if, peer_if = f"{prefix}{tag}", f"{prefix}{tag}a", f"{prefix}{tag}b"
        net = f"10.{secrets.choice(range(100, 250))}.{secrets.choice(range(0, 250))}"
        host_ip, ns_ip = f"{net}.1", f"{net}.2"
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        try:
            _sh("ip", "netns", "add", ns)
        except subprocess.CalledProcessError as e:
            pytest.skip(f"cannot create a network namespace: {e.stderr[:200]}")
        try:
            _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
            _sh("ip", "link", "set", peer_if, "netns", ns)
            _sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
            _sh("ip", "link", "set", host_if, "up")
            _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", peer_if)
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", peer_if, "up")
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "key"))
            _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "hostkey"))
            shutil.copy(d / "key.pub", d / "authorized_keys")
            pidfile = d / "sshd.pid"
            (d / "sshd_config").write_text(
                f"ListenAddress {ns_ip}\nPort 22\nHostKey {d / 'hostkey'}\nPidFile {pidfile}\n"
                f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
                "Subsystem sftp internal-sftp\n"
            )
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)
            _sh("ip", "netns", "exec", ns, "/usr/sbin/sshd", "-f", str(d / "sshd_config"))
            for _ in range(50):
                if pidfile.exists():
                    break
                time.sleep(0.1)
            # the host's key as a known_hosts line: procops refuses unknown host keys
            kind, blob = (d / "hostkey.pub").read_text().split()[:2]
            (d / "known_hosts").write_text(f"{ns_ip} {kind} {blob}\n")
            ssh = (
                f"ssh -i {d / 'key'} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                f"-o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR root@{ns_ip}"
            )
            yield {
                "ns": ns,
                "ip": ns_ip,
                "host_ip": host_ip,
                "host_if": host_if,
                "dir": d,
                "key": d / "key",
                "known_hosts": d / "known_hosts",
                "ssh": ssh,
            }
        finally:
            if before_teardown is not None:
                with contextlib.suppress(Exception):
                    before_teardown()
            _kill_namespace_processes(ns)
            _sh("ip", "link", "del", host_if, check=False)
            _sh("ip", "netns", "del", ns, check=False)

    return host()


@contextlib.contextmanager
def read_only_journal(home):
    """The journal file made immutable (chattr +i): a write fails for real, even for root."""
    import shutil
    import subprocess

    import pytest

    from procops.journal import Journal

    path = home / "journal.db"
    Journal(path).close()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def run_restic(home: Path, base: Path, repo: str, *args: str, timeout: float = 300):
    """Raw restic on a test repository ``base/repos/<repo>`` with procops' generated password
    (``home/secrets/restic-<repo>``), no RESTIC_* of the caller; asserts exit 0."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(
        RESTIC_REPOSITORY=str(base / "repos" / repo), RESTIC_PASSWORD_FILE=str(home / "secrets" / f"restic-{repo}")
    )
    p = subprocess.run(["restic", *args], capture_output=True, text=True, env=env, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p
