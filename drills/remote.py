"""Fault injectors for real hosts, agentless over SSH with Fabric, each with its guaranteed rollback.

The commands are built by pure functions returning argv tuples (:func:`stop_service_args`,
:func:`block_port_args` ...; unit-tested), quoted with :func:`shlex.join` for the remote shell,
and run on every target host of the scenario (hosts of ``drills.hosts``, allowed by
``drills.allowed_hosts``). A fault is undone on every host it was injected on, whatever happened
in between; a rule or qdisc is tagged with the drill so the rollback removes exactly it.

* ``stop-service`` / ``kill-service`` -- ``systemctl stop`` / ``systemctl kill -s KILL`` the unit
  (``params.service``, else ``target.service``); rollback ``systemctl start``;
* ``fill-filesystem`` -- ``fallocate -l SIZE PATH`` (``params.path``, ``params.size``); rollback ``rm -f``;
* ``block-port`` -- ``iptables -I INPUT -p tcp --dport PORT -j DROP`` with a comment naming the drill;
  rollback ``iptables -D`` of that rule;
* ``latency`` -- ``tc qdisc add dev IF root netem delay D``; rollback ``tc qdisc del dev IF root``.
  A kernel without the netem qdisc is exit 3 naming it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.drills.injectors import Injector, PlannedAction, parse_size
from procops.errors import BadInput, EnvironmentFailure
from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config, DrillHost
    from procops.drills.scenario import Scenario

Argv = tuple[str, ...]
COMMENT = "procops-drill"


def stop_service_args(service: str) -> Argv:
    return ("systemctl", "stop", service)


def kill_service_args(service: str) -> Argv:
    return ("systemctl", "kill", "--signal=KILL", service)


def start_service_args(service: str) -> Argv:
    return ("systemctl", "start", service)


def fill_args(path: str, size: int) -> Argv:
    return ("fallocate", "-l", str(size), path)


def unfill_args(path: str) -> Argv:
    return ("rm", "-f", path)


def _port_rule(port: int, tag: str) -> Argv:
    return ("INPUT", "-p", "tcp", "--dport", str(port), "-m", "comment", "--comment", f"{COMMENT}:{tag}", "-j", "DROP")


def block_port_args(port: int, tag: str) -> Argv:
    return ("iptables", "-w", "5", "-I", *_port_rule(port, tag))


def unblock_port_args(port: int, tag: str) -> Argv:
    return ("iptables", "-w", "5", "-D", *_port_rule(port, tag))


def latency_args(interface: str, delay_ms: int) -> Argv:
    return ("tc", "qdisc", "add", "dev", interface, "root", "netem", "delay", f"{delay_ms}ms")


def unlatency_args(interface: str) -> Argv:
    return ("tc", "qdisc", "del", "dev", interface, "root")


def netem_missing(stderr: str) -> bool:
    """tc's words for a kernel without the netem qdisc (sch_netem)."""
    s = stderr.lower()
    return (
        "netem" in s
        and ("unknown" in s or "not found" in s or "no such file" in s)
        or ("specified qdisc kind is unknown" in s)
    )


@dataclass
class Ran:
    host: str
    argv: Argv
    exited: int
    stdout: str
    stderr: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "command": shlex.join(self.argv),
            "exited": self.exited,
            "stderr": self.stderr[-500:],
        }


def connect(h: DrillHost, timeout: float = 10.0) -> Any:
    """A Fabric connection to ``h`` (key file or agent), its host key checked (:mod:`procops.ssh`)."""
    from procops import ssh

    return ssh.connection(h.address, h.user, h.port, key_file=h.key_file, known_hosts=h.known_hosts, timeout=timeout)


def run_on(h: DrillHost, argv: Argv, timeout: float = 60.0) -> Ran:
    """``argv`` on host ``h``; an unreachable host is exit 3 naming it."""
    try:
        with connect(h) as c:
            r = c.run(shlex.join(argv), hide=True, warn=True, timeout=timeout, in_stream=False)
    except Exception as e:  # paramiko and socket errors: the host is not reachable as configured
        raise EnvironmentFailure(
            _("cannot run {command} on {host} ({address}:{port}) over SSH: {error}").format(
                command=argv[0], host=h.name, address=h.address, port=h.port, error=f"{type(e).__name__}: {e}"
            ),
            hint=_("check drills.hosts in the config (address, user, key_file) and that sshd answers"),
        ) from None
    return Ran(h.name, argv, int(r.exited), r.stdout, r.stderr)


