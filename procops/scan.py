"""The weekly host security scan (R3: *vulnerability* scan) with lynis and debsecan.

``procops scan`` runs, on this host or on inventory hosts over SSH (Fabric):

* ``lynis audit system`` non-interactively: the hardening index, warnings and suggestions;
* ``debsecan``: the known vulnerabilities of the installed packages, from vulnerability data
  read from ``scan.vulnerability_source`` (the public Debian security tracker by default, a
  mirror's URL, or a folder with one file per suite). For a remote host its package list
  (``/var/lib/dpkg/status``) and suite are fetched and debsecan runs here, so only this host
  needs to reach the data.

Its report stays in ``$PROCOPS_HOME/reports/scan-<UTC time>[-<host>]/`` (``summary.json`` with
every warning and vulnerability), and the scan is compared with the previous one of the same
target: new and resolved warnings, new and fixed vulnerabilities. The verdict fails when lynis
gives no hardening index (a broken run is not a pass), when the index is below
``scan.min_hardening_index``, when there are more than ``scan.max_warnings`` warnings, when a
warning is new since the previous scan, or when a high-urgency vulnerability is new (on the first
scan of a target every high-urgency one is new). Each run is a journal event (``scan.run``); a
passing run sets ``procops_scan_last_success_timestamp_seconds`` (the ScanOverdue alert).
"""

from __future__ import annotations

import json
import secrets
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.errors import BadInput, EnvironmentFailure

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

LYNIS = "lynis"
DEBSECAN = "debsecan"
LOCAL = "local"


def lynis_argv(report_file: Path | str, log_file: Path | str, groups: list[str] | None = None) -> list[str]:
    """argv of a quick, non-interactive lynis audit of this host."""
    argv = [
        LYNIS,
        "audit",
        "system",
        "--quick",
        "--no-colors",
        "--cronjob",
        "--report-file",
        str(report_file),
        "--log-file",
        str(log_file),
    ]
    if groups:
        argv += ["--tests-from-group", " ".join(groups)]
    return argv


def debsecan_argv(suite: str | None, source: str | None, status_file: Path | None = None) -> list[str]:
    """argv of debsecan's summary of the installed packages' vulnerabilities."""
    argv = [DEBSECAN, "--format", "summary"]
    if suite:
        argv += ["--suite", suite]
    if source:
        argv += ["--source", source_url(source)]
    if status_file is not None:
        argv += ["--status", str(status_file)]
    return argv


def source_url(source: str) -> str:
    """A folder (``/srv/debsecan``) as a ``file://`` URL; URLs as they are. debsecan appends the suite."""
    if "://" in source:
        return source
    p = Path(source).expanduser().absolute()
    return p.as_uri() + "/"


@dataclass
class Finding:
    test: str
    text: str

    def as_dict(self) -> dict:
        return {"test": self.test, "text": self.text}


@dataclass
class ScanReport:
    lynis_version: str = ""
    hardening_index: int | None = None
    tests_executed: int = 0
    warnings: list[Finding] = field(default_factory=list)
    suggestions: list[Finding] = field(default_factory=list)


def parse_report(text: str) -> ScanReport:
    """Parse lynis' report file (``key=value`` lines, ``key[]=`` for lists, ``|``-separated fields)."""
    r = ScanReport()
    for line in text.splitlines():
        if "=" not in line or line.startswith("#"):
            continue
        key, _unused, value = line.partition("=")
        if key == "lynis_version":
            r.lynis_version = value
        elif key == "hardening_index":
            r.hardening_index = int(value) if value.isdigit() else None
        elif key == "tests_executed":
            r.tests_executed = len([t for t in value.split("|") if t])
        elif key in ("warning[]", "suggestion[]"):
            parts = value.split("|")
            f = Finding(parts[0], parts[1] if len(parts) > 1 else "")
            (r.warnings if key == "warning[]" else r.suggestions).append(f)
    return r


