"""`procops schedule` into a temporary folder (never the real crontab or systemd)."""

from __future__ import annotations

from procops.journal import Journal


def test_install_show_remove_cron_in_a_target_dir(cli, tmp_path):
    target = tmp_path / "cron.d"
    dry = cli("schedule", "install", "--cron", "--dry-run", "--target-dir", str(target), check=0)
    assert "flock -n" in dry.out and not target.exists()
    cli("schedule", "install", "--cron", "--target-dir", str(target), check=0)
    text = (target / "procops").read_text()
    assert "schedule run-job backup-run" in text
    shown = cli("schedule", "show", "--target-dir", str(target), "--json", check=0).json()
    assert shown["installed"]["cron"]["files"] == ["procops"]
    cli("schedule", "remove", "--target-dir", str(target), check=0)
    assert not (target / "procops").exists()


def test_install_systemd_units_in_a_target_dir(cli, tmp_path):
    target = tmp_path / "units"
    cli("schedule", "install", "--systemd", "--target-dir", str(target), check=0)
    names = sorted(p.name for p in target.iterdir())
    assert "procops-backup-run.timer" in names and "procops-backup-run.service" in names
    assert "KillSignal=SIGINT" in (target / "procops-backup-run.service").read_text()


def test_a_failing_job_is_recorded_not_silent(cli, procops_home, tmp_path):
    # the embedded default has no backup yet and no database: the job fails; its exit code is kept
    r = cli("schedule", "run-job", "backup-verify")
    assert r.code != 0
    with Journal(procops_home / "journal.db") as j:
        ev = j.events("schedule.job")
    assert ev[-1].subject == "backup-verify" and ev[-1].data["exit_code"] == r.code
    prom = (procops_home / "textfile" / "schedule.prom").read_text()
    assert f'procops_job_last_exit_code{{scheduled_job="backup-verify"}} {float(r.code)}' in prom
    shown = cli("schedule", "show", "--json", "--target-dir", str(tmp_path / "none"), check=0).json()
    assert next(j for j in shown["jobs"] if j["name"] == "backup-verify")["last"]["exit_code"] == r.code
