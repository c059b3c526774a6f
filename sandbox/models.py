"""The platform's tables (SQLAlchemy Core).

Backups and the integrity verifier read these tables by name: the table and column
names are a contract. Types are chosen to mean the same on SQLite, PostgreSQL and
MariaDB: every string has a length (MariaDB needs one for VARCHAR and indexes),
times are naive ``DATETIME`` values in UTC, sizes and money are ``BIGINT``.

``archive_documents`` is the historical archive: one row per stored document with
the sha256 of its content; the file lives in the documents store at
``storage_path`` (``<sha256[:2]>/<sha256>``, relative to the store's root).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

DOCUMENT_KINDS = ("tender", "bid")

# utf8mb4 on MariaDB so Chinese titles and names are stored as written.
_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}

metadata = MetaData()

announcements = Table(
    "announcements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(300), nullable=False),
    Column("category", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("budget_cents", BigInteger, nullable=False),
    Column("published_at", DateTime, nullable=False),
    Column("deadline_at", DateTime, nullable=False),
    Index("ix_announcements_published_at", "published_at"),
    **_MYSQL,
)

suppliers = Table(
    "suppliers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False, unique=True),
    # The unified social credit code: sensitive supplier data (R9), stored encrypted
    # (AES-GCM, ``v1:`` + base64url of nonce, ciphertext and tag; see ``sandbox/secure.py``).
    # Decrypted only for the supplier itself or an admin, each read in the access log.
    Column("credit_code", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    **_MYSQL,
)

sessions = Table(
    "sessions",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("supplier_id", Integer, ForeignKey("suppliers.id"), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
    **_MYSQL,
)

# Failed logins, one row each, counted per key (``email:<address>``, ``ip:<address>``) within
# the throttling window; shared by every replica, so the limit holds behind the load balancer.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),
    Column("at", DateTime, nullable=False),
    Index("ix_login_failures_key_at", "key", "at"),
    **_MYSQL,
)

archive_documents = Table(
    "archive_documents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("announcement_id", Integer, ForeignKey("announcements.id"), nullable=False, index=True),
    Column("supplier_id", Integer, ForeignKey("suppliers.id"), nullable=True),
    Column("filename", String(255), nullable=False),
    Column("sha256", CHAR(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("storage_path", String(80), nullable=False),
    Column("created_at", DateTime, nullable=False),
    CheckConstraint("kind IN ('tender', 'bid')", name="ck_archive_documents_kind"),
    **_MYSQL,
)

bids = Table(
    "bids",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("announcement_id", Integer, ForeignKey("announcements.id"), nullable=False, index=True),
    Column("supplier_id", Integer, ForeignKey("suppliers.id"), nullable=False, index=True),
    Column("document_id", Integer, ForeignKey("archive_documents.id"), nullable=False),
    Column("submitted_at", DateTime, nullable=False),
    **_MYSQL,
)

TABLES = ("announcements", "suppliers", "sessions", "login_failures", "archive_documents", "bids")


def utcnow_naive() -> dt.datetime:
    """Now in UTC as a naive datetime: how times are stored in every table."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def create_schema(engine: Engine) -> None:
    """Create the tables that do not exist yet (safe to run again).

    Replicas of the platform may start at the same moment against one database;
    when another process wins the race to create a table, the second attempt finds
    it and does nothing.
    """
    try:
        metadata.create_all(engine, checkfirst=True)
    except DBAPIError as e:
        if "already exists" not in str(e.orig).lower():
            raise
        metadata.create_all(engine, checkfirst=True)
