"""Attached alerts, raised severities, the drill flag, and the schema migration of older databases."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest

from procops.config import Config
from procops.errors import BadInput
from procops.incidents import escalation
from procops.incidents.incident import IncidentStore

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
GROUP = "service=procurement-platform"


def ev(fp, name="ReplicaDown", severity="warning"):
    return {
        "fingerprint": fp,
        "alertname": name,
        "status": "firing",
        "severity": severity,
        "labels": {"alertname": name, "service": "procurement-platform"},
        "starts_at": "2026-11-25T08:00:00Z",
        "group_key": "{}:{alertname}",
    }


@pytest.fixture
def store(procops_home):
    s = IncidentStore(clock=lambda: T0, policy=Config().policy)
    yield s
    s.close()


def _opened(store, **kw):
    src = {"kind": "alert", "alertname": "ReplicaDown", "fingerprint": "fp-r1"}
    inc, _ = store.open("replica down", severity="warning", t0=T0, source=src, group=GROUP, **kw)
    return inc


def test_an_attached_alert_is_stored_journaled_and_raises_the_severity(store):
    from procops.journal import open_journal

    inc = _opened(store)
    assert inc.alert_fingerprints() == {"fp-r1"} and inc.group == GROUP and inc.drill is False
    inc = store.attach_alert(inc.id, ev("fp-pd", "PlatformDown", "critical"))
    assert inc.severity == "critical"
    assert [a["alertname"] for a in inc.alerts] == ["PlatformDown"]
    assert inc.alert_fingerprints() == {"fp-r1", "fp-pd"}
    assert [t.kind for t in inc.timeline] == ["open", "alert.attach"]
    # the same fingerprint again: nothing new
    inc = store.attach_alert(inc.id, ev("fp-pd", "PlatformDown", "critical"))
    assert len(inc.alerts) == 1 and len(inc.timeline) == 2
    with open_journal() as j:
        rows = j.events("incident.alert")
    assert len(rows) == 1
    d = rows[0].data
    assert {k: d[k] for k in ("fingerprint", "alertname", "status", "severity", "starts_at", "group_key")} == {
        "fingerprint": "fp-pd",
        "alertname": "PlatformDown",
        "status": "firing",
        "severity": "critical",
        "starts_at": "2026-11-25T08:00:00Z",
        "group_key": "{}:{alertname}",
    }
    assert d["labels"]["service"] == "procurement-platform"
    assert d["severity_raised"] == {"from": "warning", "to": "critical"}


def test_a_less_severe_alert_does_not_lower_the_severity(store):
    inc = _opened(store)
    store.attach_alert(inc.id, ev("fp-pd", "PlatformDown", "critical"))
    inc = store.attach_alert(inc.id, ev("fp-r2"))
    assert inc.severity == "critical" and len(inc.alerts) == 2


def test_drill_and_real_never_share_alerts(store):
    real = _opened(store)
    drill, _ = store.open("drill: platform down", t0=T0, drill=True, group=GROUP, dedupe_key="alert:fp-d")
    assert drill.drill is True and store.get(drill.id).drill is True
    with pytest.raises(BadInput, match="drill alert to a real incident"):
        store.attach_alert(real.id, ev("fp-d2"), drill=True)
    with pytest.raises(BadInput, match="real alert to a drill incident"):
        store.attach_alert(drill.id, ev("fp-x"))


def test_real_incident_counts_exclude_drills(store):
    _opened(store)
    store.open("drill", t0=T0, drill=True)
    assert store.count_open() == 1 and store.count_open(drill=True) == 1
    assert [i.drill for i in store.list()] == [False, True]  # both listed, the drill marked
    assert [i.drill for i in store.list(drill=False)] == [False]


def test_an_incident_database_of_version_1_keeps_working(procops_home):
    path = procops_home / "procops.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE incidents (id TEXT PRIMARY KEY, day TEXT NOT NULL, seq INTEGER NOT NULL,
            status TEXT NOT NULL, dedupe_key TEXT, t0 TEXT NOT NULL, doc TEXT NOT NULL);
        """
    )
    with IncidentStore(path, clock=lambda: T0, policy=Config().policy, journal=False) as s:
        inc, _ = s.open("old", t0=T0)
    doc = json.loads(db.execute("SELECT doc FROM incidents").fetchone()[0])
    for k in ("drill", "group", "alerts"):
        doc.pop(k)  # a document written before drills and grouping existed
    db.execute("DROP TABLE incidents")
    db.execute(
        "CREATE TABLE incidents (id TEXT PRIMARY KEY, day TEXT NOT NULL, seq INTEGER NOT NULL, "
        "status TEXT NOT NULL, dedupe_key TEXT, t0 TEXT NOT NULL, doc TEXT NOT NULL)"
    )
    db.execute("INSERT INTO incidents VALUES (?, '20261125', 1, 'open', NULL, ?, ?)", (inc.id, inc.t0, json.dumps(doc)))
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    with IncidentStore(path, clock=lambda: T0, policy=Config().policy, journal=False) as s:
        old = s.get(inc.id)
        assert old.drill is False and old.alerts == [] and old.group is None
        assert s.count_open() == 1
        s.open("a drill", t0=T0, drill=True)
        assert s.count_open(drill=True) == 1
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert "drill" in {r[1] for r in db.execute("PRAGMA table_info(incidents)")}
    db.close()


def test_a_drill_incident_escalates_to_the_local_log_never_to_the_leader(store, port_block):
    from procops.incidents.receiver import RecordingReceiver

    port = port_block(1)
    cfg = Config.model_validate(
        {
            "notifications": {
                "escalation_receivers": [{"name": "leader", "url": f"http://127.0.0.1:{port}/hook"}],
                "contacts": [{"role": "responsible leader", "name": "Director Wang"}],
            }
        }
    )
    drill, _ = store.open("drill: platform down", t0=T0, drill=True, roles={"commander": "Li"})
    with RecordingReceiver(port=port) as rcv:
        results = escalation.escalate_due(cfg, T0 + dt.timedelta(minutes=16), store=store)
        assert rcv.received() == []
    assert [(r["receiver"], r["status"], r.get("drill")) for r in results] == [("local", "sent", True)]
    body = json.loads(escalation.local_log_path().read_text().splitlines()[0])
    assert body["drill"] is True and body["text"].startswith("[DRILL] ")
    assert body["contacts"] == [{"role": "commander", "name": "Li"}]  # the drill's participants
    assert "Director Wang" not in json.dumps(body)


def test_drill_clocks_have_their_own_metrics(store, procops_home):
    real = _opened(store)
    drill, _ = store.open("drill", t0=T0, drill=True)
    escalation.write_metrics(store, T0 + dt.timedelta(minutes=20))
    text = (procops_home / "textfile" / "incident.prom").read_text()
    assert f'procops_incident_deadline_remaining_seconds{{incident="{real.id}",milestone="classify"}}' in text
    assert f'procops_incident_deadline_remaining_seconds{{incident="{drill.id}"' not in text
    assert f'procops_drill_incident_deadline_remaining_seconds{{incident="{drill.id}",milestone="classify"}}' in text
    assert "procops_incidents_open 1.0" in text and "procops_drill_incidents_open 1.0" in text
