"""A journal of 100,000 events over 90 days, as an ops host writes it, built in seconds.

The rows are written straight into the journal's table with the real hash chain
(``procops.journal.row_hash``), in one transaction: appending them one by one through
``Journal.append`` (one fsync each) would take longer than the benchmarks themselves. The mix per
hour: a backup run and its operation rows, the schedule job, a backup status, 40 webhook
notifications, an incident timeline note; daily checks, weekly verifies and scans, monthly load
tests, a drill and a release per month, a few incidents with their milestones and items.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from procops import events as ev
from procops.events import Kind, Status
from procops.journal import GENESIS, Journal, canonical, row_hash, scrub


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def build(path: Path, *, events: int = 100_000, days: int = 90, now: dt.datetime | None = None) -> int:
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(days=days)
    rows: list[tuple[dt.datetime, Kind, str, ev.Record]] = []
    hours = days * 24
    per_hour_webhooks = max(1, -(-(events - hours * 6) // hours))
    for h in range(hours):
        t = start + dt.timedelta(hours=h, minutes=2)
        run = t.strftime("%Y%m%dT%H%M%SZ")
        repos = {n: ev.BackupRunRepo(status=Status.OK) for n in ("local", "offsite")}
        rows.append((t, Kind.OPERATION_START, "all", ev.OperationStart(operation="backup.run", id=run)))
        rows.append((t, Kind.BACKUP_RUN, "all", ev.BackupRun(status=Status.OK, ok=True, run=run, repositories=repos)))
        rows.append((t, Kind.OPERATION_END, "all", ev.OperationEnd(operation="backup.run", id=run, status=Status.OK)))
        rows.append((t, Kind.SCHEDULE_JOB, "backup-run", ev.ScheduleJob(status=Status.OK, command="backup run")))
        rows.append((t, Kind.BACKUP_STATUS, "all", ev.BackupStatus(status=Status.OK, ok=True)))
        for i in range(per_hour_webhooks):
            rows.append(
                (
                    t + dt.timedelta(seconds=i),
                    Kind.MONITOR_WEBHOOK,
                    "default",
                    ev.WebhookDelivery(
                        receiver="default", status="firing", alerts=1, firing=1, alertnames=["HostCpuHigh"]
                    ),
                )
            )
        rows.append((t, Kind.INCIDENT_TIMELINE, "INC-0", ev.IncidentTimeline(kind="note", details={"h": h})))
        if h % 24 == 3:
            rows.append((t, Kind.BACKUP_CHECK, "all", ev.BackupCheck(status=Status.OK, ok=True)))
        if h % (24 * 7) == 4:
            rows.append((t, Kind.BACKUP_VERIFY, "all", ev.BackupVerify(status=Status.OK, ok=True, documents=100)))
            rows.append((t, Kind.SCAN_RUN, "host", ev.ScanRun(status=Status.OK, verdict="pass", hardening_index=70)))
            rows.append((t, Kind.MONITOR_RULES, "rules", ev.MonitorRules(status=Status.OK, verdict="pass", alerts=20)))
        if h % (24 * 30) == 5:
            rows.append((t, Kind.LOADTEST_PEAK, "peak", ev.LoadtestRun(status=Status.OK, verdict="pass", users=150)))
            rows.append(
                (
                    t,
                    Kind.LOADTEST_CAPACITY,
                    "capacity",
                    ev.LoadtestRun(status=Status.OK, verdict="pass", capacity_multiple=3.5),
                )
            )
            rows.append(
                (t, Kind.DRILL_RUN, "app-crash", ev.DrillRun(scenario="app-crash", status=Status.OK, verdict="pass"))
            )
            rid = f"rel-{h}"
            rows.append(
                (
                    t,
                    Kind.RELEASE_START,
                    rid,
                    ev.ReleaseStart(release_id=rid, version="1.1.0", stages=3, change_notice=True),
                )
            )
            for s in (1, 2, 3):
                rows.append((t, Kind.RELEASE_STAGE, rid, ev.ReleaseStage(release_id=rid, stage=s, decision="promote")))
                rows.append(
                    (t, Kind.RELEASE_GATE, rid, ev.ReleaseGate(release_id=rid, stage=s, gate="errors", passed=True))
                )
            rows.append(
                (
                    t,
                    Kind.RELEASE_END,
                    rid,
                    ev.ReleaseEnd(
                        release_id=rid,
                        version="1.1.0",
                        status=Status.OK,
                        outcome="promoted",
                        stages_passed=3,
                        stages_total=3,
                        change_notice=True,
                    ),
                )
            )
            iid = f"INC-{h}"
            dl = {
                m: _iso(t + dt.timedelta(seconds=s))
                for m, s in (("classify", 900), ("standby", 3600), ("report", 86400))
            }
            rows.append((t, Kind.INCIDENT_OPEN, iid, ev.IncidentOpen(title="portal slow", t0=_iso(t), deadlines=dl)))
            for m, after in (("classify", 600), ("standby", 1800), ("report", 7200)):
                at = t + dt.timedelta(seconds=after)
                rows.append(
                    (
                        at,
                        Kind.INCIDENT_MILESTONE,
                        iid,
                        ev.IncidentMilestone(milestone=m, reached_at=_iso(at), late=False),
                    )
                )
            rows.append(
                (
                    t,
                    Kind.INCIDENT_ACTION_ADD,
                    iid,
                    ev.IncidentActionAdd(action=1, problem="tune", due=_iso(t + dt.timedelta(days=7))),
                )
            )
            rows.append((t, Kind.INCIDENT_ACTION_UPDATE, iid, ev.IncidentActionUpdate(action=1, status="rectified")))
    rows.sort(key=lambda r: r[0])
    rows = rows[-events:]
    Journal(path).close()  # the schema, the indexes and the triggers
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    prev, out = GENESIS, []
    for i, (t, kind, subject, rec) in enumerate(rows, start=1):
        data = canonical(scrub(rec.to_data()))
        ts = _iso(t)
        h = row_hash(prev, i, ts, kind.value, subject, "ops@bench", data)
        out.append((i, ts, kind.value, subject, "ops@bench", data, prev, h))
        prev = h
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", out)
    db.execute("COMMIT")
    db.close()
    return len(out)


if __name__ == "__main__":
    import sys

    n = build(Path(sys.argv[1]))
    print(json.dumps({"rows": n}))
