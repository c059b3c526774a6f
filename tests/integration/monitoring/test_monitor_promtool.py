"""The generated rules and their unit tests, run by the real promtool."""

from __future__ import annotations

import subprocess

from procops.config import Config
from procops.monitoring import rules


def test_default_policy_rules_pass_promtool(procops_home, tmp_path):
    res = rules.write_and_test(Config(), tmp_path / "r")
    assert res.check_ok, res.output
    assert res.test_ok, res.output
    assert len(res.alerts) == len(rules.ALERT_NAMES)


def test_custom_policy_rules_pass_promtool(procops_home, tmp_path):
    cfg = Config.model_validate(
        {
            "policy": {
                "page_load_p95": "1.5s",
                "backup_interval": "4h",
                "drill_interval": "30d",
                "thresholds": {"cpu_ratio": 0.5, "error_ratio": 0.2, "for_duration": "5m"},
            },
            "monitoring": {"platform_down_for": "45s"},
        }
    )
    res = rules.write_and_test(cfg, tmp_path / "r", journal=False)
    assert res.ok, res.output


def test_the_unit_tests_catch_a_changed_threshold(procops_home, tmp_path):
    """The generated tests can fail: loosen one rule and promtool must report it."""
    out = tmp_path / "r"
    rules.write_and_test(Config(), out, journal=False)
    path = out / rules.RULES_FILE
    path.write_text(path.read_text().replace("procops_integrity_problems) > 0", "procops_integrity_problems) > 5"))
    p = subprocess.run(["promtool", "test", "rules", str(out / rules.TESTS_FILE)], capture_output=True, text=True)
    assert p.returncode != 0
    assert "IntegrityProblems" in p.stdout + p.stderr


def test_cli_rules_writes_files_and_a_journal_event(cli, tmp_path):
    r = cli("monitor", "rules", "--out", str(tmp_path / "out"), "--json", check=0)
    data = r.json()
    assert data["ok"] and data["check_ok"] and data["test_ok"]
    assert (tmp_path / "out" / rules.RULES_FILE).is_file()
    ev = cli("audit", "--help")  # journal readable through the API below
    assert ev.code == 0
    from procops.journal import open_journal

    with open_journal() as j:
        assert j.last("monitor.rules").data["verdict"] == "pass"


def test_the_no_data_cases_catch_a_rule_that_ignores_missing_series(procops_home, tmp_path):
    """Without the absent() rules, the hourly no-data cases must fail: a silent repository would raise nothing."""
    out = tmp_path / "r"
    cfg = Config.model_validate(
        {"backup": {"repositories": [{"name": "nas", "url": "/srv/nas"}, {"name": "dr", "url": "/x", "offsite": True}]}}
    )
    res = rules.write_and_test(cfg, out, journal=False)
    assert res.ok, res.output
    path = out / rules.RULES_FILE
    text = path.read_text()
    assert 'absent(procops_backup_last_success_timestamp_seconds{repository="nas"})' in text
    path.write_text(
        text.replace('absent(procops_backup_last_success_timestamp_seconds{repository="nas"})', "vector(0) > 1")
    )
    p = subprocess.run(
        ["promtool", "test", "rules", rules.HOURLY_TESTS_FILE], cwd=out, capture_output=True, text=True, timeout=300
    )
    assert p.returncode != 0
    assert "BackupStale" in p.stdout + p.stderr
