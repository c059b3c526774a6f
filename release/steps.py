"""Readiness steps of procops.release, in the order they run (:data:`STEPS`, read through
``procops.release.api.readiness_steps``): a canary release on the sandbox with short analysis
windows (1.0.0 -> 1.1.0; the other way round when the sandbox already runs 1.1.0)."""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed

READINESS_ANALYSIS = 15.0


def canary_release(ctx: Context) -> tuple[str, dict]:
    from procops.errors import ProcopsError
    from procops.release import api

    current = api.current_version(ctx.config)
    target = "1.0.0" if current == "1.1.0" else "1.1.0"
    try:
        cfg = api.short_stages(ctx.config, READINESS_ANALYSIS)
        # short windows need a denser background load for the gates' minimum of canary requests
        rel = cfg.release
        load = rel.load.model_copy(update={"rate": max(rel.load.rate, 25.0)})
        cfg = cfg.model_copy(update={"release": rel.model_copy(update={"load": load})})
        res = api.start(cfg, target, auto=True)
    except ProcopsError as e:
        raise StepFailed(e.message) from None
    data = res.as_dict()
    if res.outcome != api.Outcome.ROLLED_OUT:
        raise StepFailed(
            _("the canary release {from_version} -> {version} ended {outcome}: {reason}").format(
                from_version=current, version=target, outcome=res.outcome, reason=res.message
            ),
            data,
        )
    rel = data["release"]
    gates = sum(1 for g in res.state.gates if g["passed"])
    return (
        _("{from_version} -> {version} rolled out in {stages} stages, {gates} gate checks passed").format(
            from_version=current, version=target, stages=rel["stages"], gates=gates
        ),
        data,
    )


STEPS: tuple[Step, ...] = (
    Step(
        "canary-release",
        N_("A canary release passes its gates stage by stage"),
        canary_release,
        needs=("monitoring-stack",),
    ),
)
