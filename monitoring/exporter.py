"""The procops exporter: the ``procops_*`` metrics of DESIGN.md, from the journal and the textfiles.

The journal is folded incrementally (only rows newer than the last scrape are
read) into :class:`JournalState`; the event kinds of every area are read
tolerantly (a kind or field that is missing is simply not exported). The
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
- ``procops_drill_last_success_timestamp_seconds{scenario}``
- ``procops_loadtest_last_pass_timestamp_seconds{scenario}``
- ``procops_scan_last_success_timestamp_seconds``
- ``procops_incident_deadline_remaining_seconds{incident,milestone}`` for every
  pending milestone of an open incident (computed at scrape time)
- ``procops_incidents_open`` and ``procops_release_stage{release}``

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
from typing import Any
from collections.abc import Iterable, Iterator

from procops.timeutil import parse_iso

log = logging.getLogger(__name__)

_OK_WORDS = {"ok", "success", "succeeded", "pass", "passed", "done", "completed", "complete", "met", "true"}
MILESTONES = ("classify", "standby", "report")
_MILESTONE_KINDS = {
    "incident.classify": "classify",
    "incident.classified": "classify",
    "incident.standby": "standby",
    "incident.report": "report",
    "incident.reported": "report",
}
_CLOSE_KINDS = {"incident.close", "incident.closed", "incident.cancel", "incident.delete"}

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
    "procops_incidents_open": "Incidents not yet resolved.",
    "procops_release_stage": "Current stage of a gray release (index into the batches; -1 aborted).",
    "procops_journal_events": "Journal rows read by the exporter.",
}


def succeeded(data: dict) -> bool:
    """Whether an event's data says the job succeeded (tolerant of the areas' wording)."""
    for key in ("ok", "success", "passed"):
        v = data.get(key)
        if isinstance(v, bool):
            return v
    for key in ("verdict", "status", "result", "outcome"):
        v = data.get(key)
        if isinstance(v, str):
            return v.strip().lower() in _OK_WORDS
    return False


def _has_verdict(data: dict) -> bool:
    return any(k in data for k in ("ok", "success", "passed", "verdict", "status", "result", "outcome"))


def _ts(event_time: str, data: dict, *keys: str) -> float:
    for k in keys:
        v = data.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, str):
            try:
                return parse_iso(v).timestamp()
            except ValueError:
                pass
    return parse_iso(event_time).timestamp()


def _count(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return int(v)
    if isinstance(v, (list, tuple, dict)):
        return len(v)
    return None


@dataclass
class Incident:
    id: str
    t0: float
    deadlines: dict[str, float]
    pending: set[str] = field(default_factory=lambda: set(MILESTONES))


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
    drill_success: dict[str, float] = field(default_factory=dict)
    loadtest_pass: dict[str, float] = field(default_factory=dict)
    scan_success: float | None = None
    release_stage: dict[str, float] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)

    # ---- folding
    def apply(self, ev: Any) -> None:
        try:
            self._apply(ev.kind, ev.subject, ev.data if isinstance(ev.data, dict) else {}, ev.time)
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # a malformed row never stops the exporter
            log.debug("journal row %s (%s) not understood: %s", ev.id, ev.kind, e)
        self.last_id = max(self.last_id, ev.id)

    def _apply(self, kind: str, subject: str, d: dict, t: str) -> None:
        area = kind.split(".", 1)[0]
        if kind == "backup.run":
            repo = str(d.get("repository") or subject or "default")
            repos = d.get("repositories")
            if isinstance(repos, dict):  # one event for several repositories: {name: {status, ...}}
                for name, r in repos.items():
                    if isinstance(r, dict) and succeeded(r):
                        off = "true" if r.get("offsite") or str(name) in self.offsite_repos else "false"
                        self.backup_success[(str(name), off)] = _ts(t, r, "finished_at", "time")
                return
            if succeeded(d):
                off = "true" if d.get("offsite") in (True, "true", "yes", 1) or repo in self.offsite_repos else "false"
                self.backup_success[(repo, off)] = _ts(t, d, "finished_at", "ended_at", "time")
        elif kind == "backup.check":
            repos = d.get("repositories")
            if isinstance(repos, dict):  # {name: {ok, ...}}
                for name, r in repos.items():
                    if isinstance(r, dict):
                        self._apply("backup.check", str(name), {k: v for k, v in r.items() if k != "repositories"}, t)
                return
            repo = str(d.get("repository") or subject or "default")
            if succeeded(d):
                self.check_ok[repo] = 1
                self.check_success[repo] = _ts(t, d, "finished_at", "ended_at", "time")
            elif _has_verdict(d):
                self.check_ok[repo] = 0
        elif kind in ("backup.verify", "integrity.verify", "backup.integrity"):
            repo = str(d.get("repository") or subject or "default")
            n = None
            counts = d.get("problem_counts")
            if isinstance(counts, dict):
                n = sum(int(v) for v in counts.values() if isinstance(v, (int, float)) and not isinstance(v, bool))
            for key in ("integrity_problems", "problems", "missing_or_altered"):
                if n is not None:
                    break
                n = _count(d.get(key))
                if n is not None:
                    break
            if n is None:
                parts = [_count(d.get(k)) for k in ("missing", "altered", "corrupt")]
                if any(p is not None for p in parts):
                    n = sum(p or 0 for p in parts)
            if n is None and _has_verdict(d):
                n = 0 if succeeded(d) else 1
            if n is not None:
                self.integrity[repo] = n
        elif kind in ("drill.run", "drill.end", "drill.finish"):
            if succeeded(d):
                scenario = str(d.get("scenario") or subject or "drill")
                self.drill_success[scenario] = _ts(t, d, "ended_at", "finished_at")
        elif area == "loadtest":
            if succeeded(d) and kind not in ("loadtest.report",):
                scenario = str(d.get("scenario") or kind.split(".", 1)[1] or subject)  # loadtest.<scenario>
                self.loadtest_pass[scenario] = _ts(t, d, "ended_at", "finished_at")
        elif kind in ("scan.run", "scan"):
            if succeeded(d):
                self.scan_success = _ts(t, d, "ended_at", "finished_at")
        elif area == "release":
            rel = str(d.get("release") or d.get("version") or subject or "release")
            stage = d.get("stage")
            if kind in ("release.abort", "release.aborted", "release.rollback"):
                self.release_stage[rel] = -1
            elif isinstance(stage, (int, float)) and not isinstance(stage, bool):
                self.release_stage[rel] = float(stage)
        elif area == "incident":
            self._incident(kind, subject, d, t)

    def _incident(self, kind: str, subject: str, d: dict, t: str) -> None:
        iid = str(d.get("incident") or d.get("id") or d.get("incident_id") or subject or "")
        if not iid:
            return
        if kind in ("incident.open", "incident.opened"):
            if iid in self.incidents or d.get("created") is False:
                return
            t0 = _ts(t, d, "t0")
            dl = {}
            given = d.get("deadlines") if isinstance(d.get("deadlines"), dict) else {}
            for m in MILESTONES:
                v = given.get(m)
                try:
                    dl[m] = parse_iso(v).timestamp() if isinstance(v, str) else t0 + self.deadlines[m]
                except ValueError:
                    dl[m] = t0 + self.deadlines[m]
            self.incidents[iid] = Incident(iid, t0, dl)
            return
        inc = self.incidents.get(iid)
        if inc is None:
            return
        if kind in _CLOSE_KINDS:
            del self.incidents[iid]
            return
        if kind in ("incident.resolve", "incident.resolved"):
            inc.pending -= {"classify", "standby"}
        milestone = _MILESTONE_KINDS.get(kind)
        if kind == "incident.milestone":
            milestone = str(d.get("milestone") or "")
        if milestone in inc.pending and (kind != "incident.milestone" or d.get("met", True) is not False):
            inc.pending.discard(milestone)
        if not inc.pending:
            del self.incidents[iid]

    def fold(self, events: Iterable[Any]) -> int:
        n = 0
        for ev in events:
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
        for sc, v in self.drill_success.items():
            put("procops_drill_last_success_timestamp_seconds", {"scenario": sc}, v)
        for sc, v in self.loadtest_pass.items():
            put("procops_loadtest_last_pass_timestamp_seconds", {"scenario": sc}, v)
        if self.scan_success is not None:
            put("procops_scan_last_success_timestamp_seconds", {}, self.scan_success)
        for rel, v in self.release_stage.items():
            put("procops_release_stage", {"release": rel}, v)
        put("procops_incidents_open", {}, len(self.incidents))
        for inc in self.incidents.values():
            for m in sorted(inc.pending):
                put(
                    "procops_incident_deadline_remaining_seconds",
                    {"incident": inc.id, "milestone": m},
                    round(inc.deadlines[m] - now, 3),
                )
        return out


def offsite_repositories(config: Any) -> frozenset[str]:
    """Names of the off-site repositories (the embedded default has 'local' and 'offsite')."""
    repos = config.backup.repositories
    if not repos:
        return frozenset({"offsite"})
    return frozenset(r.name for r in repos if r.offsite)


def policy_deadlines(config: Any) -> dict[str, float]:
    p = config.policy
    return {"classify": p.classify_deadline, "standby": p.standby_deadline, "report": p.report_deadline}


# --------------------------------------------------------------------------- textfiles


def read_textfiles(directory: Path) -> list[Any]:
    """Metric families of every ``*.prom`` file (a malformed file is skipped with a warning)."""
    from prometheus_client.parser import text_string_to_metric_families

    fams = []
    for path in sorted(Path(directory).glob("*.prom")):
        try:
            fams.extend(text_string_to_metric_families(path.read_text()))
        except (OSError, ValueError, UnicodeDecodeError) as e:
            log.warning("skipping textfile %s: %s", path, e)
    return fams


LIVE = frozenset({"procops_incident_deadline_remaining_seconds", "procops_incidents_open"})


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

    def __init__(self, config: Any, journal_path: Path | None = None, textfile_dir: Path | None = None) -> None:
        from procops.journal import journal_path as default_journal
        from procops.metrics import textfile_dir as default_textfiles

        self.offsite_repos = offsite_repositories(config)
        self.state = JournalState(policy_deadlines(config), self.offsite_repos)
        self.journal_path = journal_path or default_journal()
        self.textfile_dir = textfile_dir or default_textfiles()
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
            labelnames = sorted({k for key in samples for k, _ in key})
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
        for inc in store.iter_active():
            for name in INC_MILESTONES:
                m = inc.milestones[name]
                if not m.done:
                    remaining[(("incident", inc.id), ("milestone", name))] = round(m.remaining(when), 3)
        n_open = len(store.list(open_only=True))
    except Exception as e:  # noqa: BLE001
        log.warning("incident store not readable: %s", e)
        return None
    finally:
        store.close()
    return {"procops_incident_deadline_remaining_seconds": remaining, "procops_incidents_open": {(): float(n_open)}}


def make_registry(config: Any, **kw: Any) -> Any:
    from procops.metrics import new_registry

    reg = new_registry()
    reg.register(ProcopsCollector(config, **kw))
    return reg


def serve(config: Any, port: int, host: str = "127.0.0.1") -> tuple[Any, Any]:
    """Start the exporter's HTTP server in a background thread; returns (server, thread)."""
    from prometheus_client import start_http_server

    from procops.errors import EnvironmentFailure

    try:
        return start_http_server(port, addr=host, registry=make_registry(config))
    except OSError as e:
        raise EnvironmentFailure(f"the exporter cannot listen on {host}:{port}: {e.strerror}") from None
