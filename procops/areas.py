"""The one place core reaches into the areas: each area's ``api``, imported inside functions.

Core (``procops/*.py``) never imports an area at module level, and imports an area only
here: the readiness steps and the scheduled jobs are gathered from the areas' APIs in one
explicit order. The import-linter contract "core imports no area" ignores exactly the
imports of this module of ``procops.<area>.api`` (``[tool.importlinter]`` in pyproject.toml),
since import-linter sees function-level imports too; everything else in core stays checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procops.readiness import Step
    from procops.schedule import Job
    from procops.config import Config


def readiness_steps() -> list[Step]:
    """The areas' readiness steps in DESIGN.md's order: platform, monitoring, peak test, backup,
    canary release, drill (runbooks)."""
    from procops.backup import api as backup
    from procops.drills import api as drills
    from procops.incidents import api as incidents
    from procops.loadtests import api as loadtests
    from procops.monitoring import api as monitoring
    from procops.release import api as release
    from procops.sandbox import api as sandbox

    return [
        *sandbox.readiness_steps(),
        *monitoring.readiness_steps(),
        *loadtests.readiness_steps(),
        *backup.readiness_steps(),
        *release.readiness_steps(),
        *incidents.readiness_steps(),
        *drills.readiness_steps(),
    ]


def platform_health(config: Config) -> tuple[list[dict], list[dict]]:
    """What needs a person now: the critical alerts firing (a drill's set aside) and the open critical
    non-drill incidents, each as a plain dict (alertname, summary / id, title, t0)."""
    from procops.incidents import api as incidents
    from procops.monitoring import api as monitoring

    alerts = [
        {"alertname": a["alertname"], "summary": a.get("summary", ""), "since": a.get("since")}
        for a in monitoring.critical_firing(config)
    ]
    open_incidents = [{"id": i.id, "title": i.title, "t0": i.t0} for i in incidents.open_critical(config)]
    return alerts, open_incidents


def jobs(config: Config) -> list[Job]:
    """Every scheduled job, each declared by the area (or core module) that owns it, in this order."""
    from procops import scan
    from procops.backup import api as backup
    from procops.drills import api as drills
    from procops.incidents import api as incidents
    from procops.loadtests import api as loadtests

    return [
        *backup.jobs(config),
        *scan.jobs(config),
        *loadtests.jobs(config),
        *incidents.jobs(config),
        *drills.jobs(config),
    ]
