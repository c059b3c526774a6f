"""incident standby --execute on the real sandbox: a real restic restore from the off-site repository
into the standby instance, which then serves the restored documents.

Needs the backup area's ``procops.backup.restore`` (restore_to_sandbox) and the sandbox app; until
both are in this build the test is skipped with that reason (tests/unit/incidents/test_failover_wiring.py
covers the wiring meanwhile).
"""

from __future__ import annotations

import hashlib
import importlib.util

import httpx
import pytest

from procops.journal import Journal

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("procops.backup.restore") is None
    or importlib.util.find_spec("procops.sandbox.app") is None,
    reason="needs procops.backup.restore (backup area) and procops.sandbox.app in this build",
)

SMALL_SEED = [
    "--seed-announcements",
    "30",
    "--seed-suppliers",
    "5",
    "--seed-documents",
    "10",
    "--document-size",
    "20KB",
]


@pytest.fixture
def procops_home(tmp_path, monkeypatch):
    """A short $PROCOPS_HOME: HAProxy refuses stats socket paths over 97 characters, and the standby
    instance's socket lives under $PROCOPS_HOME/sandbox-standby/run/."""
    import shutil
    import tempfile
    from pathlib import Path

    home = Path(tempfile.mkdtemp(prefix="pi-", dir="/tmp"))
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    monkeypatch.delenv("PROCOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def platform(cli, port_block):
    port = port_block(4)
    info = cli("sandbox", "up", "--port", str(port), *SMALL_SEED, "--json", check=0).json()
    try:
        yield info
    finally:
        # after the failover the standby serves the site: stopping it needs --force
        cli("sandbox", "down", "--instance", "standby", "--force")
        cli("sandbox", "down", "--force")


def test_standby_execute_restores_offsite_backup_and_serves_it(cli, platform, procops_home):
    cli("backup", "init", timeout=120, check=0)
    cli("backup", "run", timeout=300, check=0)
    with httpx.Client(base_url=platform["url"], timeout=30) as c:
        first = c.get("/api/archive", params={"page": 1, "size": 5}).json()["items"]
        originals = {d["id"]: c.get(f"/api/documents/{d['id']}").content for d in first}

        # a bid uploaded after the backup: the restored standby does not have it
        token = c.post(
            "/api/suppliers/login", json={"email": "supplier-1@example.test", "password": "password-1"}
        ).json()["token"]
        ann = c.get("/api/announcements", params={"page": 1, "size": 1}).json()["items"][0]["id"]
        late = c.post(
            f"/api/announcements/{ann}/bids",
            files={"file": ("late.pdf", b"after the backup")},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert late.status_code in (200, 201), late.text
        late_id = late.json()["document_id"]
        # a bid file is sealed: its supplier reads it
        assert c.get(f"/api/documents/{late_id}", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    iid = cli("incident", "open", "--title", "database lost", check=0).out.strip()
    cli("incident", "classify", iid, "--type", "database-failure", check=0)
    r = cli("incident", "standby", iid, "--execute", "--json", timeout=600, check=0)
    inc = r.json()
    ev = inc["milestones"]["standby"]["evidence"]
    assert inc["milestones"]["standby"]["reached_at"] and ev["url"] != platform["url"]
    assert ev["serving"]["healthz"] and ev["serving"]["announcements_total"] == 30
    with httpx.Client(base_url=ev["url"], timeout=30) as c:
        for doc_id, content in originals.items():
            got = c.get(f"/api/documents/{doc_id}")
            assert got.status_code == 200 and hashlib.sha256(got.content).digest() == hashlib.sha256(content).digest()
    # the main HAProxy now sends users to the standby: the usual URL serves the restored data
    sw = ev["switched"]
    assert sw["ok"] and sw["url"] == platform["url"], sw
    with httpx.Client(base_url=platform["url"], timeout=30) as c:
        for doc_id, content in originals.items():
            assert c.get(f"/api/documents/{doc_id}").content == content
        assert c.get(f"/api/documents/{late_id}").status_code == 404
    with Journal(procops_home / "journal.db") as j:
        ms = [e.data.get("milestone") for e in j.events("incident.milestone", iid)]
    assert ms == ["classify", "standby"]
