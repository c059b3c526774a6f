"""The sandbox platform as an operator runs it: up, use, fault, down."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time

import httpx
import psutil
import pytest

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
def sandbox(cli, port_block):
    port = port_block(4)
    r = cli("sandbox", "up", "--replicas", "2", "--port", str(port), *SMALL_SEED, "--json", check=0)
    info = r.json()
    yield info | {"port": port}
    cli("sandbox", "down")


def _pids(cli) -> list[int]:
    st = cli("sandbox", "status", "--json", check=0).json()
    return [st["haproxy"]["pid"]] + [r["pid"] for r in st["replicas"]]


def test_up_register_login_upload_download_archive(cli, sandbox, procops_home):
    url = sandbox["url"]
    assert sandbox["started"] and sandbox["replicas"] == 2
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post(
            "/api/suppliers/register",
            json={
                "name": "Acme Ltd",
                "email": "bids@acme.test",
                "password": "pw-123456",
                "credit_code": "91310000MA1FL0001",
            },
        )
        assert r.status_code in (200, 201), r.text
        assert r.headers["x-platform-version"] == "1.0.0"
        token = c.post("/api/suppliers/login", json={"email": "bids@acme.test", "password": "pw-123456"}).json()[
            "token"
        ]
        ann = c.get("/api/announcements", params={"page": 1, "size": 20}).json()
        assert ann["total"] == 30 and len(ann["items"]) == 20
        content = os.urandom(300_000)
        up = c.post(
            f"/api/announcements/{ann['items'][0]['id']}/bids",
            files={"file": ("bid.pdf", content)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert up.status_code in (200, 201), up.text
        doc = up.json()
        assert doc["sha256"] == hashlib.sha256(content).hexdigest() and doc["size"] == len(content)
        # download back through HAProxy: both replicas serve the same store
        for _ in range(2):
            d = c.get(f"/api/documents/{doc['document_id']}", headers={"Authorization": f"Bearer {token}"})
            assert d.status_code == 200 and d.content == content
        replicas = {c.get("/healthz").headers["x-platform-replica"] for _ in range(6)}
        assert replicas == {"r1", "r2"}
        # empty and too-large uploads are refused and nothing is stored
        assert (
            c.post(
                f"/api/announcements/{ann['items'][0]['id']}/bids",
                files={"file": ("e.pdf", b"")},
                headers={"Authorization": f"Bearer {token}"},
            ).status_code
            == 422
        )
    db = sqlite3.connect(procops_home / "sandbox" / "platform.db")
    row = db.execute(
        "SELECT sha256, size, storage_path FROM archive_documents WHERE id = ?", (doc["document_id"],)
    ).fetchone()
    assert row[0] == doc["sha256"] and row[1] == len(content)
    assert (procops_home / "sandbox" / "documents" / row[2]).read_bytes() == content
    kinds = [e["kind"] for e in cli("audit", "log", "--json", check=0).json()]
    assert "sandbox.up" in kinds


def test_up_twice_does_not_start_a_second_platform(cli, sandbox):
    before = _pids(cli)
    again = cli("sandbox", "up", "--port", str(sandbox["port"]), "--json", check=0).json()
    assert again["started"] is False and again["url"] == sandbox["url"]
    assert _pids(cli) == before


def test_fault_knob_changes_latency_seen_by_a_client(cli, sandbox):
    url = sandbox["url"]

    def elapsed(path: str) -> float:
        t = time.monotonic()
        r = httpx.get(url + path, timeout=30)
        assert r.status_code == 200
        return time.monotonic() - t

    assert elapsed("/api/announcements") < 1.0
    cli("sandbox", "fault", "set", "latency=1500ms", "--endpoint", "announcements.list", check=0)
    assert elapsed("/api/announcements") >= 1.4
    assert elapsed("/api/dashboard") < 1.0  # other endpoints unaffected
    assert elapsed("/healthz") < 1.0
    cli("sandbox", "fault", "set", "errors=1.0", check=0)
    assert httpx.get(url + "/api/dashboard", timeout=10).status_code == 500
    assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    cli("sandbox", "fault", "clear", check=0)
    assert elapsed("/api/announcements") < 1.0
    assert cli("sandbox", "fault", "set", "latency=soon").code == 2
    assert cli("sandbox", "fault", "set", "errors=0.5", "--endpoint", "nope").code == 2
    # the admin endpoint is not reachable through HAProxy
    assert httpx.get(url + "/_admin/fault", timeout=10).status_code == 403


def test_down_leaves_no_process_behind(cli, port_block):
    port = port_block(3)
    cli("sandbox", "up", "--replicas", "1", "--port", str(port), *SMALL_SEED, check=0)
    pids = _pids(cli)
    assert all(psutil.pid_exists(p) for p in pids)
    assert cli("sandbox", "down", "--json", check=0).json()["stopped"]
    time.sleep(0.2)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert cli("sandbox", "status", "--json", check=0).json()["running"] is False
    assert cli("sandbox", "down", "--json", check=0).json()["stopped"] == []


def test_port_in_use_is_exit_3_naming_it(cli, port_block):
    import socket

    port = port_block(3)
    s = socket.socket()
    s.bind(("127.0.0.1", port + 1))
    s.listen()
    try:
        r = cli("sandbox", "up", "--replicas", "1", "--port", str(port), *SMALL_SEED)
        assert r.code == 3 and f"port {port + 1}" in r.err
    finally:
        s.close()
    assert cli("sandbox", "status", "--json", check=0).json()["running"] is False


def test_readiness_brings_the_sandbox_up_and_writes_a_report(cli, port_block, tmp_path):
    import json

    import yaml

    from testsupport import monitoring_ports

    port = port_block(4)
    cfg = {
        "sandbox": {
            "port": port,
            "seed": {"announcements": 30, "suppliers": 5, "documents": 10, "document_size": "20KB"},
        },
        "monitoring": monitoring_ports(port_block(7)),
        "loadtest": {"normal_peak_users": 2},
    }
    (tmp_path / "procops.yaml").write_text(yaml.safe_dump(cfg))
    try:
        r = cli("readiness", "--quick", "--json")
        assert r.code == 0, r.err
        res = r.json()
        assert res["verdict"] == "pass"
        steps = {s["name"]: s["status"] for s in res["steps"]}
        assert steps["sandbox"] == "ok" and steps["seeded-data"] == "ok" and steps["journal"] == "ok"
        assert steps["platform-health"] == "ok" and steps["peak-test"] == "ok"
        peak = next(s for s in res["steps"] if s["name"] == "peak-test")
        assert peak["evidence"]["users"] == 6 and peak["evidence"]["multiple"] == 3  # 3x the normal peak of 2
        report = open(res["report"], encoding="utf-8").read()
        assert "PASS" in report and "latency.png" in report and "backup-freshness.png" in report
        html = open(res["reports"]["html"], encoding="utf-8").read()
        assert "<table>" in html and "<strong>PASS</strong>" in html
        data = json.loads(open(res["reports"]["json"], encoding="utf-8").read())
        prov = data["provenance"]
        assert prov["mode"] == "quick" and prov["config_sha256"] and prov["host"]
        with_end = prov["journal_at_end"]
        assert with_end["rows"] > prov["journal_at_start"]["rows"] and with_end["head"] in report
        # what the run started, it stopped: the sandbox and the monitoring stack
        assert {s["what"] for s in res["stopped"]} == {"sandbox", "monitoring stack"}
        assert all(s["ok"] for s in res["stopped"]) and not res["kept"]
        assert cli("sandbox", "status", "--json", check=0).json()["running"] is False
        # --keep leaves them running and says where they are and how to stop them, in Chinese
        zh = cli("--lang", "zh", "readiness", "--quick", "--keep", "--json", check=0)
        assert zh.code == 0, zh.err
        assert "平台就绪检查报告" in open(zh.json()["report"], encoding="utf-8").read()
        assert {k["what"] for k in zh.json()["kept"]} == {"sandbox", "monitoring stack"}
        assert f"127.0.0.1:{port}" in zh.err and "procops sandbox down" in zh.err and "procops monitor down" in zh.err
        assert cli("sandbox", "status", "--json", check=0).json()["running"] is True
    finally:
        cli("monitor", "down")
        cli("sandbox", "down")


def test_readiness_fails_while_a_critical_alert_fires_and_names_it(cli, port_block, tmp_path):
    """Uploads failing (a fault left active): whatever the other steps say, the verdict fails and the
    report names the firing alert; what readiness did not start (the sandbox) is left running."""
    import yaml

    from testsupport import monitoring_ports

    port = port_block(4)
    cfg = {
        "sandbox": {
            "port": port,
            "seed": {"announcements": 30, "suppliers": 5, "documents": 10, "document_size": "20KB"},
        },
        "monitoring": monitoring_ports(port_block(7)),
        "loadtest": {"normal_peak_users": 2},
    }
    (tmp_path / "procops.yaml").write_text(yaml.safe_dump(cfg))
    try:
        assert cli("sandbox", "up").code == 0
        assert cli("sandbox", "fault", "set", "errors=1.0", "--endpoint", "bids.upload").code == 0
        r = cli("readiness", "--quick", "--json")
        assert r.code == 1, r.err
        res = r.json()
        assert res["verdict"] == "fail"
        health = next(s for s in res["steps"] if s["name"] == "platform-health")
        assert health["status"] == "failed" and "UploadFailures" in health["detail"]
        assert "UploadFailures" in open(res["report"], encoding="utf-8").read()
        assert {s["what"] for s in res["stopped"]} == {"monitoring stack"}
        assert cli("sandbox", "status", "--json", check=0).json()["running"] is True
    finally:
        cli("monitor", "down")
        cli("sandbox", "down")


DB_SERVERS = {
    "postgres": ("127.0.0.1", 5432, "postgresql+psycopg://postgres@127.0.0.1:5432/{db}"),
    "mariadb": ("127.0.0.1", 3306, "mysql+pymysql://root@127.0.0.1:3306/{db}"),
}


def _reachable(host: str, port: int) -> bool:
    import socket

    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _drop(url: str, db: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    eng = create_engine(
        u.set(database="postgres" if u.get_backend_name() == "postgresql" else None), isolation_level="AUTOCOMMIT"
    )
    with eng.connect() as c:
        if u.get_backend_name() == "postgresql":
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        else:
            c.execute(text(f"DROP DATABASE IF EXISTS `{db}`"))
    eng.dispose()


@pytest.mark.parametrize("server", ["postgres", "mariadb"])
def test_sandbox_on_a_database_server(cli, port_block, server):
    host, dbport, template = DB_SERVERS[server]
    if not _reachable(host, dbport):
        pytest.skip(f"{server} is not running on {host}:{dbport}")
    db = f"procops_e2e_{os.getpid()}_{server}"
    url = template.format(db=db)
    port = port_block(3)
    try:
        cli("sandbox", "up", "--replicas", "1", "--port", str(port), "--database-url", url, *SMALL_SEED, check=0)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as c:
            token = c.post(
                "/api/suppliers/login", json={"email": "supplier-1@example.test", "password": "password-1"}
            ).json()["token"]
            content = os.urandom(50_000)
            up = c.post(
                "/api/announcements/1/bids",
                files={"file": ("b.pdf", content)},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert up.status_code in (200, 201), up.text
            own = {"Authorization": f"Bearer {token}"}
            assert c.get(f"/api/documents/{up.json()['document_id']}", headers=own).content == content
            arch = c.get("/api/archive", params={"page": 1, "size": 100}, headers=own).json()
            assert hashlib.sha256(content).hexdigest() in {d["sha256"] for d in arch["items"]}
        st = cli("sandbox", "status", "--json", check=0).json()
        assert st["healthy"] and st["database"].startswith(url.split("://")[0])
    finally:
        cli("sandbox", "down")
        _drop(url, db)


ADMIN_SPELLINGS = [
    "/_admin/fault",
    "/%5Fadmin/fault",
    "/%5fadmin/fault",
    "/%255Fadmin/fault",
    "//_admin/fault",
    "/_ADMIN/fault",
    "/_admin/../_admin/fault",
    "/static/..%2f_admin/fault",
    "/static/..%2F..%2F_admin/fault",
    "/api/../_admin/fault",
    "/admin",
    "/%61dmin",
    "//admin",
    "/ADMIN",
    "/admin/../admin",
    "/static/..%2fadmin",
]


def _raw_get(port: int, path: str, headers: dict) -> int:
    """GET with the path sent byte for byte (no client-side normalisation)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_the_admin_path_is_refused_through_haproxy_however_it_is_spelled(sandbox, procops_home):
    from procops.sandbox.platform import admin_token

    token = admin_token()
    codes = {p: _raw_get(sandbox["port"], p, {"X-Admin-Token": token}) for p in ADMIN_SPELLINGS}
    assert codes == dict.fromkeys(ADMIN_SPELLINGS, 403)
    # The app refuses them too, straight on a replica port (bypassing HAProxy).
    from procops.sandbox import api

    replica = api.running().replicas[0].port
    direct = {p: _raw_get(replica, p, {"X-Admin-Token": token}) for p in ADMIN_SPELLINGS if p != "/_admin/fault"}
    assert set(direct.values()) == {403}, direct
    assert _raw_get(replica, "/_admin/fault", {"X-Admin-Token": token}) == 200


