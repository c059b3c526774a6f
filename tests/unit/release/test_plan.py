"""The rollout plan: stage hosts, weights for a traffic share, freeze windows, notices (pure)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from procops.config import Config, ReleaseConfig
from procops.release import plan as P

HOSTS = [P.Host(f"r{i}", f"r{i}") for i in (1, 2, 3)]


def test_the_default_stages_are_one_host_at_10_then_half_at_50_then_all():
    stages = P.stages(HOSTS, Config().release.stages)
    assert [s.hosts for s in stages] == [("r1",), ("r1", "r2"), ("r1", "r2", "r3")]
    assert [s.new_hosts for s in stages] == [("r1",), ("r2",), ("r3",)]
    assert [s.analysis for s in stages] == [120.0, 300.0, 120.0]
    assert [round(s.traffic_percent) for s in stages] == [10, 50, 100]
    assert stages[0].manual_gate and stages[1].manual_gate and stages[2].last
    assert stages[2].weights == {"r1": 100, "r2": 100, "r3": 100}


def test_weights_give_the_canary_its_share_within_rounding():
    w = P.weights_for(["r1"], ["r2", "r3"], 10)
    assert w == {"r1": 22, "r2": 100, "r3": 100}
    assert abs(P.effective_traffic(w, ["r1"]) - 10.0) < 0.2
    # many stable servers: the canary weight would pass HAProxy's 256, the stable ones go down instead
    many = P.weights_for(["a"], [f"s{i}" for i in range(30)], 50)
    assert max(many.values()) <= 256 and min(many.values()) >= 1
    assert abs(P.effective_traffic(many, ["a"]) - 50.0) < 2.0


def test_an_analysis_override_applies_to_every_stage():
    assert {s.analysis for s in P.stages(HOSTS, Config().release.stages, 15.0)} == {15.0}


def test_short_stages_have_no_manual_gate():
    short = P.short_stages(Config().release, 10.0)
    assert all(not s.manual_gate and s.analysis == 10.0 for s in short)


def test_stage_problems_name_an_empty_inventory_and_a_stage_without_a_baseline():
    assert P.stage_problems([], []) == ["the release inventory is empty (no hosts to deploy to)"]
    two = HOSTS[:2]
    plan = P.stages(two, Config().release.stages)
    assert P.stage_problems(two, plan) == []  # one canary at 10%, the same at 50%, then both
    assert [s.hosts for s in plan] == [("r1",), ("r1",), ("r1", "r2")]
    assert [round(s.traffic_percent) for s in plan] == [10, 50, 100]
    one = HOSTS[:1]
    probs = P.stage_problems(one, P.stages(one, Config().release.stages))
    assert any("every host on the new version before the last stage" in p for p in probs)


@pytest.mark.parametrize(
    "stages, words",
    [
        ([{"hosts": "1", "traffic": 50}, {"hosts": "all", "traffic": 10}], "must grow"),
        ([{"hosts": "1", "traffic": 10}, {"hosts": "all", "traffic": 90}], "100%"),
        ([{"hosts": "1", "traffic": 10}, {"hosts": "2", "traffic": 100}], "100%"),
        ([], "empty"),
    ],
)
def test_stage_weights_that_do_not_add_up_are_refused(stages, words):
    with pytest.raises(ValidationError, match=words):
        ReleaseConfig(stages=stages)


def test_a_stage_with_an_unknown_host_spec_is_refused():
    with pytest.raises(ValidationError):
        ReleaseConfig(stages=[{"hosts": "some", "traffic": 100}])


def test_freeze_windows_end_at_each_bid_deadline_and_include_the_configured_ones():
    t = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
    deadline = t + dt.timedelta(hours=1)
    wins = P.freeze_windows(
        [("bid deadline of announcement 7", deadline)],
        7200,
        [("year end", t + dt.timedelta(days=20), t + dt.timedelta(days=25))],
    )
    assert [w.name for w in wins] == ["bid deadline of announcement 7", "year end"]
    assert P.active_window(wins, t).name == "bid deadline of announcement 7"
    assert P.active_window(wins, deadline + dt.timedelta(seconds=1)) is None
    assert P.freeze_windows([("x", deadline)], 0, []) == []  # before_deadline 0 turns it off
    assert [w.name for w in P.next_windows(wins, deadline + dt.timedelta(minutes=1))] == ["year end"]


def test_a_change_notice_needs_both_languages():
    n = P.parse_notice("1.1.0", {"zh": "新增检索", "en": "adds search", "workflows": ["announcements.search"]}, "x")
    assert n.text("zh") == "新增检索" and n.text("en") == "adds search"
    with pytest.raises(ValueError, match="both zh and en"):
        P.parse_notice("1.1.0", {"en": "adds search"}, "x")


def test_the_shipped_sandbox_versions_have_notices():
    for v in ("1.0.0", "1.1.0", "1.1.1-bad"):
        assert (P.NOTICES_DIR / f"{v}.yaml").is_file()


def test_test_bids_go_to_a_test_tender_on_real_hosts_never_to_a_real_one():
    from procops.config import Config
    from procops.release.controller import real_tender_problem

    hosts = {"inventory": [{"name": "web1", "server": "web1", "address": "192.0.2.10"}]}
    assert real_tender_problem(Config()) is None  # the sandbox: any open announcement is a test one
    problem = real_tender_problem(Config.model_validate({"release": hosts}))
    assert problem and "gates.probe" in problem and "load.upload_share" in problem
    only_load = Config.model_validate({"release": {**hosts, "gates": {"probe": False}}})
    assert "load.upload_share" in (real_tender_problem(only_load) or "")
    assert "gates.probe)" not in (real_tender_problem(only_load) or "")
    tender = Config.model_validate({"release": {**hosts, "gates": {"probe_announcement": 9001}}})
    assert real_tender_problem(tender) is None
    quiet = Config.model_validate({"release": {**hosts, "gates": {"probe": False}, "load": {"upload_share": 0}}})
    assert real_tender_problem(quiet) is None
