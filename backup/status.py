"""`procops backup snapshots` and `procops backup status`: what each repository holds and whether the RPO holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from procops.backup import state
from procops.backup.ops import make_restic, run_sets, snapshots, unconfirmed
from procops.backup.sources import select
from procops.errors import ProcopsError
from procops.timeutil import parse_iso, utcnow

if TYPE_CHECKING:
    from procops.config import Config


def list_snapshots(config: Config, repo: str | None = None) -> dict:
    restic = make_restic(config)
    out: dict[str, Any] = {}
    for r in select(config, repo):
        try:
            snaps = snapshots(restic, r)
            sets = run_sets(snaps)
            out[r.name] = {
                "ok": True,
                "offsite": r.offsite,
                "runs": [s.as_dict() for s in sets],
                "incomplete": [{"id": s.short_id, "time": s.time, "tags": list(s.tags)} for s in unconfirmed(snaps)],
            }
        except ProcopsError as e:
            problem = getattr(getattr(e, "problem", None), "value", None)  # a ResticError's classification
            out[r.name] = {"ok": False, "offsite": r.offsite, "error": e.message, "problem": problem, "runs": []}
    return {"ok": all(v["ok"] for v in out.values()), "repositories": out}


def status(config: Config) -> dict:
    """Per repository: latest run and its age, whether the RPO holds, last check and verify, off-site lag."""
    now = utcnow()
    listing = list_snapshots(config)["repositories"]
    st = state.load().get("repositories", {})
    local_runs: set[str] | None = None
    for _name, v in listing.items():
        if not v["offsite"] and v["ok"]:
            local_runs = {x["run"] for x in v["runs"]}
            break
    repos: dict[str, Any] = {}
    for name, v in listing.items():
        rs = st.get(name, {})
        limit = config.policy.offsite_backup_interval if v["offsite"] else config.policy.backup_interval
        latest = v["runs"][-1] if v["runs"] else None
        age = (now - parse_iso(latest["time"])).total_seconds() if latest else None
        entry = {
            "offsite": v["offsite"],
            "reachable": v["ok"],
            "error": v.get("error"),
            "problem": v.get("problem"),  # e.g. not_initialised: no repository yet
            "latest_run": latest["run"] if latest else None,
            "latest_snapshot": latest["files_snapshot"] if latest else None,
            "latest_time": latest["time"] if latest else None,
            "age_seconds": round(age, 1) if age is not None else None,
            "rpo_seconds": limit,
            "rpo_ok": bool(v["ok"] and age is not None and age <= limit),
            "runs": len(v["runs"]),
            "last_run": rs.get("last_run"),
            "last_run_status": rs.get("last_status"),
            "last_run_error": rs.get("last_error"),
            "check": rs.get("check"),
            "verify": rs.get("verify"),
        }
        if v["offsite"]:
            if v["ok"] and local_runs is not None:
                entry["offsite_missing_runs"] = len(local_runs - {x["run"] for x in v["runs"]})
            else:
                entry["offsite_missing_runs"] = rs.get("offsite_missing_runs")
        repos[name] = entry
    live = st.get("live", {}).get("verify")
    ok = all(e["rpo_ok"] for e in repos.values())
    from procops.events import BackupStatus, BackupStatusRepo, Kind, Status
    from procops.journal import record

    record(
        Kind.BACKUP_STATUS,
        "all",
        BackupStatus(
            status=Status.of(ok),
            ok=ok,
            repositories={
                n: BackupStatusRepo(
                    rpo_ok=e["rpo_ok"],
                    age_seconds=e["age_seconds"],
                    latest_run=e["latest_run"],
                    offsite_missing_runs=e.get("offsite_missing_runs"),
                )
                for n, e in repos.items()
            },
        ),
    )
    return {"ok": ok, "repositories": repos, "live_verify": live}