@dataclass(frozen=True)
class Vulnerability:
    """One line of debsecan's summary: ``CVE-2024-1234 openssl (fixed, remotely exploitable, high urgency)``."""

    cve: str
    package: str
    urgency: str = ""  # high | medium | low | "" (not yet assigned)
    remote: bool = False
    fixed: bool = False  # a fix is available

    @property
    def key(self) -> str:
        return f"{self.cve} {self.package}"

    @property
    def high(self) -> bool:
        return self.urgency == "high"

    def as_dict(self) -> dict:
        return {
            "cve": self.cve,
            "package": self.package,
            "urgency": self.urgency,
            "remote": self.remote,
            "fixed": self.fixed,
        }


def parse_debsecan(text: str) -> list[Vulnerability]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or " " not in line:
            continue
        head, _sep, notes = line.partition(" (")
        parts = head.split()
        if len(parts) != 2:
            continue
        words = [w.strip() for w in notes.rstrip(")").split(",")] if notes else []
        urgency = next((w.split()[0] for w in words if w.endswith(" urgency")), "")
        out.append(
            Vulnerability(
                parts[0],
                parts[1],
                urgency=urgency,
                remote="remotely exploitable" in words,
                fixed="fixed" in words,
            )
        )
    return out


def os_codename(os_release: str) -> str | None:
    """VERSION_CODENAME of an /etc/os-release (the Debian suite debsecan wants)."""
    for line in os_release.splitlines():
        key, _sep, value = line.partition("=")
        if key.strip() == "VERSION_CODENAME":
            return value.strip().strip('"') or None
    return None


# --------------------------------------------------------------------------- hosts


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    user: str = "root"
    port: int = 22
    key_file: str | None = None


def inventory_hosts(path: Path) -> dict[str, Host]:
    """The hosts of an Ansible INI inventory with their connection variables (groups are flattened;
    ``[group:vars]`` and ``[group:children]`` sections are skipped)."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise BadInput(_("cannot read the inventory {path}: {e}").format(path=path, e=e)) from None
    hosts: dict[str, Host] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if ":" in section:
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            raise BadInput(_("inventory {path}: cannot read the line {line!r}").format(path=path, line=line)) from None
        name, kv = words[0], dict(w.split("=", 1) for w in words[1:] if "=" in w)
        try:
            port = int(kv.get("ansible_port", 22))
        except ValueError:
            raise BadInput(_("inventory {path}: {name} has a bad ansible_port").format(path=path, name=name)) from None
        hosts[name] = Host(
            name,
            kv.get("ansible_host", name),
            kv.get("ansible_user", "root"),
            port,
            kv.get("ansible_ssh_private_key_file"),
        )
    return hosts


def resolve_hosts(config: Config, names: list[str], inventory: Path | None = None) -> list[Host]:
    inv = inventory or config.scan.inventory
    if inv is None:
        raise BadInput(
            _("--host needs an inventory: give --inventory FILE or set scan.inventory"),
        )
    known = inventory_hosts(inv)
    missing = [n for n in names if n not in known]
    if missing:
        raise BadInput(
            _("not in the inventory {path}: {missing} (it has: {known})").format(
                path=inv, missing=", ".join(missing), known=", ".join(sorted(known)) or "-"
            )
        )
    return [known[n] for n in names]


# --------------------------------------------------------------------------- results


@dataclass
class Changes:
    previous: str | None = None  # the previous scan's folder
    new_warnings: list[str] = field(default_factory=list)
    resolved_warnings: list[str] = field(default_factory=list)
    new_vulnerabilities: list[str] = field(default_factory=list)
    fixed_vulnerabilities: list[str] = field(default_factory=list)
    new_high: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "previous": self.previous,
            "new_warnings": self.new_warnings,
            "resolved_warnings": self.resolved_warnings,
            "new_vulnerabilities": self.new_vulnerabilities,
            "fixed_vulnerabilities": self.fixed_vulnerabilities,
            "new_high": self.new_high,
        }


@dataclass
class ScanResult:
    ok: bool
    report: ScanReport
    report_dir: Path
    max_warnings: int
    min_hardening_index: int
    duration_s: float
    target: str = LOCAL
    vulnerabilities: list[Vulnerability] | None = None  # None: not scanned (scan.vulnerabilities false)
    suite: str | None = None
    changes: Changes = field(default_factory=Changes)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        r = self.report
        vulns = self.vulnerabilities
        return {
            "verdict": "pass" if self.ok else "fail",
            "ok": self.ok,
            "target": self.target,
            "report_dir": str(self.report_dir),
            "lynis_version": r.lynis_version,
            "hardening_index": r.hardening_index,
            "min_hardening_index": self.min_hardening_index,
            "tests_executed": r.tests_executed,
            "warnings": [w.as_dict() for w in r.warnings],
            "max_warnings": self.max_warnings,
            "suggestions": len(r.suggestions),
            "suite": self.suite,
            "vulnerabilities": None if vulns is None else [v.as_dict() for v in vulns],
            "high": None if vulns is None else len([v for v in vulns if v.high]),
            "changes": self.changes.as_dict(),
            "problems": self.problems,
            "duration_s": round(self.duration_s, 1),
        }


def compare(current: dict, previous: dict | None, previous_dir: str | None = None) -> Changes:
    """What changed since the previous scan's summary (None: the first scan of the target)."""
    cur_w = {w["test"] for w in current["warnings"]}
    cur_v = {f"{v['cve']} {v['package']}": v for v in current.get("vulnerabilities") or []}
    high = sorted(k for k, v in cur_v.items() if v["urgency"] == "high")
    if previous is None:
        return Changes(None, [], [], sorted(cur_v), [], high)
    old_w = {w["test"] for w in previous.get("warnings", [])}
    old_v = {f"{v['cve']} {v['package']}" for v in previous.get("vulnerabilities") or []}
    return Changes(
        previous_dir,
        sorted(cur_w - old_w),
        sorted(old_w - cur_w),
        sorted(set(cur_v) - old_v),
        sorted(old_v - set(cur_v)),
        [k for k in high if k not in old_v],
    )


