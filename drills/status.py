"""`drill status`: per scenario the last drill, its mode and result, the next due date (a quarter,
``policy.drill_interval``, after the last success) and whether it is overdue.

:func:`summarize` is pure (journal rows in, rows out); :func:`status` reads the journal;
:func:`write_metrics` publishes ``procops_drill_last_success_timestamp_seconds{scenario}`` as a
textfile (so ``DrillOverdue`` clears once a drill succeeded).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from procops.timeutil import iso, parse_iso, utcnow

if TYPE_CHECKING:
    from procops.config import Config


@dataclass(frozen=True)
class ScenarioStatus:
    scenario: str
    last_run: str | None
    last_mode: str | None
    last_result: str | None
    last_success: str | None
    last_success_mode: str | None
    next_due: str | None
    overdue: bool
    incident_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "last_run": self.last_run,
            "last_mode": self.last_mode,
            "last_result": self.last_result,
            "last_success": self.last_success,
            "last_success_mode": self.last_success_mode,
            "next_due": self.next_due,
            "overdue": self.overdue,
            "incident_id": self.incident_id,
        }


def summarize(
    scenarios: Iterable[str], runs: Iterable[tuple[str, str, dict[str, Any]]], interval: float, now: dt.datetime
) -> list[ScenarioStatus]:
    """``runs``: (time, scenario, drill.run data) oldest first. A tabletop counts as a run but not as a
    success of the quarter's live drill; a scenario never drilled successfully is overdue."""
    last: dict[str, tuple[str, dict[str, Any]]] = {}
    ok: dict[str, tuple[str, dict[str, Any]]] = {}
    names = list(dict.fromkeys(scenarios))
    for t, name, data in runs:
        if name not in names:
            names.append(name)
        last[name] = (t, data)
        if data.get("status") == "ok" and data.get("mode") != "tabletop":
            ok[name] = (t, data)
    out = []
    for name in names:
        lt, ld = last.get(name, (None, {}))
        st, sd = ok.get(name, (None, {}))
        due = parse_iso(st) + dt.timedelta(seconds=interval) if st else None
        out.append(
            ScenarioStatus(
                scenario=name,
                last_run=lt,
                last_mode=ld.get("mode"),
                last_result=ld.get("status"),
                last_success=st,
                last_success_mode=sd.get("mode"),
                next_due=iso(due) if due else None,
                overdue=due is None or due < now,
                incident_id=ld.get("incident_id"),
            )
        )
    return out


def _runs() -> list[tuple[str, str, dict[str, Any]]]:
    from procops.events import Kind
    from procops.journal import journal_path, open_journal

    if not journal_path().exists():
        return []
    with open_journal() as j:
        return [(e.time, e.subject, dict(e.data)) for e in j.events(Kind.DRILL_RUN)]


def status(config: Config, now: dt.datetime | None = None) -> list[ScenarioStatus]:
    from procops.drills import scenario as sc

    names = list(sc.scenario_files(config.drills.scenarios_dir))
    return summarize(names, _runs(), config.policy.drill_interval, now or utcnow())


def write_metrics() -> None:
    """procops_drill_last_success_timestamp_seconds{scenario} (never fails the caller)."""
    from procops import metrics

    try:
        from prometheus_client import Gauge

        reg = metrics.new_registry()
        g = Gauge(
            "procops_drill_last_success_timestamp_seconds",
            "Time of the last successful emergency drill, per scenario.",
            ["scenario"],
            registry=reg,
        )
        best: dict[str, str] = {}
        for t, name, data in _runs():
            if data.get("status") == "ok" and data.get("mode") != "tabletop":
                best[name] = t
        for name, t in best.items():
            g.labels(name).set(parse_iso(t).timestamp())
        if best:
            metrics.write_textfile("drills", reg)
    except Exception:  # metrics never fail the job
        pass
