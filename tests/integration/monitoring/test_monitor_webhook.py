"""The webhook over real HTTP with the real incident store, in a fresh $PROCOPS_HOME."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from procops.config import Config
from procops.incidents.incident import IncidentStore
from procops.journal import open_journal
from procops.monitoring import webhook


def _alert(fp="fp-1", status="firing", severity="critical", name="UploadFailures"):
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "version": "1.0.0"},
        "annotations": {"summary": "uploads failing"},
        "startsAt": "2026-11-25T09:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fp,
        "generatorURL": "http://x",
        "unknown": True,
    }


def _payload(*alerts, status="firing"):
    return {
        "version": "4",
        "status": status,
        "receiver": "procops-incident",
        "groupKey": "{}:{alertname}",
        "truncatedAlerts": 0,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "alerts": list(alerts),
        "somethingNew": 1,
    }


@pytest.fixture
def service(procops_home, port_block):
    cfg = Config.model_validate({"monitoring": {"webhook_max_body": "64KB"}})
    svc = webhook.start(cfg, port_block(1), escalation=False)
    try:
        yield svc, webhook.token(cfg)
    finally:
        svc.stop()


def _url(svc, path="/alerts"):
    return f"http://127.0.0.1:{svc.port}{path}"


def _incidents():
    with IncidentStore(journal=False) as s:
        return s.list()


def test_no_token_and_wrong_token_are_401(service):
    svc, tok = service
    r = httpx.post(_url(svc), json=_payload(_alert()))
    assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]
    r = httpx.post(_url(svc), json=_payload(_alert()), headers={"Authorization": "Bearer " + tok + "x"})
    assert r.status_code == 401
    assert _incidents() == []


def test_truncated_json_and_huge_body(service):
    svc, tok = service
    h = {"Authorization": f"Bearer {tok}"}
    body = json.dumps(_payload(_alert()))
    r = httpx.post(_url(svc), content=body[: len(body) // 2], headers=h)
    assert r.status_code == 400
    r = httpx.post(_url(svc), content=b'{"alerts": [' + b'{"a": 1},' * 20000 + b"]}", headers=h)
    assert r.status_code == 413
    # a client that claims a huge body is refused before it sends it
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
        s.sendall(
            b"POST /alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + tok.encode()
            + b"\r\nContent-Length: 999999999\r\n\r\n"
        )
        assert b" 413 " in s.recv(4096).split(b"\r\n")[0] + b" "
    # a body shorter than its Content-Length (client gives up) does not hurt the server
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
        s.sendall(
            b"POST /alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + tok.encode()
            + b'\r\nContent-Length: 100\r\n\r\n{"alerts"'
        )
    r = httpx.post(_url(svc), json=_payload(_alert()), headers=h)
    assert r.status_code == 200 and len(r.json()["opened"]) == 1
    assert httpx.get(_url(svc, "/healthz")).json()["ok"]


def test_storm_of_duplicates_opens_one_incident_and_resolution_is_recorded_once(service):
    svc, tok = service
    h = {"Authorization": f"Bearer {tok}"}
    with httpx.Client(headers=h, timeout=10) as c:
        codes = [c.post(_url(svc), json=_payload(_alert())).status_code for _ in range(1000)]
        assert set(codes) == {200}
        incs = _incidents()
        assert len(incs) == 1
        inc = incs[0]
        assert inc.t0 == "2026-11-25T09:00:00Z"
        assert inc.source["alertname"] == "UploadFailures" and inc.source["fingerprint"] == "fp-1"
        assert inc.dedupe_key == "alert:fp-1"
        for _ in range(3):
            assert c.post(_url(svc), json=_payload(_alert(status="resolved"), status="resolved")).status_code == 200
    with IncidentStore(journal=False) as s:
        kinds = [e.kind for e in s.get(inc.id).timeline]
    assert kinds.count("alert.resolved") == 1
    assert len(kinds) < 10  # the storm wrote no timeline rows
    with open_journal() as j:
        deliveries = j.events("monitor.webhook")
    assert len(deliveries) == 1003
    assert sum(e.data["duplicates"] for e in deliveries) >= 999


def test_warning_alerts_open_nothing_and_escalations_reach_the_timeline(service):
    svc, tok = service
    h = {"Authorization": f"Bearer {tok}"}
    r = httpx.post(_url(svc), json=_payload(_alert(severity="warning", name="DrillOverdue")), headers=h)
    assert r.status_code == 200 and r.json()["opened"] == []
    assert _incidents() == []
    inc_id = httpx.post(_url(svc), json=_payload(_alert()), headers=h).json()["opened"][0]
    esc = _alert(fp="fp-esc", name="IncidentDeadlineNear", severity="warning")
    esc["labels"].update({"incident": inc_id, "milestone": "classify"})
    for _ in range(2):
        assert httpx.post(_url(svc, "/escalation"), json=_payload(esc), headers=h).status_code == 200
    with IncidentStore(journal=False) as s:
        kinds = [e.kind for e in s.get(inc_id).timeline]
    assert kinds.count("alert.escalation") == 1
    assert len(_incidents()) == 1


def test_garbage_never_crashes_the_server(service):
    svc, tok = service
    h = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
    for body in (
        b"",
        b"null",
        b"\x00\xff" * 100,
        b'{"alerts": [null]}',
        b'{"alerts": "x"}',
        b'{"version": 4, "alerts": [{"status": "firing", "labels": {"alertname": "A"}, '
        b'"annotations": {"x": {"nested": 1}}}]}',
    ):
        assert httpx.post(_url(svc), content=body, headers=h).status_code == 400
    assert httpx.post(_url(svc, "/nope"), content=b"{}", headers=h).status_code == 404
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
        s.sendall(b"GARBAGE\r\n\r\n")
        s.recv(1024)
    assert httpx.get(_url(svc, "/healthz")).status_code == 200


def test_resolution_of_an_incident_that_no_longer_exists_is_not_retried(service):
    svc, tok = service
    h = {"Authorization": f"Bearer {tok}"}
    svc.server.receiver.tracked["ghost"] = webhook.Tracked("INC-19700101-001")
    r = httpx.post(_url(svc), json=_payload(_alert(fp="ghost", status="resolved"), status="resolved"), headers=h)
    assert r.status_code == 200
    assert "ghost" not in svc.server.receiver.tracked


def test_the_webhook_service_runs_the_escalation_loop(procops_home, port_block):
    import datetime as dt
    import time

    from procops.incidents.escalation import local_log_path

    cfg = Config.model_validate({"monitoring": {"escalation_every": "0.3s"}})
    with IncidentStore(policy=cfg.policy) as s:
        inc, _ = s.open("old fault", t0=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20))
    svc = webhook.start(cfg, port_block(1), escalation=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not local_log_path().exists():
            time.sleep(0.2)
    finally:
        svc.stop()
    assert inc.id in local_log_path().read_text()  # the overdue classify milestone was escalated


def _platform_alert(fp, name, severity, starts, **labels):
    a = _alert(fp=fp, severity=severity, name=name)
    a["labels"] = {"alertname": name, "severity": severity, "service": "procurement-platform", **labels}
    if name == "ReplicaDown":  # as the rule labels it (procops.monitoring.rules)
        a["labels"]["opens_incident"] = "true"
    a["startsAt"] = starts
    return a


def test_related_alerts_attach_and_a_drill_opens_a_drill_incident_with_no_leader_escalation(procops_home, port_block):
    import datetime as dt
    import time

    from procops.incidents.escalation import local_log_path
    from procops.incidents.receiver import RecordingReceiver
    from procops.timeutil import iso

    hook = port_block(2)
    leader_port = hook + 1
    cfg = Config.model_validate(
        {
            "monitoring": {"escalation_every": "0.3s"},
            "notifications": {
                "escalation_receivers": [{"name": "leader", "url": f"http://127.0.0.1:{leader_port}/"}],
                "contacts": [{"role": "responsible leader", "name": "Director Wang"}],
            },
        }
    )
    old = iso(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20))  # the classify clock is already missed
    with RecordingReceiver(port=leader_port) as leader:
        svc = webhook.start(cfg, hook, escalation=False)
        try:
            h = {"Authorization": f"Bearer {webhook.token(cfg)}"}
            url = f"http://127.0.0.1:{svc.port}/alerts"
            drill = {"drill": "q4-app-crash"}
            # a drill outage: PlatformDown and, in a later delivery, a replica of the same service
            r = httpx.post(
                url, json=_payload(_platform_alert("d-pd", "PlatformDown", "critical", old, **drill)), headers=h
            )
            assert r.status_code == 200 and len(r.json()["opened"]) == 1
            drill_id = r.json()["opened"][0]
            r = httpx.post(
                url, json=_payload(_platform_alert("d-r1", "ReplicaDown", "warning", old, **drill)), headers=h
            )
            assert r.json()["opened"] == [] and r.json()["attached"] == [drill_id]
            # a real replica loss never attaches to the drill: it opens a real (warning) incident
            r = httpx.post(url, json=_payload(_platform_alert("r-r1", "ReplicaDown", "warning", old)), headers=h)
            real_id = r.json()["opened"][0]
            # the real front end goes down too: it attaches to the real incident and raises it to critical
            both = _payload(
                _platform_alert("r-pd", "PlatformDown", "critical", old),
                _platform_alert("r-page", "PageLoadSlow", "warning", old),
            )
            r = httpx.post(url, json=both, headers=h)
            assert r.json()["opened"] == [] and r.json()["attached"] == [real_id, real_id]
            # repeats are duplicates
            r = httpx.post(url, json=both, headers=h)
            assert r.json()["duplicates"] == 2 and r.json()["attached"] == []
        finally:
            svc.stop()
        with IncidentStore(journal=False) as s:
            incs = {i.id: i for i in s.list()}
            assert set(incs) == {drill_id, real_id}
            d, real = incs[drill_id], incs[real_id]
            assert (
                d.drill is True and d.severity == "critical" and [a["alertname"] for a in d.alerts] == ["ReplicaDown"]
            )
            assert real.drill is False and real.severity == "critical"
            assert [a["alertname"] for a in real.alerts] == ["PlatformDown", "PageLoadSlow"]
            assert s.count_open() == 1 and s.count_open(drill=True) == 1
        with open_journal() as j:
            attached = j.events("incident.alert")
        assert [(e.subject, e.data["alertname"]) for e in attached] == [
            (drill_id, "ReplicaDown"),
            (real_id, "PlatformDown"),
            (real_id, "PageLoadSlow"),
        ]
        assert attached[1].data["severity_raised"] == {"from": "warning", "to": "critical"}
        assert attached[1].data["group_key"] == "{}:{alertname}" and attached[1].data["labels"]["service"]

        # the escalation loop of the webhook service: the real incident reaches the leader, the drill does not
        svc = webhook.start(cfg, hook, escalation=True)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (
                leader.received() and local_log_path().exists() and drill_id in local_log_path().read_text()
            ):
                time.sleep(0.2)
        finally:
            svc.stop()
        got = leader.received()
    assert got and {b["incident"] for b in got} == {real_id}
    assert all(b["drill"] is False for b in got)
    local = [json.loads(line) for line in local_log_path().read_text().splitlines()]
    assert local and {b["incident"] for b in local} == {drill_id} and all(b["drill"] for b in local)


def _journal_rows(kind):
    with open_journal() as j:
        return list(j.events(kind))


def test_a_thousand_unauthenticated_posts_add_at_most_two_journal_rows_and_the_metric_counts_them(
    procops_home, port_block
):
    from procops.events import Kind

    cfg = Config.model_validate({})
    svc = webhook.start(cfg, port_block(1), escalation=False)
    kind = Kind.MONITOR_WEBHOOK_REJECTED.value
    try:
        before = len(_journal_rows(kind))
        with httpx.Client(timeout=10) as c:
            for i in range(1000):
                h = {"Authorization": "Bearer wrong"} if i % 2 else {}
                assert c.post(_url(svc), json=_payload(_alert()), headers=h).status_code == 401
        assert len(_journal_rows(kind)) - before <= 2
        metrics = httpx.get(_url(svc, "/metrics"), timeout=10).text
        assert 'procops_webhook_rejected_total{reason="unauthorized"} 1000.0' in metrics
    finally:
        svc.stop()
    rows = _journal_rows(kind)[before:]
    assert 1 <= len(rows) <= 2
    assert sum(r.data["count"] for r in rows) == 1000  # the window's refusals were summarised on stop
    assert all(r.data["reasons"].keys() == {"unauthorized"} for r in rows)
    assert rows[-1].data["window_start"] and rows[-1].data["window_end"]


def test_an_alert_firing_again_after_its_incident_was_resolved_opens_a_new_incident(service):
    svc, tok = service
    h = {"Authorization": f"Bearer {tok}"}
    assert httpx.post(_url(svc), json=_payload(_alert(fp="again")), headers=h).status_code == 200
    (first,) = _incidents()
    with IncidentStore() as s:
        s.resolve(first.id, summary="restarted")
    # Alertmanager repeats the still-firing alert: the outage is back (or never went), a new incident
    r = httpx.post(_url(svc), json=_payload(_alert(fp="again")), headers=h)
    assert r.status_code == 200 and len(r.json()["opened"]) == 1
    incs = _incidents()
    assert [i.status for i in incs] == ["resolved", "open"]
    assert incs[1].source["previous_incident"] == first.id
    # more repeats while the new one is open: duplicates, nothing new
    assert httpx.post(_url(svc), json=_payload(_alert(fp="again")), headers=h).json()["duplicates"] == 1
    # resolved in Alertmanager, the incident resolved, then a new firing: a third incident
    resolved = _payload(_alert(fp="again", status="resolved"), status="resolved")
    assert httpx.post(_url(svc), json=resolved, headers=h).status_code == 200
    with IncidentStore() as s:
        s.resolve(incs[1].id)
    later = _alert(fp="again") | {"startsAt": "2026-11-25T10:00:00Z"}
    assert len(httpx.post(_url(svc), json=_payload(later), headers=h).json()["opened"]) == 1
    incs = _incidents()
    assert [i.status for i in incs] == ["resolved", "resolved", "open"]
    assert incs[2].source["previous_incident"] == incs[1].id
    with open_journal() as j:
        ev = j.events("monitor.webhook")
    assert sum(len(e.data.get("refired_after_resolve") or []) for e in ev) == 2


def test_an_alert_from_the_future_is_taken_at_receipt_with_the_skew_noted(service):
    import datetime as dt

    from procops.timeutil import iso, parse_iso, utcnow

    svc, tok = service
    h = {"Authorization": f"Bearer {tok}"}
    before = utcnow()
    future = _alert(fp="future") | {"startsAt": iso(before + dt.timedelta(hours=2))}
    r = httpx.post(_url(svc), json=_payload(future), headers=h)
    assert r.status_code == 200 and len(r.json()["opened"]) == 1
    (inc,) = _incidents()
    t0 = parse_iso(inc.t0)
    assert before <= t0 <= utcnow()
    assert 7000 < inc.source["starts_at_skew_seconds"] <= 7200
    assert "alert.clock_skew" in [e.kind for e in inc.timeline]


def test_deeply_nested_json_is_400_and_the_server_keeps_serving(service):
    svc, tok = service
    h = {"Authorization": f"Bearer {tok}"}
    deep = b'{"alerts": [], "x": ' + b"[" * 10000 + b"]" * 10000 + b"}"
    r = httpx.post(_url(svc), content=deep, headers=h)
    assert r.status_code == 400 and "nested" in r.json()["error"]
    labels = {"alertname": "X", "severity": "critical"}
    for _ in range(20):
        labels = {"k": labels}  # type: ignore[dict-item]
    r = httpx.post(_url(svc), content=json.dumps({"alerts": [{"labels": labels}]}), headers=h)
    assert r.status_code == 400
    assert httpx.post(_url(svc), json=_payload(_alert()), headers=h).status_code == 200


def test_the_watchdog_never_opens_an_incident(service):
    svc, tok = service
    h = {"Authorization": f"Bearer {tok}"}
    wd = _alert(fp="wd", name="Watchdog", severity="none")
    for _ in range(3):
        assert httpx.post(_url(svc), json=_payload(wd), headers=h).status_code == 200
    assert _incidents() == []
