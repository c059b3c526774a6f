"""The ops desk: gathering the audit's evidence and facts, and the one-screen ``status``.

* :func:`parse_period` -- ``--since 90d`` or ``--quarter 2026Q4`` (quarters in the display zone).
* :func:`gather` -- the journal's rows of the kinds the audit reads (one indexed query per kind,
  :meth:`procops.journal.Journal.between`) and the live facts: the off-site repositories' listing,
  the journal checked against its off-site anchors, the modes of the private state, the platform's
  sensitive fields at rest and its access log. What cannot be checked is said, never guessed.
* :func:`audit` -- :func:`procops.compliance.evaluate` over them: :class:`AuditResult`.
* :func:`status` -- where things stand now, each section with its verdict (``ok``, ``attention``,
  ``unknown``); it reads the newest row of each kind it needs, never the whole journal.

Areas are reached through their ``api`` modules, inside the functions only.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops import compliance as C
from procops.errors import BadInput, ProcopsError
from procops.i18n import N_, _
from procops.timeutil import iso, parse_duration, parse_iso, utcnow

if TYPE_CHECKING:
    from procops.config import Config
    from procops.journal import Journal

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


def parse_period(since: str | None, quarter: str | None, now: dt.datetime | None = None) -> C.Period:
    """The audited period: the last ``since`` (default 90 d), or a calendar quarter of the display zone
    (cut at now when it is the current one). BadInput for anything else."""
    from procops import display

    now = now or utcnow()
    if since and quarter:
        raise BadInput(_("give --since or --quarter, not both"))
    if quarter:
        m = _QUARTER.match(quarter)
        if not m:
            raise BadInput(_("not a quarter: {quarter!r} (e.g. 2026Q4)").format(quarter=quarter))
        y, q = int(m.group(1)), int(m.group(2))
        start, end = C.quarter_bounds(y, q, display.zone())
        if start > now:
            raise BadInput(_("{y}Q{q} has not started yet").format(y=y, q=q))
        return C.Period(start, min(end, now), f"{y}Q{q}")
    text = since or "90d"
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise BadInput(_("--since: {e}").format(e=e)) from None
    if seconds <= 0:
        raise BadInput(_("--since must be longer than 0"))
    return C.Period(now - dt.timedelta(seconds=seconds), now, _("last {d}").format(d=text.strip()))


def items(journal: Journal, kinds: tuple, since: str | None, until: str | None) -> list[C.Item]:
    """The rows of ``kinds`` in ``[since, until]`` with their typed records (of the kinds in
    :data:`procops.compliance.NEWEST_ONLY`, only the newest rows)."""
    out = []
    for kind in kinds:
        for e in journal.between(kind, since, until, limit=C.NEWEST_ONLY.get(kind)):
            try:
                rec = e.evidence
            except ValueError:
                continue
            out.append(C.Item(e.id, parse_iso(e.time), e.kind, e.subject, rec))
    return out


# --------------------------------------------------------------------------- live facts


def private_state() -> list[dict]:
    """The state home, its secrets and its databases: folders must be 0700, files 0600 (R9)."""
    from procops.home import state_home

    home = state_home()
    targets: list[Path] = [home]
    for name in ("secrets", "backup", "sandbox", "monitoring"):
        if (home / name).is_dir():
            targets.append(home / name)
    for name in ("journal.db", "procops.db"):
        if (home / name).exists():
            targets.append(home / name)
    if (home / "secrets").is_dir():
        targets += sorted(p for p in (home / "secrets").iterdir() if p.is_file())
    out = []
    for p in targets:
        try:
            mode = stat.S_IMODE(os.stat(p).st_mode)
        except OSError:
            continue
        out.append({"path": str(p), "mode": f"{mode:04o}", "ok": not mode & 0o077})
    return out


def journal_facts(config: Config, journal: Journal, *, anchors: bool = True) -> tuple[dict, dict]:
    """The journal's chain and its anchors (R10): (the fact for the audit, the anchors' repositories)."""
    from procops.journal import check_anchors

    found: dict = {"anchors": [], "repositories": {}}
    if anchors:
        from procops.areas import backup_api

        backup = backup_api()
        try:
            found = backup.journal_anchors(config)
        except ProcopsError as e:
            found = {"anchors": [], "repositories": {"*": {"ok": False, "error": e.message, "anchors": 0}}}
    v = journal.verify()
    checks = check_anchors(journal, found["anchors"])
    from procops.journal import home_state

    fact = {
        "emptied": home_state() if v.rows == 0 else [],
        "ok": v.ok,
        "rows": v.rows,
        "problem": v.problem,
        "anchors": len(checks),
        "mismatched": [c.problem for c in checks if not c.ok],
        "unreadable": [n for n, r in found["repositories"].items() if not r.get("ok")],
    }
    return fact, found["repositories"]


def gather(config: Config, period: C.Period, *, live: bool = True, now: dt.datetime | None = None) -> tuple:
    """(Evidence, Facts) of the period. ``live`` False: the journal only (no repository, no platform)."""
    from procops.journal import open_journal

    now = now or utcnow()
    facts = C.Facts(now=now)
    from procops.areas import backup_api

    backup = backup_api()

    facts.repositories = backup.repositories(config)
    with open_journal() as j:
        first = j.first_time()
        facts.journal_first = parse_iso(first) if first else None
        evidence = C.Evidence.build(items(j, C.KINDS, iso(period.start), iso(period.end)))
        if live:
            facts.journal, _repos = journal_facts(config, j)
        else:
            v = j.verify()
            from procops.journal import home_state

            facts.journal = {
                "ok": v.ok,
                "rows": v.rows,
                "problem": v.problem,
                "anchors": 0,
                "mismatched": [],
                "emptied": home_state() if v.rows == 0 else [],
            }
    if live:
        _live_facts(config, period, facts)
    return evidence, facts


def _live_facts(config: Config, period: C.Period, facts: C.Facts) -> None:
    from procops.areas import backup_api

    backup = backup_api()

    listing: dict[str, dict] = {}
    encrypted: dict[str, bool] = {}
    try:
        repos = backup.snapshots(config)["repositories"]
    except ProcopsError as e:
        repos = {n: {"ok": False, "error": e.message, "runs": []} for n in facts.repositories}
    for name, r in repos.items():
        # restic encrypts every repository: one that opens with its password is shown encrypted
        encrypted[name] = bool(r.get("ok"))
        if facts.repositories.get(name):
            listing[name] = {
                "ok": bool(r.get("ok")),
                "error": r.get("error"),
                "runs": [{"run": x["run"], "time": x["time"]} for x in r.get("runs", [])],
            }
    facts.offsite_listing = listing
    facts.encrypted_repositories = encrypted
    facts.private_files = private_state()
    from procops.areas import sandbox_api

    sandbox = sandbox_api()

    try:
        facts.sensitive_fields = sandbox.sensitive_fields_at_rest()
    except ProcopsError as e:
        facts.sensitive_fields = {"error": e.message}
    try:
        facts.access_log = {"records": len(sandbox.access_log(period.start, sandbox.serving_instance()))}
    except (ProcopsError, OSError) as e:
        facts.access_log = {"records": 0, "error": str(e)}


# --------------------------------------------------------------------------- the audit


@dataclass
class AuditResult:
    period: C.Period
    findings: list[C.Finding]
    generated: dt.datetime
    journal_head: tuple[int, str]
    live: bool
    zone: str = ""

    @property
    def ok(self) -> bool:
        return C.verdict(self.findings)

    def counts(self) -> dict[str, int]:
        out = {C.MET: 0, C.NOT_MET: 0, C.NO_EVIDENCE: 0}
        for f in self.findings:
            out[f.status] += 1
        return out

    def as_dict(self) -> dict:
        return {
            "verdict": "pass" if self.ok else "fail",
            "ok": self.ok,
            "period": {"label": self.period.label, "start": iso(self.period.start), "end": iso(self.period.end)},
            "generated": iso(self.generated),
            "journal_head": {"rows": self.journal_head[0], "hash": self.journal_head[1]},
            "live_checks": self.live,
            "counts": self.counts(),
            "requirements": [f.as_dict() for f in self.findings],
        }


def record_audit(result: AuditResult, report: Path | None) -> str | None:
    """Journal the audit (``audit.run``): None when done, else why it could not be (the audit read the
    journal and stands; a read-only journal, e.g. a copy being audited, only costs this row)."""
    from procops.errors import EnvironmentFailure
    from procops.events import AuditRun, Kind, Status
    from procops.journal import record

    try:
        record(
            Kind.AUDIT_RUN,
            result.period.label,
            AuditRun(
                status=Status.of(result.ok),
                verdict="pass" if result.ok else "fail",
                period=result.period.label,
                start=iso(result.period.start),
                end=iso(result.period.end),
                requirements={f.id: f.status for f in result.findings},
                journal_rows=result.journal_head[0],
                journal_head=result.journal_head[1],
                report=str(report) if report else None,
                live=result.live,
            ),
        )
    except EnvironmentFailure as e:
        return e.message
    return None


def audit(config: Config, period: C.Period, *, live: bool = True, now: dt.datetime | None = None) -> AuditResult:
    from procops import display
    from procops.journal import open_journal

    now = now or utcnow()
    with display.using(config):
        evidence, facts = gather(config, period, live=live, now=now)
        findings = C.evaluate(evidence, C.policy_of(config), period, facts, tz=display.zone())
    with open_journal() as j:
        head = j.head()
    return AuditResult(period, findings, now, head, live, display.zone_label())


# --------------------------------------------------------------------------- status

OK, ATTENTION, UNKNOWN = "ok", "attention", "unknown"
SECTION_TITLES = {
    "site": N_("active site"),
    "alerts": N_("alerts"),
    "incidents": N_("incidents"),
    "backups": N_("backups"),
    "checks": N_("checks"),
    "loadtest": N_("load test"),
    "drills": N_("drills"),
    "release": N_("release"),
    "faults": N_("sandbox faults"),
    "jobs": N_("scheduled jobs"),
}
SECTIONS = (
    "site",
    "alerts",
    "incidents",
    "backups",
    "checks",
    "loadtest",
    "drills",
    "release",
    "faults",
    "jobs",
)


@dataclass
class Section:
    name: str
    verdict: str
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "lines": self.lines, **self.data}


def _age(now: dt.datetime, t: str | None) -> float | None:
    return None if not t else (now - parse_iso(t)).total_seconds()


def status(config: Config, *, now: dt.datetime | None = None, probe: bool = True) -> dict:
    """Every section of the ops desk with its verdict; ``needs_person`` when any needs attention.
    ``probe`` False: the journal and the stores only (no HTTP to the platform or Prometheus)."""
    from procops.journal import open_journal

    now = now or utcnow()
    out: dict[str, Section] = {}
    with open_journal() as j:
        out["site"] = _site(probe)
        out["alerts"] = _alerts(config, probe)
        out["incidents"] = _incidents(config, now)
        out["backups"] = _backups(config, j, now)
        out["checks"] = _checks(config, j, now)
        out["loadtest"] = _loadtest(config, j, now)
        out["drills"] = _drills(config, j, now)
        out["release"] = _release(j)
        out["faults"] = _faults(j)
        out["jobs"] = _jobs(j, now)
        rows, head = j.head()
    attention = [n for n, s in out.items() if s.verdict == ATTENTION]
    return {
        "needs_person": bool(attention),
        "attention": attention,
        "generated": iso(now),
        "journal": {"rows": rows, "head": head},
        "active_site": out["site"].data.get("active_site"),
        "sections": {n: s.as_dict() for n, s in out.items()},
    }


def _site(probe: bool) -> Section:
    from procops.areas import sandbox_api

    sandbox = sandbox_api()

    site = sandbox.active_site().as_dict()
    name = site.get("site", "main")
    data: dict[str, Any] = {"site": name, "healthy": None, "version": None, "url": None, "active_site": site}
    if not probe:
        return Section("site", UNKNOWN, [_("active site: {site} (not probed)").format(site=name)], data)
    st = sandbox.status()
    versions = sorted({r.get("version") for r in st.get("replicas", []) if r.get("version")})
    data.update(healthy=bool(st.get("running") and st.get("healthy")), version=", ".join(versions) or None)
    data["url"] = st.get("url")
    label = _("main platform") if name == "main" else _("standby system")
    if not st.get("running"):
        return Section(
            "site",
            ATTENTION,
            [_("active site: {label} ({site}) is NOT RUNNING (procops sandbox up)").format(label=label, site=name)],
            data,
        )
    line = _("active site: {label} ({site}) {url}, version {version}, {health}").format(
        label=label,
        site=name,
        url=st.get("url"),
        version=data["version"] or "-",
        health=_("healthy") if data["healthy"] else _("NOT HEALTHY"),
    )
    return Section("site", OK if data["healthy"] else ATTENTION, [line], data)


def _alerts(config: Config, probe: bool) -> Section:
    if not probe:
        return Section("alerts", UNKNOWN, [_("alerts: not probed")], {"firing": []})
    from procops.areas import monitoring_api

    monitoring = monitoring_api()

    try:
        res = monitoring.firing(config)
    except ProcopsError as e:
        return Section(
            "alerts", ATTENTION, [_("alerts: cannot ask Prometheus: {e}").format(e=e.message)], {"firing": []}
        )
    if res is None:
        return Section("alerts", UNKNOWN, [_("alerts: monitoring not started (procops monitor up)")], {"firing": []})
    firing = [{"alertname": a["alertname"], "severity": a["severity"], "since": a.get("since")} for a in res["firing"]]
    critical = [a for a in firing if a["severity"] == "critical"]
    lines = [_("alerts: {n} firing, {c} critical").format(n=len(firing), c=len(critical))]
    lines += [f"  {a['severity']:<8} {a['alertname']}" for a in firing[:10]]
    return Section("alerts", ATTENTION if critical else OK, lines, {"firing": firing})


def _incidents(config: Config, now: dt.datetime) -> Section:
    from procops.display import duration
    from procops.areas import incidents_api

    incidents = incidents_api()

    if not incidents.store_exists():
        return Section("incidents", OK, [_("incidents: none open")], {"open": []})
    store = incidents.open_store(config)
    try:
        open_ = store.list(open_only=True)
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()
    rows = []
    lines = []
    for inc in open_:
        clocks = [c for c in inc.clocks(now) if c["remaining_seconds"] is not None]
        rows.append({"id": inc.id, "title": inc.title, "severity": inc.severity, "drill": inc.drill, "clocks": clocks})
        left = ", ".join(
            f"{c['milestone']} "
            + (
                _("{d} left").format(d=duration(c["remaining_seconds"]))
                if c["remaining_seconds"] >= 0
                else _("OVERDUE {d}").format(d=duration(-c["remaining_seconds"]))
            )
            for c in clocks
        )
        sev = _(incidents.SEVERITY_TITLES[inc.severity]) if inc.severity in incidents.SEVERITY_TITLES else inc.severity
        lines.append(
            f"  {inc.id} [{sev}{_(', drill') if inc.drill else ''}] {_one_line(inc.title)[:60]}: {left or '-'}"
        )
    real = [r for r in rows if not r["drill"]]
    head = _("incidents: {n} open ({real} real, {drill} drill)").format(
        n=len(rows), real=len(real), drill=len(rows) - len(real)
    )
    return Section("incidents", ATTENTION if real else OK, [head, *lines], {"open": rows})


def _one_line(text: Any) -> str:
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", str(text or "")).split())


def _backups(config: Config, j: Journal, now: dt.datetime) -> Section:
    """The age of each repository's newest successful backup (from the journal) against the RPO."""
    from procops.display import duration, when
    from procops.events import BackupRun, Kind, Status

    from procops.areas import backup_api

    backup = backup_api()

    repos = backup.repositories(config)
    newest: dict[str, str] = {}
    for e in reversed(j.between(Kind.BACKUP_RUN, limit=200)):
        try:
            rec = e.evidence
        except ValueError:
            continue
        if isinstance(rec, BackupRun):
            for name, rr in rec.repositories.items():
                if rr.status is Status.OK and name not in newest:
                    newest[name] = e.time
        if all(n in newest for n in repos):
            break
    rows, lines, bad = {}, [], False
    for name, offsite in repos.items():
        rpo = config.policy.offsite_backup_interval if offsite else config.policy.backup_interval
        age = _age(now, newest.get(name))
        ok = age is not None and age <= rpo
        bad |= not ok
        rows[name] = {"offsite": offsite, "latest": newest.get(name), "age_seconds": age, "rpo_seconds": rpo, "ok": ok}
        where = _(" (off-site)") if offsite else ""
        if age is None:
            lines.append(
                _("  {name}{where}: no successful backup yet, RPO {rpo}: MISSED").format(
                    name=name, where=where, rpo=duration(rpo)
                )
            )
            continue
        lines.append(
            _("  {name}{where}: newest backup {age} ago ({at}), RPO {rpo}: {verdict}").format(
                name=name,
                where=where,
                age=duration(age),
                at=when(newest.get(name)),
                rpo=duration(rpo),
                verdict=_("ok") if ok else _("MISSED"),
            )
        )
    return Section("backups", ATTENTION if bad else OK, [_("backups:"), *lines], {"repositories": rows})


