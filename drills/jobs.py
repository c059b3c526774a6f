"""The drills' scheduled job: a quarterly reminder (``drill status``: exit 1, a failed job, when a
scenario is overdue), declared here and gathered by ``procops.areas``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procops.config import Config
    from procops.schedule import Job


def jobs(config: Config) -> list[Job]:
    from procops.schedule import Job

    return [
        Job(
            "drill-reminder",
            ("drill", "status"),
            config.policy.drill_interval,
            15,
            "quarterly emergency drill reminder: fails while a scenario is overdue (R8)",
            600.0,
        )
    ]
