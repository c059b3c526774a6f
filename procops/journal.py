"""The evidence journal: an append-only, hash-chained SQLite event log (R10).

Each row: id, time (UTC ISO 8601), kind (``backup.run``, ``incident.milestone``
...), subject, actor (user@host), data (JSON), prev_hash and
``hash = sha256(prev_hash + canonical JSON of (id, time, kind, subject, actor, data))``.

* Appends go through :meth:`Journal.append` only, with a kind of the catalog
  (:class:`procops.events.Kind`) and its typed evidence record; readers get the
  record back from :attr:`Event.evidence`. SQLite triggers refuse UPDATE
  and DELETE, so a change needs deliberate tampering, which
  :meth:`Journal.verify` then finds: it recomputes the chain and names the first
  row that was altered, deleted or inserted.
* Several writers at once (cron jobs, the webhook service) are safe: each append
  is one ``BEGIN IMMEDIATE`` transaction that reads the head and writes the next
  row, in WAL mode with a generous busy timeout.
* Secrets never enter: values under keys that look secret are masked before
  hashing, and so are passwords inside URLs in any string (data and subject),
  through :func:`procops.masking.mask_text`: no producer can leak one.
* A chain cannot show that rows were cut off its end, nor that the whole file
  was rewritten with a new chain. Every backup run therefore anchors the head
  (row count and head hash) off the host: in the tags of the run's confirmation
  snapshot (``journal-rows=``, ``journal-head=``), which ``restic copy`` takes to
  the off-site repository (append-only: the ops host cannot rewrite it), and a
  consistent copy of the journal goes into the run's files
  (:meth:`Journal.copy_to`). :func:`check_anchors` compares the journal with
  those anchors: a rewritten or truncated journal no longer matches them.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import json
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from procops import events
from procops.errors import EnvironmentFailure
from procops.events import Kind
from procops.home import private_file
from procops.masking import MASK, mask_text
from procops.timeutil import iso, utcnow

from procops.i18n import _

GENESIS = "0" * 64
_SECRET_MARKERS = ("password", "passwd", "secret", "token", "authorization", "api_key", "apikey")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id        INTEGER PRIMARY KEY,
    time      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    actor     TEXT NOT NULL,
    data      TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, subject);
CREATE INDEX IF NOT EXISTS events_kind_time ON events(kind, time);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
"""


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def scrub(value: Any) -> Any:
    """Mask values under secret-looking keys and URL passwords in every string, recursively."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and any(m in k.lower() for m in _SECRET_MARKERS) and v not in (None, ""):
                out[k] = MASK
            else:
                out[k] = scrub(v)
        return out
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def row_hash(prev_hash: str, id: int, time: str, kind: str, subject: str, actor: str, data: str) -> str:
    body = canonical(
        {"id": id, "time": time, "kind": kind, "subject": subject, "actor": actor, "data": json.loads(data)}
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    """A JSON string as canonical() spells it (kinds, actors and subjects repeat: cached)."""
    return json.dumps(text, ensure_ascii=False)


def _quick_hash(prev_hash: str, id: int, time: str, kind: str, subject: str, actor: str, data: str) -> str:
    """:func:`row_hash` of a row whose stored ``data`` is already canonical JSON (as every append writes
    it), without parsing it: the canonical body spelled out key by key, in sorted order."""
    body = (
        '{"actor":'
        + _quoted(actor)
        + ',"data":'
        + data
        + ',"id":'
        + str(id)
        + ',"kind":'
        + _quoted(kind)
        + ',"subject":'
        + _quoted(subject)
        + ',"time":'
        + json.dumps(time, ensure_ascii=False)
        + "}"
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class Event:
    id: int
    time: str
    kind: str
    subject: str
    actor: str
    data: dict
    prev_hash: str
    hash: str

    @property
    def evidence(self) -> events.Record:
        """The typed evidence (:func:`procops.events.evidence`); ValueError for a kind not in the catalog."""
        return events.evidence(self)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "time": self.time,
            "kind": self.kind,
            "subject": self.subject,
            "actor": self.actor,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass
class Verification:
    ok: bool
    rows: int
    head_hash: str
    first_bad_id: int | None = None
    problem: str | None = None
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "head_hash": self.head_hash,
            "first_bad_id": self.first_bad_id,
            "problem": self.problem,
        }


class Journal:
    def __init__(self, path: Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        try:
            private_file(self.path)
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise EnvironmentFailure(_("cannot open the journal {path}: {e}").format(path=self.path, e=e)) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, kind: Kind, subject: str, evidence: events.Record, *, actor: str | None = None) -> Event:
        """Append one event: a kind of the catalog and its evidence record (anything else: TypeError)."""
        kind, evidence = events.check(kind, evidence)
        payload = canonical(scrub(evidence.to_data()))
        subject = mask_text(str(subject))
        actor = actor or default_actor()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
                prev_id, prev_hash = row if row else (0, GENESIS)
                new_id = prev_id + 1
                t = iso(utcnow())
                h = row_hash(prev_hash, new_id, t, kind.value, subject, actor, payload)
                self._db.execute(
                    "INSERT INTO events (id, time, kind, subject, actor, data, prev_hash, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (new_id, t, kind.value, subject, actor, payload, prev_hash, h),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise EnvironmentFailure(
                _("cannot append to the journal {path}: {e}").format(path=self.path, e=e)
            ) from None
        return Event(new_id, t, kind.value, subject, actor, json.loads(payload), prev_hash, h)

    def events(
        self,
        kind: Kind | str | None = None,
        subject: str | None = None,
        *,
        since_id: int = 0,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        sql = "SELECT id, time, kind, subject, actor, data, prev_hash, hash FROM events WHERE id > ?"
        args: list[Any] = [since_id]
        if kind is not None:
            kind = kind.value if isinstance(kind, Kind) else str(kind)
            if kind.endswith("*"):
                sql += " AND kind LIKE ?"
                args.append(kind[:-1] + "%")
            else:
                sql += " AND kind = ?"
                args.append(kind)
        if subject is not None:
            sql += " AND subject = ?"
            args.append(subject)
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in self._db.execute(sql, args)]

    def between(
        self, kind: Kind | str, since: str | None = None, until: str | None = None, *, limit: int | None = None
    ) -> list[Event]:
        """The events of one kind whose time is in ``[since, until]`` (UTC ISO 8601), oldest first; with
        ``limit``, the newest ``limit`` of them. One indexed query (kind, time): never a scan of the journal."""
        kind = kind.value if isinstance(kind, Kind) else str(kind)
        sql = "SELECT id, time, kind, subject, actor, data, prev_hash, hash FROM events WHERE kind = ?"
        args: list[Any] = [kind]
        if since is not None:
            sql += " AND time >= ?"
            args.append(since)
        if until is not None:
            sql += " AND time <= ?"
            args.append(until)
        sql += " ORDER BY time DESC, id DESC" if limit else " ORDER BY time, id"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        rows = [Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in self._db.execute(sql, args)]
        return list(reversed(rows)) if limit else rows

    def latest_of(self, kind: Kind | str, subject: str | None = None) -> Event | None:
        """The newest event of one kind (and subject): one indexed query."""
        kind = kind.value if isinstance(kind, Kind) else str(kind)
        sql = "SELECT id, time, kind, subject, actor, data, prev_hash, hash FROM events WHERE kind = ?"
        args: list[Any] = [kind]
        if subject is not None:
            sql += " AND subject = ?"
            args.append(subject)
        r = self._db.execute(sql + " ORDER BY time DESC, id DESC LIMIT 1", args).fetchone()
        return Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) if r else None

    def first_time(self) -> str | None:
        """The time of the first row (None when the journal is empty)."""
        row = self._db.execute("SELECT time FROM events ORDER BY id LIMIT 1").fetchone()
        return str(row[0]) if row else None

    def last(self, kind: Kind | str, subject: str | None = None) -> Event | None:
        ev = self.events(kind, subject, limit=1, newest_first=True)
        return ev[0] if ev else None

    def head(self) -> tuple[int, str]:
        """The number of rows and the hash of the last one (the genesis hash when empty)."""
        row = self._db.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def hash_at(self, row_id: int) -> str | None:
        row = self._db.execute("SELECT hash FROM events WHERE id = ?", (row_id,)).fetchone()
        return str(row[0]) if row else None

    def copy_to(self, dest: Path) -> tuple[int, str]:
        """A consistent copy of the journal at ``dest`` (SQLite's online backup, 0600); returns the copy's
        head (:meth:`head`). The journal file itself is never opened by plain file I/O (see
        :func:`procops.home.private_file`)."""
        dest = Path(dest)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.unlink(missing_ok=True)
        private_file(tmp)
        try:
            out = sqlite3.connect(tmp)
            try:
                self._db.backup(out)
                out.execute("PRAGMA journal_mode=DELETE")
                row = out.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
            finally:
                out.close()
            tmp.replace(dest)
        except (sqlite3.Error, OSError) as e:
            tmp.unlink(missing_ok=True)
            raise EnvironmentFailure(_("cannot copy the journal to {dest}: {e}").format(dest=dest, e=e)) from None
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def _rows(self) -> Iterator[tuple]:
        yield from self._db.execute(
            "SELECT id, time, kind, subject, actor, data, prev_hash, hash FROM events ORDER BY id"
        )

    def verify(self) -> Verification:
        prev_hash, expected_id, n = GENESIS, 1, 0
        for rid, t, kind, subject, actor, data, stored_prev, stored_hash in self._rows():
            n += 1
            if rid != expected_id:
                return Verification(
                    False,
                    n,
                    prev_hash,
                    expected_id,
                    f"row {expected_id} is missing (deleted); the chain resumes at row {rid}",
                )
            if stored_prev != prev_hash:
                return Verification(
                    False,
                    n,
                    prev_hash,
                    rid,
                    f"row {rid} does not follow row {rid - 1} (a row was deleted, inserted or replaced before it)",
                )
            h: str | None = _quick_hash(stored_prev, rid, t, kind, subject, actor, data)
            if h != stored_hash:  # data stored in another spelling of the same JSON: the full recomputation
                try:
                    h = row_hash(stored_prev, rid, t, kind, subject, actor, data)
                except (ValueError, TypeError):
                    h = None
            if h != stored_hash:
                return Verification(False, n, prev_hash, rid, f"row {rid} was altered (its hash does not match)")
            prev_hash, expected_id = stored_hash, rid + 1
        return Verification(True, n, prev_hash)


@dataclass(frozen=True)
class Anchor:
    """The journal's head as recorded outside the host: ``rows`` rows, the last one's hash ``head``."""

    rows: int
    head: str
    at: str  # when it was recorded (the backup run's time)
    where: str  # the repository holding it


@dataclass(frozen=True)
class AnchorCheck:
    anchor: Anchor
    ok: bool
    problem: str | None = None

    def as_dict(self) -> dict:
        a = self.anchor
        return {"rows": a.rows, "head": a.head, "at": a.at, "where": a.where, "ok": self.ok, "problem": self.problem}


def check_anchors(journal: Journal, anchors: list[Anchor]) -> list[AnchorCheck]:
    """Each anchor against the journal: row ``rows`` must exist and carry the anchored hash."""
    from procops.display import when

    n, _head = journal.head()
    out = []
    for a in anchors:
        if a.rows == 0:
            out.append(AnchorCheck(a, a.head == GENESIS))
        elif a.rows > n:
            out.append(
                AnchorCheck(
                    a,
                    False,
                    _("the journal has {rows} rows, but {anchored} were anchored in '{where}' at {at}").format(
                        rows=n, anchored=a.rows, where=a.where, at=when(a.at)
                    ),
                )
            )
        else:
            h = journal.hash_at(a.rows)
            ok = h == a.head
            out.append(
                AnchorCheck(
                    a,
                    ok,
                    None
                    if ok
                    else _("row {row} is not the row anchored in '{where}' at {at} (rewritten)").format(
                        row=a.rows, where=a.where, at=when(a.at)
                    ),
                )
            )
    return out


# Files that only exist on a home that was used (each written by an action that is journaled too).
STATE_MARKS = ("procops.db", "backup/state.json", "sandbox/**/state.json", "monitoring/**/state.json")


def home_state(home: Path | None = None) -> list[str]:
    """The files that show this home was used (relative paths): an empty journal beside any of them was
    deleted or emptied, not new."""
    from procops.home import state_home

    home = home or state_home()
    found: list[str] = []
    for pattern in STATE_MARKS:
        found += sorted(str(p.relative_to(home)) for p in home.glob(pattern) if p.is_file())
    return found


def find_hash(journal: Journal, head: str) -> int | None:
    """The id of the row whose hash is ``head`` (a full hash, or a prefix of at least 12 hex digits)."""
    head = head.strip().lower()
    if len(head) == 64:
        row = journal._db.execute("SELECT id FROM events WHERE hash = ?", (head,)).fetchone()
    else:
        row = journal._db.execute(
            "SELECT id FROM events WHERE substr(hash, 1, ?) = ? ORDER BY id LIMIT 1", (len(head), head)
        ).fetchone()
    return int(row[0]) if row else None


def journal_path() -> Path:
    from procops.home import state_home

    return state_home() / "journal.db"


def open_journal() -> Journal:
    return Journal(journal_path())


def require_writable() -> None:
    """EnvironmentFailure (exit 3) unless the journal can take a row now: called before an action
    whose event is written after it, so nothing happens that the journal could not record."""
    path = journal_path()
    with open_journal() as j:
        try:
            j._db.execute("BEGIN IMMEDIATE")
            j._db.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise EnvironmentFailure(
                _("the journal {path} cannot be written ({e}): nothing was done").format(path=path, e=e),
                hint=_("make the journal writable (disk space, permissions, the immutable flag) and run it again"),
            ) from None


def record(kind: Kind, subject: str, evidence: events.Record) -> Event:
    """Append one event to the default journal (checked before the journal is opened)."""
    events.check(kind, evidence)
    with open_journal() as j:
        return j.append(kind, subject, evidence)
