"""The procops exporter: the ``procops_*`` metrics of DESIGN.md, from the journal and the textfiles.

The journal is folded incrementally (only rows newer than the last scrape are
read) into :class:`JournalState`, each row parsed into its typed evidence
(:mod:`procops.events`): success is the record's ``status``, never a guess at
words; a kind the catalog does not know is not exported. The
node_exporter textfile directory (``$PROCOPS_HOME/textfile/*.prom``, written
by batch jobs) is served too: a series present in both is taken from the
textfile, except last-success timestamps where the newer one wins.

Exported series:

- ``procops_backup_last_success_timestamp_seconds{repository,offsite}``
- ``procops_backup_last_check_success_timestamp_seconds{repository}`` and
  ``procops_backup_last_check_success{repository}`` (1 when the last check passed)
  (the backup job's own textfile gives the site in ``procops_backup_repository_offsite``;
  it is turned into the ``offsite`` label the rules use)
- ``procops_integrity_problems{repository}``
- ``procops_loadtest_last_pass_timestamp_seconds{scenario}``
- ``procops_scan_last_success_timestamp_seconds``
- ``procops_incident_deadline_remaining_seconds{incident,milestone}`` for every
  pending milestone of an open incident (computed at scrape time)
- ``procops_incidents_open``
- drill incidents are kept out of the incident series: their clocks and count are
  ``procops_drill_incident_deadline_remaining_seconds{incident,milestone}`` and
  ``procops_drill_incidents_open`` (so the ``IncidentDeadline*`` alerts, which escalate
  to the leaders, never fire for a drill)
- drills and releases journal no events yet: ``procops_drill_last_success_timestamp_seconds{scenario}``
  and ``procops_release_stage{release}`` are served when a textfile holds them

Incident clocks are read live from the incident store (``procops.incidents.api``)
at every scrape, so a milestone reached a second ago stops its series at once;
the journal's ``incident.*`` events are the fallback when there is no store.
- ``procops_journal_events`` (rows read) for the exporter's own health.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Iterator

from procops import events
from procops.events import Status
from procops.timeutil import parse_iso

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

log = logging.getLogger(__name__)

MILESTONES = ("classify", "standby", "report")

HELP = {
    "procops_backup_last_success_timestamp_seconds": "Time of the last successful backup, per repository.",
    "procops_backup_last_check_success_timestamp_seconds": "Time of the last successful repository check.",
    "procops_backup_last_check_success": "1 when the last repository check passed, 0 when it failed.",
    "procops_integrity_problems": "Missing or altered files found by the last integrity verification.",
    "procops_drill_last_success_timestamp_seconds": "Time of the last successful emergency drill, per scenario.",
    "procops_loadtest_last_pass_timestamp_seconds": "Time of the last load test that met the SLOs, per scenario.",
    "procops_scan_last_success_timestamp_seconds": "Time of the last successful vulnerability scan.",
    "procops_incident_deadline_remaining_seconds": "Seconds left before a pending incident milestone is due "
    "(negative: overdue).",
    "procops_incidents_open": "Incidents not yet resolved (drills excluded).",
    "procops_drill_incident_deadline_remaining_seconds": "Seconds left before a pending drill incident milestone "
    "is due (negative: overdue).",
    "procops_drill_incidents_open": "Drill incidents not yet resolved.",
    "procops_release_stage": "Current stage of a gray release (index into the batches; -1 aborted).",
    "procops_journal_events": "Journal rows read by the exporter.",
}


@dataclass
class Incident:
    id: str
    t0: float
    deadlines: dict[str, float]
    pending: set[str] = field(default_factory=lambda: set(MILESTONES))
    resolved: bool = False
    drill: bool = False


@dataclass
class JournalState:
    """The journal folded into the latest value of every procops_* series."""

    deadlines: dict[str, float]  # milestone -> seconds after T0 (policy)
    offsite_repos: frozenset[str] = frozenset({"offsite"})  # repositories on another site (config)
    last_id: int = 0
    backup_success: dict[tuple[str, str], float] = field(default_factory=dict)  # (repo, offsite)
    check_success: dict[str, float] = field(default_factory=dict)
    check_ok: dict[str, int] = field(default_factory=dict)
    integrity: dict[str, int] = field(default_factory=dict)
    loadtest_pass: dict[str, float] = field(default_factory=dict)
    scan_success: float | None = None
    incidents: dict[str, Incident] = field(default_factory=dict)

    # ---- folding
    def apply(self, ev: Any) -> None:
        try:
            rec = events.evidence(ev)
        except ValueError:  # a kind the catalog does not know (a foreign or retired row): nothing to export
            rec = None
        if rec is not None:
            try:
                self._apply(rec, str(ev.kind), str(ev.subject), parse_iso(ev.time).timestamp())
            except (ValueError, TypeError, KeyError, AttributeError) as e:  # a malformed row never stops it
                log.debug("journal row %s (%s) not understood: %s", ev.id, ev.kind, e)
        self.last_id = max(self.last_id, ev.id)

    def _apply(self, rec: events.Record, kind: str, subject: str, t: float) -> None:
        if isinstance(rec, events.BackupRun):  # one event for every repository of the run
            for name, r in rec.repositories.items():
                if r.status is Status.OK:
                    self.backup_success[(name, "true" if name in self.offsite_repos else "false")] = t
        elif isinstance(rec, events.BackupCheck):
            for name, c in rec.repositories.items():
                if c.problem == "interrupted":
                    continue  # a check stopped before its end says nothing about the repository
                self.check_ok[name] = int(c.ok)
                if c.ok:
                    self.check_success[name] = t
        elif isinstance(rec, events.BackupVerify):  # subject: the verified target (live, a snapshot ...)
            if rec.problem_counts or rec.problems:
                self.integrity[subject or "default"] = sum(rec.problem_counts.values()) or len(rec.problems)
            elif rec.status in (Status.OK, Status.FAILED):
                self.integrity[subject or "default"] = 0 if rec.status is Status.OK else 1
        elif isinstance(rec, events.LoadtestRun):  # loadtest.<scenario>
            if rec.status is Status.OK:
                self.loadtest_pass[kind.split(".", 1)[1]] = t
        elif isinstance(rec, events.ScanRun):
            if rec.status is Status.OK:
                self.scan_success = t
        elif kind.startswith("incident."):
            self._incident(rec, subject)

    def _incident(self, rec: events.Record, iid: str) -> None:
        if isinstance(rec, events.IncidentOpen):
            if iid in self.incidents:
                return
            t0 = parse_iso(rec.t0).timestamp() if rec.t0 else 0.0
            dl = {}
            for m in MILESTONES:
                given = rec.deadlines.get(m)
                dl[m] = parse_iso(given).timestamp() if given else t0 + self.deadlines[m]
            self.incidents[iid] = Incident(iid, t0, dl, drill=rec.drill)
            return
        inc = self.incidents.get(iid)
        if inc is None:
            return
        # only these stop a clock: a milestone reached, a standby waived by resolving in time.
        # A report written (incident.report) is a draft until its milestone is reached.
        if isinstance(rec, events.IncidentMilestone) and rec.reached:
            inc.pending.discard(rec.milestone)
        elif isinstance(rec, events.IncidentResolve):
            inc.resolved = True
            if rec.standby_waived:
                inc.pending.discard("standby")
        if not inc.pending:
            del self.incidents[iid]

    def fold(self, rows: Iterable[Any]) -> int:
        n = 0
        for ev in rows:
            self.apply(ev)
            n += 1
        return n

    # ---- series
    def series(self, now: float) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}

        def put(name: str, labels: dict[str, str], value: float) -> None:
            out.setdefault(name, {})[tuple(sorted(labels.items()))] = float(value)

        for (repo, off), v in self.backup_success.items():
            put("procops_backup_last_success_timestamp_seconds", {"repository": repo, "offsite": off}, v)
        for repo, v in self.check_success.items():
            put("procops_backup_last_check_success_timestamp_seconds", {"repository": repo}, v)
        for repo, v in self.check_ok.items():
            put("procops_backup_last_check_success", {"repository": repo}, v)
        for repo, v in self.integrity.items():
            put("procops_integrity_problems", {"repository": repo}, v)
        for sc, v in self.loadtest_pass.items():
            put("procops_loadtest_last_pass_timestamp_seconds", {"scenario": sc}, v)
        if self.scan_success is not None:
            put("procops_scan_last_success_timestamp_seconds", {}, self.scan_success)
        put("procops_incidents_open", {}, sum(not i.resolved and not i.drill for i in self.incidents.values()))
        put("procops_drill_incidents_open", {}, sum(not i.resolved and i.drill for i in self.incidents.values()))
        for inc in self.incidents.values():
            for m in sorted(inc.pending):
                put(
                    DRILL_CLOCK if inc.drill else CLOCK,
                    {"incident": inc.id, "milestone": m},
                    round(inc.deadlines[m] - now, 3),
                )
        return out


def offsite_repositories(config: Config) -> frozenset[str]:
    """Names of the off-site repositories (the embedded default has 'local' and 'offsite')."""
    repos = config.backup.repositories
    if not repos:
        return frozenset({"offsite"})
    return frozenset(r.name for r in repos if r.offsite)


def policy_deadlines(config: Config) -> dict[str, float]:
    p = config.policy
    return {"classify": p.classify_deadline, "standby": p.standby_deadline, "report": p.report_deadline}


# --------------------------------------------------------------------------- textfiles


def read_textfiles(directory: Path) -> list[Any]:
    """Metric families of every ``*.prom`` file (a malformed file is skipped with a warning)."""
    from prometheus_client.parser import text_string_to_metric_families

    fams: list[Any] = []
    for path in sorted(Path(directory).glob("*.prom")):
        try:
            fams.extend(text_string_to_metric_families(path.read_text()))
        except (OSError, ValueError, UnicodeDecodeError) as e:
            log.warning("skipping textfile %s: %s", path, e)
    return fams


CLOCK = "procops_incident_deadline_remaining_seconds"
DRILL_CLOCK = "procops_drill_incident_deadline_remaining_seconds"
LIVE = frozenset({CLOCK, "procops_incidents_open", DRILL_CLOCK, "procops_drill_incidents_open"})


def merge(
    journal: dict[str, dict], textfile_families: list[Any], offsite_repos: frozenset[str] = frozenset({"offsite"})
) -> tuple[dict[str, dict], list[Any]]:
    """Merge textfile samples into the journal's series. Returns (gauges, other families passed through).

    Series computed live at the scrape (:data:`LIVE`) are never taken from a textfile, which may be stale.
    """
    gauges = {name: dict(s) for name, s in journal.items()}
    passthrough = []
    offsite_flag = {
        s.labels.get("repository"): s.value
        for fam in textfile_families
        if fam.name == "procops_backup_repository_offsite"
        for s in fam.samples
    }
    for fam in textfile_families:
        if fam.name in LIVE:
            continue
        if fam.name == "procops_backup_last_success_timestamp_seconds":
            # the backup job's textfile names the site in procops_backup_repository_offsite; the rules
            # tell local from off-site repositories by an offsite label on this series
            for s in fam.samples:
                if "offsite" not in s.labels:
                    repo = s.labels.get("repository", "")
                    known = offsite_flag.get(repo)
                    off = (known == 1) if known is not None else repo in offsite_repos
                    s.labels["offsite"] = "true" if off else "false"
        if fam.type not in ("gauge", "untyped", "unknown"):
            passthrough.append(fam)
            continue
        target = gauges.setdefault(fam.name, {})
        for s in fam.samples:
            key = tuple(sorted(s.labels.items()))
            if fam.name.endswith("_timestamp_seconds") and key in target:
                target[key] = max(target[key], s.value)
            else:
                target[key] = s.value
    return gauges, passthrough


class ProcopsCollector:
    """A prometheus_client collector: folds new journal rows on every scrape."""

    def __init__(self, config: Config, journal_path: Path | None = None, textfile_dir: Path | None = None) -> None:
        from procops.journal import journal_path as default_journal
        from procops.metrics import textfile_dir as default_textfiles

        self.offsite_repos = offsite_repositories(config)
        self.state = JournalState(policy_deadlines(config), self.offsite_repos)
        self.journal_path = journal_path or default_journal()
        self.textfile_dir = textfile_dir or default_textfiles(config)
        self._lock = threading.Lock()
        self.events_read = 0

    def refresh(self) -> None:
        from procops.journal import Journal

        with self._lock:
            if not self.journal_path.exists():
                return
            j = Journal(self.journal_path)
            try:
                self.events_read += self.state.fold(j.events(since_id=self.state.last_id))
            finally:
                j.close()

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            self.refresh()
        except Exception as e:  # noqa: BLE001 - serve what we have; the scrape must not fail
            log.warning("journal not read: %s", e)
        now = time.time()
        with self._lock:
            journal = self.state.series(now)
        live = incident_series(now)
        if live is not None:
            journal.update(live)
        gauges, passthrough = merge(journal, read_textfiles(self.textfile_dir), self.offsite_repos)
        for name in sorted(gauges):
            samples = gauges[name]
            labelnames = sorted({k for key in samples for k, _unused in key})
            fam = GaugeMetricFamily(name, HELP.get(name, name), labels=labelnames)
            for key in sorted(samples):
                d = dict(key)
                fam.add_metric([d.get(n, "") for n in labelnames], samples[key])
            yield fam
        yield from passthrough
        yield GaugeMetricFamily("procops_journal_events", HELP["procops_journal_events"], value=self.events_read)


def incident_series(now: float) -> dict[str, dict] | None:
    """Clock series from the incident store, or None when there is none (the journal's fold is used)."""
    import datetime as dt

    from procops.incidents.api import MILESTONES as INC_MILESTONES
    from procops.incidents.api import IncidentStore, default_db_path

    if not default_db_path().exists():
        return None
    try:
        store = IncidentStore(journal=False)
    except Exception as e:  # noqa: BLE001 - fall back to the journal
        log.warning("incident store not readable: %s", e)
        return None
    try:
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        remaining: dict = {}
        drill_remaining: dict = {}
        for inc in store.iter_active():
            for name in INC_MILESTONES:
                m = inc.milestones[name]
                if not m.done:
                    into = drill_remaining if inc.drill else remaining
                    into[(("incident", inc.id), ("milestone", name))] = round(m.remaining(when), 3)
        n_open, n_drill = store.count_open(), store.count_open(drill=True)
    except Exception as e:  # noqa: BLE001
        log.warning("incident store not readable: %s", e)
        return None
    finally:
        store.close()
    return {
        CLOCK: remaining,
        "procops_incidents_open": {(): float(n_open)},
        DRILL_CLOCK: drill_remaining,
        "procops_drill_incidents_open": {(): float(n_drill)},
    }


def make_registry(config: Config, **kw: Any) -> Any:
    from procops.metrics import new_registry

    reg = new_registry()
    reg.register(ProcopsCollector(config, **kw))
    return reg


def serve(config: Config, port: int, host: str = "127.0.0.1") -> tuple[Any, Any]:
    """Start the exporter's HTTP server in a background thread; returns (server, thread)."""
    from prometheus_client import start_http_server

    from procops.errors import EnvironmentFailure

    try:
        return start_http_server(port, addr=host, registry=make_registry(config))
    except OSError as e:
        raise EnvironmentFailure(
            _("the exporter cannot listen on {host}:{port}: {strerror}").format(
                host=host, port=port, strerror=e.strerror
            )
        ) from None