def _latest(j: Journal, kind: Any, subject: str | None = None) -> tuple[Any, Any]:
    e = j.latest_of(kind, subject)
    if e is None:
        return None, None
    try:
        return e, e.evidence
    except ValueError:
        return e, None


def _checks(config: Config, j: Journal, now: dt.datetime) -> Section:
    from procops.display import duration, when
    from procops.events import Kind, Status

    data, lines, bad = {}, [], False
    for key, label, kind, interval in (
        ("check", N_("repository check"), Kind.BACKUP_CHECK, config.policy.backup_check_interval),
        ("verify", N_("restore-and-verify"), Kind.BACKUP_VERIFY, config.policy.backup_verify_interval),
        ("scan", N_("security scan"), Kind.SCAN_RUN, config.policy.scan_interval),
    ):
        e, rec = _latest(j, kind)
        st = getattr(rec, "status", None)
        age = _age(now, e.time if e else None)
        ok = e is not None and st is Status.OK and age is not None and age <= interval * (1 + C.CADENCE_GRACE)
        bad |= not ok
        data[key] = {"time": e.time if e else None, "status": str(st) if st else None, "ok": ok, "interval_s": interval}
        lines.append(
            _("  last {what}: {result} (every {every}): {verdict}").format(
                what=_(label),
                result=f"{when(e.time)} {st}" if e and st else when(e.time) if e else _("never"),
                every=duration(interval),
                verdict=_("ok") if ok else _("DUE"),
            )
        )
    return Section("checks", ATTENTION if bad else OK, [_("checks:"), *lines], data)


