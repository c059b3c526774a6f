"""The load tests' public API: the only module other areas and ``cli/`` import.

A thin facade over ``runner`` and ``report`` (imported inside the functions: Locust and
gevent are never loaded by ``procops --help``). Results are typed: :class:`PeakOptions`,
:class:`CapacityOptions` in, ``runner.RunResult`` (summary, report folder, exit code) out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procops.loadtests.runner import CapacityOptions, PeakOptions, RunResult
    from procops.readiness import Step
    from procops.schedule import Job
    from procops.config import Config, LoadedConfig


def peak_options(**kw: Any) -> PeakOptions:
    from procops.loadtests.runner import PeakOptions

    return PeakOptions(**kw)


def capacity_options(**kw: Any) -> CapacityOptions:
    from procops.loadtests.runner import CapacityOptions

    return CapacityOptions(**kw)


def run_peak(config: Config, opts: PeakOptions, *, loaded: LoadedConfig | None = None) -> RunResult:
    """Ramp to the peak, hold, give the SLO verdict (report written, journal event recorded).

    Runs as an operation (``loadtest.<scenario>``): interrupted, Locust is stopped and the report
    folder's ``summary.json`` says ``interrupted``."""
    from procops.events import Kind
    from procops.loadtests import runner
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.loadtest(opts.scenario_name),
        _subject(config, opts.host),
        lambda _op: runner.run_peak(config, opts),
        loaded=loaded,
        exit_code=lambda r: r.exit_code,
    )


def run_capacity(config: Config, opts: CapacityOptions, *, loaded: LoadedConfig | None = None) -> RunResult:
    """Step the load upward; the highest step that held every SLO (an operation, ``loadtest.capacity``)."""
    from procops.events import Kind
    from procops.loadtests import runner
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.LOADTEST_CAPACITY,
        _subject(config, opts.host),
        lambda _op: runner.run_capacity(config, opts),
        loaded=loaded,
        exit_code=lambda r: r.exit_code,
    )


def _subject(config: Config, host: str | None) -> str:
    """The target URL, as the job's own event names it (the runner reports an unresolvable one)."""
    from procops.errors import ProcopsError
    from procops.loadtests import runner

    try:
        return runner.resolve_host(config, host)
    except ProcopsError:
        return host or "platform"


def load_summary(report_dir: Path) -> dict:
    """The summary of an earlier run (its ``summary.json``)."""
    from procops.loadtests import runner

    return runner.load_summary(report_dir)


def human(summary: dict, lang: str) -> str:
    """A run's summary as a person reads it."""
    from procops.loadtests import report

    return report.human(summary, lang)


def readiness_steps() -> list[Step]:
    """A short peak test against the platform."""
    from procops.loadtests import steps

    return list(steps.STEPS)


def jobs(config: Config) -> list[Job]:
    """The monthly performance stress test (``loadtest capacity``)."""
    from procops.loadtests import jobs as j

    return j.jobs(config)
