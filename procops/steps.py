"""The steps of `procops readiness`, in the order they run: one explicit list (:func:`ordered`).

Core's own steps (the configuration first, the journal last) are here; each area's live in
its ``steps.py`` and come through its api (``<area>.api.readiness_steps()``), in the order
:func:`procops.areas.readiness_steps` gives. Nothing registers itself when imported, so the
order of imports cannot change the order of the steps.

Each step returns ``(detail, evidence)`` or raises :class:`procops.readiness.StepFailed`
when the platform does not meet the policy.
"""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed


def config_valid(ctx: Context) -> tuple[str, dict]:
    p = ctx.config.policy
    return (
        _(
            "policy: pages p95 <= {page_load_p95:g}s, uploads {upload_success_ratio:.0%}, capacity {capacity_multiple:g}x, backup every {value:g} min"
        ).format(
            page_load_p95=p.page_load_p95,
            upload_success_ratio=p.upload_success_ratio,
            capacity_multiple=p.capacity_multiple,
            value=p.backup_interval / 60,
        ),
        {"policy": ctx.config.policy.model_dump(mode="json")},
    )


def journal_intact(ctx: Context) -> tuple[str, dict]:
    from procops.journal import open_journal

    with open_journal() as j:
        v = j.verify()
    if not v.ok:
        raise StepFailed(
            _("journal tampered at row {first_bad_id}: {problem}").format(
                first_bad_id=v.first_bad_id, problem=v.problem
            ),
            v.as_dict(),
        )
    return _("{rows} events, chain intact").format(rows=v.rows), v.as_dict()


def platform_health(ctx: Context) -> tuple[str, dict]:
    """Whatever the other steps say, the platform is not ready while a critical alert fires or a
    critical real incident is open (drills' alerts and incidents are set aside)."""
    from procops import areas

    alerts, incidents = areas.platform_health(ctx.config)
    evidence = {"critical_alerts": alerts, "open_critical_incidents": incidents}
    if alerts or incidents:
        parts = []
        if alerts:
            parts.append(
                _("critical alerts firing: {names}").format(names=", ".join(sorted({a["alertname"] for a in alerts})))
            )
        if incidents:
            parts.append(
                _("critical incidents open: {ids}").format(ids=", ".join(i["id"] for i in incidents))
                + " ("
                + _("see: procops incident list")
                + ")"
            )
        raise StepFailed("; ".join(parts), evidence)
    return _("no critical alert firing, no critical incident open"), evidence


CONFIG = Step("config", N_("Configuration is valid"), config_valid)
JOURNAL = Step("journal", N_("Evidence journal is intact"), journal_intact)
HEALTH = Step(
    "platform-health",
    N_("No critical alert firing, no critical incident open"),
    platform_health,
    needs=("monitoring-stack",),
)


def ordered() -> list[Step]:
    """Every readiness step in the order it runs: config, the areas' (DESIGN.md's order), the platform's
    health (no critical alert firing, no critical incident open), journal."""
    from procops import areas

    steps = [CONFIG, *areas.readiness_steps(), HEALTH, JOURNAL]
    names = [s.name for s in steps]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"readiness steps named twice: {', '.join(dup)}")
    return steps