def _loadtest(config: Config, j: Journal, now: dt.datetime) -> Section:
    from procops.display import when
    from procops.events import Kind, Status

    found = [
        x
        for x in (_latest(j, k) for k in (Kind.LOADTEST_PEAK, Kind.LOADTEST_READINESS_PEAK, Kind.LOADTEST_CAPACITY))
        if x[0]
    ]
    if not found:
        return Section("loadtest", ATTENTION, [_("load test: never run (procops loadtest peak)")], {"last": None})
    e, rec = max(found, key=lambda x: x[0].time)
    users = getattr(rec, "users", None) or 0
    multiple = getattr(rec, "capacity_multiple", None) or (users / config.loadtest.normal_peak_users if users else None)
    ok = getattr(rec, "status", None) is Status.OK
    age = _age(now, e.time) or 0
    stale = age > config.policy.loadtest_interval
    line = _("load test: last {kind} at {at}: {verdict}, {multiple} the normal peak{stale}").format(
        kind=e.kind,
        at=when(e.time),
        verdict=getattr(rec, "verdict", ""),
        multiple=f"{multiple:g}x" if multiple else "-",
        stale=_(" (older than a month: due)") if stale else "",
    )
    return Section(
        "loadtest",
        OK if ok and not stale else ATTENTION,
        [line],
        {"last": {"kind": e.kind, "time": e.time, "verdict": getattr(rec, "verdict", None), "multiple": multiple}},
    )


