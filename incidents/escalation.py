"""Escalation (R11): warn before a clock runs out, and again when it is missed.

:func:`escalate_due` looks at every incident with a clock still running and, for
each milestone not reached, decides the level: ``near`` within
``policy.escalation_lead`` of the deadline, ``missed`` after it. Each level is
sent once per receiver (a ``missed`` escalation found after the fact is sent
without the ``near`` one). A receiver that is down is retried on the next call
(the monitoring webhook service calls every ~30 s, cron's ``procops incident
escalate`` every minute) and every failure is recorded on the timeline.

Receivers are webhook URLs (``notifications.escalation_receivers``); with none
configured, the local recording receiver appends the notifications to
``$PROCOPS_HOME/incident/escalations.jsonl`` (``url: local:`` selects it
explicitly). Sending never raises: a failure is a recorded result.

A drill incident (``Incident.drill``) never reaches the configured leader channel:
its escalations go to the local recording receiver only, marked ``"drill": true``
and naming the drill's participants (the incident's roles) instead of the leaders.
Its clocks are published under their own metric names, so real-incident figures
and the ``IncidentDeadline*`` alerts never count it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from procops.i18n import _
from procops.timeutil import iso, utcnow

from procops.incidents.incident import (
    MILESTONE_TITLES,
    MILESTONES,
    Incident,
    IncidentStore,
    Milestone,
    describe_remaining,
    escalation_level,
    shown,
)

if TYPE_CHECKING:
    from procops.config import Config, SecretRef

log = logging.getLogger(__name__)
LOCAL_URL = "local:"
SEND_TIMEOUT = 5.0


@dataclass(frozen=True)
class Receiver:
    name: str
    url: str
    token_ref: SecretRef | None = None


def local_log_path() -> Path:
    from procops.home import area_dir

    return area_dir("incident") / "escalations.jsonl"


def receivers(config: Config) -> list[Receiver]:
    rs = config.notifications.escalation_receivers
    if not rs:
        return [Receiver("local", LOCAL_URL)]
    return [Receiver(r.name, r.url, r.token) for r in rs]


DRILL_RECEIVERS = [Receiver("local", LOCAL_URL)]


def drill_participants(inc: Incident) -> list[dict]:
    """The contacts a drill escalation names: the people holding the incident's roles."""
    return [{"role": role, "name": name} for role, name in inc.roles.items() if name]


def leaders(config: Config) -> list[dict]:
    """The contacts an escalation names: responsible leaders first, then everyone."""
    contacts = [c.model_dump() for c in config.notifications.contacts]
    lead = [c for c in contacts if "leader" in c["role"].lower() or "负责" in c["role"]]
    return lead or contacts


def message(inc: Incident, m: Milestone, level: str, now: dt.datetime, contacts: list[dict]) -> dict:
    """The body sent to a receiver: names the incident, the milestone and the time left or overdue."""
    from procops.i18n import speaking

    left = m.remaining(now)

    def text() -> str:
        from procops.display import when

        word = _("DEADLINE MISSED") if level == "missed" else _("deadline near")
        drill = _("[DRILL] ") if inc.drill else ""
        return _("{drill}[{word}] {incident} {title!r}: '{milestone}' due {deadline}, {left}. Run: {command}").format(
            drill=drill,
            word=word,
            incident=inc.id,
            title=inc.title,
            milestone=shown(MILESTONE_TITLES, m.name),
            deadline=when(m.deadline),
            left=describe_remaining(left),
            command=f"procops incident show {inc.id}",
        )

    with speaking("en"):
        text_en = text()
    with speaking("zh"):
        text_zh = text()
    title_en = MILESTONE_TITLES[m.name]
    return {
        "kind": "procops.escalation",
        "drill": inc.drill,
        "incident": inc.id,
        "title": inc.title,
        "severity": inc.severity,
        "status": inc.status,
        "milestone": m.name,
        "milestone_title": title_en,
        "level": level,
        "t0": inc.t0,
        "deadline": m.deadline,
        "seconds_left": round(left, 1),
        "text": text_en,
        "text_zh": text_zh,
        "contacts": contacts,
        "sent_at": iso(now),
    }