def verdict(data: dict, changes: Changes, max_warnings: int, min_index: int) -> list[str]:
    """Why the scan fails (empty: it passes)."""
    problems = []
    if data["hardening_index"] is None:
        problems.append(_("lynis gave no hardening index: the run is incomplete"))
    elif data["hardening_index"] < min_index:
        problems.append(
            _("hardening index {index} is below the policy's {min}").format(
                index=data["hardening_index"], min=min_index
            )
        )
    if len(data["warnings"]) > max_warnings:
        problems.append(_("{n} warnings, the policy tolerates {max}").format(n=len(data["warnings"]), max=max_warnings))
    if changes.new_warnings:
        problems.append(
            _("new warnings since the previous scan: {tests}").format(tests=", ".join(changes.new_warnings))
        )
    if changes.new_high:
        problems.append(
            _("new high-urgency vulnerabilities: {keys}").format(
                keys=", ".join(changes.new_high[:10]) + (" ..." if len(changes.new_high) > 10 else "")
            )
        )
    return problems


def previous_summary(report_root: Path, target: str, before: Path) -> tuple[dict | None, str | None]:
    """The newest summary.json of an earlier scan of ``target`` (folders sort by their UTC time)."""
    found = sorted(p for p in report_root.glob("scan-*/summary.json") if p.parent.name < before.name)
    for p in reversed(found):
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if data.get("target", LOCAL) == target:
            return data, str(p.parent)
    return None, None


# --------------------------------------------------------------------------- running


def run_scan(
    scan_cfg,
    report_root: Path,
    *,
    groups: list[str] | None = None,
    timeout: float = 1800,
    loaded: Any | None = None,
    host: Host | None = None,
) -> ScanResult:
    """The scan of this host (or of ``host`` over SSH) as an operation (``scan.run``): interrupted,
    lynis is stopped and no ``summary.json`` is written."""
    from procops.events import Kind
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.SCAN_RUN,
        host.name if host else "host",
        lambda _op: _run_scan(scan_cfg, report_root, groups=groups, timeout=timeout, host=host),
        loaded=loaded,
        exit_code=lambda r: 0 if r.ok else 1,
    )


