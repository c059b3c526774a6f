"""The catalog of journal events: every kind the product writes, and its typed evidence.

* :class:`Kind` names every event kind; :data:`RECORDS` gives each its evidence
  record, a frozen dataclass holding exactly the fields the producer writes.
  :meth:`procops.journal.Journal.append` takes a ``Kind`` and an instance of its
  record, and refuses anything else (a raw string, a record of another kind).
* :class:`Status` is the closed outcome of an operation: every record that is the
  result of one carries ``status``. The older verdict words (``verdict: pass``,
  ``ok: true``) are still written beside it where readers use them, and rows
  written before ``status`` existed get it derived from those words.
* :func:`evidence` parses a stored row back into its record. It is tolerant of
  rows written by older versions: a missing field gets its default, an unknown
  field is ignored.

Only the standard library is imported here: the journal is written by commands
whose ``--help`` must stay fast.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self


class Status(str, enum.Enum):
    """The outcome of an operation (a backup, a check, a test, a job ...)."""

    OK = "ok"  # done, and the verdict holds
    FAILED = "failed"  # done, and the verdict failed
    ERROR = "error"  # could not be done: environment or dependency failure
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C or SIGTERM
    SKIPPED = "skipped"  # not run (something it needs failed, or nothing to do)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, ok: bool) -> Status:
        return cls.OK if ok else cls.FAILED

    @classmethod
    def from_exit_code(cls, code: int) -> Status:
        """The CLI's exit-code contract read backwards (0 ok, 1 failed, 130 interrupted, else error)."""
        return {0: cls.OK, 1: cls.FAILED, 130: cls.INTERRUPTED}.get(code, cls.ERROR)

    @classmethod
    def from_legacy(cls, data: Mapping[str, Any]) -> Status | None:
        """The status of a row written before ``status`` existed, from its ``ok`` or ``verdict``."""
        ok = data.get("ok")
        if isinstance(ok, bool):
            return cls.of(ok)
        verdict = data.get("verdict")
        if isinstance(verdict, str):
            return _VERDICTS.get(verdict.strip().lower())
        return None


_VERDICTS = {"pass": Status.OK, "fail": Status.FAILED, "error": Status.ERROR, "interrupted": Status.INTERRUPTED}


def verdict_word(status: Status) -> str:
    """The ``verdict`` word written beside ``status`` (pass, fail, error ...), as older readers expect."""
    return {Status.OK: "pass", Status.FAILED: "fail"}.get(status, status.value)


class Kind(str, enum.Enum):
    """Every journal event kind the product writes."""

    # backup (R3, R4, R5, R9)
    BACKUP_INIT = "backup.init"
    BACKUP_RUN = "backup.run"
    BACKUP_CHECK = "backup.check"
    BACKUP_VERIFY = "backup.verify"
    BACKUP_RESTORE = "backup.restore"
    BACKUP_RESTORE_DOCUMENT = "backup.restore-document"
    BACKUP_PRUNE = "backup.prune"
    BACKUP_STATUS = "backup.status"
    # schedule
    SCHEDULE_INSTALL = "schedule.install"
    SCHEDULE_REMOVE = "schedule.remove"
    SCHEDULE_JOB = "schedule.job"
    SCHEDULE_JOB_FAILED = "schedule.job_failed"
    # load tests (R1, R3): loadtest.<scenario>
    LOADTEST_PEAK = "loadtest.peak"
    LOADTEST_CAPACITY = "loadtest.capacity"
    LOADTEST_READINESS_PEAK = "loadtest.readiness-peak"
    # monitoring (R2)
    MONITOR_UP = "monitor.up"
    MONITOR_DOWN = "monitor.down"
    MONITOR_CHECK = "monitor.check"
    MONITOR_RULES = "monitor.rules"
    MONITOR_WEBHOOK = "monitor.webhook"
    MONITOR_WEBHOOK_REJECTED = "monitor.webhook.rejected"
    # the sandbox platform
    SANDBOX_UP = "sandbox.up"
    SANDBOX_DOWN = "sandbox.down"
    SANDBOX_FAULT = "sandbox.fault"
    SANDBOX_SITE = "sandbox.site"  # the active site changed (failover to the standby, failback to main)
    # incidents (R7, R11, R12)
    INCIDENT_OPEN = "incident.open"
    INCIDENT_MILESTONE = "incident.milestone"
    INCIDENT_REPORT = "incident.report"  # a report was written (a draft unless milestone 3 was reached)
    INCIDENT_UPDATE = "incident.update"
    INCIDENT_RESOLVE = "incident.resolve"
    INCIDENT_ACTION_ADD = "incident.action.add"
    INCIDENT_ACTION_UPDATE = "incident.action.update"
    INCIDENT_TIMELINE = "incident.timeline"
    INCIDENT_ESCALATION = "incident.escalation"
    INCIDENT_ALERT = "incident.alert"  # a related alert attached to an open incident as further evidence
    # gray release (R6)
    RELEASE_START = "release.start"
    RELEASE_STAGE = "release.stage"  # a stage's deploy, weights and decision
    RELEASE_GATE = "release.gate"  # one gate measurement: query, value, threshold, passed
    RELEASE_FEEDBACK = "release.feedback"
    RELEASE_END = "release.end"
    # emergency drills (R8)
    DRILL_RUN = "drill.run"
    # host security scan, readiness
    SCAN_RUN = "scan.run"
    READINESS_RUN = "readiness.run"
    AUDIT_RUN = "audit.run"  # a compliance audit R1-R12 (procops audit)
    # the lifecycle every job runs in (procops/operation.py)
    OPERATION_START = "operation.start"
    OPERATION_END = "operation.end"

    def __str__(self) -> str:
        return self.value

    @property
    def area(self) -> str:
        return self.value.split(".", 1)[0]

    @classmethod
    def loadtest(cls, scenario: str) -> Kind:
        """The kind of a load test of ``scenario`` (``loadtest.<scenario>``); unknown scenarios are refused."""
        try:
            return cls(f"loadtest.{scenario}")
        except ValueError:
            raise ValueError(
                f"no journal kind for load test scenario {scenario!r}: add it to procops.events.Kind"
            ) from None


