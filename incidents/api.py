"""The incidents' public API: the only module other areas and ``cli/`` import.

The typed records cross the boundary as they are (:class:`Incident`, its milestones and
actions; :class:`IncidentStore` opens the store); workflows that change an incident and
its timeline together live here, not in ``cli/`` (:func:`start_standby`). Heavier modules
(escalation, the report renderer, the failover) are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.incidents.incident import (
    ACTION_STATUS_TITLES,
    FAULT_TYPE_TITLES,
    MILESTONE_TITLES,
    MILESTONES,
    SEVERITY_TITLES,
    STATUS_TITLES,
    Incident,
    IncidentStore,
    default_db_path,
    describe_remaining,
    parse_time,
    shown,
)
from procops.incidents.standby import StandbyResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from procops.incidents.receiver import RecordingReceiver
    from procops.incidents.runbooks import Runbook
    from procops.readiness import Step
    from procops.schedule import Job
    from procops.config import Config

__all__ = [
    "ACTION_STATUS_TITLES",
    "FAULT_TYPE_TITLES",
    "MILESTONES",
    "MILESTONE_TITLES",
    "SEVERITY_TITLES",
    "STATUS_TITLES",
    "shown",
    "timeline_text",
    "Incident",
    "IncidentStore",
    "StandbyResult",
    "default_db_path",
    "describe_remaining",
    "describe_failback",
    "describe_standby",
    "escalate_due",
    "jobs",
    "open_store",
    "parse_time",
    "readiness_steps",
    "recording_receiver",
    "runbook",
    "runbook_for_type",
    "runbooks",
    "render_runbook",
    "failback",
    "start_standby",
    "store_exists",
    "write_metrics",
    "write_report",
]


def timeline_text(kind: str, data: dict) -> str:
    """One timeline entry as people read it, in the current language (as the report shows it)."""
    from procops.incidents.response import _timeline_text

    return _timeline_text(kind, data)


def open_store(config: Config | None = None, **kw: Any) -> IncidentStore:
    """The incident store (``$PROCOPS_HOME/procops.db``), with the config's policy when given."""
    if config is not None:
        kw.setdefault("policy", config.policy)
    return IncidentStore(**kw)


def store_exists() -> bool:
    """Whether any incident was ever stored (the exporter does not create the database)."""
    return default_db_path().exists()


def open_critical(config: Config | None = None) -> list[Incident]:
    """Open real (non-drill) incidents of severity critical; none when no incident was ever stored."""
    if not store_exists():
        return []
    with open_store(config) as store:
        return [i for i in store.list(open_only=True, drill=False) if i.severity == "critical"]


def write_metrics(store: IncidentStore) -> Path | None:
    """The incident clocks as node_exporter textfile metrics (never fails the caller)."""
    from procops.incidents.escalation import write_metrics as _write

    return _write(store)


def escalate_due(config: Config) -> list[dict]:
    """Send the escalations that are due; one result per escalation sent or failed."""
    from procops.incidents.escalation import escalate_due as _escalate

    return _escalate(config)


def start_standby(
    config: Config,
    incident_id: str,
    *,
    execute: bool = False,
    evidence: str | None = None,
    repo: str | None = None,
    snapshot: str = "latest",
    actor: str | None = None,
    progress: Callable[[str], None] | None = None,
    loaded: Any | None = None,
) -> StandbyResult:
    """Milestone 2: record the standby (``evidence``) or run the configured failover (``execute``).

    Runs as an operation (``incident.milestone``, subject the incident); a restore it runs nests in it."""
    from procops.events import Kind
    from procops.incidents import standby
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.INCIDENT_MILESTONE,
        incident_id,
        lambda _op: standby.start_standby(
            config,
            incident_id,
            execute=execute,
            evidence=evidence,
            repo=repo,
            snapshot=snapshot,
            actor=actor,
            progress=progress,
        ),
        loaded=loaded,
    )


def failback(
    config: Config,
    incident_id: str,
    *,
    execute: bool = False,
    keep_standby: bool = False,
    actor: str | None = None,
    progress: Callable[[str], None] | None = None,
    loaded: Any | None = None,
) -> dict:
    """Bring the site back from the standby to main with the standby's data (``incidents.failback``).

    Without ``execute`` the plan only. Runs as an operation (``incident.failback``, subject the
    incident); the backup run it starts nests in it."""
    from procops.incidents import failback as _failback
    from procops.operation import run_as_operation

    def go(_op: Any) -> dict:
        return _failback.failback(
            config,
            incident_id,
            execute=execute,
            keep_standby=keep_standby,
            actor=actor,
            progress=progress,
            loaded=loaded,
        )

    if not execute:
        return go(None)
    return run_as_operation("incident.failback", incident_id, go, loaded=loaded)


def describe_failback(res: dict) -> str:
    from procops.incidents import failback as _failback

    return _failback.describe(res)


def describe_standby(res: StandbyResult) -> str:
    from procops.incidents import standby

    return standby.describe(res)


def write_report(inc: Incident, lang: str, config: Config) -> dict:
    """The fault analysis report, Markdown and HTML; ``{"markdown": path, "html": path}``."""
    from procops.incidents import response

    return response.write_report(inc, lang, config)


def runbooks(lang: str) -> list[Runbook]:
    from procops.incidents import runbooks as rb

    return rb.load_all(lang)


def runbook(runbook_id: str, lang: str) -> Runbook:
    """One runbook; an unknown id is bad input (2)."""
    from procops.incidents import runbooks as rb

    return rb.get(runbook_id, lang)


def runbook_for_type(fault_type: str | None, lang: str) -> Runbook | None:
    from procops.incidents import runbooks as rb

    return rb.for_type(fault_type, lang)


def render_runbook(book: Runbook, config: Config) -> str:
    """The runbook's Markdown with the contacts table from the configuration."""
    from procops.incidents import runbooks as rb

    return rb.render(book, config)


def recording_receiver(port: int, out: Path) -> RecordingReceiver:
    from procops.incidents.receiver import RecordingReceiver

    return RecordingReceiver(port, out=out)


def readiness_steps() -> list[Step]:
    """Runbooks in both languages for every fault type."""
    from procops.incidents import steps

    return list(steps.STEPS)


def jobs(config: Config) -> list[Job]:
    """Every minute: the due escalations."""
    from procops.incidents import jobs as j

    return j.jobs(config)
