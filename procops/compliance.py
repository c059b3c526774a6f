"""The compliance audit R1-R12: pure evaluators over the journal's typed evidence.

Each requirement of REQUIREMENTS.md has one evaluator here. An evaluator reads the
evidence of one period (:class:`Evidence`: the journal's rows of the kinds it needs,
each with its typed record), the policy's thresholds, and the facts that only a live
check can give (:class:`Facts`: the off-site repository's listing, file modes, the
journal's verification against its anchors ...). It returns a :class:`Finding`:

* ``status``: ``met``, ``not_met`` or ``no_evidence`` (nothing in the period shows it
  either way: not a pass),
* ``figures``: the numbers an evaluator reads first ("2,184 of 2,208 hourly runs ok,
  longest gap 1 h 47 min"),
* ``rows``: the evidence (time, command, result), failures first, the latest passes after,
* ``todo``: what to do when it is not met.

Nothing here reads a file, the clock or the network: :mod:`procops.desk` gathers the
evidence and the facts, and the CLI renders the findings (:mod:`procops.report`).

The window an evaluator judges is the period cut to what the journal covers (from its
first row on): a journal started yesterday is judged over one day, and the audit says
how much of the period the evidence covers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from procops import events as ev
from procops.events import Kind, Status
from procops.i18n import N_, _

MET, NOT_MET, NO_EVIDENCE = "met", "not_met", "no_evidence"

# A cadence is met while no gap between two successes is longer than its interval by more than
# this share of it (an hourly job that starts at :05 and once at :11 still meets "hourly").
CADENCE_GRACE = 0.25
# Evidence rows kept per requirement: every failure up to this many, then the latest passes.
MAX_FAILED_ROWS = 50
MAX_OK_ROWS = 5

TITLES: Mapping[str, str] = {
    "R1": N_("Peak load: capacity at least 3x the normal peak"),
    "R2": N_("7x24 monitoring with warning thresholds"),
    "R3": N_("Routine maintenance cadence"),
    "R4": N_("Off-site disaster recovery"),
    "R5": N_("Data integrity verification"),
    "R6": N_("Gray release"),
    "R7": N_("Emergency response clocks"),
    "R8": N_("Emergency drills every quarter"),
    "R9": N_("Data classification and protection"),
    "R10": N_("Traceability: the evidence journal"),
    "R11": N_("Escalation of late steps"),
    "R12": N_("Closed-loop rectification"),
}

# 等保 2.0 (GB/T 22239-2019) items an evaluator may look under (references only).
REFERENCES: Mapping[str, str] = {
    "R1": N_("capacity management"),
    "R2": N_("security management centre: centralised monitoring"),
    "R3": N_("operations management: vulnerability and risk management, backup"),
    "R4": N_("data backup and recovery: off-site backup"),
    "R5": N_("data integrity; data backup and recovery"),
    "R6": N_("change management"),
    "R7": N_("security incident handling"),
    "R8": N_("emergency plan management: drills"),
    "R9": N_("data confidentiality; personal information protection; security audit"),
    "R10": N_("security audit: audit records protected"),
    "R11": N_("security incident handling: reporting"),
    "R12": N_("security management: inspection and rectification"),
}

# The command that writes each kind of evidence (the "command" column of the rows).
COMMANDS: Mapping[str, str] = {
    "backup.run": "procops backup run",
    "backup.check": "procops backup check",
    "backup.verify": "procops backup verify",
    "backup.restore": "procops backup restore",
    "scan.run": "procops scan",
    "loadtest.peak": "procops loadtest peak",
    "loadtest.capacity": "procops loadtest capacity",
    "loadtest.readiness-peak": "procops readiness",
    "monitor.rules": "procops monitor rules",
    "monitor.webhook": "procops monitor webhook",
    "release.start": "procops release start",
    "release.end": "procops release",
    "release.gate": "procops release",
    "drill.run": "procops drill run",
    "incident.open": "procops incident open",
    "incident.milestone": "procops incident",
    "incident.escalation": "procops incident escalate",
    "incident.action.add": "procops incident action add",
    "incident.action.update": "procops incident action update",
}

# Every kind an audit reads (the journal is queried per kind, never scanned).
KINDS: tuple[Kind, ...] = (
    Kind.BACKUP_RUN,
    Kind.BACKUP_CHECK,
    Kind.BACKUP_VERIFY,
    Kind.BACKUP_RESTORE,
    Kind.SCAN_RUN,
    Kind.LOADTEST_PEAK,
    Kind.LOADTEST_CAPACITY,
    Kind.LOADTEST_READINESS_PEAK,
    Kind.MONITOR_RULES,
    Kind.MONITOR_WEBHOOK,
    Kind.RELEASE_START,
    Kind.RELEASE_STAGE,
    Kind.RELEASE_GATE,
    Kind.RELEASE_END,
    Kind.DRILL_RUN,
    Kind.INCIDENT_OPEN,
    Kind.INCIDENT_MILESTONE,
    Kind.INCIDENT_RESOLVE,
    Kind.INCIDENT_ESCALATION,
    Kind.INCIDENT_ACTION_ADD,
    Kind.INCIDENT_ACTION_UPDATE,
)
# Kinds written many times an hour, of which the audit needs only the newest rows of the period.
NEWEST_ONLY: Mapping[Kind, int] = {Kind.MONITOR_WEBHOOK: 500}


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Item:
    """One journal row as the evaluators see it: when, what, about what, and its typed record."""

    id: int
    time: dt.datetime
    kind: str
    subject: str
    record: ev.Record


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime
    label: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Evidence:
    """The rows of one period, per kind, oldest first."""

    items: dict[str, list[Item]] = field(default_factory=dict)

    def of(self, *kinds: Kind | str) -> list[Item]:
        out: list[Item] = []
        for k in kinds:
            out += self.items.get(str(k), [])
        return sorted(out, key=lambda i: (i.time, i.id)) if len(kinds) > 1 else out

    @classmethod
    def build(cls, rows: Iterable[Item]) -> Evidence:
        e = cls()
        for r in rows:
            e.items.setdefault(r.kind, []).append(r)
        for v in e.items.values():
            v.sort(key=lambda i: (i.time, i.id))
        return e


@dataclass(frozen=True)
class Policy:
    """The thresholds the audit judges by (procops.config's policy, read by :func:`policy_of`)."""

    capacity_multiple: float = 3.0
    normal_peak_users: int = 50
    backup_interval: float = 3600.0
    offsite_backup_interval: float = 3600.0
    backup_check_interval: float = 86400.0
    backup_verify_interval: float = 604800.0
    restore_time_target: float = 3600.0
    scan_interval: float = 7 * 86400.0
    loadtest_interval: float = 31 * 86400.0
    drill_interval: float = 92 * 86400.0
    rules_interval: float = 7 * 86400.0  # R2: rules tested and an alert delivered within the week


def policy_of(config: Any) -> Policy:
    p = config.policy
    return Policy(
        capacity_multiple=p.capacity_multiple,
        normal_peak_users=config.loadtest.normal_peak_users,
        backup_interval=p.backup_interval,
        offsite_backup_interval=p.offsite_backup_interval,
        backup_check_interval=p.backup_check_interval,
        backup_verify_interval=p.backup_verify_interval,
        restore_time_target=p.restore_time_target,
        scan_interval=p.scan_interval,
        loadtest_interval=p.loadtest_interval,
        drill_interval=p.drill_interval,
    )


@dataclass
class Facts:
    """What only a live check shows (gathered by :mod:`procops.desk`; None: not checked)."""

    now: dt.datetime
    journal_first: dt.datetime | None = None  # the time of the journal's first row
    repositories: dict[str, bool] = field(default_factory=dict)  # name -> off-site
    # off-site repositories as listed now: name -> {"ok", "error", "runs": [{"run", "time"}]}
    offsite_listing: dict[str, dict] | None = None
    # the journal: {"ok", "rows", "problem", "anchors": n checked, "mismatched": [text], "unreadable": [names]}
    journal: dict | None = None
    # R9: [{"path", "mode", "ok"}] of the state that must be private; repositories' encryption;
    # the platform's sensitive fields at rest {"checked", "plaintext"}; access records {"records"}
    private_files: list[dict] | None = None
    encrypted_repositories: dict[str, bool] | None = None
    sensitive_fields: dict | None = None
    access_log: dict | None = None


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Row:
    time: str  # UTC ISO 8601
    command: str
    result: str
    ok: bool

    def as_dict(self) -> dict:
        return {"time": self.time, "command": self.command, "result": self.result, "ok": self.ok}


@dataclass
class Finding:
    id: str
    status: str
    figures: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return _(TITLES[self.id])

    @property
    def reference(self) -> str:
        return _(REFERENCES[self.id])

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "figures": self.figures,
            "rows": [r.as_dict() for r in self.rows],
            "todo": self.todo,
            "reference": self.reference,
            "data": self.data,
        }