def _drills(config: Config, j: Journal, now: dt.datetime) -> Section:
    from procops import display
    from procops.display import when
    from procops.events import Kind

    e, rec = _latest(j, Kind.DRILL_RUN)
    y, q = C.quarter_of(now, display.zone())
    qs, qe = C.quarter_bounds(y, q, display.zone())
    this_quarter = e is not None and parse_iso(e.time) >= qs
    due = (parse_iso(e.time) + dt.timedelta(seconds=config.policy.drill_interval)) if e else now
    overdue = e is None or now > due
    if this_quarter:
        line = _("drills: {y}Q{q} covered by {scenario} at {at}").format(
            y=y, q=q, scenario=getattr(rec, "scenario", ""), at=when(e.time)
        )
    else:
        line = _("drills: none yet in {y}Q{q}; due by {due}").format(y=y, q=q, due=when(min(due, qe) if e else qe))
    return Section(
        "drills",
        ATTENTION if overdue and not this_quarter else OK,
        [line],
        {
            "last": {"time": e.time, "scenario": getattr(rec, "scenario", None)} if e else None,
            "quarter": f"{y}Q{q}",
            "covered": this_quarter,
            "due": iso(qe),
        },
    )


def _release(j: Journal) -> Section:
    from procops.display import when
    from procops.events import Kind

    s, start = _latest(j, Kind.RELEASE_START)
    if s is None:
        return Section("release", OK, [_("release: none in progress")], {"in_progress": None})
    rid = getattr(start, "release_id", "")
    ended = any(getattr(x.evidence, "release_id", None) == rid for x in j.between(Kind.RELEASE_END, s.time))
    if ended:
        return Section("release", OK, [_("release: none in progress")], {"in_progress": None})
    st, stage = _latest(j, Kind.RELEASE_STAGE)
    stage_no = getattr(stage, "stage", None) if getattr(stage, "release_id", None) == rid else None
    return Section(
        "release",
        OK,
        [
            _("release: {version} in progress since {at}, stage {stage} of {stages}").format(
                version=getattr(start, "version", ""),
                at=when(s.time),
                stage=stage_no if stage_no is not None else "-",
                stages=getattr(start, "stages", "-"),
            )
        ],
        {"in_progress": {"release_id": rid, "version": getattr(start, "version", None), "stage": stage_no}},
    )


