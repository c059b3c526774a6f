"""Escalations: once per level, near before missed, local recording receiver, retries after a failure."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from procops.config import Config
from procops.incidents import escalation
from procops.incidents.incident import IncidentStore

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


def at(**kw: float) -> dt.datetime:
    return T0 + dt.timedelta(**kw)


@pytest.fixture
def setup(procops_home):
    cfg = Config()
    store = IncidentStore(clock=lambda: T0, policy=cfg.policy)
    inc, _ = store.open("portal down", t0=T0)
    yield cfg, store, inc
    store.close()


def sent(results):
    return [(r["milestone"], r["level"], r["status"]) for r in results]


def test_nothing_due_early(setup):
    cfg, store, inc = setup
    assert escalation.escalate_due(cfg, at(minutes=5), store=store) == []


def test_near_then_missed_once_each(setup):
    cfg, store, inc = setup
    assert sent(escalation.escalate_due(cfg, at(minutes=11), store=store)) == [("classify", "near", "sent")]
    assert escalation.escalate_due(cfg, at(minutes=12), store=store) == []  # once per level
    assert sent(escalation.escalate_due(cfg, at(minutes=16), store=store)) == [("classify", "missed", "sent")]
    assert escalation.escalate_due(cfg, at(minutes=17), store=store) == []
    lines = [json.loads(x) for x in escalation.local_log_path().read_text().splitlines()]
    assert [(m["incident"], m["milestone"], m["level"]) for m in lines] == [
        (inc.id, "classify", "near"),
        (inc.id, "classify", "missed"),
    ]
    assert lines[0]["seconds_left"] == 240 and lines[1]["seconds_left"] == -60
    assert "overdue by 1 min" in lines[1]["text"] and "已超时 1分钟" in lines[1]["text_zh"]
    kinds = [t.kind for t in store.get(inc.id).timeline]
    assert kinds.count("escalation.sent") == 2


def test_missed_found_late_skips_near(setup):
    cfg, store, inc = setup
    got = sent(escalation.escalate_due(cfg, at(hours=2), store=store))
    assert got == [("classify", "missed", "sent"), ("standby", "missed", "sent")]


def test_reached_milestone_is_not_escalated(setup):
    cfg, store, inc = setup
    store.classify(inc.id, "app-crash")
    assert sent(escalation.escalate_due(cfg, at(minutes=56), store=store)) == [("standby", "near", "sent")]


def test_down_receiver_is_retried_and_failure_recorded(setup, port_block):
    from procops.incidents.receiver import RecordingReceiver

    port = port_block(1)
    cfg = Config.model_validate(
        {"notifications": {"escalation_receivers": [{"name": "leader", "url": f"http://127.0.0.1:{port}/hook"}]}}
    )
    _, store, inc = setup
    first = escalation.escalate_due(cfg, at(minutes=16), store=store)
    assert sent(first) == [("classify", "missed", "failed")] and "unreachable" in first[0]["error"]
    with RecordingReceiver(port=port) as rcv:
        second = escalation.escalate_due(cfg, at(minutes=16, seconds=30), store=store)
        assert sent(second) == [("classify", "missed", "sent")] and second[0]["attempt"] == 2
        assert escalation.escalate_due(cfg, at(minutes=17), store=store) == []
        got = rcv.received()
    assert [(b["incident"], b["milestone"], b["level"]) for b in got] == [(inc.id, "classify", "missed")]
    kinds = [t.kind for t in store.get(inc.id).timeline]
    assert kinds.count("escalation.failed") == 1 and kinds.count("escalation.sent") == 1


def test_metrics_textfile(setup, procops_home):
    cfg, store, inc = setup
    escalation.write_metrics(store, at(minutes=20))
    text = (procops_home / "textfile" / "incident.prom").read_text()
    assert f'procops_incident_deadline_remaining_seconds{{incident="{inc.id}",milestone="classify"}} -300.0' in text
    assert 'milestone="standby"} 2400.0' in text


def test_receiver_token_is_sent_as_bearer(setup, port_block, tmp_path):
    from procops.incidents.receiver import RecordingReceiver

    port = port_block(1)
    secret = tmp_path / "hook-token"
    secret.write_text("s3cret-token\n")
    secret.chmod(0o600)
    cfg = Config.model_validate(
        {
            "notifications": {
                "escalation_receivers": [
                    {"name": "leader", "url": f"http://127.0.0.1:{port}/", "token": {"file": str(secret)}},
                    {"name": "wrong", "url": f"http://127.0.0.1:{port}/"},
                ]
            }
        }
    )
    _, store, inc = setup
    with RecordingReceiver(port=port, token="s3cret-token") as rcv:
        got = {
            r["receiver"]: (r["status"], r["error"]) for r in escalation.escalate_due(cfg, at(minutes=16), store=store)
        }
        assert got == {"leader": ("sent", None), "wrong": ("failed", "HTTP 401")}
        assert len(rcv.received()) == 1
    text = json.dumps([t.as_dict() for t in store.get(inc.id).timeline])
    assert "s3cret" not in text
