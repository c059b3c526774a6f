"""The reference procurement platform: a FastAPI app (one per uvicorn worker).

Run it as ``uvicorn procops.sandbox.app:create_app --factory`` with the
``PROCOPS_SANDBOX_*`` environment of :mod:`procops.sandbox.settings`.

Endpoints (JSON; endpoint names are the ones of :data:`faults.ENDPOINTS`)::

    GET    /api/announcements?page=&size=      announcements.list    newest first, with the total
    GET    /api/announcements/search?q=        announcements.search  versions 1.1.0 and later
    GET    /api/announcements/{id}             announcements.detail  with its tender documents
    POST   /api/suppliers/register             suppliers.register    {name, email, password, credit_code}
    POST   /api/suppliers/login                suppliers.login       {email, password} -> {token}; 429 when throttled
    GET    /api/suppliers/me                   (suppliers.read)      the supplier's own record with its credit code
    GET    /api/suppliers/{id}                 (suppliers.read)      the same, for the supplier itself or an admin
    POST   /api/announcements/{id}/bids        bids.upload           multipart field "file", Bearer token; 409 after the deadline
    GET    /api/documents/{id}                 documents.download    the file, X-Content-SHA256 (bid files: see below)
    GET    /api/archive?page=&size=            archive.list          the historical archive (bids: the caller's own)
    GET    /api/dashboard                      dashboard             the regulator's counts
    GET    /healthz                            database check: 200 or 503
    GET    /metrics                            Prometheus exposition
    GET|PUT|DELETE /_admin/fault               the fault knob (loopback + X-Admin-Token)

Who may read what (the model an auditor checks, R9):

- **Tender documents** and announcements are public.
- **A bid file** is sealed: before the announcement's deadline only the supplier that
  uploaded it reads it (``Authorization: Bearer``); after the deadline also the platform
  admin, who opens the bids for the purchasing unit (``X-Admin-Token``, from a direct
  loopback connection, never through the load balancer). Anonymous: 401; another
  supplier: 403, before and after the deadline.
- **A supplier's credit code** is stored encrypted and decrypted only for the supplier
  itself or the admin.
- Every read of a bid file or of a credit code, granted or refused, is one line of the
  access log (:class:`procops.sandbox.secure.AccessLog`).
- Sessions expire after ``session_lifetime``; failed logins are throttled per e-mail and
  per client address (``login_max_failures`` within ``login_window``, then 429 with
  ``Retry-After``). The client address is the peer's, or the last ``X-Forwarded-For``
  entry when the peer is the local HAProxy.
- Any spelling of an admin path other than the exact ``/_admin/fault`` (``/%5Fadmin``,
  ``//_admin``, ``/_ADMIN``, ``/x/..%2f_admin`` ...) is refused with 403 before routing.

Request timing, the fault knob's latency and errors, and the version headers live
in one pure ASGI middleware (:class:`PlatformMiddleware`); database endpoints are
plain ``def`` functions (run in the threadpool) using SQLAlchemy Core.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import ipaddress
import json
import logging
import math
import os
import random
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, field_validator
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from procops.sandbox import models as m
from procops.sandbox.db import Database, DatabaseUnavailable, make_engine, pool_stats
from procops.sandbox.passwords import hash_password, verify_password
from procops.sandbox.secure import AccessLog, FieldCipher, forwarded_client, is_admin_path, load_or_create_key
from procops.sandbox.faults import ENDPOINTS, NO_FAULT, FaultState, parse_fault_specs
from procops.sandbox.settings import Settings
from procops.sandbox.store import DocumentStore, DocumentWriter, TooLarge

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

log = logging.getLogger("procops.sandbox")

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0)
BAD_RELEASE_FAILURE_RATE = 0.10
MAX_PAGE_SIZE = 100
# Multipart framing around the file (boundaries, part headers) is small; a body longer
# than the upload limit plus this can only hold a file over the limit.
MULTIPART_SLACK = 64 * 1024
MAX_FORM_FIELD = 64 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
# Supplier credit codes (统一社会信用代码 are 18 characters; older registration numbers and
# test data differ): letters, digits and hyphens, checked loosely on purpose.
CREDIT_CODE_PATTERN = r"^[0-9A-Z-]{6,64}$"
_BEARER = re.compile(r"^Bearer\s+([0-9a-f]{64})$", re.IGNORECASE)
_LOOPBACK_NAMES = {"localhost"}
_HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
_UNIT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
USER, PILOT, PROBE = "user", "pilot", "probe"  # the traffic label of http_request_duration_seconds
MAX_UNITS = 200  # distinct purchasing units counted by name (a district has far fewer)
_UNCOUNTED = frozenset({"/healthz", "/metrics"})  # health checks and scrapes carry no unit
# The one spelling of an admin path the app serves; every other spelling is refused.
_CANONICAL_ADMIN_PATHS = frozenset({"/_admin/fault"})


_DUMMY_HASH = hash_password("not a password", salt=b"\0" * 16)


# --------------------------------------------------------------------------- small helpers


def _iso(t: dt.datetime | None) -> str | None:
    """Stored times are naive UTC; the API writes them ISO 8601 with a Z."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t.isoformat() + "Z"


