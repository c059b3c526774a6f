"""The load tests' scheduled jobs (installed by ``procops schedule install``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from procops.schedule import Job

if TYPE_CHECKING:
    from procops.config import Config


def jobs(config: Config) -> list[Job]:
    """The monthly performance stress test of the configured platform (R3), with its stop conditions
    on: a platform that is failing is not kept under load unattended."""
    return [
        Job(
            "loadtest-capacity",
            ("loadtest", "capacity", "--abort-on-fail"),
            config.policy.loadtest_interval,
            30,
            "monthly performance stress test of the configured platform, stopped early if it fails (R3)",
            3 * 3600.0,
        )
    ]
