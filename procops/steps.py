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


def audit_holds(ctx: Context) -> tuple[str, dict]:
    """The compliance audit of the last 90 days (`procops audit`), its report beside this one. A
    requirement not met fails the step; one without evidence yet (a fresh home has no quarter of
    drills, no month of capacity tests) is listed, not failed: the quarterly audit demands it."""
    from procops import compliance as C
    from procops import desk

    period = desk.parse_period(None, None)
    result = desk.audit(ctx.config, period, live=True)
    path = desk.write_audit(ctx.config, result, ctx.lang, "html", ctx.report_dir / "audit.html")
    desk.record_audit(result, path)
    by = {s: [f.id for f in result.findings if f.status == s] for s in (C.MET, C.NOT_MET, C.NO_EVIDENCE)}
    evidence = {"report": str(path), "findings": [f.as_dict() for f in result.findings]}
    if by[C.NOT_MET]:
        raise StepFailed(
            _("requirements not met: {ids} (see {path})").format(ids=", ".join(by[C.NOT_MET]), path=path.name),
            evidence,
        )
    detail = _("{met} of {total} requirements met").format(met=len(by[C.MET]), total=len(result.findings))
    if by[C.NO_EVIDENCE]:
        detail += "; " + _("no evidence yet: {ids}").format(ids=", ".join(by[C.NO_EVIDENCE]))
    return detail, evidence


CONFIG = Step("config", N_("Configuration is valid"), config_valid)
JOURNAL = Step("journal", N_("Evidence journal is intact"), journal_intact)
AUDIT = Step(
    "audit", N_("Compliance audit R1-R12 of the last 90 days: nothing not met"), audit_holds, needs=("config",)
)
HEALTH = Step(
    "platform-health",
    N_("No critical alert firing, no critical incident open"),
    platform_health,
    needs=("monitoring-stack",),
)


def ordered() -> list[Step]:
    """Every readiness step in the order it runs: config, the areas' (DESIGN.md's order), the platform's
    health (no critical alert firing, no critical incident open), the audit, journal."""
    from procops import areas

    steps = [CONFIG, *areas.readiness_steps(), HEALTH, AUDIT, JOURNAL]
    names = [s.name for s in steps]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"readiness steps named twice: {', '.join(dup)}")
    return steps