def _page(page: int, size: int, total: int, items: list) -> dict:
    return {"page": page, "size": size, "total": total, "pages": (total + size - 1) // size, "items": items}


def _safe_filename(raw: bytes | None) -> str:
    name = (raw or b"").decode("utf-8", errors="replace")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".")
    return name[:255] or "bid.bin"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- the platform


class FaultBox:
    """The current fault state: swapped whole, read without a lock."""

    def __init__(self) -> None:
        self.state: FaultState = NO_FAULT

    def database_down_for(self, endpoint: str) -> bool:
        return self.state.database_down_for(endpoint)


class Metrics:
    def __init__(self, settings: Settings, engine: Any) -> None:
        self.version = settings.version
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration by route template.",
            ["handler", "method", "code", "version", "traffic"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.unit_requests = Counter(
            "sandbox_unit_requests",
            "Requests carrying a purchasing unit (cookie procops_unit or header X-Purchasing-Unit), by unit: "
            "the share of a gray release's pilot units in all traffic.",
            ["unit"],
            registry=self.registry,
        )
        self._units: dict[str, Any] = {}
        self.uploads = Counter(
            "sandbox_uploads",
            "Bid file uploads by result (success: stored; failure: any other answer).",
            ["result", "version"],
            registry=self.registry,
        )
        self.upload_success = self.uploads.labels("success", settings.version)
        self.upload_failure = self.uploads.labels("failure", settings.version)
        Gauge(
            "sandbox_db_connections_in_use", "Database connections checked out of the pool.", registry=self.registry
        ).set_function(lambda: pool_stats(engine)[0])
        Gauge("sandbox_db_pool_size", "Size of the database connection pool.", registry=self.registry).set_function(
            lambda: pool_stats(engine)[1]
        )
        Gauge(
            "sandbox_info",
            "The platform version and replica of this process.",
            ["version", "replica"],
            registry=self.registry,
        ).labels(settings.version, settings.replica).set(1)
        self._children: dict[tuple[str, str, int, str], Any] = {}

    def observe(self, handler: str, method: str, code: int, seconds: float, traffic: str = USER) -> None:
        """One request; ``traffic``: ``user``, ``pilot`` (a pilot unit's, routed by the load balancer)
        or ``probe`` (a gray release's synthetic probe, kept out of the canary's comparisons)."""
        key = (handler, method, code, traffic)
        child = self._children.get(key)
        if child is None:
            child = self.duration.labels(handler, method, str(code), self.version, traffic)
            self._children[key] = child
        child.observe(seconds)

    def count_unit(self, unit: str) -> None:
        child = self._units.get(unit)
        if child is None:
            # bounded: a well-formed unit name, and at most MAX_UNITS of them (the rest is "other")
            if not _UNIT.fullmatch(unit) or len(self._units) >= MAX_UNITS:
                unit = "other"
            child = self._units.get(unit) or self.unit_requests.labels(unit)
            self._units[unit] = child
        child.inc()


class Platform:
    """Everything one app instance holds: settings, database, store, faults, metrics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.db_url, pool_size=settings.pool_size)
        self.faults = FaultBox()
        self.db = Database(self.engine, self.faults.database_down_for)
        self.store = DocumentStore(settings.docs_dir)
        self.metrics = Metrics(settings, self.engine)
        self.rng = random.Random()
        self.cipher = FieldCipher(load_or_create_key(settings.key_path))
        self.access_log = AccessLog(settings.access_log_path, settings.replica)

    def start(self) -> None:
        self.store.ensure()
        self.access_log.ensure()
        self.store.clean_incoming()
        try:
            m.create_schema(self.engine)
        except (OperationalError, DBAPIError) as e:
            # Start anyway: /healthz answers 503 until the database is back.
            log.warning("database unreachable at start, schema not checked: %s", type(e.orig).__name__)


# --------------------------------------------------------------------------- middleware


class PlatformMiddleware:
    """Timing and metrics, fault latency/errors, version headers: one pass per request."""

    _CACHE_MAX = 8192

    def __init__(self, app: Any, platform: Platform, fastapi_app: FastAPI) -> None:
        self.app = app
        self.platform = platform
        self.fastapi_app = fastapi_app
        s = platform.settings
        self.headers = [(b"x-platform-version", s.version.encode()), (b"x-platform-replica", s.replica.encode())]
        self._routes: list[tuple[Any, frozenset, str | None, str]] | None = None
        self._cache: dict[tuple[str, str], tuple[str | None, str]] = {}

    def _route_table(self) -> list[tuple[Any, frozenset, str | None, str]]:
        table = []
        routes: list[Any] = self.fastapi_app.routes  # a route with a path_regex has a name and a path
        for route in routes:
            regex = getattr(route, "path_regex", None)
            if regex is None:
                continue
            methods = frozenset(getattr(route, "methods", None) or ())
            name = route.name if route.name in ENDPOINTS else None
            label = ENDPOINTS.get(route.name) or getattr(route, "path_format", None) or route.path
            table.append((regex, methods, name, label))
        return table

    def resolve(self, method: str, path: str) -> tuple[str | None, str]:
        """(endpoint name or None, handler label) of a request; unknown routes -> 'other'."""
        key = (method, path)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if self._routes is None:
            self._routes = self._route_table()
        partial = None
        result: tuple[str | None, str] = (None, "other")
        for regex, methods, name, label in self._routes:
            if regex.match(path):
                if not methods or method in methods:
                    result = (name, label)
                    break
                if partial is None:
                    partial = (name, label)
        else:
            if partial is not None:
                result = partial
        if len(self._cache) >= self._CACHE_MAX:
            self._cache.clear()
        self._cache[key] = result
        return result

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method = scope["method"]
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if raw_path not in _CANONICAL_ADMIN_PATHS and (is_admin_path(raw_path) or is_admin_path(scope["path"])):
            await _drain(receive)
            await _send_json(send, 403, {"detail": "the admin path is not served here"}, self.headers)
            self.platform.metrics.observe("other", method if method in _HTTP_METHODS else "other", 403, 0.0)
            return
        name, label = self.resolve(method, scope["path"])
        traffic, unit = _traffic_and_unit(scope["headers"])
        if unit and label not in _UNCOUNTED:
            self.platform.metrics.count_unit(unit)
        status = 500
        started = False
        extra = self.headers

        async def send_with_headers(message: dict) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            fault = self.platform.faults.state
            if name is not None and fault is not NO_FAULT:
                delay = fault.latency_for(name)
                if delay:
                    await asyncio.sleep(delay)
                if fault.should_fail(name, self.platform.rng):
                    await _drain(receive)
                    await _send_json(send_with_headers, 500, {"detail": "internal server error (injected fault)"})
                    return
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error on %s %s", method, scope["path"])
            if started:
                raise
            await _send_json(send_with_headers, 500, {"detail": "internal server error"})
        finally:
            self.platform.metrics.observe(
                label, method if method in _HTTP_METHODS else "other", status, time.perf_counter() - start, traffic
            )
            if name == "bids.upload" and method == "POST":
                metrics = self.platform.metrics
                (metrics.upload_success if 200 <= status < 300 else metrics.upload_failure).inc()


def _traffic_and_unit(headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
    """Whose request this is (``probe``: ``X-Procops-Probe: true``, sent by a gray release's probe
    straight to a server; ``pilot``: ``X-Procops-Pilot: true``, set by the load balancer for the pilot
    map's units; else ``user``; the front end removes both headers from clients' requests) and the
    purchasing unit it carries (header ``X-Purchasing-Unit``, else cookie ``procops_unit``)."""
    pilot = probe = False
    unit, cookie = "", b""
    for k, v in headers:
        if k == b"x-procops-probe":
            probe = v == b"true"
        elif k == b"x-procops-pilot":
            pilot = v == b"true"
        elif k == b"x-purchasing-unit":
            unit = v.decode("latin-1").strip()
        elif k == b"cookie" and b"procops_unit=" in v:
            cookie = v
    if not unit and cookie:
        for part in cookie.decode("latin-1").split(";"):
            key, _sep, value = part.strip().partition("=")
            if key == "procops_unit":
                unit = value.strip().strip('"')
                break
    return (PROBE if probe else PILOT if pilot else USER), unit


async def _send_json(send: Any, status: int, data: dict, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(data, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Any, limit: int = DRAIN_LIMIT) -> None:
    """Read and discard a request body (up to ``limit``) so the client sees our answer."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


# --------------------------------------------------------------------------- request bodies


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=8, max_length=200)
    credit_code: str = Field(description="credit code, e.g. the 18-character unified social credit code")

    @field_validator("email")
    @classmethod
    def _lower_email(cls, v: str) -> str:
        return v.lower()

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, v: str) -> str:
        v = v.upper()
        if not re.match(CREDIT_CODE_PATTERN, v):
            raise ValueError(
                "credit_code must be the supplier's credit code: 6 to 64 letters, digits "
                "or hyphens (e.g. the 18-character unified social credit code)"
            )
        return v


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=200)


