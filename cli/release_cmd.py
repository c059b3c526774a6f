"""procops release: Gray-release rollouts with HAProxy weights and metric gates (R6)."""

from procops.cli.common import stub_group

app = stub_group(
    "release",
    "Gray-release rollouts with HAProxy weights and metric gates (R6).",
    {
        "plan": "Show the rollout plan.",
        "start": "Start a gray release.",
        "status": "Show the current rollout.",
        "promote": "Promote to the next stage.",
        "abort": "Abort and restore the stable version.",
        "resume": "Resume an interrupted rollout.",
    },
)