# --------------------------------------------------------------------------- records


def _plain(v: Any) -> Any:
    if isinstance(v, Record):
        return v.to_data()
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _parse(hint: Any, v: Any) -> Any:
    """A stored JSON value read back as the field's type (records, enums, and maps or lists of them)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if v is None:
            return None
        return _parse(args[0], v) if len(args) == 1 else v
    if isinstance(hint, type):
        if issubclass(hint, Record):
            return hint.from_data(v) if isinstance(v, Mapping) else hint()
        if issubclass(hint, enum.Enum):
            return hint(v)
        return v
    if origin is dict and isinstance(v, Mapping):
        _, vt = typing.get_args(hint)
        return {k: _parse(vt, x) for k, x in v.items()}
    if origin is list and isinstance(v, (list, tuple)):
        (vt,) = typing.get_args(hint)
        return [_parse(vt, x) for x in v]
    return v


@dataclass(frozen=True)
class Record:
    """Evidence of one event. Subclasses are frozen dataclasses whose fields all have defaults."""

    # field name -> the key written in the journal, where it is not a Python name
    _KEYS: ClassVar[Mapping[str, str]] = {}
    # fields left out of the stored JSON while None (they appear only sometimes)
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None and f.name in self._OPTIONAL:
                continue
            out[self._KEYS.get(f.name, f.name)] = _plain(v)
        return out

    @classmethod
    def _hints(cls) -> dict[str, Any]:
        cached = cls.__dict__.get("_hints_cache")
        if cached is None:
            cached = typing.get_type_hints(cls)
            type.__setattr__(cls, "_hints_cache", cached)
        return cached

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        """Parse stored JSON; missing fields get their defaults, unknown ones are ignored."""
        hints = cls._hints()
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            key = cls._KEYS.get(f.name, f.name)
            if key in data:
                try:
                    kw[f.name] = _parse(hints[f.name], data[key])
                except (ValueError, TypeError, KeyError):
                    pass  # an unreadable value of an older version: the default
        if "status" in {f.name for f in dataclasses.fields(cls)} and "status" not in kw:
            legacy = Status.from_legacy(data)
            if legacy is not None:
                kw["status"] = legacy
        return cls(**kw)


# ---- backup


@dataclass(frozen=True)
class BackupInitRepo(Record):
    status: str = "failed"  # exists | created | failed
    url: str = ""
    error: str | None = None
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"error"})


@dataclass(frozen=True)
class BackupInit(Record):
    status: Status = Status.OK
    repositories: dict[str, BackupInitRepo] = field(default_factory=dict)


@dataclass(frozen=True)
class BackupRunRepo(Record):
    status: Status = Status.FAILED
    mode: str = "backup"  # backup | copy
    problem: str | None = None
    error: str | None = None
    files_snapshot: str | None = None
    database_snapshot: str | None = None
    added_bytes: int = 0
    forget: str | None = None
    prune: str | None = None


@dataclass(frozen=True)
class BackupRun(Record):
    status: Status = Status.FAILED
    ok: bool = False
    run: str | None = None
    seconds: float = 0.0
    dump_error: str | None = None
    documents: int | None = None
    repositories: dict[str, BackupRunRepo] = field(default_factory=dict)
    operation: str | None = None  # the id of the operation it ran in (operation.start/end)
    # documents whose file changed since the last run and no longer match the platform's record
    damaged_documents: list[dict] = field(default_factory=list)
    documents_hashed: int | None = None

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"operation", "documents_hashed"})


@dataclass(frozen=True)
class BackupRestoreDocument(Record):
    """One archived document restored in place (``restored``), found intact, or with no good copy anywhere."""

    status: Status = Status.FAILED
    document: int = 0
    storage_path: str = ""
    sha256: str = ""
    outcome: str = ""  # restored | intact | no_good_copy
    repository: str | None = None
    run: str | None = None
    snapshot: str | None = None
    tried: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class BackupPrune(Record):
    """`forget --prune` per retention run on purpose (``backup prune``), e.g. on the off-site host."""

    status: Status = Status.FAILED
    repositories: dict[str, str] = field(default_factory=dict)  # name -> ok | failed: ...


@dataclass(frozen=True)
class BackupCheckRepo(Record):
    repository: str = ""
    ok: bool = False
    read: str = ""
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    packs: list[str] = field(default_factory=list)
    problem: str | None = None


@dataclass(frozen=True)
class BackupCheck(Record):
    status: Status = Status.FAILED
    ok: bool = False
    repositories: dict[str, BackupCheckRepo] = field(default_factory=dict)


@dataclass(frozen=True)
class BackupVerify(Record):
    status: Status = Status.FAILED
    ok: bool = False
    run: str | None = None
    snapshot: str | None = None
    documents: int | None = None
    problem_counts: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)  # the first 50, as the verifier reports them
    seconds: float | None = None  # the whole verify: a run's restore to scratch and its checks (R5)
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"seconds"})


@dataclass(frozen=True)
class BackupRestore(Record):
    """A restore to a folder (``repository``, the run's snapshots) or into a sandbox instance (``url`` ...)."""

    status: Status = Status.OK
    repository: str | None = None
    run: str | None = None
    time: str | None = None
    files_snapshot: str | None = None
    database_snapshot: str | None = None
    seconds: float = 0.0
    documents: int | None = None
    # restored into a sandbox instance
    url: str | None = None
    snapshot: str | None = None
    instance: str | None = None
    port: int | None = None
    bind_address: str | None = None
    replica_ports: list[int] | None = None
    database: str | None = None
    restored_at: str | None = None
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"time", "files_snapshot", "url", "snapshot", "instance", "port", "bind_address", "replica_ports"}
        | {"database", "restored_at"}
    )


