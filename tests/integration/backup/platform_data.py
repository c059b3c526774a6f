"""A small platform data set for backup tests: the sandbox's tables and a content-addressed documents store.

Independent of the sandbox application so these tests start no web server;
the table and column names are the platform's contract (sandbox/models.py).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

DDL = [
    "CREATE TABLE announcements (id INTEGER PRIMARY KEY, title VARCHAR(300) NOT NULL)",
    "CREATE TABLE suppliers (id INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL, credit_code VARCHAR(64) NOT NULL)",
    "CREATE TABLE sessions (token VARCHAR(64) PRIMARY KEY, supplier_id INTEGER NOT NULL)",
    "CREATE TABLE archive_documents (id INTEGER PRIMARY KEY, kind VARCHAR(16) NOT NULL, "
    "announcement_id INTEGER NOT NULL, supplier_id INTEGER, filename VARCHAR(255) NOT NULL, "
    "sha256 CHAR(64) NOT NULL, size BIGINT NOT NULL, storage_path VARCHAR(80) NOT NULL, "
    "created_at VARCHAR(40) NOT NULL)",
    "CREATE TABLE bids (id INTEGER PRIMARY KEY, announcement_id INTEGER NOT NULL, supplier_id INTEGER NOT NULL, "
    "document_id INTEGER NOT NULL, submitted_at VARCHAR(40) NOT NULL)",
]


def documents(n: int, size: int, seed: int = 1) -> list[tuple[str, bytes]]:
    out = []
    for i in range(1, n + 1):
        block = hashlib.sha256(f"{seed}-{i}".encode()).digest()
        data = (block * (size // len(block) + 1))[:size]
        out.append((f"doc-{i}.pdf", data))
    return out


def write_store(docs_dir: Path, docs: list[tuple[str, bytes]]) -> list[tuple]:
    rows = []
    for i, (name, data) in enumerate(docs, start=1):
        sha = hashlib.sha256(data).hexdigest()
        p = docs_dir / sha[:2] / sha
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        rows.append((i, "tender", 1 + i % 5, None, name, sha, len(data), f"{sha[:2]}/{sha}", "2025-01-01T00:00:00"))
    (docs_dir / ".incoming").mkdir(parents=True, exist_ok=True)
    return rows


def fill(execute, rows: list[tuple], placeholder: str = "?") -> None:
    for sql in DDL:
        execute(sql, ())
    for i in range(1, 6):
        execute(f"INSERT INTO announcements (id, title) VALUES ({placeholder}, {placeholder})", (i, f"公告 {i}"))
    for i in range(1, 4):
        execute(
            f"INSERT INTO suppliers (id, name, credit_code) VALUES ({placeholder}, {placeholder}, {placeholder})",
            (i, f"供应商 {i}", f"91110000{i:010d}"),
        )
    ph = ", ".join([placeholder] * 9)
    for r in rows:
        execute(
            f"INSERT INTO archive_documents (id, kind, announcement_id, supplier_id, filename, sha256, size, "
            f"storage_path, created_at) VALUES ({ph})",
            r,
        )


def make_sqlite_platform(base: Path, n: int = 20, size: int = 4096) -> tuple[Path, Path]:
    """A platform.db (WAL) and documents/ under ``base``; returns (database, documents)."""
    base.mkdir(parents=True, exist_ok=True)
    db, docs_dir = base / "platform.db", base / "documents"
    rows = write_store(docs_dir, documents(n, size))
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    fill(lambda sql, args: con.execute(sql, args), rows)
    con.commit()
    con.close()
    return db, docs_dir


def config_yaml(db: str, docs: Path, repos: dict[str, tuple[str, bool]] | None = None, extra: str = "") -> str:
    """A procops.yaml backing up ``db`` and ``docs``; repos: name -> (url, offsite)."""
    lines = ["backup:", f"  database: '{db}'", f"  documents_dir: '{docs}'"]
    if repos:
        lines.append("  repositories:")
        for name, (url, offsite) in repos.items():
            lines += [f"    - name: {name}", f"      url: '{url}'", f"      offsite: {str(offsite).lower()}"]
    return "\n".join(lines) + "\n" + extra


def chmod_tree(path: Path, mode: int) -> None:
    os.chmod(path, mode)
