"""Readiness steps of procops.backup in the order they run (:data:`STEPS`, read through
``procops.backup.api.readiness_steps``):
a backup to every repository, a repository check, a restore-and-verify of the latest backup and of the live data.
"""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed


def backup_run(ctx: Context) -> tuple[str, dict]:
    from procops.backup import run

    init = run.init(ctx.config)
    if not init["ok"]:
        raise StepFailed(_("a repository could not be initialised"), init)
    res = run.backup(ctx.config)
    ev = res.as_dict()
    if not res.ok:
        bad = {n: f"{r['problem']}: {r['error']}" for n, r in ev["repositories"].items() if r["status"] != "ok"}
        raise StepFailed(_("backup failed in ") + ", ".join(f"{n} ({e})" for n, e in bad.items()), ev)
    ctx.facts["backup_run"] = res.run_id
    tot = ev["manifest_totals"] or {}
    return (
        _("run {run_id}: {documents} documents and the database in ").format(
            run_id=res.run_id, documents=tot.get("documents")
        )
        + ", ".join(ev["repositories"]),
        ev,
    )


def backup_check(ctx: Context) -> tuple[str, dict]:
    from procops.backup import check

    res = check.check(ctx.config)
    ev = {"repositories": [r.as_dict() for r in res]}
    bad = [r for r in res if not r.ok]
    if bad:
        raise StepFailed(_("restic check found errors in ") + ", ".join(r.repository for r in bad), ev)
    return _("restic check clean: ") + ", ".join(f"{r.repository} (read {r.read})" for r in res), ev


def backup_verify(ctx: Context) -> tuple[str, dict]:
    from procops.backup import verify

    results = verify.verify_snapshot(ctx.config, snapshot=ctx.facts.get("backup_run", "latest"))
    results.append(verify.verify_live(ctx.config))
    ev = {"results": [r.as_dict() for r in results]}
    bad = [r for r in results if not r.ok]
    if bad:
        raise StepFailed(
            _("integrity problems: ")
            + "; ".join(f"{r.target}: " + ", ".join(f"{n} {k}" for k, n in r.counts().items()) for r in bad),
            ev,
        )
    return (_("restored and verified ") + ", ".join(f"{r.target} ({r.documents} documents)" for r in results), ev)


STEPS = (
    Step(
        "backup",
        N_("Backup to the local and off-site repositories"),
        backup_run,
        needs=("sandbox",),
    ),
    Step("backup-check", N_("Backup repositories are consistent"), backup_check, needs=("backup",)),
    Step(
        "backup-verify",
        N_("Latest backup restores and matches; live archive intact"),
        backup_verify,
        needs=("backup",),
    ),
)