@dataclass(frozen=True)
class BackupStatusRepo(Record):
    rpo_ok: bool = False
    age_seconds: float | None = None
    latest_run: str | None = None
    offsite_missing_runs: int | None = None


@dataclass(frozen=True)
class BackupStatus(Record):
    status: Status = Status.FAILED
    ok: bool = False
    repositories: dict[str, BackupStatusRepo] = field(default_factory=dict)


# ---- schedule


@dataclass(frozen=True)
class ScheduleInstall(Record):
    status: Status = Status.OK
    target: str = ""
    files: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScheduleRemove(Record):
    status: Status = Status.OK
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScheduleJob(Record):
    status: Status = Status.OK
    command: str = ""
    exit_code: int = 0
    seconds: float = 0.0
    error: str | None = None
    timed_out: bool | None = None  # stopped at the job's timeout (SIGINT, grace, then SIGKILL)
    log: str | None = None  # the log file its output went to (cron); None: the system journal
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"timed_out", "log"})

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        rec = super().from_data(data)
        if "status" not in data and isinstance(data.get("exit_code"), int):
            rec = dataclasses.replace(rec, status=Status.from_exit_code(data["exit_code"]))
        return rec


@dataclass(frozen=True)
class ScheduleJobFailed(Record):
    """A job's systemd unit failed (``OnFailure=`` ran ``procops schedule job-failed``): also when
    the job wrapper itself was killed and could not record its own end."""

    status: Status = Status.FAILED
    unit: str = ""
    exit_code: int = 1  # the last exit code the wrapper recorded, 1 when it recorded none after its start
    recorded_by_job: bool = False  # whether the wrapper had journaled this failure itself


