"""Ctrl-C and SIGTERM to real, long-running commands: children stopped, nothing untraced, exit 130.

`procops` is started as a user starts it, in its own session (so the test can signal its
whole process group as a terminal's Ctrl-C does, or the procops process alone), and
signalled once the real tool it drives (restic, Locust) is running under it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from testsupport import PROCOPS, run_restic

sys.path.insert(0, str(Path(__file__).parents[1] / "integration" / "backup"))
from platform_data import config_yaml, fill, write_store  # noqa: E402

DOCS = 24
DOC_SIZE = 10 * 1024 * 1024  # 240 MB of incompressible documents: restic needs a while to upload them


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PROCOPS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def _wait_for_child(p: subprocess.Popen, name: str, *, timeout: float = 180, what: str = "") -> list[psutil.Process]:
    """Wait until a process called ``name`` (with ``what`` in its argv) runs under ``p``; return them all."""
    deadline = time.monotonic() + timeout
    parent = psutil.Process(p.pid)
    while time.monotonic() < deadline:
        assert p.poll() is None, f"procops ended before {name} started: {p.communicate()}"
        found = []
        for c in parent.children(recursive=True):
            try:
                if name in c.name() and what in " ".join(c.cmdline()):
                    found.append(c)
            except psutil.Error:
                continue
        if found:
            return found
        time.sleep(0.05)
    p.kill()
    raise AssertionError(f"no {name} process under procops within {timeout:.0f}s")


def _wait_for_upload(p: subprocess.Popen, repo: Path, *, timeout: float = 180) -> None:
    """Wait until restic has written a new pack to ``repo`` (it is uploading)."""
    before = set((repo / "data").rglob("*"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert p.poll() is None, f"procops ended before restic uploaded: {p.communicate()}"
        if any(f.is_file() for f in set((repo / "data").rglob("*")) - before):
            return
        time.sleep(0.05)
    raise AssertionError(f"restic wrote no pack to {repo} within {timeout:.0f}s")


def _signal(p: subprocess.Popen, sig: int, *, group: bool) -> None:
    if group:
        os.killpg(p.pid, sig)  # what a terminal's Ctrl-C does: procops and its children
    else:
        os.kill(p.pid, sig)


def _gone(procs: list[psutil.Process]) -> bool:
    for c in procs:
        try:
            if c.is_running() and c.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def _events(home: Path, kind: str) -> list:
    from procops.journal import Journal

    with Journal(home / "journal.db") as j:
        return j.events(kind)


# --------------------------------------------------------------------------- backup run


@pytest.fixture
def big_platform(tmp_path, procops_home, cli):
    """A SQLite platform with a few hundred MB of incompressible documents, a local and an off-site repository."""
    import sqlite3

    base = tmp_path / "site"
    (base / "platform").mkdir(parents=True)
    db, docs_dir = base / "platform" / "platform.db", base / "platform" / "documents"
    docs = [(f"doc-{i}.pdf", os.urandom(DOC_SIZE)) for i in range(1, DOCS + 1)]
    rows = write_store(docs_dir, docs)
    del docs
    con = sqlite3.connect(db)
    fill(lambda sql, args: con.execute(sql, args), rows)
    con.commit()
    con.close()
    repos = {"local": (str(base / "repos" / "local"), False), "offsite": (str(base / "repos" / "offsite"), True)}
    (tmp_path / "procops.yaml").write_text(config_yaml(str(db), docs_dir, repos))
    cli("backup", "init", check=0)
    return base


def _restic(home: Path, base: Path, repo: str, *args: str) -> subprocess.CompletedProcess:
    return run_restic(home, base, repo, *args)


def _restic_of(base: Path) -> list[psutil.Process]:
    """Every restic process on this machine working on this test's repositories."""
    out = []
    for c in psutil.process_iter(["name"]):
        try:
            if c.info["name"] == "restic" and str(base) in (c.environ().get("RESTIC_REPOSITORY") or ""):
                out.append(c)
        except psutil.Error:
            continue
    return out


