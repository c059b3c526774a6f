"""Fault injection with real restic: kill -9 in the middle of a backup, a full filesystem under a repository."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

PROCOPS = str(Path(sys.executable).parent / "procops")


def _big_files(platform, n: int, size: int) -> None:
    d = platform.docs / "ff"
    d.mkdir(exist_ok=True)
    for i in range(n):
        (d / f"bulk-{i}").write_bytes(os.urandom(size))


def test_kill_9_of_restic_mid_backup_then_the_next_run_succeeds_and_check_is_clean(cli, platform, procops_home):
    cli("backup", "init", check=0)
    _big_files(platform, 60, 1024 * 1024)
    env = dict(os.environ, PROCOPS_HOME=str(procops_home))
    run = subprocess.Popen(
        [PROCOPS, "backup", "run", "--repo", "local"],
        cwd=platform.config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    killed = None
    try:
        deadline = time.monotonic() + 60
        data = platform.repo_path("local") / "data"
        before = sum(1 for p in data.rglob("*") if p.is_file())
        while time.monotonic() < deadline and killed is None and run.poll() is None:
            for child in psutil.Process(run.pid).children(recursive=True):
                try:
                    cmd = child.cmdline()
                except psutil.Error:
                    continue
                if "restic" in os.path.basename(cmd[0]) and "backup" in cmd and "--stdin" not in cmd:
                    # wait until it has written packs of this backup: truly in the middle
                    while sum(1 for p in data.rglob("*") if p.is_file()) <= before + 1 and child.is_running():
                        time.sleep(0.02)
                    child.send_signal(signal.SIGKILL)
                    killed = child.pid
                    break
            time.sleep(0.01)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert killed, "never saw the files backup of restic running"
    assert run.returncode == 3, err.decode()  # restic was stopped from outside: the run could not be done
    # the killed restic left its lock behind; the next run handles it and succeeds
    cli("backup", "run", "--repo", "local", check=0)
    cli("backup", "check", "--repo", "local", "--read-data-subset", "all", check=0)
    snaps = cli("backup", "snapshots", "--repo", "local", "--json", check=0).json()["repositories"]["local"]
    assert len(snaps["runs"]) == 1 and snaps["incomplete"] == []


@pytest.mark.root
def test_a_full_filesystem_under_the_local_repository_fails_clearly_and_offsite_is_still_written(cli, platform):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    local = platform.repo_path("local")
    local.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(local)], check=True)
    try:
        cli("backup", "init", check=0)
        _big_files(platform, 3, 1024 * 1024)
        r = cli("backup", "run", "--json")
        assert r.code == 3  # a full disk is the environment, not a verdict on the backup
        res = r.json()["repositories"]
        assert res["local"]["status"] == "failed" and res["local"]["problem"] == "no_space", res["local"]
        assert "no space left on device" in res["local"]["error"]
        assert res["offsite"]["status"] == "ok" and res["offsite"]["mode"] == "backup"
        v = cli("backup", "verify", "--repo", "offsite", "--json")
        assert v.code == 1  # the bulk files are not archive documents: reported unreferenced, nothing missing
        kinds = {p["kind"] for p in v.json()["results"][0]["problems"]}
        assert kinds == {"unreferenced"}
    finally:
        subprocess.run(["umount", "-l", str(local)], check=False)


@pytest.mark.root
def test_a_read_only_offsite_filesystem_is_named_as_such_and_exit_3_with_no_stack_trace(cli, platform):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    off = platform.repo_path("offsite")
    off.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(off)], check=True)
    try:
        cli("backup", "init", check=0)
        subprocess.run(["mount", "-o", "remount,ro", str(off)], check=True)
        r = cli("backup", "run", "--json", timeout=120)
        assert r.code == 3, r.out + r.err
        res = r.json()["repositories"]
        assert res["local"]["status"] == "ok"
        assert res["offsite"]["problem"] == "read_only", res["offsite"]
        assert "read-only file system" in res["offsite"]["error"]
        assert "goroutine" not in r.out + r.err and "locked" not in res["offsite"]["error"]
    finally:
        subprocess.run(["umount", "-l", str(off)], check=False)


def test_a_killed_restic_check_is_an_interruption_not_damage(cli, platform, procops_home):
    cli("backup", "init", "--repo", "local", check=0)
    _big_files(platform, 40, 1024 * 1024)
    cli("backup", "run", "--repo", "local", check=0)
    cli("backup", "check", "--repo", "local", check=0)  # a good check on record
    env = dict(os.environ, PROCOPS_HOME=str(procops_home))
    run = subprocess.Popen(
        [PROCOPS, "backup", "check", "--repo", "local", "--read-data-subset", "all", "--json"],
        cwd=platform.config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    killed = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and killed is None and run.poll() is None:
            for child in psutil.Process(run.pid).children(recursive=True):
                try:
                    cmd = child.cmdline()
                except psutil.Error:
                    continue
                if "restic" in os.path.basename(cmd[0]) and "check" in cmd:
                    child.send_signal(signal.SIGKILL)  # as the OOM killer or an operator would
                    killed = child.pid
                    break
            time.sleep(0.01)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert killed, "never saw restic check running"
    assert run.returncode == 3, err.decode()
    import json

    res = json.loads(out)["repositories"][0]
    assert res["problem"] == "interrupted", res
    st = cli("backup", "status", "--json").json()["repositories"]["local"]  # exit 1: offsite never ran
    assert st["check"]["ok"] is True  # the last verdict stands: a stopped check is no damage
    prom = (procops_home / "textfile" / "backup.prom").read_text()
    assert 'procops_backup_last_check_success{repository="local"} 1.0' in prom


def _holding_restic(platform, repo: str) -> subprocess.Popen:
    """A real restic holding its (shared) lock on the repository: a --stdin backup waiting for input."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(
        RESTIC_REPOSITORY=str(platform.repo_path(repo)),
        RESTIC_PASSWORD_FILE=str(platform.home / "secrets" / f"restic-{repo}"),
    )
    p = subprocess.Popen(
        ["restic", "backup", "--stdin", "--no-cache"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    locks = platform.repo_path(repo) / "locks"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(locks.iterdir()):
        time.sleep(0.05)
    assert any(locks.iterdir()), "restic took no lock"
    return p


def test_a_live_restic_lock_is_exit_3_and_a_stale_one_is_removed(cli, platform):
    cli("backup", "init", "--repo", "local", check=0)
    live = _holding_restic(platform, "local")
    try:
        r = cli("backup", "check", "--repo", "local", "--json")
        assert r.code == 3, r.out + r.err
        res = r.json()["repositories"][0]
        assert res["problem"] == "live_lock" and "locked" in res["errors"][0]
    finally:
        live.kill()  # kill -9: its lock stays behind, held by a dead pid on this host
        live.wait()
    locks = platform.repo_path("local") / "locks"
    assert any(locks.iterdir())
    cli("backup", "check", "--repo", "local", check=0)
    assert not any(locks.iterdir())  # `restic unlock` removed the stale lock (and check released its own)
