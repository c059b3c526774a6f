"""The evidence journal survives the host: each backup run anchors its head in the repositories (the
confirmation snapshot's tags, copied off-site) and backs a consistent copy of it up; `audit
verify-journal` finds a journal rewritten with a fresh, internally intact chain, and the backed-up copy
brings the real one back."""

from __future__ import annotations

import os
import shutil
import subprocess

from procops.events import IncidentTimeline, Kind
from procops.journal import Journal


def test_a_rewritten_journal_no_longer_matches_its_offsite_anchors_and_the_backup_restores_it(cli, platform):
    cli("backup", "init", check=0)
    cli("backup", "run", check=0)
    conf = next(s for s in platform.snapshots("offsite") if "confirmation" in s["tags"])
    tags = dict(t.split("=", 1) for t in conf["tags"] if "=" in t)
    assert int(tags["journal-rows"]) >= 1 and len(tags["journal-head"]) == 64

    ok = cli("audit", "verify-journal", "--json", check=0).json()
    assert ok["ok"] and ok["anchors"]["checked"] == 2 and not ok["anchors"]["mismatched"]
    assert ok["anchors"]["repositories"]["offsite"]["anchors"] == 1
    assert "all match" in cli("audit", "verify-journal", check=0).out

    # whoever holds the host replaces the journal with a new one: a chain intact in itself
    journal = platform.home / "journal.db"
    kept = platform.home.parent / "journal-kept.db"
    shutil.move(journal, kept)
    for suffix in ("-wal", "-shm"):
        (platform.home / f"journal.db{suffix}").unlink(missing_ok=True)
    with Journal(journal) as forged:
        for i in range(int(tags["journal-rows"]) + 3):
            forged.append(Kind.INCIDENT_TIMELINE, "forged", IncidentTimeline(kind="note", details={"i": i}))
    r = cli("audit", "verify-journal", "--json")
    assert r.code == 1, r.out + r.err
    res = r.json()
    assert res["ok"] is True  # the chain alone says nothing is wrong
    mismatched = res["anchors"]["mismatched"]
    assert {m["where"] for m in mismatched} == {"local", "offsite"} and "rewritten" in mismatched[0]["problem"]
    assert "ANCHOR MISMATCH" in cli("audit", "verify-journal").out
    assert cli("audit", "verify-journal", "--no-anchors", check=0)

    # the run's files snapshot holds a consistent copy of the journal, whose head is the anchor
    files = next(s for s in platform.snapshots("offsite") if "files" in s["tags"])
    copy_path = next(p for p in files["paths"] if p.endswith("/staging/journal.db"))
    restored = platform.home.parent / "journal-restored.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(
        RESTIC_REPOSITORY=str(platform.repo_path("offsite")),
        RESTIC_PASSWORD_FILE=str(platform.home / "secrets" / "restic-offsite"),
    )
    with open(restored, "wb") as out:
        subprocess.run(["restic", "dump", "--no-lock", files["id"], copy_path], stdout=out, env=env, check=True)
    with Journal(restored) as copy:
        assert copy.head() == (int(tags["journal-rows"]), tags["journal-head"]) and copy.verify().ok
    journal.unlink()
    shutil.move(kept, journal)
    back = cli("audit", "verify-journal", "--json", check=0).json()
    assert back["ok"] and not back["anchors"]["mismatched"]
