"""The active site after a failover, on the real sandbox, HAProxy and restic: backups, status and faults
follow the standby, the serving instance is not stopped by mistake, and `incident failback --execute`
brings the bids written on the standby back to main."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from procops.journal import Journal

SMALL_SEED = ["--seed-announcements", "20", "--seed-suppliers", "3", "--seed-documents", "8", "--document-size", "8KB"]


@pytest.fixture
def procops_home(tmp_path, monkeypatch):
    """A short $PROCOPS_HOME: HAProxy refuses stats socket paths over 97 characters."""
    home = Path(tempfile.mkdtemp(prefix="pfb-", dir="/tmp"))
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    monkeypatch.delenv("PROCOPS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def platform(cli, port_block, procops_home):
    port = port_block(4)
    info = cli("sandbox", "up", "--port", str(port), "--replicas", "1", *SMALL_SEED, "--json", check=0).json()
    try:
        yield info
    finally:
        cli("sandbox", "down", "--instance", "standby", "--force")
        cli("sandbox", "down", "--force")


def _login(c: httpx.Client) -> dict:
    token = c.post("/api/suppliers/login", json={"email": "supplier-1@example.test", "password": "password-1"}).json()[
        "token"
    ]
    return {"Authorization": f"Bearer {token}"}


def test_a_bid_uploaded_on_the_standby_is_backed_up_and_failback_returns_it_to_main(cli, platform, procops_home):
    url = platform["url"]
    cli("backup", "init", timeout=120, check=0)
    cli("backup", "run", timeout=300, check=0)
    with httpx.Client(base_url=url, timeout=30) as c:
        before = c.get("/api/archive", params={"page": 1, "size": 1}).json()["total"]

    iid = cli("incident", "open", "--title", "database lost", check=0).out.strip()
    cli("incident", "classify", iid, "--type", "database-failure", check=0)
    human = cli("incident", "standby", iid, "--execute", timeout=600, check=0)
    assert "data cutoff" in human.out and "not on the standby" in human.out, human.out
    inc = cli("incident", "show", iid, "--json", check=0).json()
    ev = inc["milestones"]["standby"]["evidence"]
    assert ev["switched"]["ok"] and ev["data_cutoff"]["snapshot_time"], ev
    standby_url = ev["url"]

    # the whole toolkit knows the standby serves the site
    st = cli("sandbox", "status", "--json", check=0).json()
    assert st["active_site"]["site"] == "standby" and st["active_site"]["incident"] == iid
    assert st["instance"] == "standby" and st["serving"] and st["url"] == standby_url
    desk = cli("status", "--json", check=1).json()  # an open incident needs a person
    assert desk["sections"]["site"]["site"] == "standby" and "incidents" in desk["attention"], desk
    fault = cli("sandbox", "fault", "set", "latency=1ms", check=0)
    assert "sandbox 'standby'" in fault.out, fault.out
    cli("sandbox", "fault", "clear", check=0)

    # a bid uploaded through the usual URL lands on the standby
    content = b"%PDF bid uploaded during the failover " * 64
    with httpx.Client(base_url=url, timeout=30) as c:
        auth = _login(c)
        up = c.post("/api/announcements/1/bids", files={"file": ("late.pdf", content)}, headers=auth)
        assert up.status_code in (200, 201), up.text
        bid = up.json()["document_id"]

    # backup run protects the standby's database and documents: the snapshot holds the bid
    run = cli("backup", "run", "--json", timeout=300, check=0).json()
    assert run["manifest_totals"]["documents"] == before + 1
    cli("backup", "verify", "--live", timeout=300, check=0)
    target = procops_home / "restored"
    cli("backup", "restore", "--repo", "local", "--target", str(target), timeout=300, check=0)
    assert any(
        hashlib.sha256(p.read_bytes()).digest() == hashlib.sha256(content).digest()
        for p in target.rglob("*")
        if p.is_file() and p.stat().st_size == len(content)
    ), "the restored snapshot lacks the bid uploaded on the standby"

    # stopping what serves the site is refused, and the site still serves
    for args in (("--instance", "standby"), ()):
        r = cli("sandbox", "down", *args, check=2)
        assert "refusing to stop" in r.err and "standby" in r.err and "failback" in r.err, r.err
    assert httpx.get(url + "/healthz", timeout=10).status_code == 200

    # the plan changes nothing
    plan = cli("incident", "failback", iid, check=0)
    assert "--execute" in plan.out
    assert cli("sandbox", "status", "--json", check=0).json()["active_site"]["site"] == "standby"

    res = cli("incident", "failback", iid, "--execute", "--json", timeout=600, check=0).json()
    assert res["url"] == url and res["check"]["archive_total"] == before + 1 and res["standby_removed"]
    assert not (procops_home / "sandbox-standby").exists()  # nothing left behind
    with httpx.Client(base_url=url, timeout=30) as c:
        got = c.get(f"/api/documents/{bid}", headers=_login(c))
        assert got.status_code == 200 and got.content == content
    st = cli("sandbox", "status", "--json", check=0).json()
    assert st["active_site"]["site"] == "main" and st["instance"] == "main" and st["healthy"]
    assert cli("sandbox", "status", "--instance", "standby", "--json", check=0).json()["running"] is False
    with httpx.Client(timeout=5) as c, pytest.raises(httpx.HTTPError):
        c.get(standby_url + "/healthz")
    with Journal(procops_home / "journal.db") as j:
        sites = [(e.subject, e.data.get("operation")) for e in j.events("sandbox.site")]
    assert sites == [("standby", "failover"), ("main", "failback")]
    # main is the site again: it stops without --force
    cli("sandbox", "down", check=0)


def _server_reachable(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    "kind",
    [pytest.param("postgresql", marks=pytest.mark.postgres), pytest.param("mariadb", marks=pytest.mark.mariadb)],
)
def test_failback_on_a_server_database_returns_the_standby_s_bids_and_drops_the_standby_database(
    cli, port_block, procops_home, tmp_path, kind
):
    import secrets

    import sqlalchemy

    server_port = 5432 if kind == "postgresql" else 3306
    if not _server_reachable(server_port):
        pytest.skip(f"no {kind} server on 127.0.0.1:{server_port}")
    name = f"procops_fb_{secrets.token_hex(3)}"
    base = (
        "postgresql+psycopg://postgres@127.0.0.1:5432/"
        if kind == "postgresql"
        else "mysql+pymysql://root@127.0.0.1:3306/"
    )
    port = port_block(4)
    (tmp_path / "procops.yaml").write_text(
        f"sandbox:\n  port: {port}\n  replicas: 1\n  database_url: {base}{name}\n"
        "  seed: {announcements: 10, suppliers: 3, documents: 4, document_size: 8KB}\n"
    )
    admin = sqlalchemy.create_engine(
        base + ("postgres" if kind == "postgresql" else "mysql"), isolation_level="AUTOCOMMIT"
    )

    def databases() -> set[str]:
        q = "SELECT datname FROM pg_database" if kind == "postgresql" else "SHOW DATABASES"
        with admin.connect() as c:
            return {r[0] for r in c.execute(sqlalchemy.text(q))}

    try:
        url = cli("sandbox", "up", "--json", check=0).json()["url"]
        cli("backup", "init", timeout=120, check=0)
        cli("backup", "run", timeout=300, check=0)
        iid = cli("incident", "open", "--title", "database lost", check=0).out.strip()
        cli("incident", "classify", iid, "--type", "database-failure", check=0)
        cli("incident", "standby", iid, "--execute", timeout=600, check=0)
        assert f"{name}_standby" in databases()
        content = b"%PDF bid uploaded on the standby's database server " * 32
        with httpx.Client(base_url=url, timeout=30) as c:
            up = c.post("/api/announcements/1/bids", files={"file": ("late.pdf", content)}, headers=_login(c))
            assert up.status_code in (200, 201), up.text
            bid = up.json()["document_id"]
        res = cli("incident", "failback", iid, "--execute", "--json", timeout=600, check=0).json()
        assert res["url"] == url and res["standby_removed"] and f"{name}_standby" in res["standby_removed"]
        assert res["copied"]["database"].endswith(f"/{name}")
        with httpx.Client(base_url=url, timeout=30) as c:
            got = c.get(f"/api/documents/{bid}", headers=_login(c))
            assert got.status_code == 200 and got.content == content  # main's database holds the bid again
        assert f"{name}_standby" not in databases() and name in databases()  # nothing left behind
        assert cli("sandbox", "status", "--json", check=0).json()["active_site"]["site"] == "main"
    finally:
        cli("sandbox", "down", "--instance", "standby", "--force")
        cli("sandbox", "down", "--force")
        with admin.connect() as c:
            for db in (name, f"{name}_standby"):
                if kind == "postgresql":
                    c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                else:
                    c.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS `{db}`"))
        admin.dispose()
