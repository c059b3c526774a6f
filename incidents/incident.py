"""Incidents on the three clocks of R7: fault type within 15 min, standby within 1 h, report within 24 h.

An incident is a typed record (:class:`Incident`) kept in ``$PROCOPS_HOME/procops.db``
(SQLite, WAL). Every write is one ``BEGIN IMMEDIATE`` transaction that reads the
row, changes it and writes it back, so several processes (the alert webhook, cron's
``incident escalate``, a responder at the CLI) can work on the same incidents.
Every change is also appended to the evidence journal (``incident.*`` events of
:mod:`procops.events`), inside the change's transaction and before it commits: the
journal is the record of intent, so when it cannot be written the incident is not
changed either (a retry then neither duplicates nor skips anything).

Deadlines are fixed when the incident opens: T0 + the policy's
``classify_deadline`` / ``standby_deadline`` / ``report_deadline``. A milestone
reached after its deadline is recorded as late; the command still succeeds.

Opening is idempotent per ``dedupe_key`` (e.g. an alert fingerprint): while an
incident with that key is open, ``open`` returns it instead of a second one. A
partial unique index makes that hold even for concurrent callers.

One outage is one incident: an incident opened from an alert keeps the alert's
grouping key (``group``, e.g. ``service=procurement-platform``), and later alerts of
the same group attach to it (:meth:`IncidentStore.attach_alert`: the ``alerts`` list,
an ``alert.attach`` timeline entry, an ``incident.alert`` journal event, the severity
raised when the new alert is more severe). A ``drill`` incident is a drill's: it is
kept out of real-incident figures and real escalation, and never shares alerts with
a real one.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import sqlite3
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterator

from procops import events
from procops.errors import BadInput, EnvironmentFailure
from procops.events import Kind
from procops.timeutil import iso, parse_iso, utcnow

from procops.i18n import N_, _

if TYPE_CHECKING:
    from procops.config import PolicyConfig

MILESTONES = ("classify", "standby", "report")
# What people read for each milestone, fault type, severity and status (English source text,
# marked for the catalog; shown through :func:`shown`, which translates).
MILESTONE_TITLES = {
    "classify": N_("Fault type confirmed"),
    "standby": N_("Standby system started"),
    "report": N_("Fault analysis report submitted"),
}
FAULT_TYPES = (
    "app-crash",
    "database-failure",
    "disk-full",
    "network",
    "backup-failure",
    "capacity",
    "bad-release",
    "security",
    "other",
)
SEVERITIES = ("critical", "major", "minor", "warning", "info")
STATUSES = ("open", "resolved")
ACTION_STATUSES = ("open", "rectified", "accepted")
FAULT_TYPE_TITLES = {
    "app-crash": N_("application crash"),
    "database-failure": N_("database failure"),
    "disk-full": N_("disk full"),
    "network": N_("network failure"),
    "backup-failure": N_("backup failure"),
    "capacity": N_("capacity surge (announcement peak)"),
    "bad-release": N_("bad release"),
    "security": N_("security incident or data leak"),
    "other": N_("other"),
}
SEVERITY_TITLES = {
    "critical": N_("critical"),
    "major": N_("major"),
    "minor": N_("minor"),
    "warning": N_("warning"),
    "info": N_("info"),
}
STATUS_TITLES = {"open": N_("open (being handled)"), "resolved": N_("resolved")}
ACTION_STATUS_TITLES = {"open": N_("to be rectified"), "rectified": N_("rectified"), "accepted": N_("accepted")}
assert set(FAULT_TYPE_TITLES) == set(FAULT_TYPES) and set(SEVERITY_TITLES) == set(SEVERITIES)


def shown(titles: dict[str, str], key: str | None) -> str:
    """``key`` (a milestone, fault type, severity or status) as people read it, translated."""
    if not key:
        return ""
    return _(titles[key]) if key in titles else key


ROLES = ("commander", "operations", "scribe")
# allowed rectification transitions: found -> rectified -> accepted; a rejected acceptance goes back to open
ACTION_TRANSITIONS = {"open": {"rectified"}, "rectified": {"accepted", "open"}, "accepted": {"open"}}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id         TEXT PRIMARY KEY,
    day        TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    status     TEXT NOT NULL,
    dedupe_key TEXT,
    t0         TEXT NOT NULL,
    doc        TEXT NOT NULL,
    drill      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_dedupe ON incidents(dedupe_key)
    WHERE status = 'open' AND dedupe_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS incident_timeline (
    id          INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL,
    time        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_timeline_incident ON incident_timeline(incident_id, id);
CREATE TABLE IF NOT EXISTS incident_escalations (
    incident_id     TEXT NOT NULL,
    milestone       TEXT NOT NULL,
    level           TEXT NOT NULL,
    receiver        TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TEXT,
    claimed_at      TEXT,
    sent_at         TEXT,
    PRIMARY KEY (incident_id, milestone, level, receiver)
);
"""


