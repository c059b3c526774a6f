"""procops runbook: Runbooks in Chinese and English."""

from procops.cli.common import stub_group

app = stub_group("runbook", "Runbooks in Chinese and English.", {
    "list": "List runbooks.",
    "show": "Show a runbook.",
})
