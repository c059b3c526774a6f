"""procops backup: Hourly local + off-site restic backups, integrity verification, restore tests (R3, R4, R5)."""

from procops.cli.common import stub_group

app = stub_group("backup", "Hourly local + off-site restic backups, integrity verification, restore tests (R3, R4, R5).", {
    "init": "Initialise every repository.",
    "run": "Back up the platform to every repository.",
    "check": "Check repositories (rotating read-data subset).",
    "verify": "Restore a snapshot to scratch and verify it against its manifest.",
    "restore": "Restore a snapshot to a folder or a standby sandbox.",
    "snapshots": "List snapshots per repository.",
    "status": "Latest snapshot, age and RPO per repository.",
})
