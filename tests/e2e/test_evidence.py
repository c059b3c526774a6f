"""Evidence that survives: a submitted fault analysis report keeps its file and sha256; the journal's
noted head; an emptied journal on a used home is named (procops incident report, audit verify-journal)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_submitted_report_survives_a_later_render(cli, procops_home):
    iid = cli("incident", "open", "--title", "portal down", "--json", check=0).json()["id"]
    cli("incident", "classify", iid, "--type", "app-crash", check=0)
    sub = cli("incident", "report", iid, "--lang", "en", "--summary", "as submitted", "--submit", "--json", check=0)
    submitted = sub.json()
    md, sha = submitted["markdown"], submitted["sha256"]
    assert _sha(md) == sha and "as submitted" in Path(md).read_text()
    html_before = Path(submitted["html"]).read_bytes()

    later = cli("incident", "report", iid, "--lang", "en", "--summary", "rewritten later", "--json", check=0).json()
    assert later["markdown"] != md and "rewritten later" in Path(later["markdown"]).read_text()
    assert later["html"] != submitted["html"]
    # the submitted files are untouched, and milestone 3 still names them with their sha256
    assert _sha(md) == sha and Path(submitted["html"]).read_bytes() == html_before
    shown = cli("incident", "show", iid, "--json", check=0).json()
    evidence = shown["milestones"]["report"]["evidence"]
    assert evidence["sha256"] == sha and evidence["markdown"] == md

    again = cli("incident", "report", iid, "--lang", "en", "--submit", "--json", check=0).json()
    assert again["markdown"] not in (md, later["markdown"]) and _sha(md) == sha


def test_verify_journal_checks_a_noted_head(cli, procops_home):
    cli("incident", "open", "--title", "portal down", check=0)
    v = cli("audit", "verify-journal", "--no-anchors", "--json", check=0).json()
    noted, rows = v["head_hash"], v["rows"]
    cli("incident", "open", "--title", "second", check=0)
    ok = cli("audit", "verify-journal", "--no-anchors", "--head", noted[:16], "--json", check=0).json()
    assert ok["noted_head"]["row"] == rows and ok["noted_head"]["ok"]

    # rewrite the journal from the noted row on with a consistent chain: the noted head is gone
    db = sqlite3.connect(procops_home / "journal.db", isolation_level=None)
    db.execute("DROP TRIGGER events_no_delete")
    db.execute("DELETE FROM events WHERE id >= ?", (rows,))
    db.close()
    cli("incident", "open", "--title", "forged", check=0)
    r = cli("audit", "verify-journal", "--no-anchors", "--head", noted)
    assert r.code == 1 and "NOTED HEAD NOT FOUND" in r.out, r.out
    assert cli("audit", "verify-journal", "--no-anchors", "--head", "xyz").code == 2


def test_an_emptied_or_deleted_journal_on_a_used_home_is_named(cli, procops_home):
    fresh = cli("audit", "verify-journal", "--no-anchors", "--json", check=0).json()
    assert fresh["rows"] == 0 and fresh["emptied"] == []  # a new home: nothing to miss

    cli("incident", "open", "--title", "portal down", check=0)  # the home now has state (procops.db)
    for name in ("journal.db", "journal.db-wal", "journal.db-shm"):
        (procops_home / name).unlink(missing_ok=True)
    r = cli("audit", "verify-journal", "--no-anchors")
    assert r.code == 1 and "EMPTY" in r.out and "procops.db" in r.out, r.out
    j = cli("audit", "verify-journal", "--no-anchors", "--json").json()
    assert j["emptied"] == ["procops.db"]
