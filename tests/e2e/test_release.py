"""Gray releases as an operator runs them, on the real sandbox (3 replicas behind HAProxy) with the
real monitoring stack (Prometheus, Alertmanager) and Ansible: a good version is promoted through
every stage, a bad one is rolled back by its upload gate."""

from __future__ import annotations

import pytest
from release_testing import all_equal_and_up, journal, running_platform, versions, weights


@pytest.fixture
def platform(cli, port_block, tmp_path, procops_home):
    with running_platform(cli, port_block, tmp_path, procops_home) as p:
        yield p


def test_a_good_version_is_promoted_through_every_stage_and_opens_no_incident(cli, platform):
    env = platform["env"]
    assert set(versions(cli, env).values()) == {"1.0.0"}
    r = cli("release", "start", "1.1.0", "--auto", "--json", env=env, timeout=400)
    assert r.code == 0, r.out + r.err
    out = r.json()
    assert out["outcome"] == "rolled_out"
    assert set(versions(cli, env).values()) == {"1.1.0"}
    w = weights(platform["socket"])
    assert all_equal_and_up(w), w
    assert cli("incident", "list", "--json", env=env, check=0).json() == []
    kinds = [k for k, _d in journal(platform["home"])]
    assert kinds.count("release.start") == 1 and kinds.count("release.end") == 1
    promotes = [d for d in out["release"]["decisions"] if d["decision"] == "promote"]
    assert len(promotes) == 3
    gates = [d for k, d in journal(platform["home"]) if k == "release.gate"]
    assert gates and all(g["passed"] for g in gates)
    assert {g["gate"] for g in gates} >= {"requests", "error_ratio", "p95_latency", "upload_success", "probe"}
    st = cli("release", "status", "--json", env=env, check=0).json()["release"]
    assert st["status"] == "rolled_out"
    assert cli("release", "history", "--json", env=env, check=0).json()[-1]["status"] == "rolled_out"

    # the bad version: its upload gate fails at the first stage and it is rolled back
    r = cli("release", "start", "1.1.1-bad", "--auto", "--json", env=env, timeout=400)
    assert r.code == 1, r.out + r.err
    out = r.json()
    assert out["outcome"] == "rolled_back"
    rel = out["release"]
    assert set(versions(cli, env).values()) == {"1.1.0"}
    w = weights(platform["socket"])
    assert all_equal_and_up(w), w
    rb = [d for d in rel["decisions"] if d["decision"] == "rollback"]
    assert rb and rb[0]["stage"] == 1
    failed = [g for g in rel["last_gates"] if not g["passed"]]
    assert any(g["gate"] in ("upload_success", "probe") for g in failed), rel["last_gates"]
    up = next(g for g in rel["last_gates"] if g["gate"] == "upload_success")
    assert "sandbox_uploads_total" in up["query"] and up["threshold"] == 1.0
    assert rel["timings"]["rollback_traffic_on_stable_s"] >= 0
    end = [d for k, d in journal(platform["home"]) if k == "release.end"][-1]
    assert end["outcome"] == "rolled_back"
    # the metrics textfile: the stage gauge and the rollback counter
    prom = (platform["home"] / "textfile" / "release.prom").read_text()
    assert "procops_release_rollbacks_total 1.0" in prom
    assert f'procops_release_stage{{release="{rel["id"]}",status="rolled_back",version="1.1.1-bad"}} 0.0' in prom
    # a rolled-back release is a warning notification in Alertmanager, not an incident
    assert rel["timings"]["warning_notified"] == 1.0
    check = cli("monitor", "check", "--json", env=env).out
    assert "ReleaseRolledBack" in check
    # a rolled-back release is a warning: no incident opened for it
    assert cli("incident", "list", "--json", env=env, check=0).json() == []


def test_the_readiness_step_rolls_a_canary_release_out_with_short_windows(cli, platform, tmp_path, monkeypatch):
    from procops import config as cfgmod
    from procops.readiness import Context
    from procops.release import api

    monkeypatch.setenv("PROCOPS_CONFIG", str(platform["path"]))
    step = next(s for s in api.readiness_steps() if s.name == "canary-release")
    ctx = Context(cfgmod.load(str(platform["path"])).config, "en", tmp_path)
    detail, data = step.run(ctx)
    assert "1.0.0 -> 1.1.0 rolled out through 3 stages" in detail
    assert data["outcome"] == "rolled_out"
    assert set(versions(cli, platform["env"]).values()) == {"1.1.0"}
    assert all_equal_and_up(weights(platform["socket"]))
