"""Backup of the running sandbox and restore to a standby sandbox serving it (R4, R7), as an operator runs it."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest


@pytest.fixture
def sandbox(cli, port_block, tmp_path, monkeypatch):
    # HAProxy refuses a stats socket path longer than 97 bytes: keep $PROCOPS_HOME short
    home = Path(tempfile.mkdtemp(prefix="pbk-", dir="/tmp"))
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    port = port_block(4)
    # the standby's port is the config's + 100; the config's port is this test's block
    (tmp_path / "procops.yaml").write_text(
        f"sandbox:\n  port: {port}\n  replicas: 1\n  seed: {{announcements: 20, suppliers: 5, documents: 12, "
        f"document_size: 16KB}}\n"
    )
    info = cli("sandbox", "up", "--json", check=0).json()
    try:
        yield info
    finally:
        cli("sandbox", "down", "--instance", "standby")
        cli("sandbox", "down")
        shutil.rmtree(home, ignore_errors=True)


def test_backup_of_the_sandbox_restores_to_a_serving_standby(cli, sandbox):
    url = sandbox["url"]
    with httpx.Client(base_url=url, timeout=30) as c:
        live_docs = c.get("/api/archive", params={"page": 1, "size": 100}).json()
        token = c.post(
            "/api/suppliers/login", json={"email": "supplier-1@example.test", "password": "password-1"}
        ).json()["token"]
        up = c.post(
            "/api/announcements/1/bids",
            files={"file": ("bid.pdf", b"%PDF bid of supplier 1" * 100)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert up.status_code in (200, 201), up.text
    cli("backup", "init", check=0)
    run = cli("backup", "run", "--json", check=0).json()
    assert run["manifest_totals"]["documents"] == live_docs["total"] + 1
    cli("backup", "verify", "--json", check=0)
    cli("backup", "verify", "--live", check=0)

    res = cli("backup", "restore", "--to-sandbox", "--repo", "offsite", "--json", check=0).json()
    assert (
        res["repository"] == "offsite" and res["url"] != url and res["documents"] == run["manifest_totals"]["documents"]
    )
    with httpx.Client(base_url=res["url"], timeout=30) as c:
        # the bid is listed to, and readable by, its supplier (bid files are sealed)
        own = {"Authorization": f"Bearer {token}"}
        arch = c.get("/api/archive", params={"page": 1, "size": 100}, headers=own).json()
        assert arch["total"] == live_docs["total"] + 1
        for d in arch["items"]:
            body = c.get(f"/api/documents/{d['id']}", headers=own)
            assert body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == d["sha256"]
        # the restored supplier accounts work on the standby, and their encrypted credit codes read back
        login = c.post("/api/suppliers/login", json={"email": "supplier-1@example.test", "password": "password-1"})
        assert login.status_code == 200
        me = c.get("/api/suppliers/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
        assert me.status_code == 200 and me.json()["credit_code"], me.text
    st = cli("backup", "status", "--json", check=0).json()
    assert st["repositories"]["local"]["rpo_ok"] and st["repositories"]["offsite"]["offsite_missing_runs"] == 0


@pytest.mark.postgres
def test_postgres_sandbox_restores_to_a_standby_database(cli, port_block, tmp_path, monkeypatch):
    import secrets
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        if s.connect_ex(("127.0.0.1", 5432)):
            pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    import psycopg

    home = Path(tempfile.mkdtemp(prefix="pbk-", dir="/tmp"))
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    name = f"procops_sb_{secrets.token_hex(3)}"
    port = port_block(4)
    (tmp_path / "procops.yaml").write_text(
        f"sandbox:\n  port: {port}\n  replicas: 1\n  database_url: postgresql+psycopg://postgres@127.0.0.1:5432/{name}\n"
        f"  seed: {{announcements: 10, suppliers: 3, documents: 6, document_size: 8KB}}\n"
    )
    try:
        cli("sandbox", "up", check=0)
        cli("backup", "init", check=0)
        run = cli("backup", "run", "--json", check=0).json()
        res = cli("backup", "restore", "--to-sandbox", "--json", check=0).json()
        assert res["database"].endswith(f"/{name}_standby")
        with httpx.Client(base_url=res["url"], timeout=30) as c:
            assert (
                c.get("/api/archive", params={"page": 1, "size": 1}).json()["total"]
                == run["manifest_totals"]["documents"]
            )
    finally:
        cli("sandbox", "down", "--instance", "standby")
        cli("sandbox", "down")
        shutil.rmtree(home, ignore_errors=True)
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
            for db in (name, f"{name}_standby"):
                c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
