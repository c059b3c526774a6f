"""Schedules generated from policy (pure)."""

from __future__ import annotations

import pytest

from procops import schedule as s
from procops.config import Config
from procops.errors import BadInput
from procops.execute import JOB_GRACE

CTX = s.Context("/opt/procops/bin/procops", "/etc/procops/procops.yaml", "/var/lib/procops", "procops")


@pytest.mark.parametrize(
    "interval,minute,want",
    [
        (3600, 5, ("*-*-* *:05:00", "5 * * * *")),
        (900, 5, ("*-*-* *:05/15:00", "5-59/15 * * * *")),
        (4 * 3600, 10, ("*-*-* 00/4:10:00", "10 */4 * * *")),
        (86400, 35, ("*-*-* 03:35:00", "35 3 * * *")),
        (7 * 86400, 20, ("Sun *-*-* 04:20:00", "20 4 * * 0")),
    ],
)
def test_calendar(interval, minute, want):
    assert s.calendar(interval, minute) == want


@pytest.mark.parametrize("interval", [30, 7 * 60, 5 * 3600, 3 * 86400])
def test_calendar_refuses_irregular_intervals(interval):
    with pytest.raises(BadInput):
        s.calendar(interval, 0)


def test_jobs_follow_the_policy():
    c = Config()
    by = {j.name: j for j in s.jobs(c)}
    assert by["backup-run"].interval == 3600 and by["backup-run"].args == ("backup", "run")
    assert by["backup-check"].interval == 86400
    assert by["backup-verify"].interval == 7 * 86400
    assert by["scan"].interval == 7 * 86400
    assert by["loadtest-capacity"].args == ("loadtest", "capacity", "--abort-on-fail")
    assert s.calendar(by["loadtest-capacity"].interval, 30)[1] == "30 5 1 * *"  # monthly
    assert s.calendar(by["incident-escalate"].interval, 0)[1] == "0-59/1 * * * *"  # every minute
    c2 = Config.model_validate({"policy": {"backup_interval": "15m"}})
    assert s.calendar(s.find_job(c2, "backup-run").interval, 5)[1] == "5-59/15 * * * *"


def test_systemd_units_stop_with_sigint_and_catch_up_missed_runs():
    units = s.systemd_units(CTX, s.jobs(Config())[0])
    service, timer = units["procops-backup-run.service"], units["procops-backup-run.timer"]
    assert "KillSignal=SIGINT" in service and "Type=exec" in service
    assert (
        "ExecStart=/opt/procops/bin/procops --config /etc/procops/procops.yaml schedule run-job backup-run" in service
    )
    assert "Persistent=true" in timer and "OnCalendar=*-*-* *:05:00" in timer


def test_cron_lines_are_wrapped_in_flock():
    text = s.cron_file(CTX, s.jobs(Config()), "/var/lib/procops/locks")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#") and "=" not in ln.split()[0]]
    assert len(lines) == len(s.jobs(Config()))
    for ln in lines:
        fields = ln.split()
        assert fields[5] == "procops" and fields[6:8] == ["flock", "-n"]
        assert "schedule run-job" in ln


def test_every_area_declares_its_jobs_and_the_list_keeps_todays_order():
    from procops.backup import api as backup
    from procops.drills import api as drills
    from procops.incidents import api as incidents
    from procops.loadtests import api as loadtests
    from procops import scan

    c = Config()
    assert [j.name for j in s.jobs(c)] == [
        "backup-run",
        "backup-check",
        "backup-verify-live",
        "backup-verify",
        "scan",
        "loadtest-capacity",
        "incident-escalate",
        "drill-reminder",
    ]
    assert [j.name for j in backup.jobs(c)] == ["backup-run", "backup-check", "backup-verify-live", "backup-verify"]
    assert [j.name for j in scan.jobs(c)] == ["scan"]
    assert [j.name for j in loadtests.jobs(c)] == ["loadtest-capacity"]
    assert [(j.name, j.interval) for j in incidents.jobs(c)] == [("incident-escalate", 60.0)]
    assert [(j.name, j.interval) for j in drills.jobs(c)] == [("drill-reminder", 92 * 86400.0)]


def test_an_unknown_job_is_bad_input():
    with pytest.raises(BadInput, match="unknown job 'nosuch'"):
        s.find_job(Config(), "nosuch")


def test_a_job_unit_stops_with_sigint_then_sigkill_logs_to_the_journal_and_reports_its_failure():
    job = s.find_job(Config(), "backup-run")
    service = s.systemd_units(CTX, job)["procops-backup-run.service"]
    stop, runtime_max = s.stop_timeouts(job)
    for line in (
        "KillSignal=SIGINT",
        f"TimeoutStopSec={stop}",
        "FinalKillSignal=SIGKILL",
        f"RuntimeMaxSec={runtime_max}",
        "StandardOutput=journal",
        "OnFailure=procops-job-failed@%n.service",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=full",
    ):
        assert line in service.splitlines(), line
    assert runtime_max > job.timeout + JOB_GRACE
    units = s.render(Config(), CTX, "systemd")
    assert "schedule job-failed %i" in units["procops-job-failed@.service"]


def test_cron_lines_append_the_output_to_the_job_log():
    text = s.cron_file(CTX, s.jobs(Config()), "/var/lib/procops/locks")
    line = next(ln for ln in text.splitlines() if "run-job backup-run" in ln)
    assert "--log-file /var/lib/procops/logs/backup-run.log" in line
    assert line.endswith(">>/var/lib/procops/logs/backup-run.log 2>&1") and "/dev/null" not in text


def test_the_monthly_stress_test_runs_with_its_stop_conditions():
    assert s.find_job(Config(), "loadtest-capacity").args == ("loadtest", "capacity", "--abort-on-fail")


def test_a_job_log_over_its_bound_is_rotated(tmp_path):
    log = tmp_path / "logs" / "j.log"
    log.parent.mkdir()
    log.write_bytes(b"x" * 100)
    with s.open_log(log, max_bytes=50) as f:
        f.write(b"new\n")
    assert log.read_bytes() == b"new\n" and (tmp_path / "logs" / "j.log.1").stat().st_size == 100
