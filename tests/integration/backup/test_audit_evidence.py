"""The audit's evidence against real restic repositories: the incident store and the journal go into
every backup (both repositories), and the audit's R4 sees the off-site repository as it is now."""

from __future__ import annotations

import os
import sqlite3
import subprocess


def _evidence_paths(snapshot: dict) -> set[str]:
    return {p.rsplit("/", 1)[-1] for p in snapshot["paths"] if "/staging/" in p}


def test_the_incident_store_and_the_journal_go_into_every_backup(cli, platform, tmp_path):
    iid = cli("incident", "open", "--title", "archive read errors", "--json", check=0).json()["id"]
    cli("backup", "init", check=0)
    cli("backup", "run", check=0)
    for repo in ("local", "offsite"):
        files = next(s for s in platform.snapshots(repo) if "files" in s["tags"])
        assert {"journal.db", "procops.db"} <= _evidence_paths(files), files["paths"]
    files = next(s for s in platform.snapshots("offsite") if "files" in s["tags"])
    path = next(p for p in files["paths"] if p.endswith("/staging/procops.db"))
    dumped = tmp_path / "store.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(
        RESTIC_REPOSITORY=str(platform.repo_path("offsite")),
        RESTIC_PASSWORD_FILE=str(platform.home / "secrets" / "restic-offsite"),
    )
    with open(dumped, "wb") as out:
        subprocess.run(["restic", "dump", "--no-lock", files["id"], path], stdout=out, env=env, check=True, timeout=120)
    ids = {r[0] for r in sqlite3.connect(dumped).execute("SELECT id FROM incidents")}
    assert iid in ids


def _run_ids(snaps: list[dict]) -> list[str]:
    out = []
    for s in sorted(snaps, key=lambda s: s["time"]):
        for t in s.get("tags", []):
            if t.startswith("run=") and t[4:] not in out:
                out.append(t[4:])
    return out


def test_r4_is_not_met_once_the_offsite_latest_snapshots_are_removed(cli, platform):
    cli("backup", "init", check=0)
    cli("backup", "run", check=0)
    cli("backup", "run", check=0)
    cli("backup", "verify", "--repo", "offsite", check=0)
    audit = cli("audit", "--since", "1d", "--json").json()
    req = {r["id"]: r for r in audit["requirements"]}
    assert req["R4"]["status"] == "met", req["R4"]
    assert req["R10"]["status"] == "met", req["R10"]  # the journal matches its off-site anchors
    # R5: the clean restore-and-verify of the off-site copy is the measured restore, within the 1 h target
    assert req["R5"]["status"] == "met", req["R5"]
    assert 0 < req["R5"]["data"]["restore_seconds"] < 3600
    assert any("restore-and-verify time" in f for f in req["R5"]["figures"]), req["R5"]["figures"]

    runs = _run_ids(platform.snapshots("offsite"))
    assert len(runs) == 2
    latest = [s["id"] for s in platform.snapshots("offsite") if f"run={runs[-1]}" in s.get("tags", [])]
    platform.restic("offsite", "forget", *latest)
    r = cli("audit", "--since", "1d", "--json")
    assert r.code == 1
    r4 = {x["id"]: x for x in r.json()["requirements"]}["R4"]
    assert r4["status"] == "not_met"
    assert any(runs[-1] in f and "no longer" in f for f in r4["figures"]), r4["figures"]
    human = cli("audit", "--since", "1d")
    assert human.code == 1 and "R4" in human.out and "NOT MET" in human.out


def test_r10_catches_a_journal_rewritten_with_a_consistent_chain(cli, platform):
    from procops.events import IncidentTimeline, Kind
    from procops.journal import Journal

    cli("backup", "init", check=0)
    cli("backup", "run", check=0)
    r10 = {r["id"]: r for r in cli("audit", "--since", "1d", "--json").json()["requirements"]}["R10"]
    assert r10["status"] == "met", r10
    journal = platform.home / "journal.db"
    for suffix in ("", "-wal", "-shm"):
        (platform.home / f"journal.db{suffix}").unlink(missing_ok=True)
    with Journal(journal) as forged:  # a new chain, intact in itself, longer than the anchored one
        for i in range(40):
            forged.append(Kind.INCIDENT_TIMELINE, "forged", IncidentTimeline(kind="note", details={"i": i}))
    r = cli("audit", "--since", "1d", "--json")
    assert r.code == 1
    r10 = {x["id"]: x for x in r.json()["requirements"]}["R10"]
    assert r10["status"] == "not_met"
    assert any("anchor mismatch" in f and "rewritten" in f for f in r10["figures"]), r10["figures"]
