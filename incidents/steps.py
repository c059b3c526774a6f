"""Readiness steps of procops.incidents in the order they run (:data:`STEPS`, read through
``procops.incidents.api.readiness_steps``)."""

from __future__ import annotations

from procops.readiness import Context, Step, StepFailed


def runbooks_present(ctx: Context) -> tuple[str, dict]:
    from procops.incidents import runbooks

    missing = runbooks.coverage()
    counts = {lang: len(runbooks.load_all(lang)) for lang in runbooks.LANGS}
    if any(missing.values()):
        raise StepFailed(
            "runbooks missing: " + "; ".join(f"{lang}: {', '.join(m)}" for lang, m in missing.items() if m),
            {"missing": missing},
        )
    return (f"{counts['zh']} runbooks in zh, {counts['en']} in en, every fault type covered", {"counts": counts})


STEPS = (
    Step(
        "runbooks",
        "Runbooks in Chinese and English for every fault type",
        "每种故障类型都有中英文应急手册",
        runbooks_present,
        needs=("config",),
    ),
)