class FaultIn(BaseModel):
    """Either ``specs`` (``["latency=2500ms", "db=down"]``) or the state's fields."""

    model_config = ConfigDict(extra="forbid")

    specs: list[str] | None = None
    latency_s: float | None = None
    errors: float | None = None
    db_down: bool | None = None
    endpoint: str | None = None


# --------------------------------------------------------------------------- the app

_UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The platform app; ``settings`` default to :meth:`Settings.from_env`."""
    settings = settings or Settings.from_env()
    platform = Platform(settings)
    platform.start()
    db = platform.db
    store = platform.store
    a, sup, ses, doc, bid = m.announcements, m.suppliers, m.sessions, m.archive_documents, m.bids
    lf = m.login_failures

    app = FastAPI(
        title="District procurement platform (procops sandbox)",
        version=settings.version,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.platform = platform

    # ---------------------------------------------------------------- errors

    def _db_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DatabaseUnavailable):
            detail = str(exc)
        elif isinstance(exc, PoolTimeout):
            detail = "database unavailable: no free connection in the pool"
        else:
            detail = f"database unavailable: {type(getattr(exc, 'orig', exc)).__name__}"
        return JSONResponse({"detail": detail}, status_code=503)

    for exc_type in (DatabaseUnavailable, OperationalError, PoolTimeout):
        app.add_exception_handler(exc_type, _db_unavailable)

    @app.exception_handler(DBAPIError)
    def _dbapi_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return _db_unavailable(request, exc)
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": "internal server error (database)"}, status_code=500)

    # ---------------------------------------------------------------- announcements

    list_columns = (a.c.id, a.c.title, a.c.category, a.c.budget_cents, a.c.published_at, a.c.deadline_at)
    count_announcements = select(func.count()).select_from(a)

    def _announcement_items(rows: Any) -> list[dict]:
        return [
            {
                "id": r[0],
                "title": r[1],
                "category": r[2],
                "budget_cents": r[3],
                "published_at": _iso(r[4]),
                "deadline_at": _iso(r[5]),
            }
            for r in rows
        ]

    @app.get(ENDPOINTS["announcements.list"], name="announcements.list")
    def list_announcements(
        page: int = Query(1, ge=1, le=1_000_000), size: int = Query(20, ge=1, le=MAX_PAGE_SIZE)
    ) -> JSONResponse:
        stmt = (
            select(*list_columns).order_by(a.c.published_at.desc(), a.c.id.desc()).limit(size).offset((page - 1) * size)
        )
        with db.connect("announcements.list") as conn:
            total = conn.execute(count_announcements).scalar_one()
            rows = conn.execute(stmt).all()
        return JSONResponse(_page(page, size, total, _announcement_items(rows)))

    if settings.has_search:

        @app.get(ENDPOINTS["announcements.search"], name="announcements.search")
        def search_announcements(
            q: str = Query(..., min_length=1, max_length=100),
            page: int = Query(1, ge=1, le=1_000_000),
            size: int = Query(20, ge=1, le=MAX_PAGE_SIZE),
        ) -> JSONResponse:
            term = q.strip()
            if not term:
                raise HTTPException(422, "q must not be blank")
            escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where = a.c.title.ilike(f"%{escaped}%", escape="\\")
            stmt = (
                select(*list_columns)
                .where(where)
                .order_by(a.c.published_at.desc(), a.c.id.desc())
                .limit(size)
                .offset((page - 1) * size)
            )
            with db.connect("announcements.search") as conn:
                total = conn.execute(select(func.count()).select_from(a).where(where)).scalar_one()
                rows = conn.execute(stmt).all()
            result = _page(page, size, total, _announcement_items(rows))
            result["q"] = term
            return JSONResponse(result)

    @app.get("/api/announcements/{id:int}", name="announcements.detail")
    def announcement_detail(id: int) -> JSONResponse:
        with db.connect("announcements.detail") as conn:
            row = conn.execute(select(a).where(a.c.id == id)).first()
            if row is None:
                raise HTTPException(404, f"announcement {id} not found")
            docs = conn.execute(
                select(doc.c.id, doc.c.filename, doc.c.sha256, doc.c.size)
                .where(doc.c.announcement_id == id, doc.c.kind == "tender")
                .order_by(doc.c.id)
            ).all()
        documents = [{"id": d[0], "filename": d[1], "sha256": d[2], "size": d[3]} for d in docs]
        return JSONResponse(
            {
                "id": row.id,
                "title": row.title,
                "category": row.category,
                "body": row.body,
                "budget_cents": row.budget_cents,
                "published_at": _iso(row.published_at),
                "deadline_at": _iso(row.deadline_at),
                "document_ids": [d["id"] for d in documents],
                "documents": documents,
            }
        )

    # ---------------------------------------------------------------- suppliers

    @app.post(ENDPOINTS["suppliers.register"], name="suppliers.register", status_code=201)
    def register(body: RegisterIn) -> JSONResponse:
        password_hash = hash_password(body.password)
        try:
            with db.begin("suppliers.register") as conn:
                result = conn.execute(
                    insert(sup).values(
                        name=body.name,
                        email=body.email,
                        credit_code=platform.cipher.encrypt(body.credit_code, body.email),
                        password_hash=password_hash,
                        created_at=m.utcnow_naive(),
                    )
                )
                supplier_id = result.inserted_primary_key[0]  # type: ignore[index]  # Optional only for executemany; one row here
        except IntegrityError:
            raise HTTPException(409, f"a supplier with email {body.email} is already registered") from None
        return JSONResponse({"id": supplier_id, "name": body.name, "email": body.email}, status_code=201)

    window = dt.timedelta(seconds=settings.login_window)
    ADDRESS_FACTOR = 20  # failed logins from one address, in units of an account's limit

    @app.post(ENDPOINTS["suppliers.login"], name="suppliers.login")
    def login(body: LoginIn, request: Request) -> JSONResponse:
        email = body.email.lower()
        keys = [f"email:{email}"[:300], f"ip:{_client(request)}"[:300]]
        now = m.utcnow_naive()
        with db.connect("suppliers.login") as conn:
            failures = conn.execute(
                select(lf.c.key, func.count(), func.min(lf.c.at))
                .where(lf.c.key.in_(keys), lf.c.at > now - window)
                .group_by(lf.c.key)
            ).all()
            # an account: login_max_failures; an address (an office behind one NAT, a load generator):
            # ADDRESS_FACTOR times as many, so one mistyped password never locks out the others
            blocked = [
                first
                for key, n, first in failures
                if n >= settings.login_max_failures * (ADDRESS_FACTOR if key.startswith("ip:") else 1)
            ]
            if blocked:
                retry = max(1, math.ceil((max(blocked) + window - now).total_seconds()))
                raise HTTPException(
                    429,
                    f"too many failed logins ({settings.login_max_failures} within "
                    f"{settings.login_window:g} s) for this account or address: try again in {retry} s",
                    headers={"Retry-After": str(retry)},
                )
            row = conn.execute(select(sup.c.id, sup.c.password_hash).where(sup.c.email == email)).first()
        if row is None:
            verify_password(body.password, _DUMMY_HASH)  # same work whether the email exists or not
            ok = False
        else:
            ok = verify_password(body.password, row.password_hash)
        if not ok or row is None:
            with db.begin("suppliers.login") as conn:
                conn.execute(delete(lf).where(lf.c.at <= now - window))
                conn.execute(insert(lf), [{"key": k, "at": now} for k in keys])
            raise HTTPException(401, "wrong email or password")
        token = secrets.token_hex(32)
        with db.begin("suppliers.login") as conn:
            conn.execute(delete(lf).where(lf.c.key == keys[0]))
            conn.execute(insert(ses).values(token=token, supplier_id=row.id, created_at=now))
        return JSONResponse(
            {
                "token": token,
                "supplier_id": row.id,
                "token_type": "bearer",
                "expires_at": _iso(now + dt.timedelta(seconds=settings.session_lifetime)),
            }
        )

    def _client(request: Request) -> str | None:
        peer = request.client.host if request.client else None
        return forwarded_client(peer, request.headers.get("x-forwarded-for"), _is_loopback(peer))

    def _session(authorization: str | None, endpoint: str, *, required: bool = True) -> int | None:
        """The supplier of a valid, unexpired token; 401 otherwise (None when not ``required``
        and no token was sent)."""
        match = _BEARER.match(authorization.strip()) if authorization else None
        if match is None:
            if not required and not authorization:
                return None
            raise HTTPException(
                401,
                "log in first: send 'Authorization: Bearer <token>' from /api/suppliers/login",
                headers={"WWW-Authenticate": "Bearer"},
            )
        with db.connect(endpoint) as conn:
            row = conn.execute(
                select(ses.c.supplier_id, ses.c.created_at).where(ses.c.token == match.group(1).lower())
            ).first()
        if row is None:
            raise HTTPException(401, "the token is not valid: log in again", headers={"WWW-Authenticate": "Bearer"})
        if row.created_at + dt.timedelta(seconds=settings.session_lifetime) <= m.utcnow_naive():
            with db.begin(endpoint) as conn:
                conn.execute(delete(ses).where(ses.c.token == match.group(1).lower()))
            raise HTTPException(
                401, "the session expired: log in again", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return row.supplier_id

    def _is_admin(request: Request, token: str | None) -> bool:
        try:
            _admin(request, token)
        except HTTPException:
            return False
        return True

    def _audit(request: Request, actor: str, action: str, subject: str, outcome: str) -> None:
        try:
            platform.access_log.write(
                actor=actor, action=action, subject=subject, outcome=outcome, client=_client(request)
            )
        except OSError as e:
            log.error("access log %s not written: %s", platform.access_log.path, e)

    def _supplier_record(request: Request, supplier_id: int, actor: str) -> JSONResponse:
        with db.connect("suppliers.read") as conn:
            row = conn.execute(
                select(sup.c.id, sup.c.name, sup.c.email, sup.c.credit_code, sup.c.created_at).where(
                    sup.c.id == supplier_id
                )
            ).first()
        if row is None:
            raise HTTPException(404, f"supplier {supplier_id} not found")
        try:
            credit_code = platform.cipher.decrypt(row.credit_code, row.email)
        except ValueError as e:
            log.error("credit code of supplier %s unreadable: %s", supplier_id, e)
            _audit(request, actor, "supplier.credit_code", f"supplier:{supplier_id}", "error")
            raise HTTPException(500, f"the credit code of supplier {supplier_id} does not decrypt") from None
        _audit(request, actor, "supplier.credit_code", f"supplier:{supplier_id}", "granted")
        return JSONResponse(
            {
                "id": row.id,
                "name": row.name,
                "email": row.email,
                "credit_code": credit_code,
                "created_at": _iso(row.created_at),
            }
        )

    @app.get("/api/suppliers/me", name="suppliers.me")
    def supplier_me(request: Request, authorization: str | None = Header(None)) -> JSONResponse:
        supplier_id = _session(authorization, "suppliers.read")
        assert supplier_id is not None  # required=True
        return _supplier_record(request, supplier_id, f"supplier:{supplier_id}")

    @app.get("/api/suppliers/{id:int}", name="suppliers.read")
    def supplier_read(
        id: int,
        request: Request,
        authorization: str | None = Header(None),
        x_admin_token: str | None = Header(None),
    ) -> JSONResponse:
        if x_admin_token is not None:
            if not _is_admin(request, x_admin_token):
                _audit(request, "anonymous", "supplier.credit_code", f"supplier:{id}", "denied")
                raise HTTPException(403, "wrong X-Admin-Token, or not a direct loopback connection")
            return _supplier_record(request, id, "admin")
        supplier_id = _session(authorization, "suppliers.read")
        if supplier_id != id:
            _audit(request, f"supplier:{supplier_id}", "supplier.credit_code", f"supplier:{id}", "denied")
            raise HTTPException(403, "a supplier's record is readable by that supplier and the admin only")
        return _supplier_record(request, id, f"supplier:{id}")

    # ---------------------------------------------------------------- bids

    def _bidder_for(authorization: str | None, announcement_id: int) -> int:
        """The supplier of a valid token (else 401), when the announcement exists (else 404)
        and is still open (else 409)."""
        supplier_id = _session(authorization, "bids.upload")
        assert supplier_id is not None  # required=True
        with db.connect("bids.upload") as conn:
            deadline = conn.execute(select(a.c.deadline_at).where(a.c.id == announcement_id)).scalar()
        if deadline is None:
            raise HTTPException(404, f"announcement {announcement_id} not found")
        if m.utcnow_naive() >= deadline:
            raise HTTPException(
                409, f"announcement {announcement_id} closed at {_iso(deadline)}: bids are no longer accepted"
            )
        return supplier_id

    def _record_bid(
        announcement_id: int, supplier_id: int, filename: str, sha256: str, size: int, path: str
    ) -> tuple[int, int]:
        now = m.utcnow_naive()
        with db.begin("bids.upload") as conn:
            document_id = conn.execute(
                insert(doc).values(
                    kind="bid",
                    announcement_id=announcement_id,
                    supplier_id=supplier_id,
                    filename=filename,
                    sha256=sha256,
                    size=size,
                    storage_path=path,
                    created_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]  # Optional only for executemany; one row here
            bid_id = conn.execute(
                insert(bid).values(
                    announcement_id=announcement_id, supplier_id=supplier_id, document_id=document_id, submitted_at=now
                )
            ).inserted_primary_key[0]  # type: ignore[index]  # Optional only for executemany; one row here
        return bid_id, document_id

    too_large = (
        f"the bid file is larger than the maximum upload size of {settings.max_upload} bytes "
        f"({settings.max_upload / 1024 / 1024:.1f} MiB)"
    )

    @app.post("/api/announcements/{id:int}/bids", name="bids.upload", status_code=201, openapi_extra=_UPLOAD_OPENAPI)
    async def upload_bid(id: int, request: Request, authorization: str | None = Header(None)) -> JSONResponse:
        supplier_id = await run_in_threadpool(_bidder_for, authorization, id)
        if settings.flaky_uploads and platform.rng.random() < BAD_RELEASE_FAILURE_RATE:
            # The bad release's bug: the upload fails before anything is stored.
            await _drain(request.receive)
            return JSONResponse({"detail": "internal server error"}, status_code=500)

        ctype, params = parse_options_header(request.headers.get("content-type"))
        boundary = params.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            raise HTTPException(422, "send the bid file as multipart/form-data in the field 'file'")
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_upload + MULTIPART_SLACK:
            raise HTTPException(413, too_large)

        upload = _MultipartUpload(store, settings.max_upload)
        try:
            parser = MultipartParser(boundary, upload.callbacks())
            async for chunk in request.stream():
                if chunk:
                    parser.write(chunk)
                if upload.finished:
                    break
            parser.finalize()
        except TooLarge:
            upload.abort()
            raise HTTPException(413, too_large) from None
        except _FieldTooLarge:
            upload.abort()
            raise HTTPException(413, "a form field other than 'file' is too large") from None
        except Exception as e:
            upload.abort()
            if isinstance(e, HTTPException):
                raise
            raise HTTPException(422, f"malformed multipart body: {e}") from None
        if upload.writer is None:
            upload.abort()
            raise HTTPException(422, "the multipart body has no field 'file' holding the bid file")
        if upload.writer.size == 0:
            upload.abort()
            raise HTTPException(422, "the bid file is empty (0 bytes): choose the file again")
        writer = upload.writer
        try:
            stored = await run_in_threadpool(writer.commit)
        finally:
            upload.abort()
        bid_id, document_id = await run_in_threadpool(
            _record_bid, id, supplier_id, upload.filename, stored.sha256, stored.size, stored.storage_path
        )
        return JSONResponse(
            {
                "bid_id": bid_id,
                "document_id": document_id,
                "sha256": stored.sha256,
                "size": stored.size,
                "filename": upload.filename,
            },
            status_code=201,
        )

    # ---------------------------------------------------------------- documents and archive

    def _bid_reader(request: Request, authorization: str | None, admin_token: str | None, row: Any) -> str:
        """Who reads this bid file (the access log's actor), or 401/403: see the module's model."""
        subject = f"document:{row.id}"
        if admin_token is not None:
            if not _is_admin(request, admin_token):
                _audit(request, "anonymous", "bid.read", subject, "denied")
                raise HTTPException(403, "wrong X-Admin-Token, or not a direct loopback connection")
            if m.utcnow_naive() < row.deadline_at:
                _audit(request, "admin", "bid.read", subject, "denied")
                raise HTTPException(
                    403, f"bid files are sealed until the announcement's deadline ({_iso(row.deadline_at)})"
                )
            return "admin"
        if not authorization:
            _audit(request, "anonymous", "bid.read", subject, "denied")
        supplier_id = _session(authorization, "documents.download")
        actor = f"supplier:{supplier_id}"
        if supplier_id != row.supplier_id:
            _audit(request, actor, "bid.read", subject, "denied")
            raise HTTPException(403, "a bid file is readable only by the supplier that uploaded it")
        return actor

    @app.get("/api/documents/{id:int}", name="documents.download")
    def download(
        id: int, request: Request, authorization: str | None = Header(None), x_admin_token: str | None = Header(None)
    ) -> Response:
        with db.connect("documents.download") as conn:
            row = conn.execute(
                select(
                    doc.c.id,
                    doc.c.kind,
                    doc.c.supplier_id,
                    doc.c.filename,
                    doc.c.sha256,
                    doc.c.size,
                    doc.c.storage_path,
                    a.c.deadline_at,
                )
                .join(a, a.c.id == doc.c.announcement_id)
                .where(doc.c.id == id)
            ).first()
        if row is None:
            raise HTTPException(404, f"document {id} not found")
        if row.kind == "bid":
            actor = _bid_reader(request, authorization, x_admin_token, row)
            _audit(request, actor, "bid.read", f"document:{row.id}", "granted")
        path = store.root / row.storage_path
        if not path.is_file():
            log.error("document %s (%s) is missing from the documents store", id, row.storage_path)
            return JSONResponse(
                {"detail": f"document {id} is in the archive but its file is missing from the documents store"},
                status_code=500,
            )
        return FileResponse(
            path, media_type="application/octet-stream", filename=row.filename, headers={"X-Content-SHA256": row.sha256}
        )

    @app.get(ENDPOINTS["archive.list"], name="archive.list")
    def archive(
        request: Request,
        page: int = Query(1, ge=1, le=1_000_000),
        size: int = Query(20, ge=1, le=MAX_PAGE_SIZE),
        kind: str | None = Query(None, pattern="^(tender|bid)$"),
        authorization: str | None = Header(None),
        x_admin_token: str | None = Header(None),
    ) -> JSONResponse:
        count = select(func.count()).select_from(doc)
        stmt_filter = None
        if not (x_admin_token is not None and _is_admin(request, x_admin_token)):
            # Bid rows are listed to their own supplier (and the admin) only.
            own = _session(authorization, "archive.list", required=False)
            stmt_filter = (
                doc.c.kind == "tender" if own is None else or_(doc.c.kind == "tender", doc.c.supplier_id == own)
            )
            count = count.where(stmt_filter)
        stmt = select(
            doc.c.id,
            doc.c.kind,
            doc.c.announcement_id,
            doc.c.supplier_id,
            doc.c.filename,
            doc.c.sha256,
            doc.c.size,
            doc.c.storage_path,
            doc.c.created_at,
        )
        if stmt_filter is not None:
            stmt = stmt.where(stmt_filter)
        if kind:
            count = count.where(doc.c.kind == kind)
            stmt = stmt.where(doc.c.kind == kind)
        stmt = stmt.order_by(doc.c.id).limit(size).offset((page - 1) * size)
        with db.connect("archive.list") as conn:
            total = conn.execute(count).scalar_one()
            rows = conn.execute(stmt).all()
        items = [
            {
                "id": r.id,
                "kind": r.kind,
                "announcement_id": r.announcement_id,
                "supplier_id": r.supplier_id,
                "filename": r.filename,
                "sha256": r.sha256,
                "size": r.size,
                "storage_path": r.storage_path,
                "created_at": _iso(r.created_at),
            }
            for r in rows
        ]
        return JSONResponse(_page(page, size, total, items))

    @app.get(ENDPOINTS["dashboard"], name="dashboard")
    def dashboard() -> JSONResponse:
        bids_count = func.count(bid.c.id).label("bids")
        with db.connect("dashboard") as conn:
            counts: dict[str, Any] = {
                "announcements": conn.execute(select(func.count()).select_from(a)).scalar_one(),
                "suppliers": conn.execute(select(func.count()).select_from(sup)).scalar_one(),
                # the seeded logins supplier-1 .. supplier-N (load tests log in as them; suppliers
                # who registered themselves are counted above but have other e-mails)
                "seeded_suppliers": conn.execute(
                    select(func.count()).select_from(sup).where(sup.c.email.like("supplier-%@example.test"))
                ).scalar_one(),
                "bids": conn.execute(select(func.count()).select_from(bid)).scalar_one(),
            }
            documents, stored = conn.execute(select(func.count(), func.coalesce(func.sum(doc.c.size), 0))).one()
            top = conn.execute(
                select(a.c.id, a.c.title, bids_count)
                .join(bid, bid.c.announcement_id == a.c.id)
                .group_by(a.c.id, a.c.title)
                .order_by(bids_count.desc(), a.c.id)
                .limit(10)
            ).all()
        counts.update(documents=documents, bytes_stored=int(stored))
        counts["bids_per_announcement_top10"] = [{"announcement_id": r[0], "title": r[1], "bids": r[2]} for r in top]
        counts["version"] = settings.version
        return JSONResponse(counts)

    # ---------------------------------------------------------------- probes

    @app.get("/healthz", name="healthz")
    def healthz() -> JSONResponse:
        try:
            with db.connect("healthz") as conn:
                conn.exec_driver_sql("SELECT 1").scalar()
        except (DatabaseUnavailable, DBAPIError, PoolTimeout) as e:
            detail = (
                str(e)
                if isinstance(e, DatabaseUnavailable)
                else f"database unavailable: {type(getattr(e, 'orig', None) or e).__name__}"
            )
            return JSONResponse(
                {"status": "unavailable", "version": settings.version, "replica": settings.replica, "detail": detail},
                status_code=503,
            )
        return JSONResponse({"status": "ok", "version": settings.version, "replica": settings.replica})

    @app.get("/metrics", name="metrics")
    async def metrics() -> Response:
        return Response(generate_latest(platform.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ---------------------------------------------------------------- the fault knob

    def _admin(request: Request, token: str | None) -> None:
        client = request.client.host if request.client else None
        if not _is_loopback(client) or "x-forwarded-for" in request.headers:
            raise HTTPException(403, "the admin API answers direct loopback clients only")
        token_file = settings.admin_token_file
        if token_file is None:
            raise HTTPException(403, "the admin API is off: PROCOPS_SANDBOX_ADMIN_TOKEN_FILE is not set")
        try:
            expected = _read_token(token_file)
        except (OSError, ValueError) as e:
            log.error("admin token file %s unusable: %s", token_file, e)
            raise HTTPException(403, "the admin token file is unreadable") from None
        if not token or not hmac.compare_digest(token.encode(), expected.encode()):
            raise HTTPException(403, "wrong or missing X-Admin-Token")

    def _fault_answer() -> JSONResponse:
        return JSONResponse(
            {
                "fault": platform.faults.state.to_dict(),
                "version": settings.version,
                "replica": settings.replica,
                "endpoints": ENDPOINTS,
            }
        )

    @app.get("/_admin/fault", name="admin.fault.get")
    async def get_fault(request: Request, x_admin_token: str | None = Header(None)) -> JSONResponse:
        _admin(request, x_admin_token)
        return _fault_answer()

    @app.put("/_admin/fault", name="admin.fault.put")
    async def put_fault(body: FaultIn, request: Request, x_admin_token: str | None = Header(None)) -> JSONResponse:
        _admin(request, x_admin_token)
        fields = body.model_dump(exclude_none=True, exclude={"specs"})
        try:
            if body.specs is not None:
                state = parse_fault_specs(body.specs)
                if "endpoint" in fields:
                    if state["endpoint"] is not None and state["endpoint"] != fields["endpoint"]:
                        raise ValueError("endpoint given twice with different values")
                    state["endpoint"] = fields.pop("endpoint")
                if fields:
                    raise ValueError(f"give either specs or fields, not both ({', '.join(fields)})")
            else:
                state = fields
            new = FaultState.from_dict(state)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        platform.faults.state = new if new.active else NO_FAULT
        log.warning("fault set on replica %s: %s", settings.replica, new.to_dict())
        return _fault_answer()

    @app.delete("/_admin/fault", name="admin.fault.delete")
    async def delete_fault(request: Request, x_admin_token: str | None = Header(None)) -> JSONResponse:
        _admin(request, x_admin_token)
        platform.faults.state = NO_FAULT
        log.warning("fault cleared on replica %s", settings.replica)
        return _fault_answer()

    app.add_middleware(PlatformMiddleware, platform=platform, fastapi_app=app)
    return app


def _read_token(path: Path) -> str:
    st = os.stat(path)
    if st.st_mode & 0o077:
        raise ValueError(f"mode {oct(st.st_mode & 0o777)} lets group or others read it (chmod 600)")
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ValueError("it is empty")
    return token


# --------------------------------------------------------------------------- multipart streaming


class _FieldTooLarge(ValueError):
    pass


class _MultipartUpload:
    """Callbacks of the streaming multipart parser: the part 'file' goes to the store.

    Nothing is buffered beyond one chunk: the file's bytes are hashed and written to
    the store's temporary file as they arrive; other small fields are ignored.
    """

    def __init__(self, store: DocumentStore, max_size: int) -> None:
        self.store = store
        self.max_size = max_size
        self.writer: DocumentWriter | None = None
        self.filename = "bid.bin"
        self.finished = False
        self._in_file = False
        self._other = 0
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._in_file = False
        self._field = self._value = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if params.get(b"name") == b"file" and self.writer is None:
            self.writer = self.store.writer(max_size=self.max_size)
            self.filename = _safe_filename(params.get(b"filename"))
            self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            assert self.writer is not None  # _in_file is set with the writer
            self.writer.write(memoryview(data)[start:end])
        else:
            self._other += end - start
            if self._other > MAX_FORM_FIELD:
                raise _FieldTooLarge()

    def _part_end(self) -> None:
        self._in_file = False

    def _end(self) -> None:
        self.finished = True

    def abort(self) -> None:
        """Remove the temporary file unless it was committed (then this does nothing)."""
        if self.writer is not None:
            self.writer.abort()