@pytest.mark.parametrize(
    "sig,group",
    [(signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGTERM, False)],
    ids=["sigint-process-group", "sigint-procops-alone", "sigterm-procops-alone"],
)
def test_an_interrupted_backup_run_stops_restic_leaves_no_unjournaled_snapshot_and_exits_130(
    big_platform, procops_home, sig, group
):
    p = _start("backup", "run")
    _wait_for_child(p, "restic", what="backup")
    _wait_for_upload(p, big_platform / "repos" / "local")
    seen = _wait_for_child(p, "restic")
    _signal(p, sig, group=group)
    out, err = p.communicate(timeout=300)

    assert p.returncode == 130, (out, err)
    assert "interrupted" in err
    assert _gone(seen) and not [c for c in _restic_of(big_platform) if c.status() != psutil.STATUS_ZOMBIE]
    journaled = {e.data.get("run") for e in _events(procops_home, "backup.run")}
    for repo in ("local", "offsite"):
        snaps = json.loads(_restic(procops_home, big_platform, repo, "snapshots", "--json", "--no-lock").stdout)
        runs = {t for s in snaps for t in s["tags"] if t.startswith("run=")}
        assert {r.removeprefix("run=") for r in runs} <= journaled, (repo, snaps)
        locks = _restic(procops_home, big_platform, repo, "list", "locks", "--no-lock").stdout.split()
        assert not locks, (
            [_restic(procops_home, big_platform, repo, "cat", "lock", x, "--no-lock").stdout for x in locks],
            [e.data for e in _events(procops_home, "operation.end")],
            err,
        )
    ends = [e for e in _events(procops_home, "operation.end") if e.data["operation"] == "backup.run"]
    assert ends and ends[-1].data["status"] == "interrupted" and ends[-1].data["exit_code"] == 130
    assert [r["status"] for r in ends[-1].data["rollbacks"]] == ["ok", "ok"]
    starts = [e for e in _events(procops_home, "operation.start") if e.data["operation"] == "backup.run"]
    assert starts[-1].data["id"] == ends[-1].data["id"] and starts[-1].data["config_sha256"]
    state = procops_home / "backup" / "state.json"
    if state.exists():
        json.loads(state.read_text())  # whole, never half-written


# --------------------------------------------------------------------------- loadtest peak, readiness

SMALL_SEED = {"announcements": 30, "suppliers": 5, "documents": 10, "document_size": "20KB"}
LOADTEST = {"upload_size_min": "50KB", "upload_size_max": "100KB", "think_time_min": "0.2s", "think_time_max": "1s"}


def _children_named(p: subprocess.Popen, name: str) -> list[psutil.Process]:
    try:
        return [c for c in psutil.Process(p.pid).children(recursive=True) if name in " ".join(c.cmdline())]
    except psutil.Error:
        return []


@pytest.fixture
def sandbox(cli, port_block, tmp_path):
    import yaml

    from testsupport import monitoring_ports

    cfg = {
        "sandbox": {"port": port_block(4), "replicas": 1, "seed": SMALL_SEED},
        "loadtest": LOADTEST,
        "monitoring": monitoring_ports(port_block(7)),
    }
    (tmp_path / "procops.yaml").write_text(yaml.safe_dump(cfg))
    try:
        yield
    finally:
        cli("monitor", "down")
        cli("sandbox", "down")


def test_an_interrupted_peak_test_stops_locust_and_its_report_says_interrupted(cli, sandbox, procops_home, tmp_path):
    cli("sandbox", "up", check=0)
    rd = tmp_path / "peak"
    p = _start("loadtest", "peak", "--users", "4", "--spawn-rate", "4", "--duration", "300s", "--report-dir", str(rd))
    _wait_for_child(p, "python", what="locust", timeout=120)
    deadline = time.monotonic() + 120
    while not (rd / "stages.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the test has started: Locust is sending load
    seen = _children_named(p, "locust")
    assert seen
    _signal(p, signal.SIGINT, group=True)
    out, err = p.communicate(timeout=120)

    assert p.returncode == 130, (out, err)
    assert _gone(seen)
    summary = json.loads((rd / "summary.json").read_text())
    assert summary["verdict"] == "interrupted" and summary["interrupted"] is True
    assert not list(rd.glob("*.tmp*"))  # nothing half-written beside it
    text = cli("loadtest", "report", str(rd))
    assert "INTERRUPTED" in text.out and "in progress" not in text.out
    ends = [e for e in _events(procops_home, "operation.end") if e.data["operation"] == "loadtest.peak"]
    assert ends[-1].data["status"] == "interrupted" and ends[-1].data["exit_code"] == 130


def test_an_interrupted_readiness_run_records_the_step_interrupted_and_exits_130(cli, sandbox, procops_home):
    p = _start("readiness", "--json")
    _wait_for_child(p, "python", what="locust", timeout=400)  # the peak-test step is running
    seen = _children_named(p, "locust")
    _signal(p, signal.SIGINT, group=True)
    out, err = p.communicate(timeout=180)

    assert p.returncode == 130, (out, err)
    assert _gone(seen)
    reports = sorted((procops_home / "reports").glob("readiness-*"))
    data = json.loads((reports[-1] / "readiness.json").read_text())
    assert data["interrupted"] is True and data["final"] is True
    statuses = {s["name"]: s["status"] for s in data["steps"]}
    assert "interrupted" in statuses.values() and "error" not in statuses.values(), statuses
    assert list(statuses.values())[-1] == "interrupted"  # nothing ran after the interrupted step
    md = (reports[-1] / "readiness.md").read_text()
    assert "INTERRUPTED" in md and "in progress" not in md
    run = _events(procops_home, "readiness.run")[-1]
    assert run.data["status"] == "interrupted"
    ends = {e.data["operation"]: e.data for e in _events(procops_home, "operation.end")}
    assert ends["readiness.run"]["status"] == "interrupted" and ends["readiness.run"]["exit_code"] == 130
