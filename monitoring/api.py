"""The monitoring's public API: the only module other areas and ``cli/`` import.

A thin facade over ``rules``, ``stack``, ``exporter`` and ``webhook`` (imported inside the
functions: ``procops --help`` stays fast). Results are typed records
(``rules.RulesResult``, ``stack.CheckResult``, :class:`WebhookService`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procops.monitoring.rules import RulesResult
    from procops.monitoring.stack import CheckResult
    from procops.readiness import Step
    from procops.config import Config, LoadedConfig


def rules(config: Config, out_dir: str | Path | None = None) -> RulesResult:
    """Render the alert rules from the policy and test them with promtool.

    Next to them, ``web.yml``: the basic-auth web config (bcrypt hash of ``monitoring.web_password``)
    that ``playbooks/monitoring.yml`` installs for Prometheus and Alertmanager on real hosts.
    """
    from procops.monitoring import rules as r
    from procops.monitoring import webauth

    res = r.write_and_test(config, out_dir)
    webauth.write_web_config(Path(res.rules_path).parent / webauth.WEB_CONFIG_FILE, webauth.of(config))
    return res


def up(config: Config, config_source: Path | None = None) -> tuple[dict, bool]:
    """Start the stack (idempotent); returns (its status, started now)."""
    from procops.monitoring import stack

    _, started = stack.up(config, config_source)
    return stack.status(), started


def down() -> list[str]:
    from procops.monitoring import stack

    return stack.down()


def status() -> dict:
    from procops.monitoring import stack

    return stack.status()


def check(config: Config, *, loaded: LoadedConfig | None = None) -> CheckResult:
    """What is firing now; journals ``monitor.check`` with the verdict (fail when a critical alert fires).
    Runs as an operation (``monitor.check``)."""
    from procops.events import Kind
    from procops.operation import run_as_operation

    def job(_op: Any) -> CheckResult:
        return _check(config)

    def code(res: CheckResult) -> int:
        return 1 if res.critical else 0

    return run_as_operation(Kind.MONITOR_CHECK, "stack", job, loaded=loaded, exit_code=code)


def _check(config: Config) -> CheckResult:
    from procops.events import Kind, MonitorCheck, Status, verdict_word
    from procops.journal import record
    from procops.monitoring import stack

    res = stack.check(config)
    data = res.as_dict()
    status = Status.of(not res.critical)
    record(
        Kind.MONITOR_CHECK,
        "stack",
        MonitorCheck(
            status=status,
            verdict=verdict_word(status),
            critical=len(res.critical),
            firing=[a["alertname"] for a in data["firing"]],
            silenced_critical=[str(x["id"]) for x in res.silences] or None,
        ),
    )
    return res


def mark_drill(config: Config, label: str, alertnames: list[str]) -> bool:
    """While a drill runs, its alerts (``alertnames``) leave Prometheus labelled ``drill=<label>``: the
    webhook opens a drill incident for them. False when the stack is not running."""
    from procops.monitoring import stack

    return stack.set_drill_mark(config, {"label": label, "alertnames": list(alertnames)})


def unmark_drill(config: Config) -> bool:
    """The drill is over: alerts leave Prometheus unlabelled again."""
    from procops.monitoring import stack

    return stack.set_drill_mark(config, None)


def prometheus_alerts(config: Config) -> list[dict]:
    """Prometheus's firing and pending alerts (alertname, state, labels, since); exit 3 when unreachable."""
    from procops.monitoring import stack

    return stack.check(config).prometheus


def critical_firing(config: Config) -> list[dict]:
    """The critical alerts Prometheus has firing now, a drill's (``drill`` label) set aside.
    Prometheus unreachable: :class:`~procops.errors.EnvironmentFailure` (exit 3), never "none firing"."""
    from procops.monitoring import grouping, stack

    return [a for a in stack.check(config).critical if not grouping.is_drill(a["labels"])]


def deliver_synthetic(config: Config, timeout: float = 30.0) -> dict:
    from procops.monitoring import stack

    return stack.deliver_synthetic(config, timeout)


def serve_exporter(config: Config, port: int) -> tuple[Any, Any]:
    """Serve the procops_* metrics in a background thread; returns (server, thread)."""
    from procops.monitoring import exporter

    return exporter.serve(config, port)


@dataclass(frozen=True)
class WebhookService:
    port: int
    incident_url: str
    escalation_url: str
    token_file: Path
    service: Any  # procops.monitoring.webhook.Service


def start_webhook(config: Config, port: int | None = None) -> WebhookService:
    """Start the alert webhook (and the escalation loop) in background threads."""
    from procops.monitoring import webhook as wh

    service = wh.start(config, port)
    base = f"http://127.0.0.1:{service.port}"
    return WebhookService(
        service.port, base + wh.INCIDENT_PATH, base + wh.ESCALATION_PATH, wh.token_file(config), service
    )


def run_webhook_forever(svc: WebhookService) -> None:
    from procops.monitoring import webhook as wh

    wh.run_forever(svc.service)


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT (the foreground services)."""
    from procops.monitoring import webhook as wh

    wh.wait_for_signal()


def readiness_steps() -> list[Step]:
    """Alert rules tested, the stack up and scraping, a synthetic alert delivered (in this order)."""
    from procops.monitoring import steps

    return list(steps.STEPS)
