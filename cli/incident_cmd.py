"""procops incident: Incident response on the 15 min / 1 h / 24 h clocks (R7, R11, R12)."""

from procops.cli.common import stub_group

app = stub_group("incident", "Incident response on the 15 min / 1 h / 24 h clocks (R7, R11, R12).", {
    "open": "Open an incident (starts the three clocks).",
    "list": "List incidents.",
    "show": "Show an incident with its clocks and timeline.",
    "classify": "Confirm the fault type (milestone 1).",
    "standby": "Start the standby system (milestone 2).",
    "report": "Write the fault analysis report (milestone 3).",
    "resolve": "Resolve an incident.",
    "escalate": "Send due escalations (for cron).",
    "action": "Rectification items.",
})
