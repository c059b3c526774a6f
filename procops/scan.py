"""The weekly host security scan (R3) with lynis.

``procops scan`` runs ``lynis audit system`` non-interactively, keeps its report
in ``$PROCOPS_HOME/reports/scan-<UTC time>/``, and gives a verdict from the
policy: at most ``scan.max_warnings`` warnings and a hardening index of at least
``scan.min_hardening_index``. Each run is a journal event; a passing run sets
``procops_scan_last_success_timestamp_seconds`` (the ScanOverdue alert watches
it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.errors import EnvironmentFailure

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

LYNIS = "lynis"


def lynis_argv(report_file: Path, log_file: Path, groups: list[str] | None = None) -> list[str]:
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


@dataclass
class ScanResult:
    ok: bool
    report: ScanReport
    report_dir: Path
    max_warnings: int
    min_hardening_index: int
    duration_s: float

    def as_dict(self) -> dict:
        r = self.report
        return {
            "verdict": "pass" if self.ok else "fail",
            "ok": self.ok,
            "report_dir": str(self.report_dir),
            "lynis_version": r.lynis_version,
            "hardening_index": r.hardening_index,
            "min_hardening_index": self.min_hardening_index,
            "tests_executed": r.tests_executed,
            "warnings": [w.as_dict() for w in r.warnings],
            "max_warnings": self.max_warnings,
            "suggestions": len(r.suggestions),
            "duration_s": round(self.duration_s, 1),
        }


def run_scan(
    scan_cfg,
    report_root: Path,
    *,
    groups: list[str] | None = None,
    timeout: float = 1800,
    loaded: Any | None = None,
) -> ScanResult:
    """The lynis scan as an operation (``scan.run``): interrupted, lynis is stopped and no
    ``summary.json`` is written."""
    from procops.events import Kind
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.SCAN_RUN,
        "host",
        lambda _op: _run_scan(scan_cfg, report_root, groups=groups, timeout=timeout),
        loaded=loaded,
        exit_code=lambda r: 0 if r.ok else 1,
    )


def _run_scan(scan_cfg, report_root: Path, *, groups: list[str] | None, timeout: float) -> ScanResult:
    import json

    from procops.home import atomic_write
    from procops.timeutil import utcnow

    from procops import execute

    execute.LYNIS.resolve()  # exit 3 before anything is written when lynis is missing
    out_dir = report_root / f"scan-{utcnow().strftime('%Y%m%dT%H%M%SZ')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    report_file, log_file = out_dir / "lynis-report.dat", out_dir / "lynis.log"
    t0 = time.monotonic()
    try:
        p = execute.run(
            execute.LYNIS,
            lynis_argv(report_file, log_file, groups or scan_cfg.groups or None),
            timeout=timeout,
            check=False,
        )
    except execute.ToolFailed as e:
        if e.problem != "timeout":
            raise
        raise EnvironmentFailure(_("lynis did not finish within {timeout:.0f}s").format(timeout=timeout)) from None
    duration = time.monotonic() - t0
    (out_dir / "lynis.out").write_text(p.stdout)
    if p.rc != 0 or not report_file.exists():
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-5:])
        raise EnvironmentFailure(_("lynis failed (exit {rc}): {tail}").format(rc=p.rc, tail=tail))
    report = parse_report(report_file.read_text(errors="replace"))
    ok = len(report.warnings) <= scan_cfg.max_warnings and (
        report.hardening_index is None or report.hardening_index >= scan_cfg.min_hardening_index
    )
    result = ScanResult(ok, report, out_dir, scan_cfg.max_warnings, scan_cfg.min_hardening_index, duration)
    atomic_write(out_dir / "summary.json", json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    _record(result)
    return result


def _record(result: ScanResult) -> None:
    from prometheus_client import Gauge

    from procops.events import Kind, ScanRun, Status
    from procops.journal import record
    from procops.metrics import new_registry, write_textfile

    data = result.as_dict()
    record(
        Kind.SCAN_RUN,
        "host",
        ScanRun(
            status=Status.of(result.ok),
            verdict=data["verdict"],
            hardening_index=data["hardening_index"],
            tests_executed=data["tests_executed"],
            suggestions=data["suggestions"],
            warnings=len(result.report.warnings),
            report_dir=data["report_dir"],
            duration_s=data["duration_s"],
        ),
    )
    reg = new_registry()
    Gauge("procops_scan_warnings", "Warnings of the last host security scan", registry=reg).set(
        len(result.report.warnings)
    )
    if result.report.hardening_index is not None:
        Gauge("procops_scan_hardening_index", "lynis hardening index of the last scan", registry=reg).set(
            result.report.hardening_index
        )
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
