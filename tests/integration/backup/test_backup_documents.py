"""Damaged archive files with real restic: `backup run` names them, `backup restore --document` repairs one."""

from __future__ import annotations

import hashlib
import sqlite3

from procops.journal import Journal


def _record(platform, doc_id: int) -> tuple[str, str]:
    con = sqlite3.connect(platform.db)
    try:
        return con.execute("SELECT storage_path, sha256 FROM archive_documents WHERE id = ?", (doc_id,)).fetchone()
    finally:
        con.close()


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_names_an_altered_and_a_missing_document_and_restore_document_repairs_them(cli, platform):
    cli("backup", "init", check=0)
    cli("backup", "run", check=0)
    altered_path, altered_sha = _record(platform, 3)
    missing_path, missing_sha = _record(platform, 5)
    (platform.docs / altered_path).write_bytes(b"tampered with after the award")
    (platform.docs / missing_path).unlink()

    r = cli("backup", "run", "--json")
    assert r.code == 1, r.out + r.err
    res = r.json()
    assert not res["ok"]
    damaged = {d["id"]: d["problem"] for d in res["damaged_documents"]}
    assert damaged == {3: "altered", 5: "missing"}
    # still backed up everywhere: the evidence of the damage is kept; retention forgot nothing
    assert all(x["status"] == "ok" for x in res["repositories"].values())
    assert all(x["forget"].startswith("skipped") for x in res["repositories"].values())
    with Journal(platform.home / "journal.db") as j:
        ev = j.events("backup.run")[-1].data
    assert ev["ok"] is False and {d["id"] for d in ev["damaged_documents"]} == {3, 5}
    human = cli("backup", "run")  # the next run names them again (nothing repaired yet)
    assert human.code == 1 and "document 3" in human.err + human.out and "document 5" in human.err + human.out

    # the newest runs hold the altered bytes: the restore goes back to the run that holds the recorded ones
    out = cli("backup", "restore", "--document", "3", "--json", check=0).json()
    assert out["status"] == "restored" and out["sha256"] == altered_sha
    assert _sha(platform.docs / altered_path) == altered_sha
    assert (platform.docs / altered_path).stat().st_mode & 0o077 == 0
    assert any(not t["good"] for t in out["tried"])  # a newer run's damaged copy was refused
    cli("backup", "restore", "--document", "5", check=0)
    assert _sha(platform.docs / missing_path) == missing_sha
    assert cli("backup", "restore", "--document", "5", "--json", check=0).json()["status"] == "intact"
    assert not list((platform.docs / ".incoming").iterdir())  # nothing left behind

    cli("backup", "run", check=0)  # repaired: the verdict holds again
    cli("backup", "verify", "--live", check=0)
    with Journal(platform.home / "journal.db") as j:
        kinds = [e.data.get("outcome") for e in j.events("backup.restore-document")]
    assert kinds == ["restored", "restored", "intact"]


def test_restore_document_refuses_without_a_good_copy_and_an_unknown_id_is_bad_input(cli, platform):
    path, _ = _record(platform, 2)
    (platform.docs / path).write_bytes(b"altered before any backup")
    cli("backup", "init", check=0)
    r = cli("backup", "run", "--json")
    assert r.code == 1 and [d["id"] for d in r.json()["damaged_documents"]] == [2]
    r = cli("backup", "restore", "--document", "2")
    assert r.code == 1 and "recorded sha256" in r.err + r.out
    assert (platform.docs / path).read_bytes() == b"altered before any backup"  # nothing replaced
    r = cli("backup", "restore", "--document", "999")
    assert r.code == 2 and "999" in r.err
