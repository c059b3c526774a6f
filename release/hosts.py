"""The host side of a release over SSH, with Fabric: run a command, read health and the deployed
version per host (``procops hosts exec|health|version``; ``plan`` and ``resume`` use them).

Sandbox hosts (replicas with a local connection) are read over HTTP only; real hosts over SSH
(``address``, ``user`` of the inventory; keys from the agent or ~/.ssh, never a password on argv).
Fabric is imported inside the functions (``procops --help`` stays fast).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from procops.errors import BadInput

from procops.i18n import _

if TYPE_CHECKING:
    from procops.release.controller import Env
    from procops.release.plan import Host

CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class HostAnswer:
    host: str
    ok: bool
    exit_code: int | None
    stdout: str
    stderr: str
    version: str | None = None
    unreachable: bool = False  # no SSH session (refused, timed out, host key unknown or changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "version": self.version,
            "unreachable": self.unreachable,
        }


def _connection(h: Host, key_file: str | None = None) -> Any:
    from procops import ssh

    port = int(h.vars.get("ansible_port", "22"))
    assert h.address is not None  # a sandbox replica has no SSH host (checked by the callers)
    return ssh.connection(h.address, h.user, port, key_file=key_file, timeout=CONNECT_TIMEOUT)


def run(h: Host, argv: list[str], timeout: float = 60.0) -> HostAnswer:
    """Run ``argv`` on the host (quoted, no shell string built from input)."""
    if h.local:
        raise BadInput(
            _("{host} is a sandbox replica (local connection): there is no SSH host to run on").format(host=h.name)
        )
    cmd = " ".join(shlex.quote(a) for a in argv)
    key = h.vars.get("ansible_ssh_private_key_file")
    try:
        with _connection(h, key) as c:
            r = c.run(cmd, hide=True, warn=True, timeout=timeout, in_stream=False)
        return HostAnswer(h.name, r.exited == 0, r.exited, r.stdout, r.stderr)
    except Exception as e:  # noqa: BLE001 - paramiko's and socket's errors: the host is unreachable
        return HostAnswer(h.name, False, None, "", f"{type(e).__name__}: {e}", unreachable=True)


def unreachable(env: Env) -> list[str]:
    """The inventory hosts that do not answer over SSH (``true`` runs)."""
    return [h.name for h in env.hosts if not h.local and not run(h, ["true"], timeout=CONNECT_TIMEOUT).ok]


def health(h: Host) -> HostAnswer:
    """The host's health URL: read from the host itself over SSH (curl), or over HTTP for a replica."""
    import json

    from procops.release.controller import host_version

    if h.local:
        v = host_version(h)
        return HostAnswer(h.name, v is not None, 0 if v else None, v or "", "", v)
    a = run(h, ["curl", "-fsS", "--max-time", "5", h.health_url])
    version = None
    if a.ok:
        try:
            version = str(json.loads(a.stdout).get("version") or "") or None
        except ValueError:
            version = None
    return HostAnswer(h.name, a.ok and version is not None, a.exit_code, a.stdout, a.stderr, version, a.unreachable)


def deployed_version(h: Host) -> HostAnswer:
    """The release the ``current`` link points to (real hosts), or the version a replica answers."""
    if h.local:
        return health(h)
    root = h.vars.get("release_root", "/srv/platform")
    a = run(h, ["readlink", f"{root}/current"])
    v = a.stdout.strip().rsplit("/", 1)[-1] if a.ok and a.stdout.strip() else None
    return HostAnswer(h.name, v is not None, a.exit_code, a.stdout, a.stderr, v, a.unreachable)


def select(env: Env, names: list[str] | None) -> list[Host]:
    if not names:
        return list(env.hosts)
    known = {h.name: h for h in env.hosts}
    bad = [n for n in names if n not in known]
    if bad:
        raise BadInput(
            _("unknown host(s) {hosts}: the inventory has {known}").format(hosts=", ".join(bad), known=", ".join(known))
        )
    return [known[n] for n in names]
