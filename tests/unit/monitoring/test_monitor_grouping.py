"""The grouping decision: which open incident an alert attaches to, or whether it opens one."""

from __future__ import annotations

from dataclasses import dataclass, field

from procops.monitoring import grouping
from procops.monitoring.grouping import Decision, OpenIncident, decide

SVC = {"service": "procurement-platform"}


@dataclass(frozen=True)
class A:
    fingerprint: str
    severity: str
    labels: dict[str, str] = field(default_factory=dict)


def crit(fp="fp-pd", **labels):
    return A(fp, "critical", {"alertname": "PlatformDown", "severity": "critical", **SVC, **labels})


def replica(fp="fp-r1", **labels):
    return A(
        fp, "warning", {"alertname": "ReplicaDown", "severity": "warning", "opens_incident": "true", **SVC, **labels}
    )


def real(iid="INC-1", severity="critical", fps=("fp-pd",), group="service=procurement-platform"):
    return OpenIncident(iid, severity, drill=False, group=group, fingerprints=frozenset(fps))


def test_a_critical_alert_with_no_open_incident_opens_a_critical_one():
    d = decide(crit(), [])
    assert d == Decision("open", severity="critical", group="service=procurement-platform", reason="no open incident")


def test_a_replica_down_alone_opens_a_warning_incident():
    d = decide(replica(), [])
    assert d.action == "open" and d.severity == "warning"


def test_an_alert_of_the_same_service_attaches_to_the_open_incident():
    d = decide(replica(), [real()])
    assert (d.action, d.incident, d.raise_to) == ("attach", "INC-1", None)


def test_a_more_severe_alert_attaching_raises_the_incident_severity():
    d = decide(crit(), [real(severity="warning", fps=("fp-r1",))])
    assert (d.action, d.incident, d.raise_to) == ("attach", "INC-1", "critical")


def test_the_oldest_open_incident_of_the_group_takes_the_alert():
    d = decide(replica("fp-r2"), [real("INC-1"), real("INC-2", fps=("fp-x",))])
    assert d.incident == "INC-1"


def test_the_same_fingerprint_is_a_duplicate_not_a_second_attachment():
    d = decide(crit(), [real(fps=("fp-pd",))])
    assert (d.action, d.incident) == ("duplicate", "INC-1")


def test_another_service_or_no_service_never_attaches():
    other = A("fp-o", "critical", {"alertname": "X", "service": "mail"})
    assert decide(other, [real()]).action == "open"
    bare = A("fp-b", "critical", {"alertname": "HostDiskFull"})
    assert decide(bare, [real()]).action == "open"


def test_a_warning_that_opens_nothing_is_ignored_unless_it_can_attach():
    slow = A("fp-s", "warning", {"alertname": "PageLoadSlow", **SVC})
    assert decide(slow, []).action == "ignore"
    assert decide(slow, [real()]).action == "attach"
    cpu = A("fp-c", "warning", {"alertname": "HostCpuHigh"})
    assert decide(cpu, [real()]).action == "ignore"


def test_a_drill_alert_never_attaches_to_a_real_incident_nor_a_real_one_to_a_drill():
    drill_inc = OpenIncident("INC-D", "critical", drill=True, group="service=procurement-platform")
    d = decide(crit("fp-d", drill="app-crash"), [real()])
    assert (d.action, d.drill) == ("open", True)
    d = decide(replica("fp-d2", drill="q4"), [real(), drill_inc])
    assert (d.action, d.incident, d.drill) == ("attach", "INC-D", True)
    d = decide(replica(), [drill_inc])
    assert (d.action, d.drill) == ("open", False)


def test_an_empty_drill_label_is_not_a_drill():
    assert not grouping.is_drill({"drill": ""}) and not grouping.is_drill({"drill": "  "})
    assert grouping.is_drill({"drill": "1"}) and grouping.is_drill({"drill": "app-crash"})


def test_severity_rank_and_incident_severity():
    assert grouping.rank("critical") < grouping.rank("warning") < grouping.rank("bogus")
    assert grouping.incident_severity(A("f", "page")) == "warning"
    from procops.incidents.incident import SEVERITIES

    assert grouping.SEVERITIES == SEVERITIES
