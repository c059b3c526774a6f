"""The incidents' scheduled jobs (installed by ``procops schedule install``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from procops.schedule import Job

if TYPE_CHECKING:
    from procops.config import Config


def jobs(config: Config) -> list[Job]:
    """Every minute: send the due escalations to the responsible leaders (R11)."""
    return [
        Job(
            "incident-escalate",
            ("incident", "escalate"),
            60.0,
            0,
            "send due incident escalations to the responsible leaders (R11)",
            120.0,
        )
    ]
