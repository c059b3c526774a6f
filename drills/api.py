"""The drills' public API: the only module other areas and ``cli/`` import.

Scenarios (:func:`scenarios`, :func:`scenario`), the dry run (:func:`plan`), a drill as an
operation (:func:`run`), the quarterly cadence (:func:`status`), the scheduled reminder
(:func:`jobs`) and the readiness drill step. Heavy modules are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procops.config import Config, LoadedConfig
    from procops.drills.plan import Plan
    from procops.drills.run import DrillResult
    from procops.drills.scenario import Scenario
    from procops.drills.status import ScenarioStatus
    from procops.readiness import Step
    from procops.schedule import Job


def scenarios(config: Config) -> list[Scenario]:
    """Every scenario (shipped and ``drills.scenarios_dir``), validated; an invalid file is exit 2."""
    from procops.drills import scenario as sc

    return sc.load_all(config.drills.scenarios_dir)


def scenario(config: Config, name: str) -> Scenario:
    from procops.drills import scenario as sc

    return sc.get(name, config.drills.scenarios_dir)


def plan(config: Config, name: str) -> Plan:
    """The dry run: targets resolved, steady state checked, every action and its rollback; nothing injected."""
    from procops.drills import plan as p

    return p.plan(config, scenario(config, name))


def run(
    config: Config,
    name: str,
    *,
    mode: str = "interactive",
    announced: bool = True,
    lang: str = "en",
    say: Callable[[str], None] | None = None,
    loaded: LoadedConfig | None = None,
    interactive_wait: float | None = None,
) -> DrillResult:
    """One drill as an operation (``drill.run``); ``result.exit_code`` is the verdict."""
    from procops.drills import run as r

    return r.run(
        config,
        scenario(config, name),
        mode=mode,
        announced=announced,
        lang=lang,
        say=say,
        loaded=loaded,
        interactive_wait=interactive_wait,
    )


def status(config: Config) -> list[ScenarioStatus]:
    from procops.drills import status as s

    return s.status(config)


def write_metrics() -> None:
    from procops.drills import status as s

    s.write_metrics()


def jobs(config: Config) -> list[Job]:
    from procops.drills import jobs as j

    return j.jobs(config)


def readiness_steps() -> list[Step]:
    """The app-crash drill in --auto mode."""
    from procops.drills import steps

    return list(steps.STEPS)


def describe_plan(p: Plan) -> str:
    from procops.drills import plan as pl

    return pl.describe(p)


def describe(result: Any) -> str:
    from procops.drills import plan as p

    return p.describe_result(result)
