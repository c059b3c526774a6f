"""procops monitor: 7x24 monitoring: tested alert rules, the local stack, the alert webhook (R2, R11)."""

from procops.cli.common import stub_group

app = stub_group("monitor", "7x24 monitoring: tested alert rules, the local stack, the alert webhook (R2, R11).", {
    "rules": "Render alert rules from policy and test them with promtool.",
    "up": "Start Prometheus, Alertmanager, exporters and the webhook on loopback.",
    "down": "Stop what monitor up started.",
    "status": "List each monitoring component with its URL, pid and health.",
    "check": "Ask Prometheus and Alertmanager what is firing now.",
    "exporter": "Serve the procops_* metrics from the journal.",
    "webhook": "Receive Alertmanager notifications and open incidents.",
})
