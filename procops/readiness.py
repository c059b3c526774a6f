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
from procops.i18n import _
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


@dataclass
class Context:
    config: Config
    lang: str
    report_dir: Path
    facts: dict[str, Any] = field(default_factory=dict)  # what steps hand to later steps


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

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "verdict": "pass" if self.ok else "fail",
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "report": str(self.report_dir / "readiness.md"),
            "steps": [s.as_dict() for s in self.steps],
        }


def run(
    config: Config,
    lang: str,
    report_root: Path,
    on_step: Callable[[StepRecord], None] | None = None,
    *,
    steps: Sequence[Step],
    loaded: Any | None = None,
) -> ReadinessResult:
    from procops.events import Kind
    from procops.operation import Operation

    with Operation(Kind.READINESS_RUN, "platform", loaded=loaded) as op:
        result = _run(config, lang, report_root, on_step, steps=steps, op=op)
        op.finish(Status.of(result.ok))
    return result


def _run(
    config: Any,
    lang: str,
    report_root: Path,
    on_step: Callable[[StepRecord], None] | None,
    *,
    steps: Sequence[Step],
    op: Operation,
) -> ReadinessResult:
    started = utcnow()
    report_dir = report_root / f"readiness-{started.strftime('%Y%m%dT%H%M%SZ')}"
    report_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(config=config, lang=lang, report_dir=report_dir)
    records: list[StepRecord] = []
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
    result = ReadinessResult(ok, iso(started), iso(utcnow()), records, report_dir)
    _write(ctx, records, started, final=True, ok=ok)
    _record_run(Status.of(ok), report_dir, records)
    return result


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
    ctx: Context, records: list[StepRecord], started: Any, *, final: bool, ok: bool = False, interrupted: bool = False
) -> None:
    from procops.home import atomic_write
    from procops.report import render

    from procops.i18n import speaking

    data: dict[str, Any] = {
        "ok": ok,
        "final": final,
        "interrupted": interrupted,
        "started_at": iso(started),
        "platform": ctx.config.platform.name,
        "steps": [r.as_dict() for r in records],
    }
    from procops.report import header

    atomic_write(ctx.report_dir / "readiness.json", json.dumps(data, indent=2, ensure_ascii=False))
    with speaking(ctx.lang):
        shown = data | {
            "steps": [s | {"title": _(s["title"])} for s in data["steps"]],
            "head": header(_("Platform readiness report"), ctx.config.platform.name, now=started),
        }
    atomic_write(ctx.report_dir / "readiness.md", render("readiness.md.j2", ctx.lang, **shown))
