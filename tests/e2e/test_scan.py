"""`procops scan` runs the real lynis (a few test groups, to stay short)."""

import json


def test_scan_writes_report_journal_and_metric(cli, procops_home, tmp_path):
    (tmp_path / "procops.yaml").write_text("scan:\n  max_warnings: 1000\n  min_hardening_index: 0\n")
    r = cli("scan", "--group", "authentication", "--json", timeout=600)
    assert r.code == 0, r.err
    d = r.json()
    assert d["verdict"] == "pass" and d["tests_executed"] > 0 and d["hardening_index"] is not None
    summary = json.loads(open(f"{d['report_dir']}/summary.json").read())
    assert summary["hardening_index"] == d["hardening_index"]
    prom = (procops_home / "textfile" / "scan.prom").read_text()
    assert "procops_scan_last_success_timestamp_seconds" in prom
    assert cli("audit", "log", "--kind", "scan.run", "--json", check=0).json()[0]["data"]["verdict"] == "pass"


def test_scan_fails_when_the_hardening_index_is_below_policy(cli, procops_home, tmp_path):
    (tmp_path / "procops.yaml").write_text("scan:\n  max_warnings: 1000\n  min_hardening_index: 100\n")
    r = cli("scan", "--group", "authentication", timeout=600)
    assert r.code == 1 and "FAIL" in r.out
    prom = (procops_home / "textfile" / "scan.prom").read_text()
    assert "procops_scan_last_success_timestamp_seconds" not in prom
