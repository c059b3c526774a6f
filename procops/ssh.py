"""procops's SSH connections (Fabric), with host keys checked the way OpenSSH does.

Fabric's own ``Connection`` accepts any unknown host key (paramiko's ``AutoAddPolicy``): a host
impersonated on the network would be handed the commands of a drill, a release or a scan. Every
connection of procops is made here instead:

* known keys come from ``ssh.known_hosts`` (default ``~/.ssh/known_hosts``), from
  ``/etc/ssh/ssh_known_hosts``, and from a host's own ``known_hosts`` when its config names one;
* a key that differs from the known one is always refused (paramiko's ``BadHostKeyException``);
* an unknown key is refused (``ssh.unknown_host_keys: reject``, the default, as
  ``StrictHostKeyChecking=yes``) with its fingerprint and the command that adds it, or, with
  ``accept-new`` (``StrictHostKeyChecking=accept-new``), recorded in the known_hosts file on first use.

Fabric and paramiko are imported only when a connection is made (``procops --help`` stays fast).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
REJECT = "reject"
ACCEPT_NEW = "accept-new"

_policy: str = REJECT
_known_hosts: Path | None = None  # None: ~/.ssh/known_hosts


def configure(config: Config) -> None:
    """Use the config's ``ssh`` section for every connection made after this."""
    global _policy, _known_hosts
    _policy = config.ssh.unknown_host_keys
    _known_hosts = config.ssh.known_hosts


def default_known_hosts() -> Path:
    return (_known_hosts or Path("~/.ssh/known_hosts")).expanduser()


def host_key_name(address: str, port: int) -> str:
    """How known_hosts names a host: ``address``, or ``[address]:port`` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def _unknown_policy(known_hosts: Path, port: int, accept_new: bool) -> Any:
    import paramiko

    class Policy(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            if accept_new:
                paramiko.AutoAddPolicy().missing_host_key(client, hostname, key)
                return
            address = hostname.rsplit("]:", 1)[0].lstrip("[") if hostname.startswith("[") else hostname
            raise paramiko.SSHException(
                _(
                    "the host key of {host} ({kind} {fingerprint}) is not in {file}: check the fingerprint with the "
                    "host's administrator, then add it (ssh-keyscan -p {port} {address} >> {file}), or set "
                    "ssh.unknown_host_keys: accept-new in the config"
                ).format(
                    host=hostname,
                    kind=key.get_name(),
                    fingerprint=key.fingerprint,
                    file=known_hosts,
                    port=port,
                    address=address,
                )
            )

    return Policy()


def connection(
    address: str,
    user: str | None,
    port: int = 22,
    *,
    key_file: str | os.PathLike[str] | None = None,
    known_hosts: str | os.PathLike[str] | None = None,
    timeout: float = 10.0,
) -> Any:
    """A Fabric ``Connection`` whose host key is checked (lazy: it connects on first use).

    ``user`` None: the local user's name (Fabric's default). ``key_file``: the private key (else the SSH agent and ~/.ssh keys). ``known_hosts``: the host's
    own file, consulted before the default one and, with ``accept-new``, where a new key is written.
    """
    import paramiko
    from fabric import Connection

    kw: dict[str, Any] = {"banner_timeout": timeout, "auth_timeout": timeout}
    if key_file:
        kw.update(key_filename=str(Path(key_file).expanduser()), look_for_keys=False, allow_agent=False)
    c = Connection(address, user=user, port=port, connect_kwargs=kw, connect_timeout=int(max(1, timeout)))
    client: paramiko.SSHClient = c.client
    if SYSTEM_KNOWN_HOSTS.is_file():
        client.load_system_host_keys(str(SYSTEM_KNOWN_HOSTS))
    target = Path(known_hosts).expanduser() if known_hosts else default_known_hosts()
    files = [default_known_hosts()] if known_hosts and default_known_hosts() != target else []
    accept_new = _policy == ACCEPT_NEW
    if accept_new and not target.exists():
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.touch(mode=0o600)
    for f in files:  # checked, never written
        if f.is_file():
            client.load_system_host_keys(str(f))
    if target.is_file():
        client.load_host_keys(str(target))  # where accept-new writes a new key
    client.set_missing_host_key_policy(_unknown_policy(target, port, accept_new))
    return c
