"""Procurement-platform personas for Locust: suppliers at an announcement peak, and regulators.

Run by ``procops loadtest`` (which adds :mod:`procops.loadtests.plugin`, the raw-sample
recorder, and :mod:`procops.loadtests.shape`, the stages), or by hand::

    locust -f loadtests/locustfile.py --headless -u 20 -r 5 -t 60s --host http://127.0.0.1:18080

Settings come from ``$PROCOPS_LOADTEST_SCENARIO`` (JSON of
:class:`procops.loadtests.scenario.Scenario`; the defaults when unset). Every
request is named after the platform's endpoint (``announcements.list``,
``bids.upload`` ...), so the statistics, the SLO rows and the sandbox's fault
knob speak the same names.

Bids go only to announcements still open (``deadline_at`` more than
:data:`DEADLINE_MARGIN_S` ahead): the platform refuses uploads after the deadline
(409), and the seeded data holds closed announcements too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random

from locust import FastHttpUser, between

from procops.loadtests.scenario import Scenario, multipart_body, upload_size

SCENARIO = Scenario.from_env()
PAGE_SIZE = 20
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SEARCH_TERMS = ("采购", "工程", "服务", "设备", "教育局", "医院", "信息化", "物业", "维修", "档案")

DEADLINE_MARGIN_S = 300

_PAYLOAD: bytes | None = None


def _is_open(item: dict) -> bool:
    """Whether an announcement's deadline is far enough ahead to upload a bid to it."""
    try:
        deadline = dt.datetime.fromisoformat(str(item["deadline_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return False
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=dt.UTC)
    return deadline > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=DEADLINE_MARGIN_S)


def _payload() -> bytes:
    """One random buffer per process; each upload takes a slice of it behind a unique prefix."""
    global _PAYLOAD
    if _PAYLOAD is None:
        _PAYLOAD = os.urandom(SCENARIO.upload_size_max)
    return _PAYLOAD


def _json(resp):
    try:
        return resp.json()
    except Exception:  # noqa: BLE001 - any undecodable body is a failed page
        return None


class _PlatformUser(FastHttpUser):
    abstract = True
    wait_time = between(SCENARIO.think_time_min, SCENARIO.think_time_max)
    network_timeout = SCENARIO.request_timeout
    connection_timeout = min(10.0, SCENARIO.request_timeout)

    def get_page(self, path: str, name: str, key: str, params: dict | None = None):
        """GET a JSON page; a non-200 answer or a body without ``key`` is a failure."""
        with self.client.get(path, name=name, params=params, catch_response=True) as resp:
            body = _json(resp) if resp.status_code == 200 else None
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
                return None
            if not isinstance(body, dict) or key not in body:
                resp.failure(f"no '{key}' in the answer")
                return None
            resp.success()
            return body


class SupplierUser(_PlatformUser):
    """A supplier at an announcement peak: logs in, browses, searches, downloads, bids."""

    weight = SCENARIO.supplier_weight
    abstract = SCENARIO.supplier_weight == 0

    def on_start(self) -> None:
        self.number = random.randint(1, SCENARIO.suppliers) if SCENARIO.suppliers else 0
        self.credentials: dict | None = None
        self.token: str | None = None
        self.announcement_ids: list[int] = []
        self.open_ids: list[int] = []
        self.titles: list[str] = []
        self.document_ids: list[int] = []
        self.login()

    def login(self) -> None:
        if self.number:
            creds = {"email": f"supplier-{self.number}@example.test", "password": f"password-{self.number}"}
        else:  # no seeded accounts on this platform: register one first
            if self.credentials is None:
                self.credentials = self.register()
                if self.credentials is None:
                    return
            creds = self.credentials
        with self.client.post("/api/suppliers/login", json=creds, name="suppliers.login", catch_response=True) as resp:
            body = _json(resp) if resp.status_code == 200 else None
            if isinstance(body, dict) and body.get("token"):
                self.token = body["token"]
                resp.success()
            else:
                self.token = None
                resp.failure(f"login failed: HTTP {resp.status_code}")

    # ---------------------------------------------------------------- tasks
    def register(self) -> dict | None:
        """A new supplier registers; returns its login when the platform accepted it."""
        tag = os.urandom(6).hex()
        code = "".join(random.choice(CREDIT_ALPHABET) for _ in range(18))
        data = {
            "name": f"压力测试供应商{tag}有限公司",
            "email": f"new-{tag}@example.test",
            "password": f"pw-{tag}-{tag}",
            "credit_code": code,
        }
        with self.client.post(
            "/api/suppliers/register", json=data, name="suppliers.register", catch_response=True
        ) as resp:
            if resp.status_code == 201:
                resp.success()
                return {"email": data["email"], "password": data["password"]}
            resp.failure(f"HTTP {resp.status_code}")
            return None

    def browse(self) -> None:
        pages = max(1, -(-SCENARIO.announcements // PAGE_SIZE))
        # most suppliers look at the newest announcements, some page further back
        page = 1 if random.random() < 0.6 else random.randint(1, pages)
        body = self.get_page(
            "/api/announcements", "announcements.list", "items", params={"page": page, "size": PAGE_SIZE}
        )
        if body:
            items = [i for i in body["items"] if isinstance(i, dict) and "id" in i]
            self.announcement_ids = [i["id"] for i in items] or self.announcement_ids
            self.open_ids = [i["id"] for i in items if _is_open(i)] or self.open_ids
            self.titles = [str(i.get("title", "")) for i in items] or self.titles

    def detail(self, open_only: bool = False) -> int | None:
        if not (self.open_ids if open_only else self.announcement_ids):
            self.browse()
        ids = self.open_ids if open_only else self.announcement_ids
        if not ids:
            return None
        aid = random.choice(ids)
        body = self.get_page(f"/api/announcements/{aid}", "announcements.detail", "id")
        if body:
            docs = body.get("document_ids") or []
            if docs:
                self.document_ids = list(docs)
        return aid

    def search(self) -> None:
        term = random.choice(SEARCH_TERMS)
        if self.titles and random.random() < 0.5:
            title = random.choice(self.titles)
            if len(title) >= 4:
                start = random.randrange(0, len(title) - 3)
                term = title[start : start + 4]
        self.get_page(
            "/api/announcements/search",
            "announcements.search",
            "items",
            params={"q": term, "page": 1, "size": PAGE_SIZE},
        )

    def download(self) -> None:
        if not self.document_ids:
            self.detail()
        if not self.document_ids:
            return
        doc = random.choice(self.document_ids)
        with self.client.get(f"/api/documents/{doc}", name="documents.download", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
                return
            want = resp.headers.get("X-Content-SHA256") if resp.headers else None
            if want and hashlib.sha256(resp.content or b"").hexdigest() != want.lower():
                resp.failure("downloaded document does not match its sha256")
                return
            resp.success()

    def bid(self) -> None:
        """Read an open announcement, download its tender document, upload a bid file."""
        aid = self.detail(open_only=True)
        if aid is None:
            return
        if self.document_ids:
            self.download()
        if self.token is None:
            self.login()
            if self.token is None:
                return
        size = upload_size(
            random.random(), SCENARIO.upload_size_min, SCENARIO.upload_size_max, SCENARIO.upload_size_distribution
        )
        content = os.urandom(16) + _payload()[: max(0, size - 16)]
        digest = hashlib.sha256(content).hexdigest()
        body, ctype = multipart_body(f"bid-{self.number}-{digest[:8]}.pdf", content, os.urandom(12).hex())
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": ctype}
        with self.client.post(
            f"/api/announcements/{aid}/bids",
            data=body,  # type: ignore[arg-type]  # FastHttpSession sends bytes as they are; its annotation omits bytes
            headers=headers,
            name="bids.upload",
            catch_response=True,
        ) as resp:
            if resp.status_code != 201:
                if resp.status_code == 401:
                    self.token = None  # log in again next time
                resp.failure(f"HTTP {resp.status_code}")
                return
            answer = _json(resp)
            if not isinstance(answer, dict) or answer.get("sha256") != digest:
                resp.failure("the platform stored a different file than was sent")
                return
            resp.success()

    tasks = {  # type: ignore[assignment]  # locust takes a dict of task: weight; User.tasks is annotated as a list
        fn: w
        for fn, w in (
            (browse, SCENARIO.supplier_tasks.get("browse", 0)),
            (detail, SCENARIO.supplier_tasks.get("detail", 0)),
            (search, SCENARIO.supplier_tasks.get("search", 0) if SCENARIO.search else 0),
            (download, SCENARIO.supplier_tasks.get("download", 0)),
            (bid, SCENARIO.supplier_tasks.get("bid", 0)),
            (register, SCENARIO.supplier_tasks.get("registration", 0)),
        )
        if w > 0
    } or {browse: 1}


class RegulatorUser(_PlatformUser):
    """A regulator or purchasing unit supervising: the dashboard and the historical archive."""

    weight = SCENARIO.regulator_weight
    abstract = SCENARIO.regulator_weight == 0

    def dashboard(self) -> None:
        self.get_page("/api/dashboard", "dashboard", "announcements")

    def archive(self) -> None:
        page = random.randint(1, 5)
        self.get_page("/api/archive", "archive.list", "items", params={"page": page, "size": PAGE_SIZE})

    tasks = {  # type: ignore[assignment]  # locust takes a dict of task: weight; User.tasks is annotated as a list
        fn: w
        for fn, w in (
            (dashboard, SCENARIO.regulator_tasks.get("dashboard", 0)),
            (archive, SCENARIO.regulator_tasks.get("archive", 0)),
        )
        if w > 0
    } or {dashboard: 1}
