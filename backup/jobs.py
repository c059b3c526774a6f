"""The backup's scheduled jobs (installed by ``procops schedule install``, run through
``procops schedule run-job NAME``): cadences from the policy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from procops.schedule import Job

if TYPE_CHECKING:
    from procops.config import Config


def jobs(config: Config) -> list[Job]:
    """Hourly backup (it prunes on its own cadence), daily check and live verify, weekly restore-and-verify."""
    p = config.policy
    timeout = config.backup.command_timeout
    return [
        Job("backup-run", ("backup", "run"), p.backup_interval, 5, "backup to every repository (R4)", timeout),
        Job(
            "backup-check",
            ("backup", "check"),
            p.backup_check_interval,
            35,
            "check repositories, rotating subset",
            timeout,
        ),
        Job(
            "backup-verify-live",
            ("backup", "verify", "--live"),
            p.backup_check_interval,
            50,
            "verify the live documents against the archive records (R5)",
            timeout,
        ),
        Job(
            "backup-verify",
            ("backup", "verify"),
            p.backup_verify_interval,
            20,
            "restore the latest backup to scratch and verify it (R5)",
            timeout,
        ),
    ]
