"""What an auditor checks on the platform (R9): encrypted sensitive fields, the access log,
the admin path however it is spelled.

- **Field encryption.** A supplier's ``credit_code`` is stored as ``v1:`` + base64url of
  ``nonce (12) | AES-256-GCM ciphertext | tag (16)``, with the supplier's e-mail address
  as associated data (a ciphertext copied onto another supplier's row does not decrypt).
  The key (32 random bytes, hex) lives in a file of the sandbox's state, mode 0600 in a
  0700 folder, generated on first use, never in the database: a copy of the database
  alone holds no credit code.
- **The access log.** Every read of a bid file or of a supplier's sensitive fields (and
  every refused attempt) is one JSON line ``{time, actor, action, subject, outcome, client,
  replica}`` appended to ``access.jsonl`` (0600) under the sandbox's state. Replicas share
  the file: each line is one ``write`` on an ``O_APPEND`` descriptor, so lines never
  interleave. :func:`read_access_log` reads it back for the audit.
- **Admin paths.** :func:`normalised_path` undoes percent-encoding (repeatedly),
  backslashes, repeated slashes, ``.`` and ``..`` segments and case, so that ``/%5Fadmin``,
  ``//_admin``, ``/_ADMIN`` and ``/static/..%2f_admin`` all read ``/_admin``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import posixpath
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

KEY_BYTES = 32
NONCE_BYTES = 12
PREFIX = "v1:"
ACCESS_LOG = "access.jsonl"
ADMIN_SEGMENTS = frozenset({"_admin", "admin"})


class KeyProblem(RuntimeError):
    """The data key file is missing, unreadable, too open or malformed."""


def key_file_for(base: Path) -> Path:
    """Where the data key of a sandbox whose state folder is ``base`` lives."""
    return base / "keys" / "data.key"


def access_log_for(base: Path) -> Path:
    return base / "audit" / ACCESS_LOG


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; created (0600, folder 0700) when absent, atomically, so replicas
    starting together all end up with the one key that won the race."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES).hex().encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process made it first: theirs is kept
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        st = os.stat(path)
        if st.st_mode & 0o077:
            raise KeyProblem(
                f"data key {path}: mode {oct(st.st_mode & 0o777)} lets group or others read it (chmod 600)"
            )
        raw = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(raw)
    except (OSError, ValueError) as e:
        raise KeyProblem(f"data key {path} is unusable: {e}") from None
    if len(key) != KEY_BYTES:
        raise KeyProblem(f"data key {path} holds {len(key)} bytes, not {KEY_BYTES}")
    return key


class FieldCipher:
    """AES-GCM for one sensitive column; ``context`` (the row's e-mail) is authenticated."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decrypt(self, stored: str, context: str) -> str:
        """The plaintext; ValueError when the value is not ours or was altered."""
        from cryptography.exceptions import InvalidTag

        if not stored.startswith(PREFIX):
            raise ValueError("the stored value is not encrypted (no v1: prefix)")
        raw = stored[len(PREFIX) :]
        try:
            blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, ValueError) as e:
            raise ValueError(f"the stored value does not decrypt with this key ({type(e).__name__})") from None


# --------------------------------------------------------------------------- access log


class AccessLog:
    """Appends one JSON line per access; never fails the request (a warning is logged instead)."""

    def __init__(self, path: Path, replica: str) -> None:
        self.path = path
        self.replica = replica

    def ensure(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)

    def write(self, *, actor: str, action: str, subject: str, outcome: str, client: str | None) -> None:
        row = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "outcome": outcome,
            "client": client,
            "replica": self.replica,
        }
        line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class AccessRecord:
    """One access: who (``supplier:<id>``, ``admin``, ``anonymous``), what (``bid.read``,
    ``supplier.credit_code``) on which subject (``document:<id>``, ``supplier:<id>``), when
    (UTC), from where (client address), the outcome (``granted``, ``denied``, ``error``)."""

    time: dt.datetime
    actor: str
    action: str
    subject: str
    outcome: str
    client: str | None
    replica: str


def read_access_log(path: Path, since: dt.datetime | None = None) -> Iterator[AccessRecord]:
    """The rows of an access log, oldest first, from ``since`` (UTC) on; a torn last line is skipped."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
                record = AccessRecord(
                    time=dt.datetime.fromisoformat(row["time"]),
                    actor=str(row["actor"]),
                    action=str(row["action"]),
                    subject=str(row["subject"]),
                    outcome=str(row["outcome"]),
                    client=row.get("client"),
                    replica=str(row.get("replica", "")),
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            if since is None or record.time >= since:
                yield record


# --------------------------------------------------------------------------- paths and clients


def normalised_path(raw: str) -> str:
    """The path as a lenient server might read it: decoded, lower case, dot segments resolved."""
    path = raw.split("?", 1)[0]
    for _ in range(4):  # double and triple encodings too
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    path = path.replace("\\", "/").replace("\0", "").lower()
    segments = [seg.strip().rstrip(".") if seg not in (".", "..") else seg for seg in path.split(";")[0].split("/")]
    path = posixpath.normpath("/" + "/".join(segments))
    return "/" + path.lstrip("/")


def is_admin_path(raw: str) -> bool:
    """Whether any spelling of ``raw`` reaches an admin path (``/_admin``, ``/admin``)."""
    return any(seg in ADMIN_SEGMENTS for seg in normalised_path(raw).split("/"))


def forwarded_client(peer: str | None, forwarded_for: str | None, peer_is_trusted: bool) -> str | None:
    """The client's address: the last X-Forwarded-For entry when the peer is the local proxy."""
    if peer_is_trusted and forwarded_for:
        last = forwarded_for.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return peer