# ---- load tests


@dataclass(frozen=True)
class LoadtestRun(Record):
    status: Status = Status.FAILED
    verdict: str = "fail"  # pass | fail | invalid (generator overloaded) | error: the load test's own word
    report_dir: str | None = None
    failed_slos: list[str] = field(default_factory=list)
    requests: int | None = None
    rps: float | None = None
    users: int | None = None
    generator_cpu_max: float | None = None
    capacity_multiple: float | None = None
    error: str | None = None
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"error"})


# ---- monitoring


@dataclass(frozen=True)
class MonitorUp(Record):
    status: Status = Status.OK
    components: list[str] = field(default_factory=list)
    target: str | None = None


@dataclass(frozen=True)
class MonitorDown(Record):
    status: Status = Status.OK
    stopped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MonitorCheck(Record):
    status: Status = Status.FAILED
    verdict: str = "fail"
    critical: int = 0
    firing: list[str] = field(default_factory=list)
    silenced_critical: list[str] | None = None  # ids of active silences that cover critical alerts
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"silenced_critical"})


@dataclass(frozen=True)
class MonitorRules(Record):
    status: Status = Status.FAILED
    verdict: str = "fail"
    alerts: int = 0
    test_cases: int = 0
    check_ok: bool = False
    test_ok: bool = False


@dataclass(frozen=True)
class WebhookDelivery(Record):
    """One Alertmanager notification as the webhook handled it (``status``: Alertmanager's firing|resolved)."""

    receiver: str = ""
    status: str = ""
    path: str = ""
    alerts: int = 0
    firing: int = 0
    critical: int = 0
    alertnames: list[str] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    refired: list[str] = field(default_factory=list)
    duplicates: int = 0
    ignored: int = 0  # warnings that open no incident and had none to attach to
    errors: list[str] = field(default_factory=list)
    drill_incidents: list[str] | None = None  # incidents opened or fed by drill alerts
    synthetic: list[str] | None = None  # tags of end-to-end delivery tests (no incident)
    # alerts that fired again after their incident was resolved: {"incident": new id, "previous": old id}
    refired_after_resolve: list[dict[str, str]] | None = None
    watchdog: int | None = None  # Watchdog (dead man's switch) notifications: proof of life, no incident
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"synthetic", "drill_incidents", "refired_after_resolve", "watchdog"}
    )


@dataclass(frozen=True)
class WebhookRejected(Record):
    """A summary of the webhook's refusals in one window (journaled at most once a minute, not per request).

    ``code``/``reason``: the last refusal of the window; ``count``: all of them; ``reasons``: count per
    reason class (the ``reason`` label of ``procops_webhook_rejected_total``); ``window_start``/``window_end``:
    UTC times of the first and last refusal counted.
    """

    code: int = 400
    reason: str = ""
    count: int = 1
    reasons: dict[str, int] = field(default_factory=dict)
    window_start: str | None = None
    window_end: str | None = None


# ---- sandbox


@dataclass(frozen=True)
class SandboxUp(Record):
    status: Status = Status.OK
    url: str = ""
    replicas: int = 0
    version: str | None = None
    database: str | None = None
    seeded: dict[str, Any] | bool | None = None


@dataclass(frozen=True)
class SandboxDown(Record):
    status: Status = Status.OK
    stopped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SandboxFault(Record):
    status: Status = Status.OK
    action: str = "set"  # set | clear
    fault: dict[str, Any] | None = None


@dataclass(frozen=True)
class SandboxSite(Record):
    """The active site (the instance whose data users reach) after a failover or a failback."""

    status: Status = Status.OK
    site: str = "main"  # main | standby
    previous: str | None = None
    url: str | None = None  # the URL users reach it at
    incident: str | None = None
    operation: str | None = None  # failover | failback
    data_cutoff: str | None = None  # failover: the restored snapshot's time (later writes are not on it)