def _faults(j: Journal) -> Section:
    from procops.events import Kind

    e, rec = _latest(j, Kind.SANDBOX_FAULT)
    if e is None or getattr(rec, "action", "clear") != "set":
        return Section("faults", OK, [_("sandbox faults: none active")], {"active": None})
    fault = getattr(rec, "fault", None) or {}
    return Section(
        "faults",
        ATTENTION,
        [
            _("sandbox faults: ACTIVE since {at}: {fault} (procops sandbox fault clear)").format(
                at=e.time, fault=", ".join(f"{k}={v}" for k, v in sorted(fault.items())) or "-"
            )
        ],
        {"active": {"time": e.time, "fault": fault}},
    )


def _jobs(j: Journal, now: dt.datetime) -> Section:
    """Scheduled jobs whose latest run failed, and units that failed, in the last day."""
    from procops.events import Kind, Status

    since = iso(now - dt.timedelta(days=1))
    latest: dict[str, tuple[str, Any]] = {}
    for e in j.between(Kind.SCHEDULE_JOB, since):
        try:
            latest[e.subject] = (e.time, e.evidence)
        except ValueError:
            continue
    failed = [
        {"job": name, "time": t, "exit_code": getattr(r, "exit_code", None)}
        for name, (t, r) in sorted(latest.items())
        if getattr(r, "status", None) is not Status.OK
    ]
    for e in j.between(Kind.SCHEDULE_JOB_FAILED, since):
        unit = str(getattr(e.evidence, "unit", "") or e.subject)
        if not any(f["job"] == e.subject for f in failed):
            later_ok = latest.get(e.subject)
            if later_ok is None or later_ok[0] < e.time or getattr(later_ok[1], "status", None) is not Status.OK:
                failed.append({"job": e.subject, "unit": unit, "time": e.time, "exit_code": None})
    lines = [_("scheduled jobs: {n} failed in the last day").format(n=len(failed))]
    lines += [f"  {f['job']} {f['time']} exit {f.get('exit_code')}" for f in failed[:10]]
    return Section("jobs", ATTENTION if failed else OK, lines, {"failed": failed})


