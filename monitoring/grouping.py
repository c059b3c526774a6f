"""Which incident an alert belongs to: one outage is one incident.

Pure: :func:`decide` takes an alert (its fingerprint, severity and labels) and the
open incidents (as :class:`OpenIncident` views) and answers

- ``duplicate``: the alert is already on an open incident (dedupe by fingerprint);
- ``attach``: an open incident of the same grouping key and the same drill flag
  takes it as further evidence (``raise_to``: the incident's new severity when the
  alert is more severe);
- ``open``: no such incident, and the alert opens incidents (a ``critical`` one, or
  a warning whose rule carries ``opens_incident="true"``, such as ``ReplicaDown``);
- ``ignore``: a warning with nothing to attach to.

The grouping key is the alert's ``service`` label (``service=procurement-platform``
for every platform alert): Alertmanager's group key is not used, because it also
names the route, and the critical route and the default route differ for the
same outage. An alert without a ``service`` label groups with nothing else.
A ``drill`` label (any non-empty value) makes a drill alert: drill alerts group
only with drill incidents, real alerts only with real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from procops.monitoring.rules import DRILL_LABEL, OPENS_INCIDENT_LABEL, SERVICE_LABEL

# the incident severities, most severe first (procops.incidents.incident.SEVERITIES)
SEVERITIES = ("critical", "major", "minor", "warning", "info")


class AlertLike(Protocol):
    @property
    def fingerprint(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class OpenIncident:
    """What the decision needs of an open incident."""

    id: str
    severity: str
    drill: bool = False
    group: str | None = None
    fingerprints: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    action: Literal["open", "attach", "duplicate", "ignore"]
    incident: str | None = None
    severity: str | None = None  # open: the new incident's severity
    raise_to: str | None = None  # attach: the incident's severity is raised to this
    group: str | None = None
    drill: bool = False
    reason: str = ""


def rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def group_key(labels: Mapping[str, str]) -> str | None:
    service = (labels.get(SERVICE_LABEL) or "").strip()
    return f"{SERVICE_LABEL}={service}" if service else None


def is_drill(labels: Mapping[str, str]) -> bool:
    return bool((labels.get(DRILL_LABEL) or "").strip())


def opens_incident(alert: AlertLike) -> bool:
    return alert.severity == "critical" or alert.labels.get(OPENS_INCIDENT_LABEL, "").lower() == "true"


def incident_severity(alert: AlertLike) -> str:
    """The incident severity of an alert: its own when the incident model knows it, else warning."""
    return alert.severity if alert.severity in SEVERITIES else "warning"


def decide(alert: AlertLike, open_incidents: Iterable[OpenIncident]) -> Decision:
    """Attach to which open incident, open a new one, or ignore (see the module's docstring)."""
    incidents = list(open_incidents)
    drill = is_drill(alert.labels)
    key = group_key(alert.labels)
    for inc in incidents:
        if alert.fingerprint in inc.fingerprints and inc.drill == drill:
            return Decision("duplicate", inc.id, group=key, drill=drill, reason="already on the incident")
    if key is not None:
        same = [i for i in incidents if i.group == key and i.drill == drill]
        if same:
            inc = same[0]  # the oldest open incident of the group: the outage's first symptom
            sev = incident_severity(alert)
            raise_to = sev if rank(sev) < rank(inc.severity) else None
            return Decision("attach", inc.id, raise_to=raise_to, group=key, drill=drill, reason=f"same {key}")
    if opens_incident(alert):
        return Decision("open", severity=incident_severity(alert), group=key, drill=drill, reason="no open incident")
    return Decision("ignore", group=key, drill=drill, reason=f"{alert.severity or 'no severity'}: opens no incident")


def view(inc: Any) -> OpenIncident:
    """An :class:`OpenIncident` of a stored incident (``procops.incidents.incident.Incident``)."""
    return OpenIncident(
        id=str(inc.id),
        severity=str(inc.severity),
        drill=bool(inc.drill),
        group=inc.group,
        fingerprints=frozenset(inc.alert_fingerprints()),
    )