# ---- incidents


@dataclass(frozen=True)
class IncidentOpen(Record):
    title: str = ""
    severity: str = "critical"
    t0: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None
    deadlines: dict[str, str] = field(default_factory=dict)
    drill: bool = False  # opened by a drill alert: kept out of real-incident figures
    group: str | None = None  # the grouping key related alerts attach by


@dataclass(frozen=True)
class IncidentMilestone(Record):
    """A milestone reached (``reached_at``), or asked again when already reached (``already_reached_at``)."""

    milestone: str = ""
    reached_at: str | None = None
    deadline: str | None = None
    late: bool | None = None
    took_seconds: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    already_reached_at: str | None = None
    type: str | None = None  # classify: the fault type
    previous_type: str | None = None
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"reached_at", "deadline", "late", "took_seconds", "already_reached_at", "type", "previous_type"}
    )

    @property
    def reached(self) -> bool:
        return bool(self.reached_at or self.already_reached_at)


@dataclass(frozen=True)
class IncidentReport(Record):
    """A fault analysis report written: a draft, unless milestone 3 was reached by ``incident.milestone``."""

    lang: str = ""
    markdown: str | None = None
    html: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class IncidentUpdate(Record):
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentResolve(Record):
    resolved_at: str | None = None
    summary: str | None = None
    took_seconds: float | None = None
    standby_waived: bool | None = None
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"standby_waived"})


@dataclass(frozen=True)
class IncidentActionAdd(Record):
    action: int = 0
    problem: str = ""
    owner: str = ""
    due: str | None = None


@dataclass(frozen=True)
class IncidentActionUpdate(Record):
    action: int = 0
    from_: str | None = None
    status: str | None = None  # the rectification item's status: open | rectified | accepted
    owner: str | None = None
    due: str | None = None
    note: str | None = None
    _KEYS: ClassVar[Mapping[str, str]] = {"from_": "from"}
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"from_", "status", "owner", "due", "note"})


@dataclass(frozen=True)
class IncidentTimeline(Record):
    """A note on the timeline (``kind``: alert.resolved, standby.execute ...); its details sit beside ``kind``."""

    kind: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, **{k: _plain(v) for k, v in self.details.items() if k != "kind"}}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        return cls(kind=str(data.get("kind") or ""), details={k: v for k, v in data.items() if k != "kind"})


@dataclass(frozen=True)
class IncidentEscalation(Record):
    """A deadline escalation delivered (``kind`` escalation.sent) or not (escalation.failed)."""

    kind: str = "escalation.sent"
    milestone: str = ""
    level: str = ""  # near | missed
    receiver: str = ""
    attempt: int = 1
    status: str = "sent"  # the delivery: sent | failed
    error: str | None = None
    seconds_left: float | None = None


@dataclass(frozen=True)
class IncidentAlert(Record):
    """A related alert attached to an open incident as further evidence."""

    fingerprint: str = ""
    alertname: str = ""
    status: str = "firing"  # Alertmanager's firing | resolved
    severity: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    starts_at: str | None = None
    group_key: str | None = None
    already_attached: bool = False
    severity_raised: dict[str, str] | None = None  # {"from": ..., "to": ...}
    incident_severity: str | None = None
    drill: bool = False

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"severity_raised"})


# ---- scan, readiness


@dataclass(frozen=True)
class ScanRun(Record):
    status: Status = Status.FAILED
    verdict: str = "fail"
    hardening_index: int | None = None
    tests_executed: int | None = None
    suggestions: int | None = None
    warnings: int = 0
    report_dir: str | None = None
    duration_s: float | None = None
    target: str | None = None  # local, or the inventory host scanned over SSH
    vulnerabilities: int | None = None  # known vulnerabilities of the installed packages (debsecan)
    high: int | None = None  # of them high-urgency
    new_warnings: list[str] = field(default_factory=list)  # lynis tests warning since the previous scan
    new_high: list[str] = field(default_factory=list)  # "CVE package" high-urgency, new since the previous scan
    problems: list[str] = field(default_factory=list)  # why the verdict failed
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"target", "vulnerabilities", "high"})


@dataclass(frozen=True)
class AuditRun(Record):
    """A compliance audit: the period, the verdict, each requirement's status and the report written."""

    status: Status = Status.FAILED
    verdict: str = "fail"
    period: str = ""
    start: str = ""
    end: str = ""
    requirements: dict[str, str] = field(default_factory=dict)  # R1 -> met | not_met | no_evidence
    journal_rows: int = 0
    journal_head: str = ""
    report: str | None = None
    live: bool = True


