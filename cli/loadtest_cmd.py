"""procops loadtest: Peak-load and capacity tests with SLO verdicts (R1, R3)."""

from procops.cli.common import stub_group

app = stub_group("loadtest", "Peak-load and capacity tests with SLO verdicts (R1, R3).", {
    "peak": "Ramp to the peak users, hold, give an SLO verdict.",
    "capacity": "Step load upward; report the highest step that held every SLO.",
    "report": "Print the summary of an earlier run.",
})
