"""Persisted per-repository state ($PROCOPS_HOME/backup/state.json) and the metrics written from it.

Each command updates only its own keys under a short lock (read, modify,
atomic write), so a backup and a check finishing at once do not lose each
other's results. Metrics are rewritten from this state after every command, so
a last-success timestamp survives failed runs and shows staleness.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from procops.home import atomic_write, exclusive_lock


def state_file() -> Path:
    from procops.backup.sources import backup_dir

    return backup_dir() / "state.json"


def load() -> dict[str, Any]:
    try:
        return json.loads(state_file().read_text())
    except (FileNotFoundError, ValueError):
        return {"repositories": {}}


def update(repo: str, **values: Any) -> dict[str, Any]:
    """Merge ``values`` into the state of ``repo``; returns the new state of that repository."""
    with exclusive_lock("backup-state", wait=True):
        st = load()
        r = st.setdefault("repositories", {}).setdefault(repo, {})
        r.update(values)
        atomic_write(state_file(), json.dumps(st, indent=2, sort_keys=True))
        return r


def repo_state(repo: str) -> dict[str, Any]:
    return load().get("repositories", {}).get(repo, {})


def write_metrics(repo_names: list[str], offsite: dict[str, bool], *, rpo_seconds: float) -> None:
    """procops_backup_* gauges per repository, from the persisted state (never raises)."""
    from procops.metrics import new_registry, write_textfile
    from procops.timeutil import parse_iso

    try:
        from prometheus_client import Gauge

        reg = new_registry()
        lbl = ["repository"]
        g = {
            "last_success": Gauge(
                "procops_backup_last_success_timestamp_seconds",
                "Time of the last successful backup to the repository.",
                lbl,
                registry=reg,
            ),
            "last_run": Gauge(
                "procops_backup_last_run_timestamp_seconds", "Time of the last backup attempt.", lbl, registry=reg
            ),
            "last_ok": Gauge(
                "procops_backup_last_run_success",
                "1 when the last backup attempt to the repository succeeded.",
                lbl,
                registry=reg,
            ),
            "duration": Gauge(
                "procops_backup_duration_seconds", "Duration of the last backup attempt.", lbl, registry=reg
            ),
            "added": Gauge(
                "procops_backup_added_bytes", "Bytes added to the repository by the last backup.", lbl, registry=reg
            ),
            "check": Gauge(
                "procops_backup_last_check_success_timestamp_seconds",
                "Time of the last clean repository check.",
                lbl,
                registry=reg,
            ),
            "check_ok": Gauge(
                "procops_backup_last_check_success", "1 when the last check was clean.", lbl, registry=reg
            ),
            "verify": Gauge(
                "procops_backup_last_verify_success_timestamp_seconds",
                "Time of the last clean restore-and-verify.",
                lbl,
                registry=reg,
            ),
            "problems": Gauge(
                "procops_integrity_problems", "Integrity problems found by the last verify.", lbl, registry=reg
            ),
            "offsite": Gauge("procops_backup_repository_offsite", "1 for an off-site repository.", lbl, registry=reg),
            "lag": Gauge(
                "procops_backup_offsite_missing_runs",
                "Backup runs present locally but missing in this off-site repository.",
                lbl,
                registry=reg,
            ),
        }
        Gauge("procops_backup_rpo_seconds", "Policy: a backup at least this often (R4).", registry=reg).set(rpo_seconds)
        st = load().get("repositories", {})
        names = list(dict.fromkeys([*repo_names, *(["live"] if "live" in st else [])]))
        for name in names:
            r = st.get(name, {})
            ts = lambda k, r=r: parse_iso(r[k]).timestamp()  # noqa: E731
            if name in offsite:
                g["offsite"].labels(name).set(1 if offsite[name] else 0)
            if r.get("last_success"):
                g["last_success"].labels(name).set(ts("last_success"))
            if r.get("last_run"):
                g["last_run"].labels(name).set(ts("last_run"))
                g["last_ok"].labels(name).set(1 if r.get("last_status") == "ok" else 0)
                g["duration"].labels(name).set(r.get("last_duration_s", 0))
                g["added"].labels(name).set(r.get("last_added_bytes", 0))
            chk = r.get("check") or {}
            if chk.get("last_success"):
                g["check"].labels(name).set(parse_iso(chk["last_success"]).timestamp())
            if chk.get("time"):
                g["check_ok"].labels(name).set(1 if chk.get("ok") else 0)
            ver = r.get("verify") or {}
            if ver.get("last_success"):
                g["verify"].labels(name).set(parse_iso(ver["last_success"]).timestamp())
            if ver.get("time"):
                g["problems"].labels(name).set(ver.get("problems", 0))
            if offsite.get(name) and "offsite_missing_runs" in r:
                g["lag"].labels(name).set(r["offsite_missing_runs"])
        write_textfile("backup", reg)
    except Exception:  # noqa: BLE001 - metrics never fail the main job
        import logging

        logging.getLogger(__name__).warning("could not write backup metrics", exc_info=True)
