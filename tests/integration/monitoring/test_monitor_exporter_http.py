"""The procops exporter as `monitor up` runs it: a real process serving the journal and the textfiles."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from procops.events import BackupRun, BackupRunRepo, Kind, LoadtestRun, ScanRun, Status
from procops.journal import record

PROCOPS = str(Path(sys.executable).parent / "procops")


def _scrape(port: int) -> str:
    for _ in range(100):
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the exporter did not answer")


def test_exporter_serves_journal_and_textfiles_incrementally(procops_home, port_block):
    record(
        Kind.BACKUP_RUN,
        "all",
        BackupRun(
            status=Status.OK,
            ok=True,
            repositories={"local": BackupRunRepo(status=Status.OK), "offsite": BackupRunRepo(status=Status.OK)},
        ),
    )
    record(Kind.LOADTEST_PEAK, "http://127.0.0.1:18080", LoadtestRun(status=Status.OK, verdict="pass"))
    (procops_home / "textfile").mkdir(exist_ok=True)
    (procops_home / "textfile" / "backup.prom").write_text(
        '# TYPE procops_integrity_problems gauge\nprocops_integrity_problems{repository="live"} 2\n'
        '# TYPE procops_backup_repository_offsite gauge\nprocops_backup_repository_offsite{repository="dr"} 1\n'
        "# TYPE procops_backup_last_success_timestamp_seconds gauge\n"
        'procops_backup_last_success_timestamp_seconds{repository="dr"} 1.7e9\n'
    )
    (procops_home / "textfile" / "broken.prom").write_text("this is { not prometheus\n")
    port = port_block(1)
    p = subprocess.Popen(
        [PROCOPS, "monitor", "exporter", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        text = _scrape(port)
        assert 'procops_backup_last_success_timestamp_seconds{offsite="false",repository="local"}' in text
        assert 'procops_backup_last_success_timestamp_seconds{offsite="true",repository="offsite"}' in text
        assert 'procops_backup_last_success_timestamp_seconds{offsite="true",repository="dr"} 1.7e+09' in text
        assert 'procops_integrity_problems{repository="live"} 2.0' in text
        assert 'procops_loadtest_last_pass_timestamp_seconds{scenario="peak"}' in text
        assert "procops_scan_last_success_timestamp_seconds" not in text
        record(Kind.SCAN_RUN, "host", ScanRun(status=Status.OK, verdict="pass"))
        assert "procops_scan_last_success_timestamp_seconds" in _scrape(port)  # new rows are folded in
    finally:
        p.terminate()
        assert p.wait(10) in (0, -15)
