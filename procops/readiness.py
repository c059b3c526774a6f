"""`procops readiness`: the main job, a fixed list of steps with a report.

The steps come as one explicit ordered list (:func:`procops.steps.ordered`; this
module never imports it, nor any area). A step's record is opened
before it runs and closed in ``finally``, so a crash still leaves an honest
partial report. The verdict holds (exit 0) only when every step is ``ok``.

The run is an operation (``readiness.run``, :mod:`procops.operation`); the steps that run
operations of their own (a backup, a peak test) nest in it. On SIGINT or SIGTERM the step
that was running is recorded ``interrupted``, the report says the run was interrupted (no
verdict), ``readiness.run`` is journaled with status ``interrupted``, and
:class:`~procops.operation.Interrupted` goes on to the CLI (exit 130).
"""

from __future__ import annotations

import enum
import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Sequence

from procops.errors import ProcopsError
from procops.events import Status
from procops.i18n import _, N_
from procops.operation import Interrupted, Operation
from procops.timeutil import iso, utcnow

if TYPE_CHECKING:
    from procops.config import Config


class StepStatus(str, enum.Enum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"  # the verdict of the step failed
    ERROR = "error"  # the step could not run
    SKIPPED = "skipped"  # an earlier step it needs failed
    INTERRUPTED = "interrupted"  # SIGINT or SIGTERM arrived while it ran


@dataclass
class StepRecord:
    name: str
    title: str  # English (the evidence); people read _(title)
    status: StepStatus = StepStatus.RUNNING
    started_at: str = ""
    ended_at: str = ""
    duration_s: float = 0.0
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status.value,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": round(self.duration_s, 3),
            "detail": self.detail,
            "evidence": self.evidence,
        }


class StepFailed(Exception):
    """Raised by a step whose verdict failed (the platform does not meet the policy)."""

    def __init__(self, detail: str, evidence: dict | None = None) -> None:
        super().__init__(detail)
        self.evidence = evidence or {}


@dataclass(frozen=True)
class Started:
    """Something a step started for this run: stopped at the end unless ``--keep``."""

    what: str  # e.g. "sandbox", "monitoring stack"
    stop: Callable[[], Any]
    stop_command: str  # what a person runs to stop it later (printed with --keep)
    urls: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    config: Config
    lang: str
    report_dir: Path
    facts: dict[str, Any] = field(default_factory=dict)  # what steps hand to later steps
    quick: bool = False  # every step with its shortest durations (at most 5 minutes in all)
    started: list[Started] = field(default_factory=list)  # what this run started, in order
    urls: dict[str, str] = field(default_factory=dict)  # what a person can open (platform, Prometheus ...)

    def started_here(self, item: Started) -> None:
        self.started.append(item)
        self.urls.update(item.urls)


@dataclass(frozen=True)
class Step:
    name: str
    title: str  # English, marked with N_() where the step is defined; shown through _()
    run: Callable[[Context], tuple[str, dict]]  # returns (detail, evidence) or raises StepFailed
    needs: tuple[str, ...] = ()


@dataclass
class ReadinessResult:
    ok: bool
    started_at: str
    ended_at: str
    steps: list[StepRecord]
    report_dir: Path
    kept: list[dict] = field(default_factory=list)  # what still runs (--keep): what, urls, stop command
    stopped: list[dict] = field(default_factory=list)  # what this run started and stopped again

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "verdict": "pass" if self.ok else "fail",
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "report": str(self.report_dir / "readiness.md"),
            "reports": {f: str(self.report_dir / f"readiness.{f}") for f in ("md", "html", "json")},
            "steps": [s.as_dict() for s in self.steps],
            "kept": self.kept,
            "stopped": self.stopped,
        }


def run(
    config: Config,
    lang: str,
    report_root: Path,
    on_step: Callable[[StepRecord], None] | None = None,
    *,
    steps: Sequence[Step],
    loaded: Any | None = None,
    quick: bool = False,
    keep: bool = False,
) -> ReadinessResult:
    """Run ``steps`` in order and write the report. What the steps started (the sandbox, the monitoring
    stack ...) is stopped at the end, also after a failure or an interrupt, unless ``keep``."""
    from procops.events import Kind
    from procops.operation import Operation, provenance

    with Operation(Kind.READINESS_RUN, "platform", loaded=loaded) as op:
        result = _run(
            config, lang, report_root, on_step, steps=steps, op=op, quick=quick, keep=keep, prov=provenance(loaded)
        )
        op.finish(Status.of(result.ok))
    return result