def test_bids_are_sealed_through_haproxy_and_their_reads_are_in_the_access_log(sandbox, procops_home):
    import datetime as dt

    from procops.sandbox import api

    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with httpx.Client(base_url=sandbox["url"], timeout=30) as c:

        def login(i: int) -> dict:
            r = c.post(
                "/api/suppliers/login", json={"email": f"supplier-{i}@example.test", "password": f"password-{i}"}
            )
            return {"Authorization": f"Bearer {r.json()['token']}"}

        owner, other = login(1), login(2)
        up = c.post("/api/announcements/1/bids", files={"file": ("b.pdf", b"sealed")}, headers=owner)
        assert up.status_code == 201, up.text
        url = f"/api/documents/{up.json()['document_id']}"
        assert c.get(url).status_code == 401
        assert c.get(url, headers=other).status_code == 403
        assert c.get(url, headers=owner).content == b"sealed"
        late = c.post("/api/announcements/4/bids", files={"file": ("b.pdf", b"late")}, headers=owner)
        assert late.status_code == 409 and "closed" in late.json()["detail"]
    rows = [(r.actor, r.outcome, r.client) for r in api.access_log(since) if r.action == "bid.read"]
    assert rows == [
        ("anonymous", "denied", "127.0.0.1"),
        ("supplier:2", "denied", "127.0.0.1"),
        ("supplier:1", "granted", "127.0.0.1"),
    ]
