"""Emergency drills on the real sandbox with the real monitoring stack, when they do not go to plan:
detection never comes, Ctrl-C, a real incident; the rollback always runs."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from testsupport import PROCOPS
from drill_testing import scenario, replicas, incidents, drill_runs, serves_data, silence_drill_alerts, start_drill


def test_detection_that_never_comes_fails_after_its_timeout_and_still_rolls_back(cli, stack, tmp_path, procops_home):
    env = stack["env"]
    scenario(tmp_path, "app-crash", **{"detection.within": "20s"})
    silence_drill_alerts(stack)  # alerting stopped: Prometheus sees the fault, nobody is told
    r = cli("drill", "run", "app-crash", "--auto", "--json", env=env, timeout=400)
    assert r.code == 1, r.err
    res = r.json()
    assert res["status"] == "failed" and res["rolled_back"] is True
    assert any("detection missed" in f for f in res["findings"])
    assert all(x["alive"] for x in replicas(cli, env))
    serves_data(stack["url"])
    # the finding became a rectification item on the drill incident the drill opened for it
    (inc,) = incidents(cli, env)
    assert inc["drill"] is True
    shown = cli("incident", "show", inc["id"], "--json", env=env, check=0).json()
    assert any("detection missed" in a["problem"] for a in shown["actions"])
    (run,) = drill_runs(procops_home)
    assert run["status"] == "failed" and run["rolled_back"] is True


def test_sigint_mid_drill_rolls_back_and_exits_130(cli, stack, tmp_path, procops_home):
    env = stack["env"]
    scenario(tmp_path, "app-crash", **{"detection.within": "120s"})
    silence_drill_alerts(stack)  # detection never comes: the drill waits until we interrupt it
    e = dict(os.environ, **env)
    p = subprocess.Popen(
        [PROCOPS, "drill", "run", "app-crash", "--auto"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=e,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        seen = ""
        assert p.stdout is not None
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            seen += line
            if "T0 " in line:
                break
        assert "T0 " in seen, seen
        time.sleep(2)
        assert not all(x["alive"] for x in replicas(cli, env))  # the fault is on
        os.killpg(p.pid, signal.SIGINT)
        out, _err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, seen + (out or "")
    assert all(x["alive"] for x in replicas(cli, env))
    serves_data(stack["url"])
    (run,) = drill_runs(procops_home)
    assert run["status"] == "interrupted" and run["rolled_back"] is True


def test_a_real_incident_during_the_drill_aborts_it_and_rolls_back(cli, stack, tmp_path, procops_home):
    env = stack["env"]
    scenario(tmp_path, "app-crash", **{"detection.within": "120s"})
    silence_drill_alerts(stack)
    p, seen = start_drill(env, "app-crash", "--auto")
    try:
        assert "T0 " in seen, seen
        cli("incident", "open", "--title", "a real outage elsewhere", env=env, check=0)
        out, _err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 1, seen + out
    assert "real incident opened during the drill" in out
    assert all(x["alive"] for x in replicas(cli, env))
    (run,) = drill_runs(procops_home)
    assert run["status"] == "failed" and run["rolled_back"] is True
    assert any("real incident" in f for f in run["findings"])