STATUS_WORDS: Mapping[str, str] = {MET: N_("met"), NOT_MET: N_("NOT MET"), NO_EVIDENCE: N_("no evidence")}


def status_text(status: str) -> str:
    return _(STATUS_WORDS[status])


# --------------------------------------------------------------------------- helpers


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _dur(seconds: float | None) -> str:
    from procops.display import duration

    return duration(seconds)


def _n(x: int) -> str:
    return f"{x:,}"


def _status_of(rec: ev.Record) -> Status | None:
    s = getattr(rec, "status", None)
    return s if isinstance(s, Status) else None


def _ok(rec: ev.Record) -> bool:
    return _status_of(rec) is Status.OK


def row(item: Item, result: str | None = None, ok: bool | None = None) -> Row:
    good = _ok(item.record) if ok is None else ok
    st = _status_of(item.record)
    text = result if result is not None else f"{st.value if st else ''} {item.subject}".strip()
    return Row(_iso(item.time), COMMANDS.get(item.kind, "procops " + item.kind.split(".")[0]), text, good)


def pick_rows(rows: Sequence[Row]) -> list[Row]:
    """Every failure (up to MAX_FAILED_ROWS), then the latest passes (MAX_OK_ROWS), in time order."""
    bad = [r for r in rows if not r.ok][-MAX_FAILED_ROWS:]
    good = [r for r in rows if r.ok][-MAX_OK_ROWS:]
    return sorted(bad + good, key=lambda r: r.time)


def window(period: Period, facts: Facts) -> tuple[dt.datetime, dt.datetime]:
    """The part of the period the journal covers: from its first row (if later) to the period's end."""
    start = period.start
    if facts.journal_first is not None and facts.journal_first > start:
        start = facts.journal_first
    return start, max(start, period.end)


@dataclass
class Cadence:
    """How well a periodic job kept its interval over a window."""

    name: str
    interval: float
    slots: int
    slots_ok: int
    runs: int
    runs_ok: int
    longest_gap: float
    gap_from: dt.datetime
    gap_to: dt.datetime
    met: bool
    evidence: bool  # at least one success, or the window is long enough that none is a failure

    def figure(self, label: str) -> str:
        return _(
            "{label}: {ok} of {slots} periods of {every} with a successful run ({runs_ok} of {runs} runs ok), "
            "longest gap {gap} ({start} - {end})"
        ).format(
            label=label,
            ok=_n(self.slots_ok),
            slots=_n(self.slots),
            every=_dur(self.interval),
            runs_ok=_n(self.runs_ok),
            runs=_n(self.runs),
            gap=_dur(self.longest_gap),
            start=_when(self.gap_from),
            end=_when(self.gap_to),
        )

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "interval_s": self.interval,
            "slots": self.slots,
            "slots_ok": self.slots_ok,
            "runs": self.runs,
            "runs_ok": self.runs_ok,
            "longest_gap_s": round(self.longest_gap, 1),
            "longest_gap_from": _iso(self.gap_from),
            "longest_gap_to": _iso(self.gap_to),
            "met": self.met,
        }


