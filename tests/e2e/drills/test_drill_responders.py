"""Emergency drills on the real sandbox with the real monitoring stack: interactive and tabletop drills
timed against the clocks, and what is refused before anything runs."""

from __future__ import annotations

from drill_testing import drill_runs, replicas, respond, scenario, start_drill


def test_interactive_prompts_the_runbook_steps_while_the_responders_work_the_drill_incident(cli, stack, procops_home):
    env = stack["env"]
    p, seen = start_drill(env, "app-crash", "--unannounced", "--wait", "240")
    try:
        assert "T0 " in seen, seen
        inc = respond(cli, env, timeout=60)  # opened by the real, drill-labelled alert
        assert inc["drill"] is True and inc["source"]["kind"] == "alert"
        out, _err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, seen + out
    assert "next steps (runbook app-crash)" in out and "Confirm the fault type" in out
    assert all(x["alive"] for x in replicas(cli, env))
    (run,) = drill_runs(procops_home)
    assert run["mode"] == "interactive" and run["announced"] is False and run["rolled_back"] is True
    assert run["clocks"]["15m"] is True and run["clocks"]["24h"] is True


def test_tabletop_injects_nothing_and_times_the_responders(cli, stack, procops_home):
    env = stack["env"]
    before = replicas(cli, env)
    p, seen = start_drill(env, "app-crash", "--tabletop", "--wait", "120")
    try:
        assert "TABLETOP" in seen, seen
        assert respond(cli, env, timeout=30)["drill"] is True
        out, _err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, seen + out
    assert replicas(cli, env) == before  # no fault was injected
    (run,) = drill_runs(procops_home)
    assert run["mode"] == "tabletop" and run["status"] == "ok" and run["clocks"]["15m"] is True
    # a tabletop does not cover the quarter's live drill
    st = cli("drill", "status", "--json", env=env).json()
    assert next(s for s in st["scenarios"] if s["scenario"] == "app-crash")["overdue"] is True


def test_a_scenario_with_an_error_is_exit_2_naming_the_field(cli, bare, tmp_path):
    scenario(tmp_path, "app-crash", **{"detection.within": "soon"})
    for args in (("drill", "run", "app-crash", "--auto"), ("drill", "list"), ("drill", "plan", "app-crash")):
        r = cli(*args, env=bare)
        assert r.code == 2, args
        assert "app-crash.yaml:" in r.err and "field detection.within" in r.err


def test_a_target_outside_the_allowlist_is_refused_before_anything_runs(cli, bare, tmp_path, procops_home):
    scenario(
        tmp_path,
        "app-crash",
        **{
            "target": {"kind": "hosts", "hosts": ["web9"]},
            "fault.action": "kill-service",
            "fault.params": {"service": "x"},
        },
    )
    for args in (("drill", "run", "app-crash", "--auto"), ("drill", "plan", "app-crash")):
        r = cli(*args, env=bare)
        assert r.code == 2, args
        assert "web9" in r.err and "drills.allowed_hosts" in r.err
    assert drill_runs(procops_home) == []
