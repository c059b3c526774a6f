"""Readiness steps of procops.loadtests in the order they run (:data:`STEPS`, read through
``procops.loadtests.api.readiness_steps``)."""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed

READINESS_USERS = 10
READINESS_HOLD = 15.0


def short_peak(ctx: Context) -> tuple[str, dict]:
    """A short peak test (10 users, 15 s hold) against the platform; the full one is `procops loadtest peak`."""
    from procops.errors import EnvironmentFailure
    from procops.loadtests import runner

    users = min(READINESS_USERS, ctx.config.loadtest.normal_peak_users)
    opts = runner.PeakOptions(
        users=users,
        spawn_rate=max(users / 2.0, 1.0),
        duration=READINESS_HOLD,
        host=ctx.facts["url"],
        workers=0,
        report_dir=ctx.report_dir / "loadtest-peak",
        scenario_name="readiness-peak",
    )
    result = runner.run_peak(ctx.config, opts)
    s = result.summary
    evidence = {
        "verdict": s["verdict"],
        "report_dir": str(result.report_dir),
        "users": s["users"],
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
        _("{users} users for {readiness_hold:g}s: {requests} requests, {rps:.1f}/s, every SLO held").format(
            users=users, readiness_hold=READINESS_HOLD, requests=s["requests"], rps=s["rps"]
        )
        + (
            _(" (slowest page {endpoint} p95 {observed:.0f} ms)").format(
                endpoint=worst["endpoint"], observed=worst["observed"]
            )
            if worst
            else ""
        ),
        evidence,
    )


STEPS = (Step("peak-test", N_("Short peak-load test holds the SLOs"), short_peak, needs=("sandbox",)),)