@dataclass(frozen=True)
class ReadinessRun(Record):
    status: Status = Status.FAILED
    verdict: str = "fail"
    report: str | None = None
    steps: dict[str, str] = field(default_factory=dict)  # step name -> its status


# ---- gray release (R6)


@dataclass(frozen=True)
class ReleaseStart(Record):
    """A release started: the version, what it replaces, its stages and the change notice shown."""

    release_id: str = ""
    version: str = ""
    from_version: str = ""
    stages: int = 0
    auto: bool = False
    change_notice: bool = False  # a change notice (zh and en) was present and shown
    pilot_units: list[str] = field(default_factory=list)
    artifact_sha256: str | None = None
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"artifact_sha256"})


@dataclass(frozen=True)
class ReleaseStage(Record):
    """One stage: the hosts deployed, the weights set, and the decision (promote, pause, rollback)."""

    release_id: str = ""
    stage: int = 0
    hosts: list[str] = field(default_factory=list)
    weights: dict[str, int] = field(default_factory=dict)
    traffic_percent: float = 0.0
    decision: str = ""  # promote | pause | rollback | abort
    status: Status = Status.OK


@dataclass(frozen=True)
class ReleaseGate(Record):
    """One gate measured over an analysis window: the PromQL, the value, the threshold, the verdict."""

    release_id: str = ""
    stage: int = 0
    gate: str = ""
    query: str = ""
    value: float | None = None
    threshold: float | None = None
    passed: bool = False
    reason: str = ""  # why it failed (no data, too few requests, above the threshold ...)


@dataclass(frozen=True)
class ReleaseFeedback(Record):
    release_id: str = ""
    version: str = ""
    unit: str = ""
    blocking: bool = False
    text: str = ""
    resolved: bool = False


@dataclass(frozen=True)
class ReleaseEnd(Record):
    """A release ended: rolled out everywhere (``promoted``), ``rolled_back`` by a gate, or ``aborted``."""

    release_id: str = ""
    version: str = ""
    from_version: str = ""
    status: Status = Status.FAILED
    outcome: str = ""  # promoted | rolled_back | aborted
    stages_passed: int = 0
    stages_total: int = 0
    change_notice: bool = False
    reason: str = ""


# ---- emergency drills (R8)


@dataclass(frozen=True)
class DrillRun(Record):
    """One drill, however it ended: the scenario, mode, the measured times against their limits."""

    drill_id: str = ""
    scenario: str = ""
    mode: str = ""  # auto | interactive | tabletop
    announced: bool = True
    status: Status = Status.FAILED
    verdict: str = "fail"
    target: str = "sandbox"
    incident_id: str | None = None
    injected_at: str | None = None  # T0, UTC ISO 8601
    detected_s: float | None = None
    classified_s: float | None = None
    standby_s: float | None = None
    reported_s: float | None = None
    clocks: dict[str, bool] = field(default_factory=dict)  # 15m / 1h / 24h -> met
    rolled_back: bool = False
    steady_state_after: bool = False
    findings: list[str] = field(default_factory=list)
    report: str | None = None
    reason: str = ""
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"incident_id", "injected_at", "report"})


# ---- the operation lifecycle


@dataclass(frozen=True)
class OperationStart(Record):
    """Written before an operation's first side effect: what runs, where and with what."""

    operation: str = ""
    id: str = ""
    started_at: str = ""
    procops: str = ""
    actor: str = ""
    config_source: str | None = None
    config_sha256: str | None = None
    policy: dict[str, Any] = field(default_factory=dict)
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"config_source", "config_sha256"})


@dataclass(frozen=True)
class OperationEnd(Record):
    """Written however an operation ends (ok, failed, error or interrupted), with its steps."""

    operation: str = ""
    id: str = ""
    status: Status = Status.ERROR
    exit_code: int = 3
    started_at: str = ""
    ended_at: str = ""
    detail: str = ""
    error: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # child processes stopped on an interrupt