def _stop_started(ctx: Context, keep: bool) -> tuple[list[dict], list[dict]]:
    """(kept, stopped): with ``keep`` what runs and how to stop it; else everything stopped, last first."""
    if keep:
        return [{"what": s.what, "urls": s.urls, "stop": s.stop_command} for s in ctx.started], []
    stopped = []
    for s in reversed(ctx.started):
        try:
            s.stop()
            stopped.append({"what": s.what, "ok": True})
        except Exception as e:  # noqa: BLE001 - the others are still stopped; the report says which failed
            stopped.append(
                {"what": s.what, "ok": False, "error": getattr(e, "message", str(e)), "stop": s.stop_command}
            )
    return [], stopped


def _run(
    config: Any,
    lang: str,
    report_root: Path,
    on_step: Callable[[StepRecord], None] | None,
    *,
    steps: Sequence[Step],
    op: Operation,
    quick: bool = False,
    keep: bool = False,
    prov: dict | None = None,
) -> ReadinessResult:
    started = utcnow()
    report_dir = report_root / f"readiness-{started.strftime('%Y%m%dT%H%M%SZ')}"
    report_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(config=config, lang=lang, report_dir=report_dir, quick=quick)
    ctx.facts["provenance"] = _provenance(prov or {}, quick=quick)
    records: list[StepRecord] = []
    try:
        return _steps(ctx, steps, op, records, started, keep, on_step)
    finally:
        if not ctx.facts.get("stopped_started"):  # an exception or an interrupt: still stop what we started
            _stop_started(ctx, keep)


def _provenance(prov: dict, *, quick: bool) -> dict:
    """Where, by whom and with what the run happened, and the journal's head when it started."""
    import socket

    from procops.journal import open_journal

    with open_journal() as j:
        rows, head = j.head()
    return {
        "host": socket.gethostname(),
        "operator": prov.get("actor", ""),
        "procops": prov.get("procops", ""),
        "config_source": prov.get("config_source", ""),
        "config_sha256": prov.get("config_sha256"),
        "journal_at_start": {"rows": rows, "head": head},
        "mode": "quick" if quick else "full",
    }


def _steps(
    ctx: Context,
    steps: Sequence[Step],
    op: Operation,
    records: list[StepRecord],
    started: Any,
    keep: bool,
    on_step: Callable[[StepRecord], None] | None,
) -> ReadinessResult:
    report_dir = ctx.report_dir
    interrupted: BaseException | None = None
    for s in steps:
        rec = StepRecord(s.name, s.title, started_at=iso(utcnow()))
        records.append(rec)
        t0 = time.monotonic()
        try:
            bad = [n for n in s.needs if not any(r.name == n and r.status is StepStatus.OK for r in records)]
            if bad:
                rec.status = StepStatus.SKIPPED
                rec.detail = _("needs {steps}").format(steps=", ".join(bad))
            else:
                with op.step(s.name):
                    rec.detail, rec.evidence = s.run(ctx)
                rec.status = StepStatus.OK
        except (Interrupted, KeyboardInterrupt) as e:
            rec.status = StepStatus.INTERRUPTED
            rec.detail = getattr(e, "message", "") or _("interrupted")
            interrupted = e
        except StepFailed as e:
            rec.status, rec.detail, rec.evidence = StepStatus.FAILED, str(e), e.evidence
        except ProcopsError as e:
            rec.status, rec.detail = StepStatus.ERROR, e.message
        except Exception as e:  # noqa: BLE001 - the report must still be written
            rec.status, rec.detail = StepStatus.ERROR, f"{type(e).__name__}: {e}"
            rec.evidence = {"traceback": traceback.format_exc(limit=5)}
        finally:
            rec.duration_s = time.monotonic() - t0
            rec.ended_at = iso(utcnow())
            if rec.status is StepStatus.RUNNING:  # ended by something not caught above
                rec.status = StepStatus.ERROR
                exc_type = sys.exc_info()[0]
                rec.detail = rec.detail or _("ended by {error}").format(error=exc_type.__name__ if exc_type else "?")
            _write(ctx, records, started, final=interrupted is not None, interrupted=interrupted is not None)
            if on_step:
                on_step(rec)
        if interrupted is not None:
            _record_run(Status.INTERRUPTED, report_dir, records)
            raise interrupted
    ok = all(r.status is StepStatus.OK for r in records)
    try:
        ctx.facts["charts"] = _charts(ctx, records)
    except Exception as e:  # noqa: BLE001 - a chart that cannot be drawn is named, the verdict stands
        ctx.facts["charts"] = []
        ctx.facts["chart_error"] = f"{type(e).__name__}: {e}"
    kept, stopped = _stop_started(ctx, keep)
    ctx.facts["stopped_started"] = True
    result = ReadinessResult(ok, iso(started), iso(utcnow()), records, report_dir, kept, stopped)
    _record_run(Status.of(ok), report_dir, records)
    _write(ctx, records, started, final=True, ok=ok, ended=utcnow())
    return result


