"""`procops backup` with real restic on a small SQLite platform: run, off-site catch-up, verify, restore, check."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time

from procops.journal import Journal


def _events(home, kind):
    with Journal(home / "journal.db") as j:
        return j.events(kind)


def test_run_backs_up_both_repositories_and_restore_brings_everything_back(cli, platform, tmp_path):
    cli("backup", "init", check=0)
    r = cli("backup", "run", "--json", check=0)
    res = r.json()
    assert res["ok"] and res["repositories"]["local"]["mode"] == "backup"
    assert res["repositories"]["offsite"]["mode"] == "copy"
    assert res["manifest_totals"]["documents"] == 20
    for repo in ("local", "offsite"):
        kinds = sorted(
            next(t for t in ("database", "files", "confirmation") if t in s["tags"]) for s in platform.snapshots(repo)
        )
        assert kinds == ["confirmation", "database", "files"]
    ev = _events(platform.home, "backup.run")
    assert ev and ev[-1].data["ok"] is True
    prom = (platform.home / "textfile" / "backup.prom").read_text()
    assert 'procops_backup_last_run_success{repository="offsite"} 1.0' in prom
    # no password anywhere in the journal or the metrics
    secret = (platform.home / "secrets" / "restic-local").read_text().strip()
    assert secret not in (platform.home / "journal.db").read_bytes().decode(errors="replace")

    target = tmp_path / "restored"
    out = cli("backup", "restore", "--repo", "offsite", "--target", str(target), "--json", check=0).json()
    assert out["repository"] == "offsite"
    for p in platform.documents():
        rel = p.relative_to(platform.docs)
        assert (target / "documents" / rel).read_bytes() == p.read_bytes()
    con = sqlite3.connect(target / "database" / "platform.sqlite3")
    assert con.execute("SELECT COUNT(*) FROM archive_documents").fetchone()[0] == 20
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["tables"]["archive_documents"] == 20


def test_offsite_down_is_exit_3_then_the_next_run_catches_up(cli, platform):
    cli("backup", "init", check=0)
    off = platform.repo_path("offsite")
    away = off.with_name("offsite.unmounted")
    os.rename(off, away)  # the off-site host is gone (as a missing mount looks)
    try:
        r = cli("backup", "run", "--json")
        assert r.code == 3, r.err  # an unreachable repository is exit 3, after the local backup was written
        res = r.json()
        assert res["repositories"]["local"]["status"] == "ok"
        assert res["repositories"]["offsite"]["status"] == "failed"
        prom = (platform.home / "textfile" / "backup.prom").read_text()
        assert 'procops_backup_last_run_success{repository="offsite"} 0.0' in prom
        assert 'procops_backup_last_success_timestamp_seconds{repository="offsite"}' not in prom
        st = cli("backup", "status", "--json").json()
        assert st["repositories"]["offsite"]["rpo_ok"] is False
    finally:
        os.rename(away, off)
    r2 = cli("backup", "run", "--json", check=0).json()
    assert r2["repositories"]["offsite"]["status"] == "ok"
    runs = lambda repo: {t for s in platform.snapshots(repo) for t in s["tags"] if t.startswith("run=")}  # noqa: E731
    assert runs("offsite") == runs("local") and len(runs("local")) == 2  # the missed run was copied too
    # a third run copies only the new run: nothing duplicated
    cli("backup", "run", check=0)
    assert len(platform.snapshots("offsite")) == len(platform.snapshots("local")) == 9  # 3 runs x 3 snapshots


def test_verify_with_the_offsite_repository_unreachable_is_exit_3_and_names_it(cli, platform):
    cli("backup", "init", check=0)
    cli("backup", "run", check=0)
    off = platform.repo_path("offsite")
    away = off.with_name("offsite.unmounted")
    os.rename(off, away)
    try:
        r = cli("backup", "verify", "--json")
        assert r.code == 3, r.out + r.err  # unreachable is the environment, not damage to the backup
        res = {v["target"]: v for v in r.json()["results"]}
        assert res["local"]["ok"] is True
        assert [p["kind"] for p in res["offsite"]["problems"]] == ["unreachable"]
    finally:
        os.rename(away, off)
    cli("backup", "verify", check=0)


def test_verify_live_names_a_deleted_and_an_altered_document_and_restore_brings_them_back(cli, platform, tmp_path):
    cli("backup", "init", check=0)
    cli("backup", "run", check=0)
    docs = platform.documents()
    deleted, altered = docs[0], docs[1]
    original = {deleted: deleted.read_bytes(), altered: altered.read_bytes()}
    deleted.unlink()
    altered.write_bytes(b"tampered" + original[altered][8:])
    r = cli("backup", "verify", "--live", "--json")
    assert r.code == 1
    problems = {(p["kind"], p["subject"].split("(")[-1].rstrip(")")) for p in r.json()["results"][0]["problems"]}
    rel = lambda p: str(p.relative_to(platform.docs))  # noqa: E731
    assert problems == {("missing", rel(deleted)), ("altered", rel(altered))}
    prom = (platform.home / "textfile" / "backup.prom").read_text()
    assert 'procops_integrity_problems{repository="live"} 2.0' in prom
    # the backup taken before the damage is clean (named by the local files snapshot's id: the same run
    # is verified in the off-site repository too)
    snap = cli("backup", "snapshots", "--repo", "local", "--json", check=0).json()["repositories"]["local"]
    r = cli("backup", "verify", "--snapshot", snap["runs"][-1]["files_snapshot"], "--json", check=0)
    assert all(x["ok"] and x["documents"] == 20 for x in r.json()["results"])
    target = tmp_path / "restore"
    cli("backup", "restore", "--target", str(target), check=0)
    for p, data in original.items():
        restored = target / "documents" / p.relative_to(platform.docs)
        assert hashlib.sha256(restored.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
        shutil.copyfile(restored, p)
    cli("backup", "verify", "--live", check=0)
    assert _events(platform.home, "backup.verify")[-1].data["ok"] is True


def test_a_corrupted_pack_in_the_offsite_repository_is_found_by_a_full_read_check(cli, platform):
    cli("backup", "init", check=0)
    cli("backup", "run", check=0)
    cli("backup", "check", check=0)  # the rotating subset is clean
    packs = sorted((platform.repo_path("offsite") / "data").rglob("*"))
    pack = max((p for p in packs if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    r = cli("backup", "check", "--read-data-subset", "all", "--json")
    assert r.code == 1
    res = {x["repository"]: x for x in r.json()["repositories"]}
    assert res["local"]["ok"] is True
    assert res["offsite"]["ok"] is False and pack.name in res["offsite"]["packs"]
    assert "offsite" in cli("backup", "check", "--read-data-subset", "all").out


def test_check_rotates_the_subset_and_keeps_it(cli, platform):
    cli("backup", "init", check=0)
    cli("backup", "run", "--repo", "local", check=0)
    reads = [
        cli("backup", "check", "--repo", "local", "--json", check=0).json()["repositories"][0]["read"] for _ in range(3)
    ]
    assert reads == ["1/8", "2/8", "3/8"]


def test_two_concurrent_runs_one_exits_3_naming_the_holder(cli, platform, procops_home):
    cli("backup", "init", check=0)
    env = dict(os.environ, PROCOPS_HOME=str(procops_home))
    first = subprocess.Popen(
        [os.path.join(os.path.dirname(__import__("sys").executable), "procops"), "backup", "run"],
        cwd=platform.config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        lock = procops_home / "locks" / "backup.lock"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if lock.exists() and lock.read_text().strip() == str(first.pid):
                break
            time.sleep(0.01)
        second = cli("backup", "run")
        if first.poll() is None:
            assert second.code == 3, second.err
            assert f"pid {first.pid}" in second.err
        else:  # pragma: no cover - the first run finished before the second started
            raise AssertionError("the first run ended before the second started")
    finally:
        first.wait(60)
    assert first.returncode == 0, first.stderr.read().decode()


def test_a_password_file_readable_by_others_is_refused(cli, platform):
    pw = platform.home / "secrets" / "restic-local"
    cli("backup", "init", check=0)
    os.chmod(pw, 0o644)
    r = cli("backup", "run")
    assert r.code == 2 and "chmod 600" in r.err


def test_retention_runs_on_the_prune_cadence(cli, platform, procops_home):
    platform.config.write_text(platform.config.read_text().replace("keep_last: 20", "keep_last: 1"))
    cli("backup", "init", "--repo", "local", check=0)
    r1 = cli("backup", "run", "--repo", "local", "--json", check=0).json()["repositories"]["local"]
    assert r1["forget"] == "not due"  # a fresh repository: the cadence starts at init
    st_file = procops_home / "backup" / "state.json"
    st = json.loads(st_file.read_text())
    st["repositories"]["local"]["last_prune"] = "2000-01-01T00:00:00Z"
    st_file.write_text(json.dumps(st))
    r2 = cli("backup", "run", "--repo", "local", "--json", check=0).json()["repositories"]["local"]
    assert r2["forget"] == "ok" and r2["prune"] == "ok"
    runs = cli("backup", "snapshots", "--repo", "local", "--json", check=0).json()["repositories"]["local"]["runs"]
    assert len(runs) == 1  # keep_last 1 (and keep_hourly: one per hour) kept only the newest run


def test_bad_input_exits_2(cli, platform, tmp_path):
    assert cli("backup", "run", "--repo", "nosuch").code == 2
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("keep me")
    cli("backup", "init", "--repo", "local", check=0)
    assert cli("backup", "restore", "--repo", "local", "--target", str(busy)).code == 2
    assert cli("backup", "restore").code == 2  # neither --target nor --to-sandbox
    assert cli("backup", "check", "--repo", "local", "--read-data-subset", "9/4").code == 2
    assert (busy / "x").read_text() == "keep me"


def test_an_unknown_snapshot_is_exit_2_in_every_command_that_takes_one(cli, platform, tmp_path):
    cli("backup", "init", check=0)
    cli("backup", "run", check=0)
    for args in (
        ("backup", "verify", "--snapshot", "nosuch"),
        ("backup", "verify", "--repo", "local", "--snapshot", "nosuch"),
        ("backup", "restore", "--snapshot", "nosuch", "--target", str(tmp_path / "r1")),
        ("backup", "restore", "--repo", "offsite", "--snapshot", "nosuch", "--target", str(tmp_path / "r2")),
    ):
        r = cli(*args)
        assert r.code == 2 and "no backup run or snapshot 'nosuch'" in r.err, (args, r.code, r.err)
