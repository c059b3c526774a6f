"""The sandbox platform app against real databases (SQLite; PostgreSQL and MariaDB when running).

Every test runs once per database: a fresh SQLite file, or a uniquely named
database created on the local PostgreSQL (127.0.0.1:5432) / MariaDB (127.0.0.1:3306)
server and dropped afterwards. A database server that is not running is skipped
with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import time
import uuid
import warnings
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about the httpx package
    from fastapi.testclient import TestClient

from procops.sandbox import models as m
from procops.sandbox.app import create_app
from procops.sandbox.db import make_engine
from procops.sandbox.faults import ENDPOINTS
from procops.sandbox.secure import read_access_log
from procops.sandbox.seed import seed, supplier_email, supplier_password
from procops.sandbox.settings import Settings
from procops.sandbox.store import INCOMING

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LOOPBACK = ("127.0.0.1", 50000)
ADMIN_TOKEN = "admin-token-for-tests"
SEED = {"announcements": 5, "suppliers": 3, "documents": 7, "document_size": 2048, "seed": 7}

# ----------------------------------------------------------------------------- databases


def _postgres(name: str):
    import psycopg

    try:
        conn = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True, connect_timeout=3
        )
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is unreachable: {e}".strip())
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def _mariadb(name: str):
    import pymysql

    try:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True, connect_timeout=3)
    except pymysql.err.OperationalError as e:
        pytest.skip(f"MariaDB on 127.0.0.1:3306 is unreachable: {e}")
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")

    def drop() -> None:
        with pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True) as c, c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")

    return f"mysql+pymysql://root@127.0.0.1:3306/{name}", drop


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def new_db_url(request, tmp_path):
    """A factory of empty databases of the parametrized kind; all dropped at teardown."""
    drops = []

    def make() -> str:
        name = f"procops_sandbox_{uuid.uuid4().hex[:12]}"
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.db')}"
        url, drop = (_postgres if request.param == "postgresql" else _mariadb)(name)
        drops.append(drop)
        return url

    yield make
    for drop in drops:
        drop()


class Platform:
    """One database + documents store, and the apps/clients made over it."""

    def __init__(self, db_url: str, root: Path) -> None:
        self.db_url = db_url
        self.docs = root / "docs"
        self.token_file = root / "admin-token"
        self.token_file.write_text(ADMIN_TOKEN + "\n")
        self.token_file.chmod(0o600)
        self.engine = make_engine(db_url, pool_size=2)
        self._apps = []
        self._clients = []
        self.seeded = seed(self.engine, self.docs, **SEED)

    def settings(self, **overrides) -> Settings:
        base = dict(db_url=self.db_url, docs_dir=self.docs, admin_token_file=self.token_file, pool_size=4)
        return Settings(**{**base, **overrides})

    def client(self, client_addr=LOOPBACK, **overrides) -> TestClient:
        app = create_app(self.settings(**overrides))
        self._apps.append(app)
        version = app.state.platform.settings.version
        replica = app.state.platform.settings.replica

        def check_headers(response) -> None:
            # Every response carries the version and replica headers.
            assert response.headers["X-Platform-Version"] == version, response.request.url
            assert response.headers["X-Platform-Replica"] == replica, response.request.url

        c = TestClient(app, client=client_addr)
        c.__enter__()
        c.event_hooks = {"request": [], "response": [check_headers]}
        self._clients.append(c)
        return c

    def count(self, table) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()

    def stored_files(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.docs):
            dirnames[:] = [d for d in dirnames if d != INCOMING]
            out += [os.path.relpath(os.path.join(dirpath, f), self.docs) for f in filenames]
        return sorted(out)

    def close(self) -> None:
        for c in self._clients:
            c.__exit__(None, None, None)
        for app in self._apps:
            app.state.platform.engine.dispose()
        self.engine.dispose()


@pytest.fixture
def platform(new_db_url, tmp_path):
    p = Platform(new_db_url(), tmp_path)
    yield p
    p.close()


def _login(client, i: int = 1) -> dict:
    r = client.post("/api/suppliers/login", json={"email": supplier_email(i), "password": supplier_password(i)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _upload(client, headers, data: bytes, announcement_id: int = 1, filename: str = "bid.pdf"):
    return client.post(
        f"/api/announcements/{announcement_id}/bids",
        headers=headers,
        files={"file": (filename, data, "application/pdf")},
    )


def _metrics(client) -> dict:
    r = client.get("/metrics")
    assert r.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def _admin(client, method: str, body=None, token: str = ADMIN_TOKEN):
    return client.request(method, "/_admin/fault", json=body, headers={"X-Admin-Token": token})


# ----------------------------------------------------------------------------- announcements


def test_list_is_paged_newest_first(platform):
    c = platform.client()
    r = c.get("/api/announcements", params={"page": 1, "size": 2})
    assert r.status_code == 200
    body = r.json()
    assert (body["total"], body["pages"], len(body["items"])) == (5, 3, 2)
    rest = c.get("/api/announcements", params={"page": 2, "size": 20}).json()["items"]
    assert rest == []
    everything = c.get("/api/announcements").json()["items"]
    published = [a["published_at"] for a in everything]
    assert published == sorted(published, reverse=True)
    assert everything[:2] == body["items"]
    assert c.get("/api/announcements", params={"size": 1000}).status_code == 422


def test_detail_lists_its_tender_documents(platform):
    c = platform.client()
    r = c.get("/api/announcements/1")
    assert r.status_code == 200
    detail = r.json()
    # 7 documents over 5 announcements round-robin: announcement 1 has documents 1 and 6
    assert len(detail["document_ids"]) == 2
    assert [d["id"] for d in detail["documents"]] == detail["document_ids"]
    assert "区" in detail["title"]  # stored as written (utf8mb4 on MariaDB)
    assert c.get("/api/announcements/999").status_code == 404


def test_search_is_absent_in_1_0_0(platform):
    c = platform.client(version="1.0.0")
    assert c.get("/api/announcements/search", params={"q": "公告"}).status_code == 404


@pytest.mark.parametrize("version", ["1.1.0", "1.1.1-bad"])
def test_search_works_from_1_1_0(platform, version):
    c = platform.client(version=version)
    r = c.get("/api/announcements/search", params={"q": "公告"})
    assert r.status_code == 200
    assert r.json()["total"] == 5
    title = c.get("/api/announcements/3").json()["title"]
    hits = c.get("/api/announcements/search", params={"q": title}).json()["items"]
    assert [h["id"] for h in hits] == [3]
    assert c.get("/api/announcements/search", params={"q": "100%_nothing"}).json()["total"] == 0
    assert c.get("/api/announcements/search").status_code == 422


# ----------------------------------------------------------------------------- suppliers


def test_register_then_login(platform):
    c = platform.client()
    new = {
        "name": "滨海科技有限公司",
        "email": "Bidder@Example.test",
        "password": "s3cret-pass",
        "credit_code": "91110000MA01ABCD3X",
    }
    r = c.post("/api/suppliers/register", json=new)
    assert r.status_code == 201, r.text
    # a 17-character code (an older registration number) is accepted too
    older = {**new, "email": "older@example.test", "credit_code": "91310000ma1fl0001"}
    assert c.post("/api/suppliers/register", json=older).status_code == 201
    assert r.json()["email"] == "bidder@example.test"
    assert "credit_code" not in r.json()
    assert c.post("/api/suppliers/register", json={**new, "email": "bidder@example.test"}).status_code == 409
    r = c.post("/api/suppliers/login", json={"email": "bidder@example.test", "password": "s3cret-pass"})
    assert r.status_code == 200
    assert len(r.json()["token"]) == 64
    assert (
        c.post("/api/suppliers/login", json={"email": "bidder@example.test", "password": "wrong-pass"}).status_code
        == 401
    )
    assert c.post("/api/suppliers/login", json={"email": "nobody@example.test", "password": "x"}).status_code == 401


@pytest.mark.parametrize(
    "change",
    [
        {"email": "not-an-email"},
        {"password": "short"},
        {"credit_code": "123"},
        {"credit_code": "9131 0000 MA1F"},
        {"name": ""},
        {"email": None},
    ],
)
def test_register_rejects_bad_input(platform, change):
    c = platform.client()
    body = {
        "name": "n",
        "email": "ok@example.test",
        "password": "long-enough",
        "credit_code": "91110000MA01ABCD3X",
        **change,
    }
    assert c.post("/api/suppliers/register", json=body).status_code == 422


# ----------------------------------------------------------------------------- bids and documents


def test_upload_and_download_round_trip(platform):
    c = platform.client()
    headers = _login(c)
    data = os.urandom(300_000)
    r = _upload(c, headers, data, announcement_id=2, filename="投标文件.pdf")
    assert r.status_code == 201, r.text
    result = r.json()
    sha = hashlib.sha256(data).hexdigest()
    assert (result["sha256"], result["size"]) == (sha, len(data))

    with platform.engine.connect() as conn:
        row = conn.execute(select(m.archive_documents).where(m.archive_documents.c.id == result["document_id"])).one()
        bid = conn.execute(select(m.bids).where(m.bids.c.id == result["bid_id"])).one()
    assert (row.kind, row.sha256, row.size, row.announcement_id, row.filename) == (
        "bid",
        sha,
        len(data),
        2,
        "投标文件.pdf",
    )
    assert row.storage_path == f"{sha[:2]}/{sha}"
    assert (platform.docs / row.storage_path).read_bytes() == data
    assert (bid.document_id, bid.announcement_id, bid.supplier_id) == (row.id, 2, row.supplier_id)

    d = c.get(f"/api/documents/{result['document_id']}", headers=headers)
    assert d.status_code == 200
    assert d.content == data
    assert d.headers["X-Content-SHA256"] == sha
    assert c.get("/api/documents/99999").status_code == 404

    # The bid is listed to its supplier only; anonymous callers see the tender documents.
    archive = c.get("/api/archive", params={"kind": "bid"}, headers=headers).json()
    assert archive["total"] == 1
    assert archive["items"][0]["sha256"] == sha
    assert c.get("/api/archive", headers=headers).json()["total"] == SEED["documents"] + 1
    assert c.get("/api/archive", params={"kind": "bid"}).json()["total"] == 0
    assert c.get("/api/archive").json()["total"] == SEED["documents"]

    dash = c.get("/api/dashboard").json()
    assert (dash["announcements"], dash["suppliers"], dash["bids"], dash["documents"]) == (5, 3, 1, 8)
    assert dash["bytes_stored"] == SEED["documents"] * SEED["document_size"] + len(data)
    assert dash["bids_per_announcement_top10"][0]["announcement_id"] == 2


def test_seeded_documents_download_intact(platform):
    c = platform.client()
    for item in c.get("/api/archive", params={"size": 100}).json()["items"]:
        d = c.get(f"/api/documents/{item['id']}")
        assert hashlib.sha256(d.content).hexdigest() == item["sha256"] == d.headers["X-Content-SHA256"]


def test_same_file_twice_is_two_bids_one_stored_file(platform):
    c = platform.client()
    headers = _login(c)
    files_before = platform.stored_files()
    a, b = _upload(c, headers, b"same bid"), _upload(c, headers, b"same bid")
    assert a.status_code == b.status_code == 201
    assert a.json()["sha256"] == b.json()["sha256"] and a.json()["document_id"] != b.json()["document_id"]
    assert len(platform.stored_files()) == len(files_before) + 1


def _nothing_stored(platform, files_before) -> None:
    assert platform.count(m.bids) == 0
    assert platform.count(m.archive_documents) == SEED["documents"]
    assert platform.stored_files() == files_before
    assert os.listdir(platform.docs / INCOMING) == []


def test_too_large_upload_is_413_and_stores_nothing(platform):
    c = platform.client(max_upload=1000)
    headers = _login(c)
    files_before = platform.stored_files()
    # Just over the limit: within the multipart slack, so the stream itself is cut at the limit.
    r = _upload(c, headers, os.urandom(1001))
    assert r.status_code == 413
    assert "maximum upload size" in r.json()["detail"]
    # Far over the limit: refused from Content-Length before reading.
    assert _upload(c, headers, os.urandom(200_000)).status_code == 413
    _nothing_stored(platform, files_before)
    assert _upload(c, headers, os.urandom(1000)).status_code == 201


def test_empty_upload_is_422_with_a_message(platform):
    c = platform.client()
    headers = _login(c)
    files_before = platform.stored_files()
    r = _upload(c, headers, b"")
    assert r.status_code == 422
    assert "empty" in r.json()["detail"]
    r = c.post("/api/announcements/1/bids", headers=headers, files={"other": ("x", b"data")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    r = c.post(
        "/api/announcements/1/bids",
        headers=headers,
        content=b"raw",
    )
    assert r.status_code == 422
    _nothing_stored(platform, files_before)


def test_upload_needs_a_valid_token(platform):
    c = platform.client()
    files_before = platform.stored_files()
    assert _upload(c, {}, b"bid").status_code == 401
    r = _upload(c, {"Authorization": "Bearer " + "0" * 64}, b"bid")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert _upload(c, _login(c), b"bid", announcement_id=999).status_code == 404
    _nothing_stored(platform, files_before)


def test_bad_release_fails_about_one_upload_in_ten(platform):
    c = platform.client(version="1.1.1-bad")
    headers = _login(c)
    files_before = platform.stored_files()
    codes = [_upload(c, headers, os.urandom(64)).status_code for _ in range(300)]
    failures = codes.count(500)
    assert set(codes) <= {201, 500}
    assert 0.03 * 300 <= failures <= 0.20 * 300, failures
    # A failed upload stored nothing: one file and one bid per success.
    assert platform.count(m.bids) == codes.count(201)
    assert len(platform.stored_files()) == len(files_before) + codes.count(201)
    samples = {s[0]["result"]: s[1] for s in _metrics(c)["sandbox_uploads_total"]}
    assert samples == {"success": codes.count(201), "failure": failures}


# ----------------------------------------------------------------------------- probes and metrics


def test_healthz_reports_version_and_replica(platform):
    c = platform.client(version="1.1.0", replica="r7")
    r = c.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": "1.1.0", "replica": "r7"}


def test_metrics_histogram_uploads_and_pool(platform):
    c = platform.client()
    headers = _login(c)
    c.get("/api/announcements")
    c.get("/api/announcements/1")
    c.get("/api/announcements/2")
    c.get("/no/such/page")
    assert _upload(c, headers, b"a bid").status_code == 201
    assert _upload(c, {}, b"a bid").status_code == 401
    text = c.get("/metrics").text
    bucket_2s = [
        line
        for line in text.splitlines()
        if line.startswith("http_request_duration_seconds_bucket{") and 'le="2.0"' in line
    ]
    assert any(
        'handler="/api/announcements"' in line
        and 'code="200"' in line
        and 'method="GET"' in line
        and 'version="1.0.0"' in line
        for line in bucket_2s
    )

    samples = _metrics(c)
    handlers = {labels["handler"] for labels, _ in samples["http_request_duration_seconds_count"]}
    assert {"/api/announcements", "/api/announcements/{id}", "/api/announcements/{id}/bids", "other"} <= handlers
    assert not any(h.startswith("/api/announcements/1") or h.startswith("/no") for h in handlers)
    detail = [
        v
        for labels, v in samples["http_request_duration_seconds_count"]
        if labels["handler"] == "/api/announcements/{id}"
    ]
    assert detail == [2.0]
    uploads = {labels["result"]: v for labels, v in samples["sandbox_uploads_total"]}
    assert uploads == {"success": 1.0, "failure": 1.0}
    assert samples["sandbox_db_pool_size"] == [({}, 4.0)]
    assert samples["sandbox_db_connections_in_use"] == [({}, 0.0)]
    assert samples["sandbox_info"] == [({"version": "1.0.0", "replica": "r1"}, 1.0)]


def test_requests_are_counted_by_purchasing_unit_and_pilot_and_probe_requests_labelled_apart(platform):
    c = platform.client()
    c.get("/api/announcements", headers={"X-Procops-Probe": "true", "X-Procops-Pilot": "true"})  # a probe's
    c.get("/api/announcements", headers={"X-Purchasing-Unit": "unit-0001", "X-Procops-Pilot": "true"})
    c.get("/api/announcements", headers={"Cookie": "lang=zh; procops_unit=unit-0001"})
    c.get("/api/announcements", headers={"Cookie": 'procops_unit="unit-0002"'})
    c.get("/api/announcements", headers={"X-Purchasing-Unit": "unit 3; drop table"})  # not a unit name
    c.get("/api/announcements")
    c.get("/healthz", headers={"X-Purchasing-Unit": "unit-0001"})  # health checks are not traffic
    samples = _metrics(c)
    units = {labels["unit"]: v for labels, v in samples["sandbox_unit_requests_total"]}
    assert units == {"unit-0001": 2.0, "unit-0002": 1.0, "other": 1.0}
    listed = {
        labels["traffic"]: v
        for labels, v in samples["http_request_duration_seconds_count"]
        if labels["handler"] == "/api/announcements"
    }
    assert listed == {"pilot": 1.0, "user": 4.0, "probe": 1.0}


def test_the_unit_label_is_bounded(platform, monkeypatch):
    from procops.sandbox import app as sandbox_app

    monkeypatch.setattr(sandbox_app, "MAX_UNITS", 3)
    c = platform.client()
    for i in range(6):
        c.get("/api/announcements", headers={"X-Purchasing-Unit": f"unit-{i}"})
    units = {labels["unit"] for labels, _v in _metrics(c)["sandbox_unit_requests_total"]}
    assert len(units) <= 4 and "other" in units


# ----------------------------------------------------------------------------- fault knob


def test_latency_fault_slows_only_its_endpoint(platform):
    c = platform.client()
    r = _admin(c, "PUT", {"specs": ["latency=600ms"], "endpoint": "announcements.list"})
    assert r.status_code == 200, r.text
    assert r.json()["fault"] == {"latency_s": 0.6, "errors": 0.0, "db_down": False, "endpoint": "announcements.list"}

    t = time.monotonic()
    assert c.get("/api/announcements").status_code == 200
    assert time.monotonic() - t >= 0.5

    # While a slow request waits, the other endpoints answer at once.
    slow = threading.Thread(target=c.get, args=("/api/announcements",))
    slow.start()
    time.sleep(0.05)
    t = time.monotonic()
    assert c.get("/api/announcements/1").status_code == 200
    assert time.monotonic() - t < 0.5
    slow.join()

    assert _admin(c, "DELETE").json()["fault"]["latency_s"] == 0.0
    t = time.monotonic()
    c.get("/api/announcements")
    assert time.monotonic() - t < 0.5


def test_errors_fault_gives_500_but_spares_probes(platform):
    c = platform.client()
    assert _admin(c, "PUT", {"specs": ["errors=1.0"]}).status_code == 200
    for path in ("/api/announcements", "/api/dashboard", "/api/archive"):
        assert c.get(path).status_code == 500
    assert c.get("/healthz").status_code == 200
    assert c.get("/metrics").status_code == 200
    assert _admin(c, "GET").status_code == 200
    _admin(c, "DELETE")
    assert c.get("/api/announcements").status_code == 200


def test_db_down_fault_gives_503(platform):
    c = platform.client()
    assert _admin(c, "PUT", {"latency_s": 0, "db_down": True}).status_code == 200
    r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert c.get("/api/announcements").status_code == 503
    assert c.post("/api/suppliers/login", json={"email": supplier_email(1), "password": "x"}).status_code == 503
    _admin(c, "DELETE")
    assert c.get("/healthz").status_code == 200


def test_db_down_on_one_endpoint(platform):
    c = platform.client()
    assert _admin(c, "PUT", {"specs": ["db=down", "endpoint=dashboard"]}).status_code == 200
    assert c.get("/api/dashboard").status_code == 503
    assert c.get("/api/announcements").status_code == 200
    assert c.get("/healthz").status_code == 200


def test_admin_refuses_wrong_token_and_remote_clients(platform):
    c = platform.client()
    assert _admin(c, "GET", token="wrong").status_code == 403
    assert c.get("/_admin/fault").status_code == 403
    assert _admin(c, "PUT", {"specs": ["errors=1"]}, token="wrong").status_code == 403
    assert c.get("/api/announcements").status_code == 200  # the refused PUT changed nothing
    remote = platform.client(client_addr=("203.0.113.9", 40000))
    assert _admin(remote, "GET").status_code == 403
    no_token_file = platform.client(admin_token_file=None)
    assert _admin(no_token_file, "GET").status_code == 403
    assert _admin(c, "GET").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"specs": ["latency=fast"]},
        {"specs": ["errors=2"]},
        {"endpoint": "nowhere", "errors": 0.5},
        {"specs": ["db=down"], "errors": 0.5},
        {"unknown": 1},
    ],
)
def test_admin_rejects_bad_faults(platform, body):
    c = platform.client()
    assert _admin(c, "PUT", body).status_code == 422
    assert _admin(c, "GET").json()["fault"]["db_down"] is False


# ----------------------------------------------------------------------------- seed


def test_seed_is_deterministic_and_idempotent(platform, new_db_url, tmp_path):
    def shas(engine):
        with engine.connect() as conn:
            return list(conn.execute(select(m.archive_documents.c.sha256).order_by(m.archive_documents.c.id)).scalars())

    first = shas(platform.engine)
    assert len(first) == SEED["documents"]
    again = seed(platform.engine, platform.docs, **SEED)
    assert again == {"announcements": 5, "suppliers": 3, "documents": 7, "bytes": 7 * 2048, "seeded": False}
    assert shas(platform.engine) == first

    other = make_engine(new_db_url())
    try:
        result = seed(other, tmp_path / "docs-2", **SEED)
        assert result["seeded"] is True
        assert shas(other) == first
    finally:
        other.dispose()

    different = make_engine(f"sqlite:///{tmp_path / 'different.db'}")
    try:
        seed(different, tmp_path / "docs-3", **{**SEED, "seed": 8})
        assert shas(different) != first
    finally:
        different.dispose()


def test_seeded_supplier_accounts_log_in(platform):
    c = platform.client()
    for i in range(1, SEED["suppliers"] + 1):
        _login(c, i)


def test_every_endpoint_name_is_a_route(platform):
    app = create_app(platform.settings(version="1.1.0"))
    try:
        names = {getattr(r, "name", None): getattr(r, "path_format", None) for r in app.routes}
        for name, template in ENDPOINTS.items():
            assert names[name] == template
    finally:
        app.state.platform.engine.dispose()


# ----------------------------------------------------------------------------- what an auditor checks (R9)

OPEN, CLOSED = 1, 4  # seeded: every fourth announcement is past its deadline


def _access_log(platform) -> list:
    return list(read_access_log(platform.settings().access_log_path))


def _close(platform, announcement_id: int) -> None:
    with platform.engine.begin() as conn:
        conn.execute(
            update(m.announcements)
            .where(m.announcements.c.id == announcement_id)
            .values(deadline_at=m.utcnow_naive() - dt.timedelta(minutes=1))
        )


def test_seeded_data_holds_open_and_closed_announcements_relative_to_now(platform):
    c = platform.client()
    items = {a["id"]: a for a in c.get("/api/announcements").json()["items"]}
    now = dt.datetime.now(dt.UTC)
    deadline = {i: dt.datetime.fromisoformat(a["deadline_at"]) for i, a in items.items()}
    assert deadline[CLOSED] < now
    assert all(deadline[i] > now + dt.timedelta(days=1) for i in (1, 2, 3, 5))


def test_an_anonymous_bid_download_is_401_another_suppliers_403_and_the_owners_200(platform):
    c = platform.client()
    owner, other = _login(c, 1), _login(c, 2)
    data = os.urandom(5000)
    doc = _upload(c, owner, data, announcement_id=OPEN).json()["document_id"]
    url = f"/api/documents/{doc}"
    r = c.get(url)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert c.get(url, headers=other).status_code == 403
    # Sealed until the deadline: not even the admin opens it before.
    r = c.get(url, headers={"X-Admin-Token": ADMIN_TOKEN})
    assert r.status_code == 403 and "sealed until" in r.json()["detail"]
    assert c.get(url, headers=owner).content == data
    # Tender documents stay public.
    assert c.get("/api/documents/1").status_code == 200

    _close(platform, OPEN)
    assert c.get(url, headers={"X-Admin-Token": ADMIN_TOKEN}).content == data
    assert c.get(url, headers=other).status_code == 403
    assert c.get(url, headers={"X-Admin-Token": "wrong"}).status_code == 403
    # Through a proxy (X-Forwarded-For) the admin token is refused.
    assert c.get(url, headers={"X-Admin-Token": ADMIN_TOKEN, "X-Forwarded-For": "198.51.100.7"}).status_code == 403


def test_bid_reads_are_in_the_access_log_with_who_what_when_and_where(platform):
    c = platform.client()
    owner, other = _login(c, 1), _login(c, 2)
    doc = _upload(c, owner, b"sealed bid", announcement_id=OPEN).json()["document_id"]
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    c.get(f"/api/documents/{doc}")
    c.get(f"/api/documents/{doc}", headers=other)
    c.get(f"/api/documents/{doc}", headers={**owner, "X-Forwarded-For": "203.0.113.50"})
    c.get("/api/documents/1")  # a public tender document: not an access to log
    rows = [r for r in _access_log(platform) if r.action == "bid.read"]
    assert [(r.actor, r.subject, r.outcome) for r in rows] == [
        ("anonymous", f"document:{doc}", "denied"),
        ("supplier:2", f"document:{doc}", "denied"),
        ("supplier:1", f"document:{doc}", "granted"),
    ]
    assert rows[0].client == LOOPBACK[0] and rows[2].client == "203.0.113.50"
    assert all(r.time >= before and r.replica == "r1" for r in rows)
    log_file = platform.settings().access_log_path
    assert log_file.stat().st_mode & 0o777 == 0o600
    assert list(read_access_log(log_file, since=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))) == []


def test_an_upload_after_the_deadline_is_refused_with_the_reason_and_stores_nothing(platform):
    c = platform.client()
    headers = _login(c)
    files_before = platform.stored_files()
    r = _upload(c, headers, b"too late", announcement_id=CLOSED)
    assert r.status_code == 409
    assert f"announcement {CLOSED} closed at" in r.json()["detail"]
    _nothing_stored(platform, files_before)
    assert _upload(c, headers, b"in time", announcement_id=OPEN).status_code == 201


def test_an_expired_session_is_401_and_a_new_login_works(platform):
    c = platform.client(session_lifetime=3600)
    r = c.post("/api/suppliers/login", json={"email": supplier_email(1), "password": supplier_password(1)})
    assert r.json()["expires_at"].endswith("Z")
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    assert c.get("/api/suppliers/me", headers=headers).status_code == 200
    with platform.engine.begin() as conn:
        conn.execute(update(m.sessions).values(created_at=m.utcnow_naive() - dt.timedelta(seconds=3601)))
    r = c.get("/api/suppliers/me", headers=headers)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert _upload(c, headers, b"bid").status_code == 401
    assert _upload(c, _login(c), b"bid").status_code == 201


def test_failed_logins_are_throttled_with_retry_after_and_good_logins_never_are(platform):
    c = platform.client(login_max_failures=3, login_window=600)
    for _ in range(20):  # a load test's logins succeed: nothing counts
        _login(c, 1)
    wrong = {"email": supplier_email(2), "password": "not-the-password"}
    assert [c.post("/api/suppliers/login", json=wrong).status_code for _ in range(3)] == [401] * 3
    right = {"email": supplier_email(2), "password": supplier_password(2)}
    r = c.post("/api/suppliers/login", json=right)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 600
    assert "too many failed logins" in r.json()["detail"]
    # Other accounts from the same address still log in: an address has 20 times an account's limit.
    _login(c, 3)
    elsewhere = platform.client(client_addr=("192.0.2.10", 40000), login_max_failures=3, login_window=600)
    assert elsewhere.post("/api/suppliers/login", json=right).status_code == 429  # the account is throttled
    _login(elsewhere, 3)
    # Many accounts tried from one address: the address is throttled, for every account.
    spray = platform.client(client_addr=("192.0.2.20", 40000), login_max_failures=3, login_window=600)
    for i in range(60):
        assert (
            spray.post("/api/suppliers/login", json={"email": f"x{i}@example.test", "password": "x"}).status_code == 401
        )
    assert spray.post("/api/suppliers/login", json={"email": supplier_email(3), "password": "x"}).status_code == 429


@pytest.mark.parametrize(
    "path", ["/%5Fadmin/fault", "/%5fadmin/fault", "/x/..%2F_admin/fault", "/_ADMIN/fault", "/_admin/fault/", "/admin"]
)
def test_the_app_refuses_every_other_spelling_of_the_admin_path(platform, path):
    c = platform.client()
    r = c.get(path, headers={"X-Admin-Token": ADMIN_TOKEN})
    assert r.status_code == 403, (path, r.status_code, r.text)
    assert _admin(c, "GET").status_code == 200  # the exact path, direct from loopback


def test_credit_codes_are_encrypted_at_rest_and_shown_to_the_owner_and_admin_only(platform):
    code = "91110000MA01ZXQW7K"
    c = platform.client()
    new = {"name": "审计有限公司", "email": "audit@example.test", "password": "long-enough", "credit_code": code}
    sid = c.post("/api/suppliers/register", json=new).json()["id"]
    token = c.post("/api/suppliers/login", json={"email": new["email"], "password": new["password"]}).json()["token"]
    owner = {"Authorization": f"Bearer {token}"}
    assert c.get("/api/suppliers/me", headers=owner).json()["credit_code"] == code
    assert c.get(f"/api/suppliers/{sid}", headers=owner).json()["credit_code"] == code
    assert c.get(f"/api/suppliers/{sid}").status_code == 401
    assert c.get(f"/api/suppliers/{sid}", headers=_login(c, 1)).status_code == 403
    assert c.get(f"/api/suppliers/{sid}", headers={"X-Admin-Token": ADMIN_TOKEN}).json()["credit_code"] == code
    seeded = c.get("/api/suppliers/me", headers=_login(c, 2)).json()["credit_code"]
    assert len(seeded) == 18

    with platform.engine.connect() as conn:
        stored = dict(conn.execute(select(m.suppliers.c.email, m.suppliers.c.credit_code)).all())
    assert all(v.startswith("v1:") for v in stored.values())
    assert code not in stored.values() and seeded not in stored.values()
    if platform.db_url.startswith("sqlite"):
        db_file = Path(platform.db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
        assert code.encode() not in raw and seeded.encode() not in raw
    key = platform.settings().key_path
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    assert key.read_text().strip().encode() not in raw if platform.db_url.startswith("sqlite") else True

    rows = [r for r in _access_log(platform) if r.action == "supplier.credit_code"]
    assert [(r.actor, r.outcome) for r in rows] == [
        (f"supplier:{sid}", "granted"),
        (f"supplier:{sid}", "granted"),
        ("supplier:1", "denied"),
        ("admin", "granted"),
        ("supplier:2", "granted"),
    ]
