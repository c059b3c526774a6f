"""The journal is the gate: when it cannot be written, an action does not happen (exit 3, nothing done)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from testsupport import read_only_journal

from procops.journal import Journal


def _kinds(home: Path) -> list[str]:
    with Journal(home / "journal.db") as j:
        return [str(e.kind) for e in j.events()]


@pytest.fixture
def short_home(monkeypatch):
    # HAProxy refuses a stats socket path longer than 97 bytes: keep $PROCOPS_HOME short
    home = Path(tempfile.mkdtemp(prefix="pjg-", dir="/tmp"))
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_an_unwritable_journal_stops_backup_run_fault_and_schedule_and_nothing_is_done(
    cli, short_home, tmp_path, port_block
):
    port = port_block(3)
    (tmp_path / "procops.yaml").write_text(
        f"sandbox:\n  port: {port}\n  replicas: 1\n  seed: {{announcements: 10, suppliers: 3, documents: 4, "
        f"document_size: 4KB}}\n"
    )
    try:
        cli("sandbox", "up", check=0)
        cli("backup", "init", check=0, timeout=120)
        before = _kinds(short_home)
        with read_only_journal(short_home):
            r = cli("backup", "run", timeout=300)
            assert r.code == 3 and "journal" in r.err, r.out + r.err
            snaps = cli("backup", "snapshots", "--json", check=0).json()
            assert not any(repo["runs"] for repo in snaps["repositories"].values()), json.dumps(snaps)

            r = cli("sandbox", "fault", "set", "errors=1.0")
            assert r.code == 3 and "journal" in r.err, r.out + r.err
            url = cli("sandbox", "status", "--json", check=0).json()["url"]
            codes = {httpx.get(url + "/api/announcements", timeout=10).status_code for _ in range(5)}
            assert codes == {200}  # no fault was set

            target = tmp_path / "units"
            r = cli("schedule", "install", "--cron", "--target-dir", str(target))
            assert r.code == 3 and "journal" in r.err, r.out + r.err
            assert not target.exists() or not any(target.iterdir())
        assert _kinds(short_home) == before  # nothing reached the journal, nothing happened
        cli("backup", "run", check=0, timeout=300)  # writable again: the same commands work
    finally:
        cli("sandbox", "down")
