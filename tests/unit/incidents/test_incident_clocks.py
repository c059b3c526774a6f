"""The incident model and its three clocks, with an injected clock."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from procops.config import PolicyConfig
from procops.incidents.incident import IncidentStore, escalation_level
from procops.errors import BadInput
from procops.journal import open_journal

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, t: dt.datetime) -> None:
        self.t = t

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += dt.timedelta(**kw)


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def store(procops_home, clock):
    s = IncidentStore(clock=clock, policy=PolicyConfig())
    yield s
    s.close()


def test_open_sets_deadlines_from_t0_and_policy(store, clock):
    clock.advance(minutes=3)
    inc, created = store.open("platform down", t0=T0)
    assert created
    assert inc.id == "INC-20261125-001"
    assert inc.t0 == "2026-11-25T08:00:00Z"
    assert inc.opened_at == "2026-11-25T08:03:00Z"
    assert inc.milestones["classify"].deadline == "2026-11-25T08:15:00Z"
    assert inc.milestones["standby"].deadline == "2026-11-25T09:00:00Z"
    assert inc.milestones["report"].deadline == "2026-11-26T08:00:00Z"
    clocks = {c["milestone"]: c for c in inc.clocks(clock())}
    assert clocks["classify"]["remaining_seconds"] == 12 * 60
    assert clocks["standby"]["state"] == "pending"


def test_deadlines_follow_a_stricter_policy(procops_home, clock):
    with IncidentStore(clock=clock, policy=PolicyConfig(classify_deadline="10m", standby_deadline="30m")) as s:
        inc, _ = s.open("x")
    assert inc.milestones["classify"].deadline == "2026-11-25T08:10:00Z"
    assert inc.milestones["standby"].deadline == "2026-11-25T08:30:00Z"


def test_ids_count_per_day(store, clock):
    a, _ = store.open("a")
    b, _ = store.open("b")
    clock.advance(days=1)
    c, _ = store.open("c")
    assert [a.id, b.id, c.id] == ["INC-20261125-001", "INC-20261125-002", "INC-20261126-001"]


def test_milestone_reached_in_time_and_late(store, clock):
    inc, _ = store.open("db down")
    clock.advance(minutes=14, seconds=59)
    inc = store.classify(inc.id, "database-failure", note="primary refuses connections")
    m = inc.milestones["classify"]
    assert m.reached_at == "2026-11-25T08:14:59Z" and m.late is False
    assert inc.fault_type == "database-failure"
    clock.advance(minutes=46)  # 08:60:59 -> one second after the 1 h clock
    inc = store.standby(inc.id, evidence={"note": "switched to standby"})
    assert inc.milestones["standby"].late is True
    rows = {r["milestone"]: r for r in inc.compliance()}
    assert rows["classify"]["met"] is True and rows["classify"]["took_seconds"] == 899
    assert rows["standby"]["met"] is False
    assert rows["report"]["met"] is None


def test_unknown_type_id_severity_are_bad_input(store):
    inc, _ = store.open("x")
    with pytest.raises(BadInput):
        store.classify(inc.id, "gremlins")
    with pytest.raises(BadInput):
        store.get("INC-19990101-001")
    with pytest.raises(BadInput):
        store.open("y", severity="apocalyptic")
    with pytest.raises(BadInput):
        store.add_timeline("INC-19990101-001", "note")


def test_dedupe_key_returns_the_open_incident(store):
    a, created_a = store.open("alert", dedupe_key="fp1", source={"kind": "alert", "fingerprint": "fp1"})
    b, created_b = store.open("alert again", dedupe_key="fp1")
    assert created_a and not created_b and a.id == b.id
    assert store.find_open("fp1").id == a.id
    store.resolve(a.id)
    assert store.find_open("fp1") is None
    c, created_c = store.open("alert later", dedupe_key="fp1")
    assert created_c and c.id != a.id


def test_dedupe_holds_with_concurrent_callers(procops_home, clock):
    ids, errors = [], []

    def worker():
        try:
            with IncidentStore(clock=clock, policy=PolicyConfig()) as s:
                inc, _ = s.open("storm", dedupe_key="same")
                ids.append(inc.id)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 1 and len(ids) == 8
    with IncidentStore(policy=PolicyConfig()) as s:
        assert len(s.list()) == 1


def test_resolve_in_time_waives_standby_but_not_the_report(store, clock):
    inc, _ = store.open("blip")
    clock.advance(minutes=5)
    store.classify(inc.id, "network")
    clock.advance(minutes=10)
    inc = store.resolve(inc.id, summary="switch port reset")
    assert inc.status == "resolved"
    assert inc.milestones["standby"].waived
    assert inc.milestones["report"].done is False
    assert [i.id for i in store.iter_active()] == [inc.id]
    with pytest.raises(BadInput):
        store.resolve(inc.id)


def test_resolve_after_standby_deadline_leaves_it_missed(store, clock):
    inc, _ = store.open("long outage")
    clock.advance(hours=2)
    inc = store.resolve(inc.id)
    assert inc.milestones["standby"].waived is None
    assert inc.clocks(clock())[1]["state"] == "missed"


def test_escalation_levels(store, clock):
    inc, _ = store.open("x")
    m = inc.milestones["classify"]
    lead = 300.0
    assert escalation_level(m, T0 + dt.timedelta(minutes=9, seconds=59), lead) is None
    assert escalation_level(m, T0 + dt.timedelta(minutes=10), lead) == "near"
    assert escalation_level(m, T0 + dt.timedelta(minutes=15), lead) == "near"
    assert escalation_level(m, T0 + dt.timedelta(minutes=15, seconds=1), lead) == "missed"
    clock.advance(minutes=20)
    inc = store.classify(inc.id, "app-crash")
    assert escalation_level(inc.milestones["classify"], clock(), lead) is None


def test_actions_follow_found_rectified_accepted(store, clock):
    inc, _ = store.open("x")
    inc, a = store.add_action(inc.id, "no alert on disk", "ops team", T0 + dt.timedelta(days=7))
    assert a.n == 1 and a.status == "open"
    with pytest.raises(BadInput):
        store.update_action(inc.id, 1, status="accepted")  # must be rectified first
    with pytest.raises(BadInput):
        store.update_action(inc.id, 2, status="rectified")
    with pytest.raises(BadInput):
        store.update_action(inc.id, 1, status="done")
    store.update_action(inc.id, 1, status="rectified", note="rule added")
    inc, a = store.update_action(inc.id, 1, status="accepted", note="checked by the supervisor")
    assert a.status == "accepted" and [h["status"] for h in a.history] == ["open", "rectified", "accepted"]
    assert not inc.closed_loop()
    clock.advance(hours=1)
    store.resolve(inc.id)
    inc = store.submit_report(inc.id, "zh")
    assert inc.closed_loop()


def test_every_change_is_a_journal_event_and_on_the_timeline(store, clock):
    inc, _ = store.open("x", actor="alice@ops")
    store.classify(inc.id, "disk-full", actor="alice@ops")
    store.add_timeline(inc.id, "alert.repeat", {"fingerprint": "f"})
    store.resolve(inc.id)
    kinds = [e.kind for e in open_journal().events("incident.*", inc.id)]
    assert kinds == ["incident.open", "incident.milestone", "incident.timeline", "incident.resolve"]
    assert [t.kind for t in store.get(inc.id).timeline] == ["open", "classify", "alert.repeat", "resolve"]
    assert store.get(inc.id).timeline[0].actor == "alice@ops"


def test_naive_t0_is_refused(store):
    with pytest.raises(BadInput):
        store.open("x", t0=dt.datetime(2026, 11, 25, 8, 0))


def test_t0_with_another_zone_is_converted_to_utc(store):
    from procops.incidents.incident import parse_time

    inc, _ = store.open("x", t0=parse_time("2026-11-25T15:50:00+08:00"))
    assert inc.t0 == "2026-11-25T07:50:00Z"
    assert inc.milestones["classify"].deadline == "2026-11-25T08:05:00Z"
    with pytest.raises(BadInput):
        store.open("future", t0=T0 + dt.timedelta(hours=1))
