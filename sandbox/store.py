"""The documents store: content-addressed files under one folder.

A document whose content has sha256 ``H`` lives at ``<root>/<H[:2]>/<H>``; its
``storage_path`` (recorded in ``archive_documents``) is ``H[:2]/H``. The same content
stored twice is stored once.

Writes are atomic: content goes to a temporary file under ``<root>/.incoming/`` (the
same filesystem, its hash is not known before the last byte), is fsync'ed, and is
renamed into place; the target folder is fsync'ed after the rename. A reader sees a
whole document or none. ``.incoming/`` holds only unfinished writes: backups and
integrity checks skip it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from collections.abc import Iterable

CHUNK_SIZE = 64 * 1024
INCOMING = ".incoming"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class TooLarge(ValueError):
    """The content passed the size limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the document is larger than the limit of {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredDocument:
    sha256: str
    size: int
    storage_path: str  # relative to the store's root: "ab/ab12..."
    created: bool  # False when the same content was already stored


def storage_path(sha256: str) -> str:
    """``H[:2]/H``: where content with this sha256 lives, relative to the store root."""
    if not _SHA256.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"{sha256[:2]}/{sha256}"


class DocumentWriter:
    """Content being written: hashed and counted as it streams to a temporary file.

    Use :meth:`DocumentStore.writer`; finish with :meth:`commit` (atomic rename into
    place) or :meth:`abort` (nothing stays). As a context manager it aborts on
    leaving unless committed.
    """

    def __init__(self, store: DocumentStore, *, max_size: int | None, fsync: bool) -> None:
        self._store = store
        self._max_size = max_size
        self._fsync = fsync
        self._hash = hashlib.sha256()
        self.size = 0
        incoming = store.root / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="doc-", dir=incoming)
        self._tmp = Path(tmp)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._done or self._file is None:
            raise RuntimeError("the document writer is closed")
        n = len(data)
        if not n:
            return
        if self._max_size is not None and self.size + n > self._max_size:
            self.abort()
            raise TooLarge(self._max_size)
        self._hash.update(data)
        self._file.write(data)
        self.size += n

    def commit(self) -> StoredDocument:
        """Make the content durable and visible at its content address."""
        if self._done or self._file is None:
            raise RuntimeError("the document writer is closed")
        try:
            f, self._file = self._file, None
            with f:
                f.flush()
                if self._fsync:
                    os.fsync(f.fileno())
            sha = self._hash.hexdigest()
            created = self._store._install(self._tmp, sha, self.size, fsync=self._fsync)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return StoredDocument(sha, self.size, storage_path(sha), created)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> DocumentWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class DocumentStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / INCOMING).mkdir(exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        return self.root / storage_path(sha256)

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def writer(self, *, max_size: int | None = None, fsync: bool = True) -> DocumentWriter:
        """A writer for streamed content; over ``max_size`` bytes it raises :class:`TooLarge`."""
        return DocumentWriter(self, max_size=max_size, fsync=fsync)

    def put_bytes(self, data: bytes, *, fsync: bool = True) -> StoredDocument:
        with self.writer(fsync=fsync) as w:
            w.write(data)
            return w.commit()

    def put_stream(self, chunks: Iterable[bytes], *, max_size: int | None = None, fsync: bool = True) -> StoredDocument:
        with self.writer(max_size=max_size, fsync=fsync) as w:
            for chunk in chunks:
                w.write(chunk)
            return w.commit()

    def put_file(self, f: BinaryIO, *, max_size: int | None = None, fsync: bool = True) -> StoredDocument:
        return self.put_stream(iter(lambda: f.read(CHUNK_SIZE), b""), max_size=max_size, fsync=fsync)

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path_for(sha256), "rb")

    def sync(self) -> None:
        """Flush everything written with ``fsync=False`` (e.g. after seeding)."""
        os.sync()

    def clean_incoming(self, older_than: float = 3600.0) -> int:
        """Remove unfinished writes left by a crash; returns how many were removed.

        Only files older than ``older_than`` seconds go: another process sharing the
        store may be writing the younger ones right now.
        """
        incoming = self.root / INCOMING
        removed = 0
        limit = time.time() - older_than
        with contextlib.suppress(FileNotFoundError):
            for p in incoming.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if p.stat().st_mtime < limit:
                        p.unlink()
                        removed += 1
        return removed

    def _install(self, tmp: Path, sha256: str, size: int, *, fsync: bool) -> bool:
        target = self.path_for(sha256)
        try:
            st = target.stat()
        except FileNotFoundError:
            st = None
        if st is not None and st.st_size == size:
            # Same content already stored (same sha256): keep one copy.
            tmp.unlink()
            return False
        # Missing, or a damaged copy of a different size: (re)place it atomically.
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o600)  # private state: documents are 0600 (procops.home)
        os.replace(tmp, target)
        if fsync:
            _fsync_dir(target.parent)
        return st is None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: str | Path) -> tuple[str, int]:
    """sha256 hex digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size