def _run_scan(
    scan_cfg, report_root: Path, *, groups: list[str] | None, timeout: float, host: Host | None
) -> ScanResult:
    from procops.home import atomic_write
    from procops.timeutil import utcnow

    from procops import execute

    execute.LYNIS.resolve()  # exit 3 before anything is written when lynis is missing
    if scan_cfg.vulnerabilities:
        execute.DEBSECAN.resolve()
    target = host.name if host else LOCAL
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    out_dir = report_root / (f"scan-{stamp}" + (f"-{target}" if host else ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    groups = groups or scan_cfg.groups or None
    if host is None:
        report, suite, status_file = _lynis_local(out_dir, groups, timeout), None, None
    else:
        report, suite, status_file = _remote(host, out_dir, groups, timeout)
    vulns = None
    if scan_cfg.vulnerabilities:
        suite = scan_cfg.suite or suite or _local_codename()
        vulns = _debsecan(out_dir, suite, scan_cfg.vulnerability_source, status_file, timeout)
    duration = time.monotonic() - t0
    result = ScanResult(
        False,
        report,
        out_dir,
        scan_cfg.max_warnings,
        scan_cfg.min_hardening_index,
        duration,
        target=target,
        vulnerabilities=vulns,
        suite=suite,
    )
    data = result.as_dict()
    previous, previous_dir = previous_summary(report_root, target, out_dir)
    result.changes = compare(data, previous, previous_dir)
    result.problems = verdict(data, result.changes, scan_cfg.max_warnings, scan_cfg.min_hardening_index)
    result.ok = not result.problems
    atomic_write(out_dir / "summary.json", json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    _record(result)
    return result


def _lynis_local(out_dir: Path, groups: list[str] | None, timeout: float) -> ScanReport:
    from procops import execute

    report_file, log_file = out_dir / "lynis-report.dat", out_dir / "lynis.log"
    try:
        p = execute.run(execute.LYNIS, lynis_argv(report_file, log_file, groups), timeout=timeout, check=False)
    except execute.ToolFailed as e:
        if e.problem != "timeout":
            raise
        raise EnvironmentFailure(_("lynis did not finish within {timeout:.0f}s").format(timeout=timeout)) from None
    (out_dir / "lynis.out").write_text(p.stdout)
    if p.rc != 0 or not report_file.exists():
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-5:])
        raise EnvironmentFailure(_("lynis failed (exit {rc}): {tail}").format(rc=p.rc, tail=tail))
    return parse_report(report_file.read_text(errors="replace"))


def _local_codename() -> str | None:
    try:
        return os_codename(Path("/etc/os-release").read_text())
    except OSError:
        return None


def _debsecan(
    out_dir: Path, suite: str | None, source: str | None, status_file: Path | None, timeout: float
) -> list[Vulnerability]:
    from procops import execute

    argv = debsecan_argv(suite, source, status_file)
    try:
        p = execute.run(execute.DEBSECAN, argv, timeout=timeout, check=False)
    except execute.ToolFailed as e:
        raise EnvironmentFailure(_("debsecan did not finish: {e}").format(e=e.message)) from None
    (out_dir / "debsecan.txt").write_text(p.stdout)
    if p.rc != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-4:])
        raise EnvironmentFailure(
            _("debsecan could not read the vulnerability data (exit {rc}): {tail}").format(rc=p.rc, tail=tail),
            hint=_("set scan.vulnerability_source to a reachable mirror or a folder of the data (docs/scan.md)"),
        )
    return parse_debsecan(p.stdout)


