"""Readiness steps of procops.monitoring in the order they run (:data:`STEPS`, read through
``procops.monitoring.api.readiness_steps``)."""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed


def rules_tested(ctx: Context) -> tuple[str, dict]:
    from procops.monitoring import rules

    res = rules.write_and_test(ctx.config)
    if not res.ok:
        raise StepFailed(
            _("promtool: check {value}, tests {value2}").format(
                value="ok" if res.check_ok else "FAILED", value2="ok" if res.test_ok else "FAILED"
            ),
            res.as_dict(),
        )
    return (
        _("{n_alerts} alerts, {test_cases} promtool test cases pass").format(
            n_alerts=len(res.alerts), test_cases=res.test_cases
        ),
        {"rules": res.rules_path, "tests": res.tests_path, "alerts": res.alerts},
    )


def stack_up(ctx: Context) -> tuple[str, dict]:
    from procops.monitoring import stack

    from procops.readiness import Started

    state, started = stack.up(ctx.config)
    mon = ctx.config.monitoring
    urls = {
        "prometheus": f"http://127.0.0.1:{mon.prometheus_port}",
        "alertmanager": f"http://127.0.0.1:{mon.alertmanager_port}",
    }
    if started:
        ctx.started_here(Started(N_("monitoring stack"), lambda: stack.down(), "procops monitor down", urls))
    else:
        ctx.urls.update(urls)
    st = stack.status()
    if not st["healthy"]:
        bad = [c["name"] for c in st["components"] if not c["healthy"]]
        raise StepFailed(_("unhealthy: {bad}").format(bad=", ".join(bad)), st)
    targets = _targets(ctx.config)
    down = [t for t in targets if t["health"] != "up"]
    if down:
        raise StepFailed(
            _("Prometheus cannot scrape: {value}").format(
                value=", ".join(t["job"] + " " + t["instance"] for t in down)
            ),
            {"targets": targets},
        )
    ctx.facts["monitoring"] = True
    return (
        _("{n_components} components healthy ({value}), {n_targets} targets up, watching {url}").format(
            n_components=len(st["components"]),
            value="started" if started else "already running",
            n_targets=len(targets),
            url=st["target"].get("url"),
        ),
        {"components": st["components"], "targets": targets},
    )


def _targets(config) -> list[dict]:
    import httpx

    from procops.monitoring import webauth

    r = httpx.get(
        f"http://127.0.0.1:{config.monitoring.prometheus_port}/api/v1/targets",
        params={"state": "active"},
        timeout=10,
        auth=webauth.of(config).httpx(),
    )
    return [
        {
            "job": t["labels"].get("job"),
            "instance": t["labels"].get("instance"),
            "health": t["health"],
            "error": t.get("lastError", ""),
        }
        for t in r.json()["data"]["activeTargets"]
    ]


def synthetic_alert(ctx: Context) -> tuple[str, dict]:
    from procops.errors import VerdictFailed
    from procops.monitoring import stack

    try:
        res = stack.deliver_synthetic(ctx.config)
    except VerdictFailed as e:
        raise StepFailed(e.message) from None
    return (
        _("Alertmanager -> webhook -> journal in {seconds:.1f}s (journal row {journal_event})").format(
            seconds=res["seconds"], journal_event=res["journal_event"]
        ),
        res,
    )


STEPS = (
    Step(
        "monitoring-rules",
        N_("Alert rules are tested (promtool)"),
        rules_tested,
        needs=("config",),
    ),
    Step(
        "monitoring-stack",
        N_("Monitoring stack is up and watching the platform"),
        stack_up,
        needs=("monitoring-rules", "sandbox"),
    ),
    Step(
        "monitoring-alert",
        N_("A synthetic alert is delivered end to end"),
        synthetic_alert,
        needs=("monitoring-stack",),
    ),
)
