"""Scheduled jobs as the timers and cron run them: stopped like a person would, output kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "integration" / "backup"))
from platform_data import config_yaml, fill, write_store  # noqa: E402

DOCS = 48
DOC_SIZE = 10 * 1024 * 1024  # 480 MB of incompressible documents: restic is still uploading at the timeout


def _events(home: Path, kind: str) -> list:
    from procops.journal import Journal

    with Journal(home / "journal.db") as j:
        return j.events(kind)


@pytest.fixture
def slow_backup(tmp_path, procops_home, cli):
    import sqlite3

    base = tmp_path / "site"
    (base / "platform").mkdir(parents=True)
    db, docs_dir = base / "platform" / "platform.db", base / "platform" / "documents"
    rows = write_store(docs_dir, [(f"doc-{i}.pdf", os.urandom(DOC_SIZE)) for i in range(1, DOCS + 1)])
    con = sqlite3.connect(db)
    fill(lambda sql, args: con.execute(sql, args), rows)
    con.commit()
    con.close()
    text = config_yaml(
        str(db),
        docs_dir,
        {"local": (str(base / "repos" / "local"), False), "offsite": (str(base / "repos" / "offsite"), True)},
    )
    (tmp_path / "procops.yaml").write_text(text)
    cli("backup", "init", check=0)
    # the job's timeout (backup.command_timeout) passes while restic uploads
    (tmp_path / "procops.yaml").write_text(text.replace("backup:\n", "backup:\n  command_timeout: 8s\n", 1))
    return base


def test_a_job_past_its_timeout_gets_sigint_so_its_backup_journals_interrupted_and_leaves_no_lock(
    slow_backup, procops_home, cli, tmp_path
):
    log = tmp_path / "backup-run.log"
    r = cli("schedule", "run-job", "backup-run", "--log-file", str(log), timeout=400)
    assert r.code == 124, (r.out, r.err)
    job = _events(procops_home, "schedule.job")[-1]
    assert job.data["timed_out"] is True and job.data["status"] == "interrupted"
    assert "stopped by SIGINT" in job.data["error"], job.data
    # the child procops got SIGINT (not SIGKILL): its own operation stopped restic and said so
    ends = [e for e in _events(procops_home, "operation.end") if e.data["operation"] == "backup.run"]
    assert ends and ends[-1].data["status"] == "interrupted" and ends[-1].data["exit_code"] == 130
    text = log.read_text()
    assert "passed its timeout of 8s: SIGINT" in text and "interrupted" in text
    for c in psutil.process_iter(["name"]):
        try:
            assert not (c.info["name"] == "restic" and str(slow_backup) in " ".join(c.cmdline() + [str(c.environ())]))
        except psutil.Error:
            continue
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(
        RESTIC_REPOSITORY=str(slow_backup / "repos" / "local"),
        RESTIC_PASSWORD_FILE=str(procops_home / "secrets" / "restic-local"),
    )
    locks = subprocess.run(["restic", "list", "locks", "--no-lock"], capture_output=True, text=True, env=env)
    assert locks.returncode == 0 and not locks.stdout.split(), locks


def test_the_cron_line_appends_the_job_output_to_its_log(cli, procops_home, tmp_path):
    target = tmp_path / "cron.d"
    cli("schedule", "install", "--cron", "--target-dir", str(target), check=0)
    line = next(ln for ln in (target / "procops").read_text().splitlines() if "run-job backup-verify " in ln)
    command = line.split(None, 6)[6]  # minute hour day month weekday user command
    (procops_home / "locks").mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "PROCOPS_HOME": str(procops_home), "HOME": os.environ.get("HOME", "/root")}
    for _ in range(2):
        subprocess.run(["/bin/sh", "-c", command], env=env, cwd=tmp_path, timeout=300, check=False)
    text = (procops_home / "logs" / "backup-verify.log").read_text()
    assert text.count("job backup-verify starts") == 2 and text.count("job backup-verify ended: exit") == 2
    assert len(text.splitlines()) > 4  # the command's own output is there too


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_generated_units_pass_systemd_analyze_verify(cli, tmp_path):
    target = tmp_path / "units"
    cli("schedule", "install", "--systemd", "--target-dir", str(target), check=0)
    service = (target / "procops-backup-run.service").read_text()
    for d in ("KillSignal=SIGINT", "FinalKillSignal=SIGKILL", "RuntimeMaxSec=", "OnFailure=", "NoNewPrivileges=yes"):
        assert d in service
    files = sorted(str(p) for p in target.iterdir())
    p = subprocess.run(["systemd-analyze", "verify", *files], capture_output=True, text=True, cwd=target, timeout=120)
    assert p.returncode == 0, p.stderr


def test_job_failed_journals_a_killed_wrapper_and_writes_the_failure_metric(cli, procops_home):
    import json

    state = procops_home / "schedule" / "jobs.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"backup-run": {"running_since": "2026-01-01T00:00:00Z"}}))  # killed mid-run
    r = cli("schedule", "job-failed", "procops-backup-run.service", "--json", check=0).json()
    assert r == {"job": "backup-run", "unit": "procops-backup-run.service", "exit_code": 1, "recorded_by_job": False}
    ev = _events(procops_home, "schedule.job_failed")[-1]
    assert ev.subject == "backup-run" and ev.data["status"] == "failed"
    prom = (procops_home / "textfile" / "schedule.prom").read_text()
    assert 'procops_job_last_exit_code{scheduled_job="backup-run"} 1.0' in prom
