"""A killed `procops backup run` never counts as a backup.

procops is killed for real (SIGKILL, SIGTERM) at two points of a run: while the database dump streams
into `restic backup --stdin`, and after restic saved the database snapshot but before procops confirmed
it (seen by polling the repository's snapshots). restic, orphaned or not, may still save what it got:
a truncated dump. Nothing of it may count: not for `backup status` (RPO), not as the default snapshot of
`verify` and `restore`, not for the off-site copy; and the next run forgets it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from testsupport import PROCOPS, run_restic

sys.path.insert(0, str(Path(__file__).parents[1] / "integration" / "backup"))
from platform_data import config_yaml, fill, write_store  # noqa: E402

DOCS = 16
DOC_SIZE = 8 * 1024 * 1024  # 128 MB of incompressible documents: the files half outlasts the dump
BALLAST = 120  # MB of incompressible rows in the database: the dump streams for a while


@pytest.fixture
def platform(tmp_path, procops_home, cli):
    base = tmp_path / "site"
    (base / "platform").mkdir(parents=True)
    db, docs_dir = base / "platform" / "platform.db", base / "platform" / "documents"
    rows = write_store(docs_dir, [(f"doc-{i}.pdf", os.urandom(DOC_SIZE)) for i in range(1, DOCS + 1)])
    con = sqlite3.connect(db)
    fill(lambda sql, args: con.execute(sql, args), rows)
    con.execute("CREATE TABLE ballast (b BLOB)")
    for _ in range(BALLAST):
        con.execute("INSERT INTO ballast VALUES (?)", (os.urandom(1 << 20),))
    con.commit()
    con.close()
    repos = {"local": (str(base / "repos" / "local"), False), "offsite": (str(base / "repos" / "offsite"), True)}
    (tmp_path / "procops.yaml").write_text(config_yaml(str(db), docs_dir, repos))
    cli("backup", "init", check=0)
    return base


def _restic(home: Path, base: Path, repo: str, *args: str) -> subprocess.CompletedProcess:
    return run_restic(home, base, repo, *args)


def _snapshots(home: Path, base: Path, repo: str) -> list[dict]:
    return json.loads(_restic(home, base, repo, "snapshots", "--json", "--no-lock").stdout)


def _restic_of(base: Path) -> list[psutil.Process]:
    out = []
    for c in psutil.process_iter(["name"]):
        try:
            if c.info["name"] == "restic" and str(base) in (c.environ().get("RESTIC_REPOSITORY") or ""):
                if c.status() != psutil.STATUS_ZOMBIE:
                    out.append(c)
        except psutil.Error:
            continue
    return out


def _stdin_restic(p: subprocess.Popen) -> psutil.Process | None:
    for c in psutil.Process(p.pid).children(recursive=True):
        try:
            if c.name() == "restic" and "--stdin" in c.cmdline():
                return c
        except psutil.Error:
            continue
    return None


def _kill_while_the_dump_streams(p: subprocess.Popen, base: Path, sig: int) -> None:
    """Once restic --stdin has read 20 MB of the dump and before any snapshot exists."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert p.poll() is None, p.communicate()
        r = _stdin_restic(p)
        try:
            if r is not None and r.io_counters().read_chars > 20 * 1024 * 1024:
                assert not os.listdir(base / "repos" / "local" / "snapshots")
                os.kill(p.pid, sig)
                return
        except psutil.Error:
            pass
        time.sleep(0.01)
    raise AssertionError("restic --stdin never read 20 MB of the dump")


def _kill_once_the_database_snapshot_is_saved(p: subprocess.Popen, base: Path, sig: int) -> None:
    """As soon as restic saved the first snapshot of the run (the database dump), before procops confirms it."""
    snaps = base / "repos" / "local" / "snapshots"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert p.poll() is None, p.communicate()
        if os.listdir(snaps):
            os.kill(p.pid, sig)
            return
        time.sleep(0.005)
    raise AssertionError("no snapshot appeared")


@pytest.mark.parametrize(
    "point,sig",
    [
        ("dump-streaming", signal.SIGKILL),
        ("database-snapshot-saved", signal.SIGKILL),
        ("dump-streaming", signal.SIGTERM),
    ],
    ids=["sigkill-while-the-dump-streams", "sigkill-after-the-database-snapshot", "sigterm-while-the-dump-streams"],
)
def test_a_killed_backup_run_never_counts_and_the_next_run_removes_it(platform, procops_home, cli, point, sig):
    p = subprocess.Popen(
        [PROCOPS, "backup", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    if point == "dump-streaming":
        _kill_while_the_dump_streams(p, platform, sig)
    else:
        _kill_once_the_database_snapshot_is_saved(p, platform, sig)
    p.communicate(timeout=300)
    deadline = time.monotonic() + 300
    while _restic_of(platform) and time.monotonic() < deadline:  # orphaned restics finish what they got
        time.sleep(0.2)
    killed = {t for s in _snapshots(procops_home, platform, "local") for t in s["tags"] if t.startswith("run=")}

    status = cli("backup", "status", "--json")
    assert status.code == 1, (status.out, status.err)
    st = status.json()["repositories"]
    assert st["local"]["rpo_ok"] is False and st["local"]["latest_run"] is None and st["local"]["runs"] == 0
    assert cli("backup", "verify", "--json").code != 0  # the default ("latest") is not the killed run
    r = cli("backup", "restore", "--target", str(platform / "restored"), "--repo", "local")
    assert r.code != 0 and not (platform / "restored" / "database").exists(), (r.out, r.err)

    cli("backup", "run", check=0)
    local = _snapshots(procops_home, platform, "local")
    offsite = _snapshots(procops_home, platform, "offsite")
    for snaps in (local, offsite):
        runs = {t for s in snaps for t in s["tags"] if t.startswith("run=")}
        assert len(runs) == 1 and not runs & killed, snaps  # the killed run is gone, never copied off-site
        kinds = sorted(next(t for t in s["tags"] if t in ("database", "files", "confirmation")) for s in snaps)
        assert kinds == ["confirmation", "database", "files"], snaps  # the one run, confirmed
    assert cli("backup", "status", "--json", check=0).json()["repositories"]["local"]["rpo_ok"] is True
    verified = cli("backup", "verify", "--json", check=0).json()
    assert verified["ok"] is True


def test_a_run_s_confirmation_records_the_sha256_of_the_dump_restic_was_given(platform, procops_home, cli):
    import hashlib

    cli("backup", "run", check=0)
    snaps = _snapshots(procops_home, platform, "local")
    db = next(s for s in snaps if "database" in s["tags"])
    confirmation = next(s for s in snaps if "confirmation" in s["tags"])
    tags = dict(t.split("=", 1) for t in confirmation["tags"] if "=" in t)
    out = platform / "dump.sqlite3"
    with open(out, "wb") as f:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(
            RESTIC_REPOSITORY=str(platform / "repos" / "local"),
            RESTIC_PASSWORD_FILE=str(procops_home / "secrets" / "restic-local"),
        )
        subprocess.run(
            ["restic", "dump", "--no-lock", db["id"], "/database/platform.sqlite3"], stdout=f, env=env, check=True
        )
    assert int(tags["dump-size"]) == out.stat().st_size > BALLAST * 1024 * 1024
    assert tags["dump-sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