SCHEMA_VERSION = 2  # 2: incidents.drill (databases of version 1 are migrated when opened)


def severity_rank(severity: str) -> int:
    """0 for the most severe (critical); unknown severities rank last."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an incident database of an older version to :data:`SCHEMA_VERSION` (idempotent)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        cols = {r[1] for r in db.execute("PRAGMA table_info(incidents)")}
        if "drill" not in cols:  # version 1: no drill flag; every incident was a real one
            db.execute("ALTER TABLE incidents ADD COLUMN drill INTEGER NOT NULL DEFAULT 0")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def default_db_path() -> Path:
    from procops.home import state_home

    return state_home() / "procops.db"


# --------------------------------------------------------------------------- records


@dataclass
class Milestone:
    name: str
    deadline: str
    reached_at: str | None = None
    by: str | None = None
    evidence: dict = field(default_factory=dict)
    late: bool | None = None
    waived: str | None = None  # why the milestone was not needed (standby of an incident resolved in time)

    @property
    def done(self) -> bool:
        return self.reached_at is not None or self.waived is not None

    def remaining(self, now: dt.datetime) -> float:
        """Seconds to the deadline (negative: overdue)."""
        return (parse_iso(self.deadline) - now).total_seconds()

    def state(self, now: dt.datetime, lead: float = 0.0) -> str:
        """met | late | waived | pending | near | missed."""
        if self.reached_at:
            return "late" if self.late else "met"
        if self.waived:
            return "waived"
        left = self.remaining(now)
        if left < 0:
            return "missed"
        if left <= lead:
            return "near"
        return "pending"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Action:
    """A rectification item: problem found -> rectified -> accepted (R12)."""

    n: int
    problem: str
    owner: str
    due: str | None
    status: str = "open"
    created_at: str = ""
    updated_at: str = ""
    history: list[dict] = field(default_factory=list)

    def overdue(self, now: dt.datetime) -> bool:
        return self.status != "accepted" and self.due is not None and parse_iso(self.due) < now

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TimelineEntry:
    time: str
    kind: str
    actor: str
    data: dict

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Incident:
    id: str
    title: str
    severity: str
    status: str
    t0: str
    opened_at: str
    opened_by: str
    source: dict
    dedupe_key: str | None
    milestones: dict[str, Milestone]
    fault_type: str | None = None
    roles: dict[str, str | None] = field(default_factory=lambda: {r: None for r in ROLES})
    summary: str | None = None
    impact: str | None = None
    detection: str | None = None
    root_cause: str | None = None
    resolution: dict | None = None  # {"at", "by", "summary"}
    report: dict | None = None  # {"lang": {"markdown", "html", "sha256"}, "submitted_at", "submitted_lang"}
    standby: dict | None = None  # result of the failover
    actions: list[Action] = field(default_factory=list)
    drill: bool = False  # opened by a drill: out of real-incident figures and real escalation
    group: str | None = None  # grouping key of its alerts (e.g. "service=procurement-platform")
    alerts: list[dict] = field(default_factory=list)  # alerts attached after the one that opened it
    timeline: list[TimelineEntry] = field(default_factory=list)

    # -- derived
    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def alert_fingerprints(self) -> set[str]:
        """Fingerprints of every alert of the incident: the one that opened it and those attached."""
        fps = {str(a.get("fingerprint")) for a in self.alerts if a.get("fingerprint")}
        if self.source.get("kind") == "alert" and self.source.get("fingerprint"):
            fps.add(str(self.source["fingerprint"]))
        return fps

    def milestone(self, name: str) -> Milestone:
        if name not in self.milestones:
            raise BadInput(
                _("unknown milestone {name!r} (one of {milestones})").format(
                    name=name, milestones=", ".join(MILESTONES)
                )
            )
        return self.milestones[name]

    def clocks(self, now: dt.datetime | None = None, lead: float = 0.0) -> list[dict]:
        """Each clock: deadline, reached, state and the seconds remaining (negative: overdue)."""
        now = now or utcnow()
        out = []
        for name in MILESTONES:
            m = self.milestones[name]
            left = m.remaining(now)
            out.append(
                {
                    "milestone": name,
                    "deadline": m.deadline,
                    "reached_at": m.reached_at,
                    "by": m.by,
                    "late": m.late,
                    "waived": m.waived,
                    "state": m.state(now, lead),
                    "remaining_seconds": None if m.done else round(left, 3),
                }
            )
        return out

    def compliance(self) -> list[dict]:
        """The deadline-compliance table of the report: deadline, reached at, met (True/False/None pending)."""
        rows = []
        t0 = parse_iso(self.t0)
        for name in MILESTONES:
            m = self.milestones[name]
            took = (parse_iso(m.reached_at) - t0).total_seconds() if m.reached_at else None
            met: bool | None
            if m.reached_at:
                met = not m.late
            elif m.waived:
                met = True
            else:
                met = None
            rows.append(
                {
                    "milestone": name,
                    "limit_seconds": (parse_iso(m.deadline) - t0).total_seconds(),
                    "deadline": m.deadline,
                    "reached_at": m.reached_at,
                    "took_seconds": took,
                    "waived": m.waived,
                    "met": met,
                }
            )
        return rows

    def closed_loop(self) -> bool:
        """Resolved, report submitted, and every rectification item accepted."""
        return (
            self.status == "resolved"
            and self.milestones["report"].reached_at is not None
            and all(a.status == "accepted" for a in self.actions)
        )

    def as_dict(self, now: dt.datetime | None = None) -> dict:
        d = asdict(self)
        d["clocks"] = self.clocks(now)
        d["closed_loop"] = self.closed_loop()
        return d

    # -- (de)serialisation of the stored document (the timeline lives in its own table)
    def to_doc(self) -> str:
        d = asdict(self)
        d.pop("timeline")
        return json.dumps(d, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_doc(cls, doc: str, timeline: list[TimelineEntry] | None = None) -> Incident:
        d = json.loads(doc)
        d["milestones"] = {k: Milestone(**v) for k, v in d["milestones"].items()}
        d["actions"] = [Action(**a) for a in d.get("actions", [])]
        d["timeline"] = timeline or []
        return cls(**d)


def make_id(day: str, seq: int) -> str:
    return f"INC-{day}-{seq:03d}"


def deadlines(t0: dt.datetime, policy: PolicyConfig) -> dict[str, dt.datetime]:
    return {
        "classify": t0 + dt.timedelta(seconds=policy.classify_deadline),
        "standby": t0 + dt.timedelta(seconds=policy.standby_deadline),
        "report": t0 + dt.timedelta(seconds=policy.report_deadline),
    }


def escalation_level(m: Milestone, now: dt.datetime, lead: float) -> str | None:
    """'near' within ``lead`` before the deadline, 'missed' after it, None otherwise or when done."""
    if m.done:
        return None
    left = m.remaining(now)
    if left < 0:
        return "missed"
    if left <= lead:
        return "near"
    return None


def _utc(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is None:
        raise BadInput(_("times must carry a time zone (e.g. 2026-11-25T08:00:00Z)"))
    return t.astimezone(dt.UTC)


def parse_time(text: str) -> dt.datetime:
    """A time typed on the command line, in UTC: with a zone as written, without one in the
    display zone (``display.timezone``): ``2026-12-01 10:00`` in Asia/Shanghai is 02:00Z."""
    from procops import display

    try:
        return display.parse(text)
    except ValueError:
        raise BadInput(
            _("not a time: {text!r} (e.g. '2026-12-01 10:00' in {zone}, or 2026-12-01T02:00:00Z)").format(
                text=text, zone=display.zone_name()
            )
        ) from None


# --------------------------------------------------------------------------- the store


class IncidentStore:
    """Incidents in SQLite. ``clock`` and ``policy`` can be injected (tests, drills)."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        policy: PolicyConfig | None = None,
        journal: bool = True,
        timeout: float = 60.0,
    ) -> None:
        self.path = Path(path) if path else default_db_path()
        from procops.home import private_file

        private_file(self.path)
        self.clock = clock or utcnow
        self._policy = policy
        self._journal = journal
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=%d" % int(timeout * 1000))
            self._db.executescript(_SCHEMA)
            _migrate(self._db)
        except sqlite3.Error as e:
            raise EnvironmentFailure(
                _("cannot open the incident database {path}: {e}").format(path=self.path, e=e)
            ) from None

    # -- plumbing
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> IncidentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def policy(self) -> PolicyConfig:
        if self._policy is None:
            from procops import config

            self._policy = config.load().config.policy
        return self._policy

    def now(self) -> dt.datetime:
        return _utc(self.clock())

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb) -> None:
            if exc_type is None:
                self.db.execute("COMMIT")
            else:
                self.db.execute("ROLLBACK")

    def _tx(self) -> IncidentStore._Tx:
        return IncidentStore._Tx(self._db)

    def _journal_append(self, kind: Kind, subject: str, evidence: events.Record, actor: str) -> None:
        """The journal event of a change; called inside the change's transaction, before it commits.

        Raises EnvironmentFailure when the journal cannot be written: the transaction rolls back.
        """
        if not self._journal:
            return
        from procops.journal import open_journal

        with open_journal() as j:
            j.append(kind, subject, evidence, actor=actor)

    @staticmethod
    def _actor(actor: str | None) -> str:
        if actor:
            return actor
        from procops.journal import default_actor

        return default_actor()

    def _insert_timeline(
        self, db: sqlite3.Connection, incident_id: str, kind: str, data: dict, actor: str, when: dt.datetime
    ) -> None:
        from procops.journal import scrub

        db.execute(
            "INSERT INTO incident_timeline (incident_id, time, kind, actor, data) VALUES (?, ?, ?, ?, ?)",
            (incident_id, iso(when), kind, actor, json.dumps(scrub(data), ensure_ascii=False)),
        )

    def _load(self, db: sqlite3.Connection, incident_id: str, *, timeline: bool = True) -> Incident:
        row = db.execute("SELECT doc FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise BadInput(
                _("unknown incident {incident_id!r}").format(incident_id=incident_id),
                hint=_("list them with: procops incident list"),
            )
        entries = None
        if timeline:
            entries = [
                TimelineEntry(t, k, a, json.loads(d))
                for t, k, a, d in db.execute(
                    "SELECT time, kind, actor, data FROM incident_timeline WHERE incident_id = ? ORDER BY id",
                    (incident_id,),
                )
            ]
        return Incident.from_doc(row[0], entries)

    def _save(self, db: sqlite3.Connection, inc: Incident) -> None:
        db.execute(
            "UPDATE incidents SET status = ?, doc = ?, drill = ? WHERE id = ?",
            (inc.status, inc.to_doc(), int(inc.drill), inc.id),
        )

    def _change(
        self,
        incident_id: str,
        kind: str,
        journal_kind: Kind,
        change: Callable[[Incident, dt.datetime, str], events.Record],
        actor: str | None,
    ) -> Incident:
        """Read, change and write one incident in one transaction: timeline entry, and the journal
        event (``change``'s record) written before the transaction commits."""
        actor = self._actor(actor)
        now = self.now()
        try:
            with self._tx() as db:
                inc = self._load(db, incident_id, timeline=False)
                evidence = change(inc, now, actor)
                self._save(db, inc)
                self._insert_timeline(db, inc.id, kind, evidence.to_data(), actor, now)
                self._journal_append(journal_kind, incident_id, evidence, actor)
        except sqlite3.Error as e:
            raise EnvironmentFailure(
                _("cannot update incident {incident_id} in {path}: {e}").format(
                    incident_id=incident_id, path=self.path, e=e
                )
            ) from None
        return self.get(incident_id)

    # -- the public API
    def open(
        self,
        title: str,
        *,
        severity: str = "critical",
        t0: dt.datetime | None = None,
        source: dict | None = None,
        dedupe_key: str | None = None,
        actor: str | None = None,
        roles: dict[str, str | None] | None = None,
        drill: bool = False,
        group: str | None = None,
    ) -> tuple[Incident, bool]:
        """Open an incident (starts the clocks); with an open one of the same ``dedupe_key``, return it.

        ``drill`` flags a drill's incident; ``group`` is the grouping key later alerts attach by.
        """
        title = (title or "").strip()
        if not title:
            raise BadInput(_("an incident needs a title"))
        if severity not in SEVERITIES:
            raise BadInput(
                _("unknown severity {severity!r} (one of {severities})").format(
                    severity=severity, severities=", ".join(SEVERITIES)
                )
            )
        for r in roles or {}:
            if r not in ROLES:
                raise BadInput(_("unknown role {r!r} (one of {roles})").format(r=r, roles=", ".join(ROLES)))
        now = self.now()
        t0 = _utc(t0) if t0 else now
        if t0 > now + dt.timedelta(minutes=5):
            raise BadInput(_("T0 {iso} is in the future").format(iso=iso(t0)))
        source = dict(source or {"kind": "manual"})
        actor = self._actor(actor)
        dl = deadlines(t0, self.policy)
        day = now.strftime("%Y%m%d")
        try:
            with self._tx() as db:
                if dedupe_key is not None:
                    row = db.execute(
                        "SELECT id FROM incidents WHERE dedupe_key = ? AND status = 'open'", (dedupe_key,)
                    ).fetchone()
                    if row:
                        return self._load(db, row[0]), False
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM incidents WHERE day = ?", (day,)).fetchone()[0]
                inc = Incident(
                    id=make_id(day, seq),
                    title=title,
                    severity=severity,
                    status="open",
                    t0=iso(t0),
                    opened_at=iso(now),
                    opened_by=actor,
                    source=source,
                    dedupe_key=dedupe_key,
                    milestones={m: Milestone(m, iso(dl[m])) for m in MILESTONES},
                    roles={r: (roles or {}).get(r) for r in ROLES},
                    drill=bool(drill),
                    group=group,
                )
                db.execute(
                    "INSERT INTO incidents (id, day, seq, status, dedupe_key, t0, doc, drill) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (inc.id, day, seq, inc.status, dedupe_key, inc.t0, inc.to_doc(), int(inc.drill)),
                )
                evidence = events.IncidentOpen(
                    title=title,
                    severity=severity,
                    t0=inc.t0,
                    source=source,
                    dedupe_key=dedupe_key,
                    deadlines={m: iso(dl[m]) for m in MILESTONES},
                    drill=inc.drill,
                    group=group,
                )
                self._insert_timeline(db, inc.id, "open", evidence.to_data(), actor, now)
                self._journal_append(Kind.INCIDENT_OPEN, inc.id, evidence, actor)
        except sqlite3.Error as e:
            raise EnvironmentFailure(_("cannot open an incident in {path}: {e}").format(path=self.path, e=e)) from None
        return self.get(inc.id), True

    def get(self, incident_id: str) -> Incident:
        return self._load(self._db, incident_id)

    def is_open(self, incident_id: str) -> bool:
        """Whether the incident is open (one indexed read; an unknown id is bad input)."""
        row = self._db.execute("SELECT status FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise BadInput(_("no incident {incident_id!r}").format(incident_id=incident_id))
        return row[0] == "open"

    def find_open(self, dedupe_key: str) -> Incident | None:
        row = self._db.execute(
            "SELECT id FROM incidents WHERE dedupe_key = ? AND status = 'open'", (dedupe_key,)
        ).fetchone()
        return self.get(row[0]) if row else None

    def list(self, open_only: bool = False, *, drill: bool | None = None) -> list[Incident]:
        """Incidents in opening order; ``drill`` True/False keeps only drill/real ones (None: both)."""
        where = []
        if open_only:
            where.append("status = 'open'")
        if drill is not None:
            where.append("drill = 1" if drill else "drill = 0")
        sql = "SELECT id FROM incidents" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY day, seq"
        return [self.get(r[0]) for r in self._db.execute(sql).fetchall()]

    def count_open(self, *, drill: bool = False) -> int:
        """Open real incidents (``drill=True``: open drill incidents); real-incident figures never count drills."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM incidents WHERE status = 'open' AND drill = ?", (int(drill),)
        ).fetchone()
        return int(row[0])

    _ALERT_FIELDS = frozenset({"fingerprint", "alertname", "status", "severity", "labels", "starts_at", "group_key"})

    def attach_alert(
        self, incident_id: str, evidence: dict, *, drill: bool = False, actor: str | None = None
    ) -> Incident:
        """Attach a related alert to an incident as further evidence (journal kind ``incident.alert``).

        ``evidence``: fingerprint, alertname, status, severity, labels, starts_at, group_key. An alert
        already on the incident is not attached twice. A more severe alert raises the incident's
        severity (recorded as ``severity_raised``). A drill alert never attaches to a real incident,
        nor a real alert to a drill incident (BadInput).
        """
        fp = str(evidence.get("fingerprint") or "")
        if not fp:
            raise BadInput(_("an attached alert needs its fingerprint"))
        current = self.get(incident_id)
        if fp in current.alert_fingerprints() and current.drill == bool(drill):
            return current  # dedupe by fingerprint: nothing new to record

        def change(inc: Incident, now: dt.datetime, who: str) -> events.IncidentAlert:
            if inc.drill != bool(drill):
                what = "a drill alert to a real incident" if drill else "a real alert to a drill incident"
                raise BadInput(_("{id}: refusing to attach {what}").format(id=inc.id, what=what))
            data = {k: v for k, v in evidence.items() if k in self._ALERT_FIELDS}
            if fp in inc.alert_fingerprints():
                return events.IncidentAlert(**data, already_attached=True, drill=inc.drill)
            raised = None
            sev = str(evidence.get("severity") or "")
            inc.alerts.append(
                {
                    "fingerprint": fp,
                    "alertname": evidence.get("alertname"),
                    "severity": sev,
                    "status": evidence.get("status"),
                    "starts_at": evidence.get("starts_at"),
                    "attached_at": iso(now),
                }
            )
            if sev in SEVERITIES and severity_rank(sev) < severity_rank(inc.severity):
                raised = {"from": inc.severity, "to": sev}
                inc.severity = sev
            return events.IncidentAlert(**data, severity_raised=raised, incident_severity=inc.severity, drill=inc.drill)

        return self._change(incident_id, "alert.attach", Kind.INCIDENT_ALERT, change, actor)

    def add_timeline(self, incident_id: str, kind: str, data: dict | None = None, *, actor: str | None = None) -> None:
        """A note on the incident's timeline (alert repeated, alert resolved, escalation sent ...)."""
        actor = self._actor(actor)
        data = dict(data or {})
        escalation = events.IncidentEscalation(kind=kind, **data) if kind.startswith("escalation.") else None
        try:
            with self._tx() as db:
                if db.execute("SELECT 1 FROM incidents WHERE id = ?", (incident_id,)).fetchone() is None:
                    raise BadInput(_("unknown incident {incident_id!r}").format(incident_id=incident_id))
                self._insert_timeline(db, incident_id, kind, data, actor, self.now())
                if escalation is not None:
                    self._journal_append(Kind.INCIDENT_ESCALATION, incident_id, escalation, actor)
                else:
                    note = events.IncidentTimeline(kind=kind, details=data)
                    self._journal_append(Kind.INCIDENT_TIMELINE, incident_id, note, actor)
        except sqlite3.Error as e:
            raise EnvironmentFailure(
                _("cannot write the timeline of {incident_id}: {e}").format(incident_id=incident_id, e=e)
            ) from None

    # -- milestones
    def _reach(
        self, inc: Incident, name: str, now: dt.datetime, actor: str, evidence: dict
    ) -> events.IncidentMilestone:
        m = inc.milestones[name]
        if m.reached_at is not None:
            return events.IncidentMilestone(milestone=name, already_reached_at=m.reached_at, evidence=evidence)
        m.reached_at, m.by, m.evidence = iso(now), actor, evidence
        m.late = now > parse_iso(m.deadline)
        m.waived = None
        took = (now - parse_iso(inc.t0)).total_seconds()
        return events.IncidentMilestone(
            milestone=name,
            reached_at=m.reached_at,
            deadline=m.deadline,
            late=m.late,
            took_seconds=round(took, 3),
            evidence=evidence,
        )

    def classify(
        self, incident_id: str, fault_type: str, *, note: str | None = None, actor: str | None = None
    ) -> Incident:
        """Milestone 1: the fault type is confirmed."""
        if fault_type not in FAULT_TYPES:
            raise BadInput(
                _("unknown fault type {fault_type!r} (one of {fault_types})").format(
                    fault_type=fault_type, fault_types=", ".join(FAULT_TYPES)
                )
            )

        def change(inc: Incident, now: dt.datetime, who: str) -> events.IncidentMilestone:
            previous = inc.fault_type
            inc.fault_type = fault_type
            reached = self._reach(inc, "classify", now, who, {"type": fault_type, "note": note})
            return replace(
                reached, type=fault_type, previous_type=previous if previous and previous != fault_type else None
            )

        return self._change(incident_id, "classify", Kind.INCIDENT_MILESTONE, change, actor)

    def standby(self, incident_id: str, *, evidence: dict | None = None, actor: str | None = None) -> Incident:
        """Milestone 2: the standby system is started (``evidence``: what was started, where)."""

        def change(inc: Incident, now: dt.datetime, who: str) -> events.IncidentMilestone:
            if evidence and evidence.get("url"):
                inc.standby = dict(evidence)
            return self._reach(inc, "standby", now, who, dict(evidence or {}))

        return self._change(incident_id, "standby", Kind.INCIDENT_MILESTONE, change, actor)

    def submit_report(self, incident_id: str, lang: str, *, actor: str | None = None) -> Incident:
        """Milestone 3: the fault analysis report is submitted (its files are attached by record_report)."""

        def change(inc: Incident, now: dt.datetime, who: str) -> events.IncidentMilestone:
            rep = dict(inc.report or {})
            if not rep.get("submitted_at"):
                rep["submitted_at"], rep["submitted_lang"] = iso(now), lang
            inc.report = rep
            return self._reach(inc, "report", now, who, {"lang": lang})

        return self._change(incident_id, "report.submit", Kind.INCIDENT_MILESTONE, change, actor)

    def record_report(self, incident_id: str, lang: str, files: dict, *, actor: str | None = None) -> Incident:
        """A report was written (``files``: markdown, html, sha256); attached to milestone 3 when submitted.

        Writing a report is not submitting it: a draft leaves the 24 h clock running (:meth:`submit_report`
        stops it, with an ``incident.milestone`` event; this one is ``incident.report``).
        """

        def change(inc: Incident, now: dt.datetime, who: str) -> events.IncidentReport:
            rep = dict(inc.report or {})
            rep[lang] = dict(files, written_at=iso(now))
            inc.report = rep
            m = inc.milestones["report"]
            if m.reached_at and m.evidence.get("lang") == lang and "sha256" not in m.evidence:
                m.evidence.update(files)
            return events.IncidentReport(
                lang=lang, markdown=files.get("markdown"), html=files.get("html"), sha256=files.get("sha256")
            )

        return self._change(incident_id, "report.write", Kind.INCIDENT_REPORT, change, actor)

    def update_fields(self, incident_id: str, *, actor: str | None = None, **fields: str | None) -> Incident:
        """Narrative fields of the report (summary, impact, detection, root_cause) and roles (commander ...)."""
        allowed = {"summary", "impact", "detection", "root_cause", "title", *ROLES}
        bad = set(fields) - allowed
        if bad:
            raise BadInput(_("unknown incident field(s): {bad}").format(bad=", ".join(sorted(bad))))
        given = {k: v for k, v in fields.items() if v is not None}
        if not given:
            return self.get(incident_id)

        def change(inc: Incident, now: dt.datetime, who: str) -> events.IncidentUpdate:
            for k, v in given.items():
                if k in ROLES:
                    inc.roles[k] = v
                else:
                    setattr(inc, k, v)
            return events.IncidentUpdate(fields=given)

        return self._change(incident_id, "update", Kind.INCIDENT_UPDATE, change, actor)

    def resolve(self, incident_id: str, *, summary: str | None = None, actor: str | None = None) -> Incident:
        """The service is restored. A standby not needed before its deadline is waived, not missed."""

        def change(inc: Incident, now: dt.datetime, who: str) -> events.IncidentResolve:
            if inc.status == "resolved":
                raise BadInput(
                    _("incident {id} was already resolved at {at}").format(
                        id=inc.id, at=(inc.resolution or {}).get("at", "?")
                    )
                )
            inc.status = "resolved"
            inc.resolution = {"at": iso(now), "by": who, "summary": summary}
            waived = None
            sb = inc.milestones["standby"]
            if sb.reached_at is None and now <= parse_iso(sb.deadline):
                sb.waived = f"resolved at {iso(now)} before the standby deadline"
                waived = True
            return events.IncidentResolve(
                resolved_at=iso(now),
                summary=summary,
                took_seconds=round((now - parse_iso(inc.t0)).total_seconds(), 3),
                standby_waived=waived,
            )

        return self._change(incident_id, "resolve", Kind.INCIDENT_RESOLVE, change, actor)

    # -- rectification (R12)
    def add_action(
        self, incident_id: str, problem: str, owner: str, due: dt.datetime | None = None, *, actor: str | None = None
    ) -> tuple[Incident, Action]:
        if not problem.strip() or not owner.strip():
            raise BadInput(_("a rectification item needs a problem and an owner"))
        made: dict[str, Action] = {}

        def change(inc: Incident, now: dt.datetime, who: str) -> events.IncidentActionAdd:
            a = Action(
                n=len(inc.actions) + 1,
                problem=problem.strip(),
                owner=owner.strip(),
                due=iso(_utc(due)) if due else None,
                created_at=iso(now),
                updated_at=iso(now),
                history=[{"at": iso(now), "by": who, "status": "open"}],
            )
            inc.actions.append(a)
            made["a"] = a
            return events.IncidentActionAdd(action=a.n, problem=a.problem, owner=a.owner, due=a.due)

        inc = self._change(incident_id, "action.add", Kind.INCIDENT_ACTION_ADD, change, actor)
        return inc, made["a"]

    def update_action(
        self,
        incident_id: str,
        n: int,
        *,
        status: str | None = None,
        note: str | None = None,
        owner: str | None = None,
        due: dt.datetime | None = None,
        actor: str | None = None,
    ) -> tuple[Incident, Action]:
        if status is not None and status not in ACTION_STATUSES:
            raise BadInput(
                _("unknown status {status!r} (one of {action_statuses})").format(
                    status=status, action_statuses=", ".join(ACTION_STATUSES)
                )
            )

        def change(inc: Incident, now: dt.datetime, who: str) -> events.IncidentActionUpdate:
            if not 1 <= n <= len(inc.actions):
                raise BadInput(
                    _("incident {id} has no rectification item {n} (it has {n_actions})").format(
                        id=inc.id, n=n, n_actions=len(inc.actions)
                    )
                )
            a = inc.actions[n - 1]
            data: dict[str, Any] = {"action": n}
            if status is not None and status != a.status:
                if status not in ACTION_TRANSITIONS[a.status]:
                    raise BadInput(
                        _("item {n} is {status}: it can go to {value}, not {status2}").format(
                            n=n,
                            status=a.status,
                            value=" or ".join(sorted(ACTION_TRANSITIONS[a.status])),
                            status2=status,
                        )
                    )
                data["from"], data["status"] = a.status, status
                a.status = status
            if owner:
                a.owner = data["owner"] = owner
            if due:
                a.due = data["due"] = iso(_utc(due))
            if note:
                data["note"] = note
            a.updated_at = iso(now)
            a.history.append({"at": iso(now), "by": who, **{k: v for k, v in data.items() if k != "action"}})
            return events.IncidentActionUpdate(
                action=n,
                from_=data.get("from"),
                status=data.get("status"),
                owner=data.get("owner"),
                due=data.get("due"),
                note=data.get("note"),
            )

        inc = self._change(incident_id, "action.update", Kind.INCIDENT_ACTION_UPDATE, change, actor)
        return inc, inc.actions[n - 1]

    # -- escalation bookkeeping (used by procops.incidents.escalation)
    def escalation_claim(
        self, incident_id: str, milestone: str, level: str, receiver: str, now: dt.datetime, claim_timeout: float = 60.0
    ) -> int | None:
        """Claim a delivery; returns the attempt number, or None when sent, claimed or not due yet."""
        with self._tx() as db:
            row = db.execute(
                "SELECT status, attempts, next_attempt_at, claimed_at FROM incident_escalations "
                "WHERE incident_id = ? AND milestone = ? AND level = ? AND receiver = ?",
                (incident_id, milestone, level, receiver),
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO incident_escalations (incident_id, milestone, level, receiver, status, "
                    "attempts, claimed_at) VALUES (?, ?, ?, ?, 'sending', 1, ?)",
                    (incident_id, milestone, level, receiver, iso(now)),
                )
                return 1
            status, attempts, next_at, claimed_at = row
            if status == "sent":
                return None
            if status == "sending" and claimed_at and (now - parse_iso(claimed_at)).total_seconds() < claim_timeout:
                return None
            if status == "failed" and next_at and parse_iso(next_at) > now:
                return None
            db.execute(
                "UPDATE incident_escalations SET status = 'sending', attempts = ?, claimed_at = ? "
                "WHERE incident_id = ? AND milestone = ? AND level = ? AND receiver = ?",
                (attempts + 1, iso(now), incident_id, milestone, level, receiver),
            )
            return attempts + 1

    def escalation_done(
        self,
        incident_id: str,
        milestone: str,
        level: str,
        receiver: str,
        now: dt.datetime,
        *,
        error: str | None = None,
        retry_after: float = 0.0,
    ) -> None:
        with self._tx() as db:
            if error is None:
                db.execute(
                    "UPDATE incident_escalations SET status = 'sent', sent_at = ?, last_error = NULL "
                    "WHERE incident_id = ? AND milestone = ? AND level = ? AND receiver = ?",
                    (iso(now), incident_id, milestone, level, receiver),
                )
            else:
                db.execute(
                    "UPDATE incident_escalations SET status = 'failed', last_error = ?, next_attempt_at = ? "
                    "WHERE incident_id = ? AND milestone = ? AND level = ? AND receiver = ?",
                    (error, iso(now + dt.timedelta(seconds=retry_after)), incident_id, milestone, level, receiver),
                )

    def escalations(self, incident_id: str | None = None) -> builtins.list[dict]:  # list: the method above
        sql = (
            "SELECT incident_id, milestone, level, receiver, status, attempts, last_error, next_attempt_at, "
            "sent_at FROM incident_escalations"
        )
        args: tuple = ()
        if incident_id:
            sql += " WHERE incident_id = ?"
            args = (incident_id,)
        cols = (
            "incident",
            "milestone",
            "level",
            "receiver",
            "status",
            "attempts",
            "last_error",
            "next_attempt_at",
            "sent_at",
        )
        return [dict(zip(cols, r)) for r in self._db.execute(sql + " ORDER BY rowid", args)]

    def iter_active(self) -> Iterator[Incident]:
        """Incidents with a clock still running: open ones, and resolved ones whose report is not submitted."""
        for inc in self.list():
            if any(not m.done for m in inc.milestones.values()):
                yield inc


def describe_remaining(seconds: float) -> str:
    from procops.display import duration

    if seconds >= 0:
        return _("{duration} left").format(duration=duration(seconds))
    return _("overdue by {duration}").format(duration=duration(-seconds))
