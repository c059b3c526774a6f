"""Deterministic seed data of the sandbox platform.

The same ``seed`` gives the same announcements, suppliers and document contents
(hence the same sha256 list), so backups, restores and integrity checks can be
compared across runs. Seeding is idempotent: when announcements exist, nothing is
written and the counts found are returned.

Seeded suppliers log in with a documented account (for load tests)::

    email    supplier-{i}@example.test     i = 1 .. suppliers
    password password-{i}

Seeded documents are ``tender`` documents attached to the announcements
round-robin, stored in the documents store and recorded in ``archive_documents``.

Times are relative to the seeding time, so the platform always holds both kinds of
announcement: every fourth one (ids 4, 8, 12 ...) is **closed** (its deadline passed 1 to
30 days before seeding: uploads are refused, its bids may be opened), the others are
**open** (deadline 2 to 45 days after seeding: load tests and drills upload to them).
The order of announcements and the document contents do not depend on the seeding time.

Credit codes are stored encrypted with the data key (``keys/data.key`` next to the
documents store, made on first use; see :mod:`procops.sandbox.secure`).
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from procops.sandbox import models as m
from procops.sandbox.passwords import hash_password
from procops.sandbox.secure import FieldCipher, key_file_for, load_or_create_key
from procops.sandbox.store import DocumentStore

BASE_TIME = dt.datetime(2025, 1, 1, 8, 0, 0)  # naive UTC, like every stored time
CLOSED_EVERY = 4  # announcements 4, 8, 12 ... are past their deadline when seeded


def is_closed_at_seeding(i: int) -> bool:
    """Whether seeded announcement ``i`` (1-based, its id on a fresh database) is closed."""
    return i % CLOSED_EVERY == 0


BATCH = 1000

_UNITS = (
    "区教育局",
    "区卫生健康委员会",
    "区住房和城乡建设局",
    "区财政局",
    "区交通运输局",
    "区人民医院",
    "区第一中学",
    "区水务局",
    "区城市管理局",
    "区民政局",
    "区公安分局",
    "区文化和旅游局",
)
_ITEMS = (
    ("办公设备采购", "货物"),
    ("信息化系统建设", "服务"),
    ("物业管理服务", "服务"),
    ("医疗设备采购", "货物"),
    ("道路维修工程", "工程"),
    ("校舍改造工程", "工程"),
    ("公务车辆租赁服务", "服务"),
    ("食堂食材配送服务", "服务"),
    ("网络安全等级保护服务", "服务"),
    ("档案数字化加工服务", "服务"),
    ("教学设备采购", "货物"),
    ("排水管网改造工程", "工程"),
)
_METHODS = ("公开招标", "竞争性磋商", "竞争性谈判", "询价")
_COMPANY_CITIES = ("东城", "西城", "南山", "北辰", "江北", "滨海", "高新", "临港")
_COMPANY_TRADES = ("科技", "信息技术", "建设工程", "医疗器械", "物业服务", "商贸", "环境工程", "教育装备")
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def supplier_email(i: int) -> str:
    return f"supplier-{i}@example.test"


def supplier_password(i: int) -> str:
    return f"password-{i}"


def seed(
    engine: Engine,
    docs_dir: str | Path,
    *,
    announcements: int = 200,
    suppliers: int = 50,
    documents: int = 100,
    document_size: int = 200 * 1024,
    seed: int = 42,
    key_file: str | Path | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Seed an empty platform; returns ``{announcements, suppliers, documents, bytes, seeded}``.

    The arguments are those of ``SeedConfig`` (``seed(engine, docs, **cfg.seed.model_dump())``).
    ``seeded`` is False when announcements already existed and nothing was written.
    ``key_file`` is the data key (default ``<parent of docs_dir>/keys/data.key``); ``now``
    (naive UTC, default the current time) is what the deadlines are relative to.
    """
    for name, value in (
        ("announcements", announcements),
        ("suppliers", suppliers),
        ("documents", documents),
        ("document_size", document_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
    if documents and not announcements:
        raise ValueError("documents are attached to announcements: give at least one announcement")
    if documents and document_size < 1:
        raise ValueError("document_size must be at least 1 byte")

    m.create_schema(engine)
    store = DocumentStore(docs_dir)
    store.ensure()
    if _count(engine, m.announcements):
        return {**_counts(engine), "seeded": False}

    cipher = FieldCipher(load_or_create_key(Path(key_file) if key_file else key_file_for(Path(docs_dir).parent)))
    now = (now or m.utcnow_naive()).replace(microsecond=0)
    rng = random.Random(seed)
    a_rows = []
    for i in range(1, announcements + 1):
        unit = rng.choice(_UNITS)
        item, category = rng.choice(_ITEMS)
        method = rng.choice(_METHODS)
        year = now.year
        budget_cents = rng.randrange(50_000, 50_000_000) * 100
        # Draws of the same count either way: the contents that follow stay the same.
        age = rng.randrange(0, 365 * 86400)
        days = rng.randrange(20, 46)
        if is_closed_at_seeding(i):
            deadline = now - dt.timedelta(days=1 + days % 30, seconds=age % 3600)
            published = deadline - dt.timedelta(days=days)
        else:
            published = now - dt.timedelta(seconds=age % (10 * 86400))
            deadline = now + dt.timedelta(days=2 + days % 44)
        title = f"{unit}{year}年{item}项目{method}公告（第{i:04d}号）"
        body = (
            f"{unit}就{item}项目进行{method}，采购预算{budget_cents / 100:,.2f}元。"
            f"投标截止时间：{deadline:%Y-%m-%d %H:%M}（北京时间以平台为准）。"
            "供应商须在平台注册并在截止时间前上传投标文件，逾期上传的投标文件平台将拒收。"
        )
        a_rows.append(
            {
                "title": title,
                "category": category,
                "body": body,
                "budget_cents": budget_cents,
                "published_at": published,
                "deadline_at": deadline,
            }
        )

    s_rows = []
    for i in range(1, suppliers + 1):
        name = f"{rng.choice(_COMPANY_CITIES)}{rng.choice(_COMPANY_TRADES)}有限公司{i:04d}"
        credit_code = "".join(rng.choice(_CREDIT_ALPHABET) for _ in range(18))
        salt = rng.randbytes(16)
        s_rows.append(
            {
                "name": name,
                "email": supplier_email(i),
                "credit_code": cipher.encrypt(credit_code, supplier_email(i)),
                "password_hash": hash_password(supplier_password(i), salt=salt),
                "created_at": BASE_TIME + dt.timedelta(minutes=i),
            }
        )

    with engine.begin() as conn:
        for rows, table in ((a_rows, m.announcements), (s_rows, m.suppliers)):
            for k in range(0, len(rows), BATCH):
                conn.execute(insert(table), rows[k : k + BATCH])
        announcement_ids = (
            list(conn.execute(select(m.announcements.c.id).order_by(m.announcements.c.id)).scalars())
            if documents
            else []
        )

    total_bytes = 0
    d_rows: list[dict] = []

    def flush() -> None:
        if d_rows:
            with engine.begin() as conn:
                conn.execute(insert(m.archive_documents), d_rows)
            d_rows.clear()

    for k in range(documents):
        aid = announcement_ids[k % len(announcement_ids)]
        content = rng.randbytes(document_size)
        stored = store.put_bytes(content, fsync=False)
        total_bytes += stored.size
        d_rows.append(
            {
                "kind": "tender",
                "announcement_id": aid,
                "supplier_id": None,
                "filename": f"tender-{aid:05d}-{k // len(announcement_ids) + 1}.pdf",
                "sha256": stored.sha256,
                "size": stored.size,
                "storage_path": stored.storage_path,
                "created_at": BASE_TIME + dt.timedelta(seconds=k),
            }
        )
        if len(d_rows) >= BATCH:
            # Files first, then their rows: a row never points at a file not yet written.
            store.sync()
            flush()
    store.sync()
    flush()
    return {
        "announcements": announcements,
        "suppliers": suppliers,
        "documents": documents,
        "bytes": total_bytes,
        "seeded": True,
    }


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        count = lambda t: conn.execute(select(func.count()).select_from(t)).scalar_one()  # noqa: E731
        stored = conn.execute(select(func.coalesce(func.sum(m.archive_documents.c.size), 0))).scalar_one()
        return {
            "announcements": count(m.announcements),
            "suppliers": count(m.suppliers),
            "documents": count(m.archive_documents),
            "bytes": int(stored),
        }
