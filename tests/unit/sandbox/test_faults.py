import random

import pytest

from procops.sandbox.faults import ENDPOINTS, NO_FAULT, FaultState, parse_fault_specs

NONE = {"latency_s": 0.0, "errors": 0.0, "db_down": False, "endpoint": None}


def test_parse_fault_specs_empty_is_no_fault():
    assert parse_fault_specs([]) == NONE


def test_parse_fault_specs_latency_uses_duration_units():
    assert parse_fault_specs(["latency=2500ms"])["latency_s"] == pytest.approx(2.5)
    assert parse_fault_specs(["latency=3s"])["latency_s"] == 3.0
    assert parse_fault_specs(["latency=1.5"])["latency_s"] == 1.5


def test_parse_fault_specs_all_keys_together():
    state = parse_fault_specs(["latency=100ms", "errors=0.25", "db=down", "endpoint=bids.upload"])
    assert state == {"latency_s": pytest.approx(0.1), "errors": 0.25, "db_down": True, "endpoint": "bids.upload"}


def test_parse_fault_specs_db_up_and_case_and_spaces():
    assert parse_fault_specs(["db=up"])["db_down"] is False
    assert parse_fault_specs([" DB = Down "])["db_down"] is True


@pytest.mark.parametrize(
    "spec, message",
    [
        ("latency", "KEY=VALUE"),
        ("latency=", "no value"),
        ("latency=soon", "not a duration"),
        ("latency=-1s", "not a duration"),
        ("latency=2h", "above"),
        ("errors=1.5", "between 0 and 1"),
        ("errors=-0.1", "between 0 and 1"),
        ("errors=nan", "between 0 and 1"),
        ("errors=often", "probability"),
        ("db=sideways", "'down' or 'up'"),
        ("cpu=100", "unknown fault 'cpu'"),
        ("endpoint=/api/announcements", "unknown endpoint"),
    ],
)
def test_parse_fault_specs_bad_spec_names_it(spec, message):
    with pytest.raises(ValueError) as e:
        parse_fault_specs([spec])
    assert repr(spec) in str(e.value)
    assert message in str(e.value)


def test_parse_fault_specs_rejects_a_key_given_twice():
    with pytest.raises(ValueError, match="given twice"):
        parse_fault_specs(["errors=0.1", "errors=0.2"])


def test_parse_fault_specs_rejects_a_bare_string():
    with pytest.raises(ValueError, match="list"):
        parse_fault_specs("latency=1s")


def test_endpoints_are_route_templates():
    assert ENDPOINTS["announcements.detail"] == "/api/announcements/{id}"
    assert ENDPOINTS["bids.upload"] == "/api/announcements/{id}/bids"
    assert set(ENDPOINTS) == {
        "announcements.list",
        "announcements.detail",
        "announcements.search",
        "suppliers.register",
        "suppliers.login",
        "bids.upload",
        "documents.download",
        "archive.list",
        "dashboard",
    }


def test_fault_state_global_latency_spares_probes_and_admin():
    state = FaultState(latency_s=2.0, errors=1.0)
    for name in ENDPOINTS:
        assert state.latency_for(name) == 2.0
        assert state.should_fail(name)
    for name in ("healthz", "metrics", "admin.fault.put", None):
        assert state.latency_for(name) == 0.0
        assert not state.should_fail(name)


def test_fault_state_endpoint_scopes_the_fault():
    state = FaultState(latency_s=0.6, endpoint="announcements.list")
    assert state.latency_for("announcements.list") == 0.6
    assert state.latency_for("announcements.detail") == 0.0


def test_fault_state_db_down_global_includes_healthz():
    assert FaultState(db_down=True).database_down_for("healthz")
    assert FaultState(db_down=True).database_down_for("dashboard")
    scoped = FaultState(db_down=True, endpoint="dashboard")
    assert scoped.database_down_for("dashboard")
    assert not scoped.database_down_for("healthz")
    assert not NO_FAULT.database_down_for("healthz")


def test_fault_state_error_probability_follows_rng():
    state = FaultState(errors=0.3)
    rng = random.Random(7)
    failures = sum(state.should_fail("dashboard", rng) for _ in range(10_000))
    assert 2_700 < failures < 3_300
    assert not FaultState(errors=0.0).should_fail("dashboard", rng)


def test_fault_state_round_trips_through_dict():
    state = FaultState.from_dict(parse_fault_specs(["latency=250ms", "endpoint=dashboard"]))
    assert FaultState.from_dict(state.to_dict()) == state
    assert state.active and not NO_FAULT.active


@pytest.mark.parametrize(
    "data, message",
    [
        ({"errors": 2}, "probability"),
        ({"latency_s": -1}, "latency_s"),
        ({"db_down": "yes"}, "db_down"),
        ({"endpoint": "healthz"}, "unknown endpoint"),
        ({"cpu": 1}, "unknown fault field"),
    ],
)
def test_fault_state_from_dict_rejects_bad_fields(data, message):
    with pytest.raises(ValueError, match=message):
        FaultState.from_dict(data)
