"""Readiness steps of procops.drills (:data:`STEPS`, read through ``procops.drills.api.readiness_steps``)."""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed


def app_crash_drill(ctx: Context) -> tuple[str, dict]:
    from procops.drills import api

    res = api.run(ctx.config, "app-crash", mode="auto", lang=ctx.lang)
    ev = res.as_dict()
    if res.exit_code != 0:
        raise StepFailed(
            _("the app-crash drill failed: {reason}").format(reason=res.reason or ", ".join(res.findings)), ev
        )
    return (
        _("app-crash drill passed: detected after {s:.1f} s, every clock met, rolled back").format(
            s=res.detected_s or 0
        ),
        ev,
    )


STEPS = (
    Step(
        "drill",
        N_("Emergency drill app-crash (--auto): detection, clocks, rollback"),
        app_crash_drill,
        needs=("sandbox", "monitoring-stack"),
    ),
)
