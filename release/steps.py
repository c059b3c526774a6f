"""Readiness steps of procops.release, in the order they run (:data:`STEPS`, read through
``procops.release.api.readiness_steps``): a canary release on the sandbox through every stage."""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed

QUICK_ANALYSIS = 15.0  # seconds of analysis per stage with --quick
ANALYSIS = 30.0


def canary_release(ctx: Context) -> tuple[str, dict]:
    """1.0.0 -> 1.1.0 (or back, when the sandbox already serves 1.1.0) with --auto and short analysis
    windows: every stage deployed, analysed by the gates and promoted. On a configured platform only
    the plan and its preflight run (a readiness check never changes production)."""
    from procops.release import api

    version = "1.1.0"
    if ctx.config.platform.url:
        plan = api.plan(ctx.config, version)
        if plan["exit_code"] != 0:
            bad = "; ".join(f"{c['check']}: {c['detail']}" for c in plan["preflight"] if not c["ok"])
            raise StepFailed(_("release preflight failed: {problems}").format(problems=bad), plan)
        return _("release plan of {version}: preflight ok (no release on a configured platform)").format(
            version=version
        ), {"plan": plan}
    from procops.sandbox import api as sandbox

    running = [r.get("version") for r in sandbox.status().get("replicas", [])]
    current = running[0] if running and len(set(running)) == 1 else "?"
    if current == "1.1.0":
        version = "1.0.0"
    cfg = api.short_stages(ctx.config, analysis=QUICK_ANALYSIS if ctx.quick else ANALYSIS)
    rel = cfg.release
    stages = list(rel.stages)
    if 1 < len(running) < len(stages):  # two replicas: a stage of one host, then all (a stage adds a host)
        stages = [*stages[: len(running) - 1], stages[-1]]
    # short windows: enough background load that a 10% canary sees gates.min_requests in one window
    first = stages[0].traffic / 100
    rate = max(rel.load.rate, rel.gates.min_requests * 1.5 / (max(first, 0.01) * stages[0].analysis))
    load = rel.load.model_copy(update={"enabled": True, "rate": min(rate, 200.0)})
    cfg = cfg.model_copy(update={"release": rel.model_copy(update={"stages": stages, "load": load})})
    res = api.start(cfg, version, auto=True)
    ev = res.as_dict()
    if res.outcome != api.Outcome.ROLLED_OUT:
        raise StepFailed(
            _("the canary release of {version} ended {outcome}: {message}").format(
                version=version, outcome=res.outcome, message=res.message
            ),
            ev,
        )
    return (
        _("{from_version} -> {version} rolled out through {stages} stages, every gate passed").format(
            from_version=current, version=version, stages=len(cfg.release.stages)
        ),
        ev,
    )


STEPS = (
    Step(
        "canary-release",
        N_("Canary release through every stage, gates passing"),
        canary_release,
        needs=("sandbox", "monitoring-stack"),
    ),
)