def send(receiver: Receiver, body: dict) -> str | None:
    """Deliver one notification; returns None on success or the error text. Never raises."""
    if receiver.url == LOCAL_URL:
        try:
            path = local_log_path()
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(body, ensure_ascii=False) + "\n")
            return None
        except OSError as e:
            return f"cannot write {e.filename}: {e.strerror}"
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json", "User-Agent": "procops-escalation"}
    try:
        if receiver.token_ref is not None:
            headers["Authorization"] = f"Bearer {receiver.token_ref.reveal()}"
        req = urllib.request.Request(
            receiver.url, data=json.dumps(body, ensure_ascii=False).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(req, timeout=SEND_TIMEOUT) as r:  # noqa: S310 - configured URL
            if not 200 <= r.status < 300:
                return f"HTTP {r.status}"
        return None
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except urllib.error.URLError as e:
        return f"unreachable: {e.reason}"
    except Exception as e:  # noqa: BLE001 - a notification never fails the caller
        return f"{type(e).__name__}: {e}"


def due(inc: Incident, now: dt.datetime, lead: float) -> list[tuple[Milestone, str]]:
    """(milestone, level) pairs due for an incident at ``now``."""
    out = []
    for name in MILESTONES:
        m = inc.milestones[name]
        level = escalation_level(m, now, lead)
        if level:
            out.append((m, level))
    return out


def escalate_due(
    config: Config,
    now: dt.datetime | None = None,
    *,
    store: IncidentStore | None = None,
    actor: str = "procops-escalation",
) -> list[dict]:
    """Send the escalations that are due; returns one record per delivery attempt."""
    now = now or utcnow()
    own = store is None
    store = store or IncidentStore(policy=config.policy)
    results: list[dict] = []
    try:
        lead = config.policy.escalation_lead
        rcv = receivers(config)
        contacts = leaders(config)
        for inc in store.iter_active():
            for m, level in due(inc, now, lead):
                for r in DRILL_RECEIVERS if inc.drill else rcv:
                    attempt = store.escalation_claim(inc.id, m.name, level, r.name, now)
                    if attempt is None:
                        continue
                    body = message(inc, m, level, now, drill_participants(inc) if inc.drill else contacts)
                    error = send(r, body)
                    store.escalation_done(inc.id, m.name, level, r.name, now, error=error)
                    rec = {
                        "incident": inc.id,
                        "milestone": m.name,
                        "level": level,
                        "receiver": r.name,
                        "attempt": attempt,
                        "status": "sent" if error is None else "failed",
                        "error": error,
                        "seconds_left": body["seconds_left"],
                    }
                    if inc.drill:
                        rec["drill"] = True
                    results.append(rec)
                    kind = "escalation.sent" if error is None else "escalation.failed"
                    try:
                        store.add_timeline(inc.id, kind, {k: v for k, v in rec.items() if k != "incident"}, actor=actor)
                    except Exception as e:  # noqa: BLE001 - recording never stops the other escalations
                        log.warning("could not record %s on %s: %s", kind, inc.id, e)
        write_metrics(store, now)
    finally:
        if own:
            store.close()
    return results


def write_metrics(store: IncidentStore, now: dt.datetime | None = None) -> Path | None:
    """procops_incident_deadline_remaining_seconds{incident,milestone} for every clock still running.

    Drill incidents are published as procops_drill_incident_deadline_remaining_seconds and
    procops_drill_incidents_open: real-incident figures (and the alerts on them) exclude drills.
    """
    from procops.metrics import new_registry, write_textfile

    try:
        from prometheus_client import Gauge

        now = now or utcnow()
        reg = new_registry()
        g = Gauge(
            "procops_incident_deadline_remaining_seconds",
            "Seconds until an incident milestone's deadline (negative: overdue); clocks still running.",
            ["incident", "milestone"],
            registry=reg,
        )
        open_g = Gauge("procops_incidents_open", "Incidents not yet resolved (drills excluded).", registry=reg)
        dg = Gauge(
            "procops_drill_incident_deadline_remaining_seconds",
            "Seconds until a drill incident milestone's deadline (negative: overdue); clocks still running.",
            ["incident", "milestone"],
            registry=reg,
        )
        open_dg = Gauge("procops_drill_incidents_open", "Drill incidents not yet resolved.", registry=reg)
        for inc in store.iter_active():
            for name in MILESTONES:
                m = inc.milestones[name]
                if not m.done:
                    (dg if inc.drill else g).labels(inc.id, name).set(m.remaining(now))
        open_g.set(store.count_open())
        open_dg.set(store.count_open(drill=True))
        return write_textfile("incident", reg)
    except Exception as e:  # noqa: BLE001 - metrics never fail the command
        log.warning("could not write incident metrics: %s", e)
        return None
