"""Emergency drills on the real sandbox with the real monitoring stack: bad-release --auto: 1.1.1-bad
rolled out as a gray release, detected and rolled back by its gates."""

from __future__ import annotations


from drill_testing import replicas, incidents, drill_runs, serves_data


def test_bad_release_is_rolled_back_by_the_gates_and_detected_by_them(cli, stack, procops_home):
    env = stack["env"]
    before = {x["version"] for x in replicas(cli, env)}
    r = cli("drill", "run", "bad-release", "--auto", "--json", env=env, timeout=600)
    assert r.code == 0, r.err
    res = r.json()
    assert res["status"] == "ok" and res["rolled_back"] is True and res["findings"] == []
    assert res["detected_s"] is not None and res["detected_s"] <= 300
    # the gates rolled the bad version back: every replica is on the version it ran before
    assert {x["version"] for x in replicas(cli, env)} == before and "1.1.1-bad" not in before
    bad = [h for h in cli("release", "history", "--json", env=env).json() if h["version"] == "1.1.1-bad"]
    assert len(bad) == 1 and bad[0]["status"] == "rolled_back"
    serves_data(stack["url"])
    # a drill incident (opened by the drill's probe, the gates), no real one
    incs = incidents(cli, env)
    assert [i["id"] for i in incs] == [res["incident_id"]] and incs[0]["drill"] is True
    (run,) = drill_runs(procops_home)
    assert run["status"] == "ok" and run["scenario"] == "bad-release"