@dataclass
class RemoteFault(Injector):
    hosts: list[DrillHost] = field(default_factory=list)
    action: str = ""
    tag: str = "drill"
    done: list[str] = field(default_factory=list)  # hosts the fault was injected on

    # ------------------------------------------------------------------ the commands of the action
    def _service(self) -> str:
        s = self.params.get("service")
        if not s:
            raise BadInput(_("fault {action} needs params.service (or target.service)").format(action=self.action))
        return str(s)

    def _int(self, key: str, low: int, high: int) -> int:
        try:
            v = int(self.params[key])
        except (KeyError, TypeError, ValueError):
            raise BadInput(
                _("fault {action} needs params.{key} (a number)").format(action=self.action, key=key)
            ) from None
        if not low <= v <= high:
            raise BadInput(_("fault.params.{key} must be between {low} and {high}").format(key=key, low=low, high=high))
        return v

    def commands(self) -> tuple[Argv, Argv]:
        """(inject, rollback) argv of the action."""
        a = self.action
        if a == "stop-service":
            return stop_service_args(self._service()), start_service_args(self._service())
        if a == "kill-service":
            return kill_service_args(self._service()), start_service_args(self._service())
        if a == "fill-filesystem":
            path = str(self.params.get("path") or "")
            if not path.startswith("/"):
                raise BadInput(_("fault fill-filesystem needs params.path (an absolute file path)"))
            return fill_args(path, parse_size(self.params.get("size", "1GB"))), unfill_args(path)
        if a == "block-port":
            port = self._int("port", 1, 65535)
            return block_port_args(port, self.tag), unblock_port_args(port, self.tag)
        if a == "latency":
            iface = str(self.params.get("interface") or "eth0")
            return latency_args(iface, self._int("delay_ms", 1, 60000)), unlatency_args(iface)
        raise BadInput(_("fault {action} is not a host fault").format(action=a))

    # ------------------------------------------------------------------ Injector
    def plan(self) -> list[PlannedAction]:
        do, undo = self.commands()
        names = ", ".join(h.name for h in self.hosts)
        return [
            PlannedAction(
                _("on {hosts} over SSH: {command}").format(hosts=names, command=shlex.join(do)),
                _("on the same hosts: {command}").format(command=shlex.join(undo)),
            )
        ]

    def preflight(self) -> None:
        self.commands()
        for h in self.hosts:
            r = run_on(h, ("true",), timeout=20)
            if r.exited != 0:
                raise EnvironmentFailure(_("host {host} does not run commands over SSH").format(host=h.name))

    def inject(self) -> dict[str, Any]:
        do, _undo = self.commands()
        out = []
        for h in self.hosts:
            self.injected = True
            self.done.append(h.name)
            r = run_on(h, do)
            out.append(r.as_dict())
            if r.exited != 0:
                if self.action == "latency" and netem_missing(r.stderr):
                    raise EnvironmentFailure(
                        _("the kernel of {host} has no netem qdisc (sch_netem): latency cannot be injected").format(
                            host=h.name
                        ),
                        hint=_("load it (modprobe sch_netem, package linux-modules-extra) or drill another fault"),
                    )
                raise EnvironmentFailure(
                    _("{command} failed on {host}: {error}").format(
                        command=shlex.join(do), host=h.name, error=r.stderr.strip()[-300:]
                    )
                )
        return {"hosts": out}

    def rollback(self) -> dict[str, Any]:
        _do, undo = self.commands()
        out, failed = [], []
        for name in list(self.done):
            h = next(x for x in self.hosts if x.name == name)
            try:
                r = run_on(h, undo)
            except EnvironmentFailure as e:
                failed.append(f"{name}: {e.message}")
                continue
            out.append(r.as_dict())
            err = r.stderr.lower()
            gone = self.action == "latency" and ("no such file" in err or "handle of zero" in err)  # nothing to remove
            if r.exited != 0 and not gone and not (self.action == "block-port" and "bad rule" in r.stderr.lower()):
                failed.append(f"{name}: {r.stderr.strip()[-300:]}")
            else:
                self.done.remove(name)
        if failed:
            raise EnvironmentFailure(
                _("the rollback failed on: {hosts}").format(hosts="; ".join(failed)),
                hint=_("undo it by hand on those hosts: {command}").format(command=shlex.join(undo)),
            )
        return {"hosts": out}


def for_scenario(config: Config, scenario: Scenario, workdir: Path, tag: str | None = None) -> Injector:
    from procops.drills import scenario as sc

    sc.check_target(scenario, config.drills.allowed_hosts)
    known = {h.name: h for h in config.drills.hosts}
    missing = [n for n in scenario.target.hosts if n not in known]
    if missing:
        raise BadInput(
            _("target host(s) {hosts} have no entry in drills.hosts (address, user, key_file)").format(
                hosts=", ".join(missing)
            )
        )
    params = dict(scenario.fault.params)
    if scenario.target.service and "service" not in params:
        params["service"] = scenario.target.service
    return RemoteFault(
        config,
        params,
        workdir,
        hosts=[known[n] for n in scenario.target.hosts],
        action=scenario.fault.action,
        tag=tag or workdir.name,
    )
