"""procops schedule: Periodic jobs from policy as systemd timers or cron lines (R3)."""

from procops.cli.common import stub_group

app = stub_group("schedule", "Periodic jobs from policy as systemd timers or cron lines (R3).", {
    "install": "Install the periodic jobs.",
    "show": "Show the periodic jobs.",
    "remove": "Remove the periodic jobs.",
})