def _remote(host: Host, out_dir: Path, groups: list[str] | None, timeout: float) -> tuple[ScanReport, str | None, Path]:
    """lynis on ``host`` over SSH; its report, suite and package list (dpkg status) fetched here."""
    from procops import ssh

    tag = secrets.token_hex(4)
    remote_report, remote_log = f"/tmp/procops-lynis-{tag}.dat", f"/tmp/procops-lynis-{tag}.log"
    try:
        with ssh.connection(host.address, host.user, host.port, key_file=host.key_file, timeout=15) as c:
            argv = lynis_argv(remote_report, remote_log, groups)
            r = c.run(shlex.join(argv), hide=True, warn=True, timeout=timeout, in_stream=False)
            (out_dir / "lynis.out").write_text(r.stdout)
            try:
                if r.exited != 0:
                    tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-5:])
                    raise EnvironmentFailure(
                        _("lynis failed on {host} (exit {rc}): {tail}").format(host=host.name, rc=r.exited, tail=tail)
                    )
                c.get(remote_report, str(out_dir / "lynis-report.dat"))
            finally:
                c.run(f"rm -f {shlex.quote(remote_report)} {shlex.quote(remote_log)}", hide=True, warn=True)
            status_file = out_dir / "dpkg-status"
            c.get("/var/lib/dpkg/status", str(status_file))
            release = c.run("cat /etc/os-release", hide=True, warn=True).stdout
    except EnvironmentFailure:
        raise
    except Exception as e:  # paramiko/invoke errors: the host cannot be reached or refuses us
        raise EnvironmentFailure(
            _("cannot scan {host} ({user}@{address}:{port}) over SSH: {e}").format(
                host=host.name, user=host.user, address=host.address, port=host.port, e=f"{type(e).__name__}: {e}"
            ),
            hint=_("check the host's address and key in the inventory, and that sshd answers"),
        ) from None
    report = parse_report((out_dir / "lynis-report.dat").read_text(errors="replace"))
    return report, os_codename(release), status_file


def _record(result: ScanResult) -> None:
    from prometheus_client import Gauge

    from procops.events import Kind, ScanRun, Status
    from procops.journal import record
    from procops.metrics import new_registry, write_textfile

    data = result.as_dict()
    record(
        Kind.SCAN_RUN,
        "host" if result.target == LOCAL else result.target,
        ScanRun(
            status=Status.of(result.ok),
            verdict=data["verdict"],
            hardening_index=data["hardening_index"],
            tests_executed=data["tests_executed"],
            suggestions=data["suggestions"],
            warnings=len(result.report.warnings),
            report_dir=data["report_dir"],
            duration_s=data["duration_s"],
            target=result.target,
            vulnerabilities=None if result.vulnerabilities is None else len(result.vulnerabilities),
            high=data["high"],
            new_warnings=result.changes.new_warnings,
            new_high=result.changes.new_high[:50],
            problems=result.problems,
        ),
    )
    if result.target != LOCAL:
        return  # the metrics are this host's
    reg = new_registry()
    Gauge("procops_scan_warnings", "Warnings of the last host security scan", registry=reg).set(
        len(result.report.warnings)
    )
    if result.report.hardening_index is not None:
        Gauge("procops_scan_hardening_index", "lynis hardening index of the last scan", registry=reg).set(
            result.report.hardening_index
        )
    if result.vulnerabilities is not None:
        Gauge(
            "procops_scan_vulnerabilities_high", "High-urgency vulnerabilities of the installed packages", registry=reg
        ).set(data["high"])
    Gauge("procops_scan_last_run_timestamp_seconds", "Time of the last scan", registry=reg).set_to_current_time()
    if result.ok:
        Gauge(
            "procops_scan_last_success_timestamp_seconds", "Time of the last passing scan", registry=reg
        ).set_to_current_time()
    write_textfile("scan", reg)


def jobs(config: Config) -> list[Any]:  # list[procops.schedule.Job]
    """The scan's scheduled job (``procops schedule install``): the weekly host security scan (R3)."""
    from procops.schedule import Job

    return [Job("scan", ("scan",), config.policy.scan_interval, 40, "weekly host security scan (R3)", 3600.0)]