def _charts(ctx: Context, records: list[StepRecord]) -> list[dict]:
    """The report's charts: page latency over time against the SLO line (the peak test's own chart),
    the drill's timeline against its deadlines (the drill report's chart), and each repository's
    backup age against the RPO (from the journal)."""
    import shutil

    out: list[dict] = []
    for r in records:
        rd = r.evidence.get("report_dir") if r.name == "peak-test" else None
        if rd and (Path(rd) / "latency.png").is_file():
            shutil.copyfile(Path(rd) / "latency.png", ctx.report_dir / "latency.png")
            out.append({"file": "latency.png", "title": N_("Page latency over time against the SLO")})
    for r in records:
        rep = r.evidence.get("report") if r.name == "drill" else None
        chart = (rep.get(f"{ctx.lang}:chart") or rep.get("chart")) if isinstance(rep, dict) else None
        if chart and Path(chart).is_file():
            shutil.copyfile(chart, ctx.report_dir / "drill-timeline.png")
            out.append({"file": "drill-timeline.png", "title": N_("The drill's timeline against its deadlines")})
    ages = _backup_ages(ctx)
    if ages:
        _draw_backup_ages(ctx, ages)
        out.append({"file": "backup-freshness.png", "title": N_("Backup age per repository against the RPO")})
    return out


def _backup_ages(ctx: Context) -> dict[str, float]:
    """Seconds since the last successful backup (or copy) of each repository, from the journal."""
    from procops.events import BackupRun, Kind
    from procops.journal import open_journal
    from procops.timeutil import parse_iso

    now = utcnow()
    ages: dict[str, float] = {}
    with open_journal() as j:
        for ev in j.events(kind=Kind.BACKUP_RUN):
            rec = ev.evidence
            if not isinstance(rec, BackupRun):
                continue
            for name, repo in rec.repositories.items():
                if repo.status is Status.OK:
                    ages[name] = (now - parse_iso(ev.time)).total_seconds()
    return ages


def _draw_backup_ages(ctx: Context, ages: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from procops.report import chart_style

    chart_style()
    rpo_min = ctx.config.policy.backup_interval / 60
    names = sorted(ages)
    fig, ax = plt.subplots(figsize=(7, 2 + 0.5 * len(names)), dpi=100)
    vals = [ages[n] / 60 for n in names]
    ax.barh(names, vals, color=["tab:green" if v <= rpo_min else "tab:red" for v in vals])
    ax.axvline(rpo_min, color="red", linestyle="--", label=_("RPO {minutes:g} min").format(minutes=rpo_min))
    ax.set_xlabel(_("minutes since the last successful backup"))
    ax.set_title(_("Backup age per repository against the RPO"))
    ax.set_xlim(0, max(rpo_min, *vals) * 1.15)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(ctx.report_dir / "backup-freshness.png")
    plt.close(fig)


def _record_run(status: Status, report_dir: Path, records: list[StepRecord]) -> None:
    from procops.events import Kind, ReadinessRun, verdict_word
    from procops.journal import record

    record(
        Kind.READINESS_RUN,
        "platform",
        ReadinessRun(
            status=status,
            verdict=verdict_word(status),
            report=str(report_dir),
            steps={r.name: r.status.value for r in records},
        ),
    )


def _write(
    ctx: Context,
    records: list[StepRecord],
    started: Any,
    *,
    final: bool,
    ok: bool = False,
    interrupted: bool = False,
    ended: Any = None,
) -> None:
    from procops.home import atomic_write
    from procops.i18n import speaking
    from procops.report import header, markdown_to_html, render

    prov = dict(ctx.facts.get("provenance", {}))
    if ended is not None:
        from procops.journal import open_journal

        with open_journal() as j:
            rows, head = j.head()
        prov["journal_at_end"] = {"rows": rows, "head": head}
    data: dict[str, Any] = {
        "ok": ok,
        "verdict": "interrupted" if interrupted else ("pass" if ok else "fail") if final else "in progress",
        "final": final,
        "interrupted": interrupted,
        "started_at": iso(started),
        "ended_at": iso(ended) if ended is not None else None,
        "platform": ctx.config.platform.name,
        "provenance": prov,
        "steps": [r.as_dict() for r in records],
        "charts": ctx.facts.get("charts", []),
        "chart_error": ctx.facts.get("chart_error"),
        "urls": ctx.urls,
    }
    atomic_write(ctx.report_dir / "readiness.json", json.dumps(data, indent=2, ensure_ascii=False))
    with speaking(ctx.lang):
        title = _("Platform readiness report")
        shown = data | {
            "steps": [s | {"title": _(s["title"])} for s in data["steps"]],
            "charts": [c | {"title": _(c["title"])} for c in data["charts"]],
            "head": header(title, ctx.config.platform.name, by=prov.get("operator") or None, now=started),
        }
    md = render("readiness.md.j2", ctx.lang, **shown)
    atomic_write(ctx.report_dir / "readiness.md", md)
    atomic_write(ctx.report_dir / "readiness.html", markdown_to_html(md, title))