# --------------------------------------------------------------------------- the audit's report

FORMATS = ("md", "html", "pdf", "json")


def audit_markdown(config: Config, result: AuditResult, lang: str) -> str:
    from procops import display
    from procops.i18n import speaking
    from procops.report import header, render

    with speaking(lang), display.using(config):
        counts = result.counts()
        failing = _("{not_met} not met, {no_evidence} without evidence").format(
            not_met=counts[C.NOT_MET], no_evidence=counts[C.NO_EVIDENCE]
        )
        findings = [_localized(f) for f in result.findings]
        head = header(_("Compliance audit R1-R12"), config.platform.name, now=result.generated)
        return render(
            "audit.md.j2",
            lang,
            head=head,
            period={"label": result.period.label, "start": iso(result.period.start), "end": iso(result.period.end)},
            journal_head={"rows": result.journal_head[0], "hash": result.journal_head[1]},
            live=result.live,
            ok=result.ok,
            failing=failing,
            findings=findings,
            status_text=C.status_text,
        )


def _localized(f: C.Finding) -> dict:
    return {"id": f.id, "title": f.title, "reference": f.reference, **f.as_dict()}


def write_audit(config: Config, result: AuditResult, lang: str, fmt: str, out: Path | None) -> Path:
    """The report in one format at ``out`` (default: ``reports/audit-<UTC time>/audit.<lang>.<fmt>``),
    written atomically; returns its path. The figures were worded in the language the audit ran in."""
    import json

    from procops.home import area_dir, atomic_write
    from procops.report import markdown_to_html, to_pdf

    if fmt not in FORMATS:
        raise BadInput(_("unknown format {fmt!r}: one of {formats}").format(fmt=fmt, formats=", ".join(FORMATS)))
    if out is None:
        d = area_dir("reports") / f"audit-{result.generated.strftime('%Y%m%dT%H%M%SZ')}"
        d.mkdir(parents=True, exist_ok=True)
        out = d / f"audit.{lang}.{fmt}"
    out = Path(out)
    if out.is_dir():
        raise BadInput(_("--out {out} is a folder: give a file name").format(out=out))
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        atomic_write(out, json.dumps(result.as_dict(), indent=2, ensure_ascii=False) + "\n")
        return out
    md = audit_markdown(config, result, lang)
    if fmt == "md":
        atomic_write(out, md)
        return out
    html = markdown_to_html(md, _("Compliance audit R1-R12"))
    if fmt == "html":
        atomic_write(out, html)
        return out
    try:
        return to_pdf(html, out)
    except (ImportError, OSError) as e:
        from procops.errors import EnvironmentFailure

        raise EnvironmentFailure(
            _("cannot write the PDF: {e}").format(e=f"{type(e).__name__}: {e}"),
            hint=_("install the PDF renderer (scripts/bootstrap), or use --format html"),
        ) from None
