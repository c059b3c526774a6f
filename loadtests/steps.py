"""Readiness steps of procops.loadtests in the order they run (:data:`STEPS`, read through
``procops.loadtests.api.readiness_steps``)."""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed

QUICK_HOLD = 15.0  # --quick: the users held this long after the ramp (else loadtest.hold)


def short_peak(ctx: Context) -> tuple[str, dict]:
    """A peak test at the policy's multiple of the normal peak (policy.capacity_multiple x
    loadtest.normal_peak_users), held loadtest.hold (15 s with --quick); the SLOs must hold."""
    from procops.errors import EnvironmentFailure
    from procops.loadtests import runner

    lt, multiple = ctx.config.loadtest, ctx.config.policy.capacity_multiple
    users = max(1, round(lt.normal_peak_users * multiple))
    hold = QUICK_HOLD if ctx.quick else lt.hold
    opts = runner.PeakOptions(
        users=users,
        spawn_rate=max(lt.spawn_rate, users / 10.0),  # the ramp takes at most 10 s
        duration=hold,
        host=ctx.facts["url"],
        report_dir=ctx.report_dir / "loadtest-peak",
        scenario_name="readiness-peak",
    )
    result = runner.run_peak(ctx.config, opts)
    s = result.summary
    evidence = {
        "verdict": s["verdict"],
        "report_dir": str(result.report_dir),
        "users": s["users"],
        "multiple": multiple,
        "requests": s["requests"],
        "rps": s["rps"],
        "slos": s["slos"],
        "generator_cpu": s["generator_cpu"]["max_ratio"],
    }
    if s["verdict"] == "invalid":
        raise EnvironmentFailure(
            _("peak test invalid: {invalid_reason}").format(invalid_reason=s.get("invalid_reason"))
        )
    bad = [r for r in s["slos"] if not r["ok"]]
    if bad:
        raise StepFailed(
            _("SLO broken: ")
            + "; ".join(
                f"{r['name']} {r['observed']}{r.get('unit', '')} (threshold {r['threshold']}{r.get('unit', '')})"
                for r in bad
            ),
            evidence,
        )
    worst = max((r for r in s["slos"] if r["metric"] == "p95"), key=lambda r: r["observed"] or 0, default=None)
    return (
        _(
            "{users} users ({multiple:g}x the normal peak) for {hold:g}s: {requests} requests, {rps:.1f}/s, every SLO held"
        ).format(users=users, multiple=multiple, hold=hold, requests=s["requests"], rps=s["rps"])
        + (
            _(" (slowest page {endpoint} p95 {observed:.0f} ms)").format(
                endpoint=worst["endpoint"], observed=worst["observed"]
            )
            if worst
            else ""
        ),
        evidence,
    )


STEPS = (Step("peak-test", N_("Peak-load test at the policy multiple holds the SLOs"), short_peak, needs=("sandbox",)),)
