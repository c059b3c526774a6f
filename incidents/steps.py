"""Readiness steps of procops.incidents in the order they run (:data:`STEPS`, read through
``procops.incidents.api.readiness_steps``)."""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed


def runbooks_present(ctx: Context) -> tuple[str, dict]:
    from procops.incidents import runbooks

    missing = runbooks.coverage()
    counts = {lang: len(runbooks.load_all(lang)) for lang in runbooks.LANGS}
    if any(missing.values()):
        raise StepFailed(
            _("runbooks missing: ") + "; ".join(f"{lang}: {', '.join(m)}" for lang, m in missing.items() if m),
            {"missing": missing},
        )
    return (
        _("{zh} runbooks in zh, {en} in en, every fault type covered").format(zh=counts["zh"], en=counts["en"]),
        {"counts": counts},
    )


STEPS = (
    Step(
        "runbooks",
        N_("Runbooks in Chinese and English for every fault type"),
        runbooks_present,
        needs=("config",),
    ),
)