RECORDS: Mapping[Kind, type[Record]] = {
    Kind.BACKUP_INIT: BackupInit,
    Kind.BACKUP_RUN: BackupRun,
    Kind.BACKUP_CHECK: BackupCheck,
    Kind.BACKUP_VERIFY: BackupVerify,
    Kind.BACKUP_RESTORE: BackupRestore,
    Kind.BACKUP_RESTORE_DOCUMENT: BackupRestoreDocument,
    Kind.BACKUP_PRUNE: BackupPrune,
    Kind.BACKUP_STATUS: BackupStatus,
    Kind.SCHEDULE_INSTALL: ScheduleInstall,
    Kind.SCHEDULE_REMOVE: ScheduleRemove,
    Kind.SCHEDULE_JOB: ScheduleJob,
    Kind.SCHEDULE_JOB_FAILED: ScheduleJobFailed,
    Kind.LOADTEST_PEAK: LoadtestRun,
    Kind.LOADTEST_CAPACITY: LoadtestRun,
    Kind.LOADTEST_READINESS_PEAK: LoadtestRun,
    Kind.MONITOR_UP: MonitorUp,
    Kind.MONITOR_DOWN: MonitorDown,
    Kind.MONITOR_CHECK: MonitorCheck,
    Kind.MONITOR_RULES: MonitorRules,
    Kind.MONITOR_WEBHOOK: WebhookDelivery,
    Kind.MONITOR_WEBHOOK_REJECTED: WebhookRejected,
    Kind.SANDBOX_UP: SandboxUp,
    Kind.SANDBOX_DOWN: SandboxDown,
    Kind.SANDBOX_FAULT: SandboxFault,
    Kind.SANDBOX_SITE: SandboxSite,
    Kind.INCIDENT_OPEN: IncidentOpen,
    Kind.INCIDENT_MILESTONE: IncidentMilestone,
    Kind.INCIDENT_REPORT: IncidentReport,
    Kind.INCIDENT_UPDATE: IncidentUpdate,
    Kind.INCIDENT_RESOLVE: IncidentResolve,
    Kind.INCIDENT_ACTION_ADD: IncidentActionAdd,
    Kind.INCIDENT_ACTION_UPDATE: IncidentActionUpdate,
    Kind.INCIDENT_TIMELINE: IncidentTimeline,
    Kind.INCIDENT_ESCALATION: IncidentEscalation,
    Kind.INCIDENT_ALERT: IncidentAlert,
    Kind.RELEASE_START: ReleaseStart,
    Kind.RELEASE_STAGE: ReleaseStage,
    Kind.RELEASE_GATE: ReleaseGate,
    Kind.RELEASE_FEEDBACK: ReleaseFeedback,
    Kind.RELEASE_END: ReleaseEnd,
    Kind.DRILL_RUN: DrillRun,
    Kind.SCAN_RUN: ScanRun,
    Kind.READINESS_RUN: ReadinessRun,
    Kind.AUDIT_RUN: AuditRun,
    Kind.OPERATION_START: OperationStart,
    Kind.OPERATION_END: OperationEnd,
}


def check(kind: object, evidence: object) -> tuple[Kind, Record]:
    """The kind and record of an append, or TypeError/ValueError saying what is wrong."""
    if not isinstance(kind, Kind):
        if isinstance(kind, str):
            known = kind in Kind._value2member_map_
            raise TypeError(
                f"journal kind {kind!r} is a plain string: pass a procops.events.Kind"
                + (f" (Kind.{Kind(kind).name})" if known else "; it is not in the catalog, add it there first")
            )
        raise TypeError(f"journal kind must be a procops.events.Kind, not {type(kind).__name__}")
    want = RECORDS.get(kind)
    if want is None:
        raise ValueError(f"journal kind {kind.value!r} has no evidence record in procops.events.RECORDS")
    if type(evidence) is not want:
        raise TypeError(
            f"evidence of {kind.value} must be a {want.__name__}, not {type(evidence).__name__}"
            + (" (a dict: build the record instead)" if isinstance(evidence, Mapping) else "")
        )
    return kind, typing.cast(Record, evidence)


def evidence(event: Any) -> Record:
    """The typed evidence of a stored event (anything with ``kind`` and ``data``, e.g. a journal Event).

    Raises ValueError for a kind the catalog does not know (rows of retired kinds or of tests).
    """
    try:
        kind = Kind(event.kind)
    except ValueError:
        raise ValueError(f"journal kind {event.kind!r} is not in the catalog") from None
    data = event.data if isinstance(event.data, Mapping) else {}
    return RECORDS[kind].from_data(data)
