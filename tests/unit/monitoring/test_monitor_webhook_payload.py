import json

import pytest

from procops.monitoring.webhook import PayloadError, bearer_ok, incident_title, parse_payload


def _payload(**over):
    doc = {
        "version": "4",
        "status": "firing",
        "receiver": "procops",
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "PlatformDown", "severity": "critical"},
                "annotations": {"summary": "down"},
                "startsAt": "2026-11-25T09:00:00.123+08:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "f1",
                "newField": [1],
            }
        ],
        "futureField": {"x": 1},
    }
    doc.update(over)
    return json.dumps(doc).encode()


def test_parse_payload_ignores_unknown_fields_and_normalises_times():
    n = parse_payload(_payload())
    a = n.alerts[0]
    assert (a.name, a.severity, a.fingerprint, a.status) == ("PlatformDown", "critical", "f1", "firing")
    assert a.starts_at == "2026-11-25T01:00:00.123000Z" and a.ends_at is None
    assert incident_title(a) == "PlatformDown: down"


@pytest.mark.parametrize(
    "body",
    [
        b'{"alerts": [',
        b"[]",
        b'{"alerts": {}}',
        b'{"version": "3", "alerts": []}',
        b'{"alerts": [{"status": "firing", "labels": {}}]}',
        b'{"alerts": [{"status": "maybe", "labels": {"alertname": "A"}}]}',
        b'{"alerts": [{"status": "firing", "labels": {"alertname": 1}}]}',
        b'{"alerts": [{"status": "firing", "labels": {"alertname": "A"}, "startsAt": "yesterday"}]}',
        b"\xff\xfe",
    ],
)
def test_malformed_payloads_are_rejected(body):
    with pytest.raises(PayloadError):
        parse_payload(body)


def test_bearer_ok():
    assert bearer_ok("Bearer s3cret", "s3cret") and bearer_ok("bearer s3cret", "s3cret")
    assert not bearer_ok(None, "s3cret") and not bearer_ok("Bearer nope", "s3cret")
    assert not bearer_ok("Basic s3cret", "s3cret") and not bearer_ok("Bearer ", "")