def _when(t: dt.datetime) -> str:
    from procops.display import when

    return when(t)


def cadence(
    name: str, interval: float, runs: Sequence[tuple[dt.datetime, bool]], start: dt.datetime, end: dt.datetime
) -> Cadence:
    """The successes of a job that must run every ``interval`` seconds, judged over ``[start, end]``.

    The longest gap counts from the window's start to the first success and from the last success to
    its end, so a job that stopped is caught; slots are the window cut into intervals."""
    span = max(0.0, (end - start).total_seconds())
    slots = max(1, math.ceil(span / interval)) if span else 0
    ok_times = sorted(t for t, ok in runs if ok and start <= t <= end)
    filled = {min(slots - 1, int((t - start).total_seconds() // interval)) for t in ok_times} if slots else set()
    points = [start, *ok_times, end]
    gap, g_from, g_to = 0.0, start, end
    for a, b in zip(points, points[1:]):
        d = (b - a).total_seconds()
        if d > gap:
            gap, g_from, g_to = d, a, b
    allowed = interval * (1 + CADENCE_GRACE)
    return Cadence(
        name,
        interval,
        slots,
        len(filled),
        len([1 for t, _ok in runs if start <= t <= end]),
        len(ok_times),
        gap,
        g_from,
        g_to,
        met=gap <= allowed,
        evidence=bool(ok_times) or span > allowed,
    )


def _verdict(problems: list[str], evidence: bool) -> str:
    if problems:
        return NOT_MET
    return MET if evidence else NO_EVIDENCE


# --------------------------------------------------------------------------- R1


def r1(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    """A passing peak test at the policy's multiple of the normal peak, and a capacity test, within a month."""
    since = period.end - dt.timedelta(seconds=p.loadtest_interval)
    need_users = math.ceil(p.normal_peak_users * p.capacity_multiple)
    peaks = [i for i in e.of(Kind.LOADTEST_PEAK, Kind.LOADTEST_READINESS_PEAK) if i.time >= since]
    caps = [i for i in e.of(Kind.LOADTEST_CAPACITY) if i.time >= since]

    def users(i: Item) -> int:
        return int(getattr(i.record, "users", None) or 0)

    good_peaks = [i for i in peaks if _ok(i.record) and users(i) >= need_users]
    good_caps = [
        i
        for i in caps
        if _ok(i.record) and float(getattr(i.record, "capacity_multiple", 0) or 0) >= p.capacity_multiple
    ]
    figures, todo, problems = [], [], []
    if good_peaks:
        last = good_peaks[-1]
        figures.append(
            _("last passing peak test: {users} users ({multiple:g}x the normal peak of {peak}) at {at}").format(
                users=users(last),
                multiple=users(last) / p.normal_peak_users,
                peak=p.normal_peak_users,
                at=_when(last.time),
            )
        )
    else:
        problems.append("peak")
        figures.append(
            _("no passing peak test of {users} users ({multiple:g}x) within {within}").format(
                users=need_users, multiple=p.capacity_multiple, within=_dur(p.loadtest_interval)
            )
        )
        todo.append(_("run a peak test at the policy's multiple: procops loadtest peak"))
    if good_caps:
        last = good_caps[-1]
        figures.append(
            _("last capacity test: {multiple:g}x the normal peak held, at {at}").format(
                multiple=float(getattr(last.record, "capacity_multiple", 0) or 0), at=_when(last.time)
            )
        )
    else:
        problems.append("capacity")
        measured = [float(getattr(i.record, "capacity_multiple", 0) or 0) for i in caps]
        figures.append(
            _("no capacity test of at least {multiple:g}x within {within}{measured}").format(
                multiple=p.capacity_multiple,
                within=_dur(p.loadtest_interval),
                measured=(_("; best measured {best:g}x").format(best=max(measured)) if measured else ""),
            )
        )
        todo.append(_("run a capacity test: procops loadtest capacity"))
    rows = pick_rows(
        [
            row(
                i,
                _("{status}: {users} users{cap}").format(
                    status=(_status_of(i.record) or Status.FAILED).value,
                    users=users(i),
                    cap=(
                        _(", capacity {m:g}x").format(m=getattr(i.record, "capacity_multiple", 0))
                        if getattr(i.record, "capacity_multiple", None)
                        else ""
                    ),
                ),
            )
            for i in e.of(Kind.LOADTEST_PEAK, Kind.LOADTEST_READINESS_PEAK, Kind.LOADTEST_CAPACITY)
        ]
    )
    no_tests = not e.of(Kind.LOADTEST_PEAK, Kind.LOADTEST_READINESS_PEAK, Kind.LOADTEST_CAPACITY)
    return Finding(
        "R1",
        NO_EVIDENCE if no_tests else _verdict(problems, True),
        figures,
        rows,
        todo,
        {"peak_users_needed": need_users, "passing_peak_tests": len(good_peaks), "capacity_tests": len(good_caps)},
    )


# --------------------------------------------------------------------------- R2


def r2(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    since = period.end - dt.timedelta(seconds=p.rules_interval)
    rules = [i for i in e.of(Kind.MONITOR_RULES) if i.time >= since]
    good_rules = [i for i in rules if _ok(i.record)]
    deliveries = [
        i
        for i in e.of(Kind.MONITOR_WEBHOOK)
        if i.time >= since
        and isinstance(i.record, ev.WebhookDelivery)
        and (i.record.synthetic or (i.record.firing and i.record.status == "firing"))
    ]
    figures, todo, problems = [], [], []
    if good_rules:
        r = good_rules[-1].record
        figures.append(
            _("alert rules tested at {at}: {alerts} alerts, {cases} test cases pass").format(
                at=_when(good_rules[-1].time), alerts=getattr(r, "alerts", 0), cases=getattr(r, "test_cases", 0)
            )
        )
    else:
        problems.append("rules")
        figures.append(_("no passing alert-rule test within {within}").format(within=_dur(p.rules_interval)))
        todo.append(_("test the alert rules: procops monitor rules"))
    if deliveries:
        figures.append(_("an alert delivered end to end at {at}").format(at=_when(deliveries[-1].time)))
    else:
        problems.append("delivery")
        figures.append(_("no alert delivered end to end within {within}").format(within=_dur(p.rules_interval)))
        todo.append(_("deliver a synthetic alert through the stack: procops readiness"))
    rows = pick_rows([row(i) for i in e.of(Kind.MONITOR_RULES)] + [row(i, ok=True) for i in deliveries])
    evidence = bool(e.of(Kind.MONITOR_RULES) or e.of(Kind.MONITOR_WEBHOOK))
    return Finding("R2", _verdict(problems, True) if evidence else NO_EVIDENCE, figures, rows, todo, {})


# --------------------------------------------------------------------------- R3


def backup_successes(e: Evidence) -> dict[str, list[tuple[dt.datetime, bool]]]:
    """Each repository's backup runs: (time, whether its part of the run succeeded)."""
    out: dict[str, list[tuple[dt.datetime, bool]]] = {}
    for i in e.of(Kind.BACKUP_RUN):
        rec = i.record
        if not isinstance(rec, ev.BackupRun):
            continue
        for name, rr in rec.repositories.items():
            out.setdefault(name, []).append((i.time, rr.status is Status.OK))
    return out


def r3(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    start, end = window(period, facts)
    figures, todo, problems = [], [], []
    cads: list[Cadence] = []
    runs = backup_successes(e)
    names = sorted(set(runs) | set(facts.repositories))
    for name in names:
        offsite = facts.repositories.get(name, False)
        interval = p.offsite_backup_interval if offsite else p.backup_interval
        c = cadence(f"backup:{name}", interval, runs.get(name, []), start, end)
        cads.append(c)
        figures.append(c.figure(_("backups to '{name}'").format(name=name)))
        if not c.met:
            problems.append(c.name)
            todo.append(
                _(
                    "backups to '{name}' missed their cadence (gap {gap}): check the schedule "
                    "(procops schedule show) and procops backup status"
                ).format(name=name, gap=_dur(c.longest_gap))
            )
    jobs: list[tuple[str, str, float, list[Item], str]] = [
        ("check", _("repository checks"), p.backup_check_interval, e.of(Kind.BACKUP_CHECK), "procops backup check"),
        (
            "verify",
            _("restore-and-verify"),
            p.backup_verify_interval,
            [i for i in e.of(Kind.BACKUP_VERIFY) if i.subject != "live"],
            "procops backup verify",
        ),
        ("scan", _("vulnerability scans"), p.scan_interval, e.of(Kind.SCAN_RUN), "procops scan"),
        (
            "stress",
            _("stress tests"),
            p.loadtest_interval,
            e.of(Kind.LOADTEST_PEAK, Kind.LOADTEST_CAPACITY, Kind.LOADTEST_READINESS_PEAK),
            "procops loadtest peak",
        ),
    ]
    for key, label, interval, items, command in jobs:
        c = cadence(key, interval, [(i.time, _ok(i.record)) for i in items], start, end)
        cads.append(c)
        figures.append(c.figure(label))
        if not c.met:
            problems.append(key)
            todo.append(
                _("{label} missed their cadence: run {command} and check its schedule").format(
                    label=label, command=command
                )
            )
    covered = (end - start).total_seconds()
    figures.insert(
        0,
        _("the journal covers {covered} of the period ({start} - {end})").format(
            covered=_dur(covered), start=_when(start), end=_when(end)
        ),
    )
    rows = pick_rows([row(i) for i in e.of(Kind.BACKUP_RUN, Kind.BACKUP_CHECK, Kind.BACKUP_VERIFY, Kind.SCAN_RUN)])
    evidence = any(c.runs for c in cads)
    return Finding(
        "R3",
        _verdict(problems, evidence) if evidence else NO_EVIDENCE,
        figures,
        rows,
        todo,
        {"window": {"start": _iso(start), "end": _iso(end)}, "cadences": [c.as_dict() for c in cads]},
    )


# --------------------------------------------------------------------------- R4


def r4(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    """Local and off-site copies; the off-site repository holds the latest run the journal says went
    there, and that run is fresh (off-site interval)."""
    figures, todo, problems, rows = [], [], [], []
    offsite = sorted(n for n, o in facts.repositories.items() if o)
    local = sorted(n for n, o in facts.repositories.items() if not o)
    if not offsite:
        problems.append("no_offsite")
        figures.append(_("no off-site repository is configured"))
        todo.append(_("configure an off-site repository (backup.repositories, offsite: true)"))
    if not local:
        problems.append("no_local")
        figures.append(_("no local repository is configured"))
    last_sent: dict[str, Item] = {}
    for i in e.of(Kind.BACKUP_RUN):
        rec = i.record
        if isinstance(rec, ev.BackupRun):
            for name, rr in rec.repositories.items():
                if name in offsite:
                    rows.append(row(i, f"{rr.status.value} {name} {rec.run or ''}".strip(), rr.status is Status.OK))
                    if rr.status is Status.OK and rec.run:
                        last_sent[name] = i
    evidence = bool(last_sent) or facts.offsite_listing is not None
    for name in offsite:
        listing = (facts.offsite_listing or {}).get(name)
        sent = last_sent.get(name)
        if listing is not None:
            if not listing.get("ok"):
                problems.append(f"unreachable:{name}")
                figures.append(
                    _("off-site repository '{name}' could not be read: {error}").format(
                        name=name, error=listing.get("error")
                    )
                )
                todo.append(_("reach the off-site repository '{name}' and run procops backup status").format(name=name))
                continue
            held = {r["run"]: r["time"] for r in listing.get("runs", [])}
            newest = max(held.values(), default=None)
            if newest is None:
                problems.append(f"empty:{name}")
                figures.append(_("off-site repository '{name}' holds no backup run").format(name=name))
                todo.append(_("run a backup: procops backup run"))
                continue
            from procops.timeutil import parse_iso

            age = (facts.now - parse_iso(newest)).total_seconds()
            figures.append(
                _("off-site repository '{name}' (checked live): {n} runs, the newest {age} old (limit {limit})").format(
                    name=name, n=len(held), age=_dur(age), limit=_dur(p.offsite_backup_interval)
                )
            )
            if age > p.offsite_backup_interval:
                problems.append(f"stale:{name}")
                todo.append(_("the off-site copy is stale: procops backup run, then procops backup status"))
            if sent is not None and isinstance(sent.record, ev.BackupRun) and sent.record.run not in held:
                problems.append(f"missing:{name}")
                figures.append(
                    _(
                        "run {run} of {at}, journaled as copied to '{name}', is no longer in it "
                        "(snapshots removed off-site)"
                    ).format(run=sent.record.run, at=_when(sent.time), name=name)
                )
                todo.append(
                    _("find out who removed snapshots from '{name}'; then run procops backup run").format(name=name)
                )
        elif sent is not None:
            age = (facts.now - sent.time).total_seconds()
            figures.append(
                _("off-site repository '{name}' (from the journal; not checked live): last copy {age} ago").format(
                    name=name, age=_dur(age)
                )
            )
            if age > p.offsite_backup_interval:
                problems.append(f"stale:{name}")
                todo.append(_("the off-site copy is stale: procops backup run, then procops backup status"))
        else:
            problems.append(f"never:{name}")
            figures.append(_("nothing was ever copied to the off-site repository '{name}'").format(name=name))
            todo.append(_("run a backup: procops backup run"))
    return Finding("R4", _verdict(problems, evidence) if evidence else NO_EVIDENCE, figures, pick_rows(rows), todo, {})


# --------------------------------------------------------------------------- R5


def r5(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    figures, todo, problems = [], [], []
    verifies = e.of(Kind.BACKUP_VERIFY)
    latest: dict[str, Item] = {}
    for i in verifies:
        latest[i.subject] = i
    for subject, i in sorted(latest.items()):
        rec = i.record
        counts = getattr(rec, "problem_counts", {}) or {}
        if _ok(rec):
            figures.append(
                _("last verify of '{subject}' at {at}: clean ({documents} documents)").format(
                    subject=subject, at=_when(i.time), documents=getattr(rec, "documents", None) or 0
                )
            )
        else:
            problems.append(f"verify:{subject}")
            figures.append(
                _("last verify of '{subject}' at {at}: problems {counts}").format(
                    subject=subject,
                    at=_when(i.time),
                    counts=", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or _status_of(rec),
                )
            )
            todo.append(
                _(
                    "find what is missing or altered: procops backup verify; restore it: procops backup restore --document ID"
                )
            )
    # a restore (to a folder or as the standby), or else a clean restore-and-verify of a backup run,
    # which restores the run to scratch before it checks it (its time is an upper bound)
    restore_s: list[tuple[Item, float]] = [
        (i, float(i.record.seconds))
        for i in e.of(Kind.BACKUP_RESTORE)
        if isinstance(i.record, ev.BackupRestore) and _ok(i.record) and i.record.seconds
    ]
    measured = _("measured restore time {took} at {at} (target {target})")
    if not restore_s:
        restore_s = [
            (i, float(i.record.seconds))
            for i in verifies
            if isinstance(i.record, ev.BackupVerify) and i.subject != "live" and _ok(i.record) and i.record.seconds
        ]
        measured = _("measured restore-and-verify time {took} at {at} (target {target})")
    if restore_s:
        i, secs = restore_s[-1]
        figures.append(measured.format(took=_dur(secs), at=_when(i.time), target=_dur(p.restore_time_target)))
        if secs > p.restore_time_target:
            problems.append("restore_time")
            todo.append(_("the restore takes longer than the target: see procops runbook show backup-failure"))
    else:
        figures.append(
            _("no measured restore in the period (target {target}): run procops backup restore").format(
                target=_dur(p.restore_time_target)
            )
        )
    rows = pick_rows(
        [row(i) for i in verifies] + [row(i, _dur(s)) for i, s in restore_s if i.kind == Kind.BACKUP_RESTORE.value]
    )
    evidence = bool(latest)
    if evidence and not restore_s:
        problems.append("no_restore")
        todo.append(_("measure a restore: procops backup restore --target DIR"))
    return Finding(
        "R5",
        _verdict(problems, evidence) if evidence else NO_EVIDENCE,
        figures,
        rows,
        todo,
        {"restore_seconds": restore_s[-1][1] if restore_s else None, "target_s": p.restore_time_target},
    )


# --------------------------------------------------------------------------- R6


def r6(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    """Every release that ended went through its stages, each stage gated, with a change notice."""
    starts = {getattr(i.record, "release_id", ""): i for i in e.of(Kind.RELEASE_START)}
    stages: dict[str, set[int]] = {}
    for i in e.of(Kind.RELEASE_STAGE):
        stages.setdefault(getattr(i.record, "release_id", ""), set()).add(int(getattr(i.record, "stage", 0)))
    gates: dict[str, dict[int, list[bool]]] = {}
    for i in e.of(Kind.RELEASE_GATE):
        r = i.record
        gates.setdefault(getattr(r, "release_id", ""), {}).setdefault(int(getattr(r, "stage", 0)), []).append(
            bool(getattr(r, "passed", False))
        )
    ends = e.of(Kind.RELEASE_END)
    figures, todo, problems, rows = [], [], [], []
    counts = {"promoted": 0, "rolled_back": 0, "aborted": 0}
    for i in ends:
        rec = i.record
        if not isinstance(rec, ev.ReleaseEnd):
            continue
        rid = rec.release_id
        counts[rec.outcome] = counts.get(rec.outcome, 0) + 1
        wrong: list[str] = []
        start = starts.get(rid)
        if not (rec.change_notice or (start is not None and getattr(start.record, "change_notice", False))):
            wrong.append(_("no change notice"))
        if rec.outcome == "promoted":
            if rec.stages_total < 2:
                wrong.append(_("rolled out in one stage (no pilot)"))
            if rec.stages_passed < rec.stages_total:
                wrong.append(
                    _("promoted after {passed} of {total} stages").format(
                        passed=rec.stages_passed, total=rec.stages_total
                    )
                )
        passed_stages = sorted(s for s in stages.get(rid, set()) if s)
        ungated = [s for s in passed_stages[: rec.stages_passed] if not gates.get(rid, {}).get(s)]
        if rec.outcome == "promoted" and ungated:
            wrong.append(_("stages without a gate: {stages}").format(stages=", ".join(map(str, ungated))))
        failed_gates = [s for s, v in gates.get(rid, {}).items() if not all(v)]
        if rec.outcome == "promoted" and failed_gates:
            wrong.append(
                _("promoted past failed gates at stages {stages}").format(
                    stages=", ".join(map(str, sorted(failed_gates)))
                )
            )
        text = _("{version} ({from_version} -> {version}): {outcome}, {passed}/{total} stages").format(
            version=rec.version,
            from_version=rec.from_version,
            outcome=rec.outcome,
            passed=rec.stages_passed,
            total=rec.stages_total,
        )
        if wrong:
            problems.append(rid)
            figures.append(_("release {id} {text}: {wrong}").format(id=rid, text=text, wrong="; ".join(wrong)))
        rows.append(row(i, text + ("; " + "; ".join(wrong) if wrong else ""), ok=not wrong))
    ended = {getattr(i.record, "release_id", "") for i in ends}
    running = [rid for rid in starts if rid not in ended]
    figures.insert(
        0,
        _("{n} releases ended in the period: {promoted} promoted, {rolled_back} rolled back, {aborted} aborted").format(
            n=len(ends),
            promoted=counts.get("promoted", 0),
            rolled_back=counts.get("rolled_back", 0),
            aborted=counts.get("aborted", 0),
        ),
    )
    if running:
        figures.append(_("in progress: {ids}").format(ids=", ".join(running)))
    if problems:
        todo.append(_("release only through procops release, with its stages, gates and change notice"))
    if not ends:
        todo.append(_("no release was made in the period: a canary release shows the process (procops release)"))
    return Finding("R6", _verdict(problems, True) if ends else NO_EVIDENCE, figures, pick_rows(rows), todo, counts)


# --------------------------------------------------------------------------- R7, R11


@dataclass
class Clock:
    incident: str
    milestone: str
    deadline: dt.datetime | None
    reached: dt.datetime | None
    late: bool
    pending: bool  # not reached, deadline not passed yet


CLOCKS = ("classify", "standby", "report")


def incident_clocks(e: Evidence, now: dt.datetime) -> tuple[dict[str, Item], list[Clock]]:
    """The non-drill incidents opened in the evidence and each of their three clocks."""
    from procops.timeutil import parse_iso

    opens = {
        i.subject: i for i in e.of(Kind.INCIDENT_OPEN) if isinstance(i.record, ev.IncidentOpen) and not i.record.drill
    }
    reached: dict[tuple[str, str], ev.IncidentMilestone] = {}
    for i in e.of(Kind.INCIDENT_MILESTONE):
        rec = i.record
        if isinstance(rec, ev.IncidentMilestone) and rec.reached_at and (i.subject, rec.milestone) not in reached:
            reached[(i.subject, rec.milestone)] = rec
    waived = {
        i.subject
        for i in e.of(Kind.INCIDENT_RESOLVE)
        if isinstance(i.record, ev.IncidentResolve) and i.record.standby_waived
    }
    clocks = []
    for inc, o in opens.items():
        rec = o.record
        assert isinstance(rec, ev.IncidentOpen)
        for m in CLOCKS:
            if m == "standby" and inc in waived:
                continue
            dl = parse_iso(rec.deadlines[m]) if rec.deadlines.get(m) else None
            r = reached.get((inc, m))
            at = parse_iso(r.reached_at) if r and r.reached_at else None
            if at is not None:
                late = bool(r.late) if r and r.late is not None else bool(dl and at > dl)
                clocks.append(Clock(inc, m, dl, at, late, False))
            else:
                overdue = dl is not None and now > dl
                clocks.append(Clock(inc, m, dl, None, overdue, not overdue))
    return opens, clocks


def r7(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    opens, clocks = incident_clocks(e, min(facts.now, period.end))
    late = [c for c in clocks if c.late]
    figures = [
        _("{n} non-drill incidents opened in the period; {clocks} clocks, {late} breached, {pending} running").format(
            n=len(opens), clocks=len(clocks), late=len(late), pending=len([c for c in clocks if c.pending])
        )
    ]
    for c in late:
        figures.append(
            _("{incident}: {milestone} due {deadline}, {reached}").format(
                incident=c.incident,
                milestone=c.milestone,
                deadline=_when(c.deadline) if c.deadline else "-",
                reached=(_("reached {at}").format(at=_when(c.reached)) if c.reached else _("not reached")),
            )
        )
    rows = [
        Row(
            _iso(c.reached or c.deadline or facts.now),
            "procops incident",
            f"{c.incident} {c.milestone}: " + (_("late") if c.late else _("pending") if c.pending else _("on time")),
            not c.late,
        )
        for c in clocks
    ]
    todo = (
        [_("write the breaches into each incident's fault analysis report and its rectification items")] if late else []
    )
    return Finding(
        "R7",
        NOT_MET if late else MET,
        figures,
        pick_rows(rows),
        todo,
        {"incidents": len(opens), "breaches": [{"incident": c.incident, "milestone": c.milestone} for c in late]},
    )


def r11(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    """Every late step (a clock passed unreached, or reached late) has a delivered escalation."""
    _opens, clocks = incident_clocks(e, min(facts.now, period.end))
    sent: set[tuple[str, str]] = set()
    failed: set[tuple[str, str]] = set()
    rows = []
    for i in e.of(Kind.INCIDENT_ESCALATION):
        rec = i.record
        if isinstance(rec, ev.IncidentEscalation):
            key = (i.subject, rec.milestone)
            (sent if rec.status == "sent" else failed).add(key)
            rows.append(
                row(i, f"{i.subject} {rec.milestone} {rec.level} -> {rec.receiver}: {rec.status}", rec.status == "sent")
            )
    late = [c for c in clocks if c.late]
    missing = [c for c in late if (c.incident, c.milestone) not in sent]
    figures = [
        _("{late} late steps, {escalated} escalated to the responsible leader").format(
            late=len(late), escalated=len(late) - len(missing)
        )
    ]
    for c in missing:
        figures.append(
            _("{incident}: {milestone} was late and no escalation was delivered{failed}").format(
                incident=c.incident,
                milestone=c.milestone,
                failed=_(" (delivery failed)") if (c.incident, c.milestone) in failed else "",
            )
        )
    todo = (
        [_("check the escalation receivers (notifications.escalation_receivers) and procops incident escalate")]
        if missing
        else []
    )
    return Finding("R11", NOT_MET if missing else MET, figures, pick_rows(rows), todo, {"late": len(late)})


# --------------------------------------------------------------------------- R8


def quarter_of(t: dt.datetime, tz: dt.tzinfo) -> tuple[int, int]:
    local = t.astimezone(tz)
    return local.year, (local.month - 1) // 3 + 1


def quarter_bounds(year: int, q: int, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, 3 * (q - 1) + 1, 1, tzinfo=tz)
    end = dt.datetime(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def quarters(start: dt.datetime, end: dt.datetime, tz: dt.tzinfo) -> list[tuple[int, int]]:
    out = []
    y, q = quarter_of(start, tz)
    last = quarter_of(end, tz)
    while (y, q) <= last:
        out.append((y, q))
        y, q = (y + 1, 1) if q == 4 else (y, q + 1)
    return out


def r8(e: Evidence, p: Policy, period: Period, facts: Facts, tz: dt.tzinfo = dt.UTC) -> Finding:
    start, end = window(period, facts)
    held = [
        i for i in e.of(Kind.DRILL_RUN) if _status_of(i.record) in (Status.OK, Status.FAILED)
    ]  # a drill that ran, whatever it found; one that could not run is not a drill
    by_q: dict[tuple[int, int], list[Item]] = {}
    for i in held:
        by_q.setdefault(quarter_of(i.time, tz), []).append(i)
    figures, problems, todo = [], [], []
    for y, q in quarters(start, end, tz):
        qs, qe = quarter_bounds(y, q, tz)
        got = by_q.get((y, q), [])
        if got:
            figures.append(
                _("{y}Q{q}: {n} drills ({scenarios})").format(
                    y=y, q=q, n=len(got), scenarios=", ".join(sorted({getattr(i.record, "scenario", "") for i in got}))
                )
            )
        elif qe > period.end:
            figures.append(_("{y}Q{q}: no drill yet, due by {due}").format(y=y, q=q, due=_when(qe)))
        else:
            problems.append(f"{y}Q{q}")
            figures.append(_("{y}Q{q}: NO DRILL").format(y=y, q=q))
    if problems:
        todo.append(_("hold a drill every quarter: procops drill run"))
    rows = pick_rows(
        [
            row(
                i,
                f"{getattr(i.record, 'scenario', '')} ({getattr(i.record, 'mode', '')}): {getattr(i.record, 'verdict', '')}",
            )
            for i in e.of(Kind.DRILL_RUN)
        ]
    )
    return Finding("R8", _verdict(problems, bool(held)) if held or problems else NO_EVIDENCE, figures, rows, todo, {})


# --------------------------------------------------------------------------- R9, R10


def r9(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    """Every part must be shown: repositories encrypted, state private, sensitive fields encrypted at
    rest, access recorded. A part that could not be checked leaves R9 without evidence (not met wins)."""
    figures, todo, problems, unchecked = [], [], [], []
    if facts.encrypted_repositories is not None:
        plain = sorted(n for n, ok in facts.encrypted_repositories.items() if not ok)
        figures.append(
            _("{n} repositories, encrypted: {ok}").format(
                n=len(facts.encrypted_repositories), ok=len(facts.encrypted_repositories) - len(plain)
            )
        )
        if plain:
            problems.append("repositories")
            figures.append(_("not shown encrypted: {names}").format(names=", ".join(plain)))
            todo.append(_("initialise the repositories with a password source: procops backup init"))
    else:
        unchecked.append("repositories")
    if facts.private_files is not None:
        bad = [f for f in facts.private_files if not f["ok"]]
        figures.append(
            _("{n} state files and folders checked, {bad} not private").format(n=len(facts.private_files), bad=len(bad))
        )
        for f in bad[:10]:
            figures.append(_("{path} has mode {mode}").format(path=f["path"], mode=f["mode"]))
        if bad:
            problems.append("modes")
            todo.append(_("make them private: chmod 600 for files, 700 for folders"))
    else:
        unchecked.append("modes")
    sf = facts.sensitive_fields
    if sf is None or sf.get("error"):
        unchecked.append("sensitive_fields")
        if sf is not None:
            figures.append(_("sensitive supplier fields not checked: {error}").format(error=sf["error"]))
            todo.append(_("start the platform (procops sandbox up) and run the audit again"))
    else:
        figures.append(
            _("supplier credit codes at rest: {checked} checked, {plain} in plain text").format(
                checked=sf.get("checked", 0), plain=sf.get("plaintext", 0)
            )
        )
        if sf.get("plaintext"):
            problems.append("plaintext")
            todo.append(_("encrypt the sensitive supplier fields at rest (procops runbook show security)"))
    al = facts.access_log
    if al is None or al.get("error"):
        unchecked.append("access_log")
        if al is not None:
            figures.append(_("the platform's access log could not be read: {error}").format(error=al["error"]))
    else:
        figures.append(
            _("access to sensitive data recorded: {n} access records in the period").format(n=al.get("records", 0))
        )
    status = NOT_MET if problems else NO_EVIDENCE if unchecked else MET
    return Finding("R9", status, figures, [], todo, {"unchecked": unchecked})


def r10(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    j = facts.journal
    if j is None:
        return Finding("R10", NO_EVIDENCE, [_("the journal was not verified")], [], ["procops audit verify-journal"])
    figures, todo, problems = [], [], []
    if j.get("emptied"):
        problems.append("emptied")
        figures.append(
            _("the journal is EMPTY, but this home has state ({state}): it was deleted or emptied").format(
                state=", ".join(j["emptied"][:5])
            )
        )
    elif j.get("ok"):
        figures.append(_("chain intact: {rows} rows").format(rows=_n(j.get("rows", 0))))
    else:
        problems.append("chain")
        figures.append(_("chain broken: {problem}").format(problem=j.get("problem")))
    if j.get("mismatched"):
        problems.append("anchors")
        figures += [_("anchor mismatch: {problem}").format(problem=m) for m in j["mismatched"][:10]]
    elif j.get("anchors"):
        figures.append(_("{n} off-site anchors checked, all match").format(n=j["anchors"]))
    else:
        figures.append(_("no anchor to check the journal against (each backup run anchors it)"))
    for name in j.get("unreadable", []):
        figures.append(_("repository '{name}' could not be read: its anchors were not checked").format(name=name))
    if problems:
        todo.append(_("the journal was changed: keep this host as it is and see procops runbook show security"))
    ok_evidence = bool(j.get("anchors")) or bool(problems)
    if not ok_evidence:
        todo.append(_("run a backup so the journal's head is anchored off-site: procops backup run"))
    return Finding("R10", _verdict(problems, ok_evidence) if ok_evidence else NO_EVIDENCE, figures, [], todo, {})


# --------------------------------------------------------------------------- R12


def r12(e: Evidence, p: Policy, period: Period, facts: Facts) -> Finding:
    from procops.timeutil import parse_iso

    items: dict[tuple[str, int], dict[str, Any]] = {}
    for i in e.of(Kind.INCIDENT_ACTION_ADD):
        rec = i.record
        if isinstance(rec, ev.IncidentActionAdd):
            items[(i.subject, rec.action)] = {"problem": rec.problem, "due": rec.due, "status": "open", "item": i}
    for i in e.of(Kind.INCIDENT_ACTION_UPDATE):
        rec = i.record
        if isinstance(rec, ev.IncidentActionUpdate) and (i.subject, rec.action) in items:
            it = items[(i.subject, rec.action)]
            if rec.status:
                it["status"] = rec.status
            if rec.due:
                it["due"] = rec.due
    closed = [k for k, v in items.items() if v["status"] in ("rectified", "accepted")]
    overdue = [
        k for k, v in items.items() if k not in closed and v["due"] and parse_iso(v["due"]) < min(facts.now, period.end)
    ]
    figures = [
        _("{n} rectification items: {closed} closed, {open} open, {overdue} past their due date").format(
            n=len(items), closed=len(closed), open=len(items) - len(closed), overdue=len(overdue)
        )
    ]
    for inc, a in overdue[:20]:
        v = items[(inc, a)]
        figures.append(
            _('{incident} item {action} "{problem}" was due {due}').format(
                incident=inc, action=a, problem=v["problem"], due=_when(parse_iso(v["due"]))
            )
        )
    rows = [row(v["item"], f"{inc} #{a}: {v['status']}", (inc, a) not in overdue) for (inc, a), v in items.items()]
    todo = [_("close or re-plan the overdue items: procops incident action update")] if overdue else []
    return Finding("R12", NOT_MET if overdue else MET, figures, pick_rows(rows), todo, {"items": len(items)})


EVALUATORS: Mapping[str, Callable[..., Finding]] = {
    "R1": r1,
    "R2": r2,
    "R3": r3,
    "R4": r4,
    "R5": r5,
    "R6": r6,
    "R7": r7,
    "R8": r8,
    "R9": r9,
    "R10": r10,
    "R11": r11,
    "R12": r12,
}


def evaluate(e: Evidence, p: Policy, period: Period, facts: Facts, *, tz: dt.tzinfo = dt.UTC) -> list[Finding]:
    """Every requirement's finding, R1 to R12."""
    out = []
    for rid, fn in EVALUATORS.items():
        out.append(fn(e, p, period, facts, tz) if rid == "R8" else fn(e, p, period, facts))
    return out


def verdict(findings: Sequence[Finding]) -> bool:
    """The audit holds only when every requirement is met (no evidence is not a pass)."""
    return all(f.status == MET for f in findings)
