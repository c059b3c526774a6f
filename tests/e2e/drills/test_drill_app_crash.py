"""Emergency drills on the real sandbox with the real monitoring stack: app-crash --auto with real
detection, and a plan that injects nothing."""

from __future__ import annotations

import json
from pathlib import Path

from drill_testing import replicas, incidents, drill_runs, serves_data


def test_app_crash_auto_passes_with_real_detection_and_rolls_back(cli, stack, procops_home):
    env = stack["env"]
    before = replicas(cli, env)
    r = cli("drill", "run", "app-crash", "--auto", "--json", env=env, timeout=400)
    assert r.code == 0, r.err
    res = r.json()
    assert res["status"] == "ok" and res["rolled_back"] is True and res["findings"] == []
    assert res["detected_s"] is not None and res["detected_s"] <= 60
    assert res["clocks"] == {"15m": True, "1h": True, "24h": True}
    assert 0 < res["fractions"]["detect"] <= 1 and 0 < res["fractions"]["classify"] < 1
    # the killed replica is a new process now, and every replica is up again
    after = replicas(cli, env)
    assert all(x["alive"] for x in after)
    assert {x["pid"] for x in after}.isdisjoint({x["pid"] for x in before})
    serves_data(stack["url"])
    # the drill incident was opened by the real alert, labelled with the drill's id
    incs = incidents(cli, env)
    assert [i["id"] for i in incs] == [res["incident_id"]]
    (inc,) = incs
    assert inc["drill"] is True and inc["source"]["kind"] == "alert"
    assert inc["source"]["alertname"] == "ReplicaDown" and inc["source"]["labels"]["drill"] == res["drill_id"]
    assert inc["fault_type"] == "app-crash" and inc["status"] == "resolved"
    # journal: drill.run ok, and the operation's steps in order, rollback included
    (run,) = drill_runs(procops_home)
    assert run["status"] == "ok" and run["mode"] == "auto" and run["steady_state_after"] is True
    from procops.journal import Journal

    with Journal(procops_home / "journal.db") as j:
        end = [e.data for e in j.events("operation.end") if e.data["operation"] == "drill.run"][-1]
    names = [s["name"] for s in end["steps"]]
    assert names.index("inject") < names.index("detect") < names.index("rollback") < names.index("steady-state-after")
    # the report in both languages, with the chart
    for lang in ("en", "zh"):
        key = "markdown" if lang == "en" else f"{lang}:markdown"
        md = Path(res["report"][key]).read_text()
        assert res["drill_id"] in md
        assert Path(res["report"][key.replace("markdown", "chart")]).stat().st_size > 1000
    assert "应急演练" in Path(res["report"]["zh:markdown"]).read_text()
    # the quarter is covered for app-crash now
    st = cli("drill", "status", "--json", env=env).json()
    row = next(s for s in st["scenarios"] if s["scenario"] == "app-crash")
    assert row["overdue"] is False and row["last_result"] == "ok"
    prom = (procops_home / "textfile" / "drills.prom").read_text()
    assert 'procops_drill_last_success_timestamp_seconds{scenario="app-crash"}' in prom
    # the drill's alerts opened no real incident and escalated to no leader
    esc = procops_home / "incident" / "escalations.jsonl"
    if esc.exists():
        assert all(json.loads(ln).get("drill") for ln in esc.read_text().splitlines() if ln.strip())


def test_plan_injects_nothing(cli, stack, procops_home):
    env = stack["env"]
    before = replicas(cli, env)
    r = cli("drill", "plan", "app-crash", "--json", env=env)
    assert r.code == 0, r.err
    p = r.json()
    assert p["injected"] is False and all(s["ok"] for s in p["steady_state"])
    assert "kill -9" in p["actions"][0]["action"] and "sandbox up" in p["actions"][0]["rollback"]
    assert replicas(cli, env) == before
    assert incidents(cli, env) == []
    assert drill_runs(procops_home) == []
