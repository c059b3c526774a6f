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
    from procops.config import Config


def peak_options(**kw: Any) -> PeakOptions:
    from procops.loadtests.runner import PeakOptions

    return PeakOptions(**kw)


def capacity_options(**kw: Any) -> CapacityOptions:
    from procops.loadtests.runner import CapacityOptions

    return CapacityOptions(**kw)


def run_peak(config: Config, opts: PeakOptions) -> RunResult:
    """Ramp to the peak, hold, give the SLO verdict (report written, journal event recorded)."""
    from procops.loadtests import runner

    return runner.run_peak(config, opts)


def run_capacity(config: Config, opts: CapacityOptions) -> RunResult:
    """Step the load upward; the highest step that held every SLO."""
    from procops.loadtests import runner

    return runner.run_capacity(config, opts)


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
