"""Emergency drills as an operator runs them, on the real sandbox with the real monitoring stack:
the fault is injected for real, detection comes through Prometheus -> Alertmanager -> the webhook
as a drill incident, the rollback always runs, the journal and the report say what happened."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml
from testsupport import PROCOPS, monitoring_ports

from procops.drills.scenario import SCENARIOS_DIR


@pytest.fixture
def procops_home(tmp_path, monkeypatch):
    """A short $PROCOPS_HOME: HAProxy refuses stats socket paths over 97 characters."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    monkeypatch.delenv("PROCOPS_CONFIG", raising=False)
    monkeypatch.setenv("PROCOPS_LANG", "en")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.chdir(tmp_path)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _scenario(tmp_path: Path, name: str, **changes) -> None:
    """A copy of a shipped scenario in the test's scenarios_dir, with some fields changed."""
    data = yaml.safe_load((SCENARIOS_DIR / f"{name}.yaml").read_text())
    for dotted, value in changes.items():
        node = data
        *head, last = dotted.split(".")
        for k in head:
            node = node[k]
        node[last] = value
    d = tmp_path / "scenarios"
    d.mkdir(exist_ok=True)
    (d / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def stack(cli, port_block, tmp_path):
    sandbox_port = port_block(3)
    mon = port_block(7)
    (tmp_path / "scenarios").mkdir()
    cfg = {
        "sandbox": {
            "port": sandbox_port,
            "replicas": 2,
            "seed": {"announcements": 10, "suppliers": 3, "documents": 3, "document_size": "10KB"},
        },
        "monitoring": {
            **monitoring_ports(mon),
            "scrape_interval": "2s",
            "evaluation_interval": "2s",
            "group_wait": "1s",
            "platform_down_for": "5s",
        },
        "drills": {"scenarios_dir": str(tmp_path / "scenarios"), "poll_interval": "1s"},
        "policy": {"thresholds": {"for_duration": "4s"}},  # HostDiskFull within seconds, not a minute
    }
    path = tmp_path / "procops.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", env=env, check=0)
        cli("monitor", "up", env=env, check=0)
        yield {"env": env, "url": f"http://127.0.0.1:{sandbox_port}", "mon": mon, "config": path}
    finally:
        cli("monitor", "down", env=env)
        cli("sandbox", "down", "--force", env=env)


def _replicas(cli, env) -> list[dict]:
    return cli("sandbox", "status", "--json", env=env, check=0).json()["replicas"]


def _incidents(cli, env) -> list[dict]:
    return cli("incident", "list", "--json", env=env, check=0).json()


def _drill_runs(home: Path) -> list[dict]:
    from procops.journal import Journal

    with Journal(home / "journal.db") as j:
        return [e.data for e in j.events("drill.run")]


def _serves_data(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/healthz").status_code == 200
        items = c.get("/api/archive", params={"page": 1, "size": 5}).json()["items"]
        assert items
        assert c.get(f"/api/documents/{items[0]['id']}").status_code == 200


def test_app_crash_auto_passes_with_real_detection_and_rolls_back(cli, stack, procops_home):
    env = stack["env"]
    before = _replicas(cli, env)
    r = cli("drill", "run", "app-crash", "--auto", "--json", env=env, timeout=400)
    assert r.code == 0, r.err
    res = r.json()
    assert res["status"] == "ok" and res["rolled_back"] is True and res["findings"] == []
    assert res["detected_s"] is not None and res["detected_s"] <= 60
    assert res["clocks"] == {"15m": True, "1h": True, "24h": True}
    assert 0 < res["fractions"]["detect"] <= 1 and 0 < res["fractions"]["classify"] < 1
    # the killed replica is a new process now, and every replica is up again
    after = _replicas(cli, env)
    assert all(x["alive"] for x in after)
    assert {x["pid"] for x in after}.isdisjoint({x["pid"] for x in before})
    _serves_data(stack["url"])
    # the drill incident was opened by the real alert, labelled with the drill's id
    incs = _incidents(cli, env)
    assert [i["id"] for i in incs] == [res["incident_id"]]
    (inc,) = incs
    assert inc["drill"] is True and inc["source"]["kind"] == "alert"
    assert inc["source"]["alertname"] == "ReplicaDown" and inc["source"]["labels"]["drill"] == res["drill_id"]
    assert inc["fault_type"] == "app-crash" and inc["status"] == "resolved"
    # journal: drill.run ok, and the operation's steps in order, rollback included
    (run,) = _drill_runs(procops_home)
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


def test_db_loss_auto_restores_the_standby_from_the_offsite_backup_and_fails_back(cli, stack, procops_home):
    env = stack["env"]
    cli("backup", "init", env=env, timeout=120, check=0)
    cli("backup", "run", env=env, timeout=300, check=0)
    r = cli("drill", "run", "db-loss", "--auto", "--json", env=env, timeout=900)
    assert r.code == 0, r.err
    res = r.json()
    assert res["status"] == "ok" and res["rolled_back"] is True
    assert res["milestones"]["standby"]["reached_at"] is not None  # reached by a real restore
    assert res["clocks"] == {"15m": True, "1h": True, "24h": True}
    incs = _incidents(cli, env)
    assert len(incs) == 1 and incs[0]["drill"] is True  # the outage opened no real incident
    shown = cli("incident", "show", incs[0]["id"], "--json", env=env, check=0).json()
    assert shown["standby"] and shown["standby"].get("snapshot")
    st = cli("sandbox", "status", "--json", env=env, check=0).json()
    assert st["active_site"]["site"] == "main" and all(x["alive"] for x in st["replicas"])
    _serves_data(stack["url"])
    from procops.journal import Journal

    with Journal(procops_home / "journal.db") as j:
        assert [e.data["status"] for e in j.events("backup.restore")][-1:] == ["ok"]


def test_disk_full_on_a_small_loop_filesystem_is_detected_and_unmounted(cli, stack, procops_home):
    env = stack["env"]
    r = cli("drill", "run", "disk-full", "--auto", "--json", env=env, timeout=600)
    assert r.code == 0, r.err
    res = r.json()
    assert res["fault"]["used_ratio"] > 0.9 and res["rolled_back"] is True
    assert not os.path.ismount(res["fault"]["mount"]) and not Path(res["fault"]["mount"]).exists()
    (inc,) = _incidents(cli, env)
    assert inc["drill"] is True and inc["source"]["alertname"] == "HostDiskFull"
    assert inc["source"]["labels"]["mountpoint"] == res["fault"]["mount"]


def test_plan_injects_nothing(cli, stack, procops_home):
    env = stack["env"]
    before = _replicas(cli, env)
    r = cli("drill", "plan", "app-crash", "--json", env=env)
    assert r.code == 0, r.err
    p = r.json()
    assert p["injected"] is False and all(s["ok"] for s in p["steady_state"])
    assert "kill -9" in p["actions"][0]["action"] and "sandbox up" in p["actions"][0]["rollback"]
    assert _replicas(cli, env) == before
    assert _incidents(cli, env) == []
    assert _drill_runs(procops_home) == []


def _silence_drill_alerts(stack) -> None:
    """Alerting stopped for the drill's alerts: an Alertmanager silence on every drill-labelled alert."""
    import datetime as dt

    from procops import config as procops_config
    from procops.monitoring import webauth

    auth = webauth.of(procops_config.load(stack["config"]).config).httpx()
    now = dt.datetime.now(dt.UTC)
    r = httpx.post(
        f"http://127.0.0.1:{stack['mon'] + 1}/api/v2/silences",
        auth=auth,
        timeout=10,
        json={
            "matchers": [{"name": "drill", "value": ".+", "isRegex": True, "isEqual": True}],
            "startsAt": now.isoformat(),
            "endsAt": (now + dt.timedelta(hours=1)).isoformat(),
            "createdBy": "test",
            "comment": "alerting stopped",
        },
    )
    r.raise_for_status()


def test_detection_that_never_comes_fails_after_its_timeout_and_still_rolls_back(cli, stack, tmp_path, procops_home):
    env = stack["env"]
    _scenario(tmp_path, "app-crash", **{"detection.within": "20s"})
    _silence_drill_alerts(stack)  # alerting stopped: Prometheus sees the fault, nobody is told
    r = cli("drill", "run", "app-crash", "--auto", "--json", env=env, timeout=400)
    assert r.code == 1, r.err
    res = r.json()
    assert res["status"] == "failed" and res["rolled_back"] is True
    assert any("detection missed" in f for f in res["findings"])
    assert all(x["alive"] for x in _replicas(cli, env))
    _serves_data(stack["url"])
    # the finding became a rectification item on the drill incident the drill opened for it
    (inc,) = _incidents(cli, env)
    assert inc["drill"] is True
    shown = cli("incident", "show", inc["id"], "--json", env=env, check=0).json()
    assert any("detection missed" in a["problem"] for a in shown["actions"])
    (run,) = _drill_runs(procops_home)
    assert run["status"] == "failed" and run["rolled_back"] is True


def test_sigint_mid_drill_rolls_back_and_exits_130(cli, stack, tmp_path, procops_home):
    env = stack["env"]
    _scenario(tmp_path, "app-crash", **{"detection.within": "120s"})
    _silence_drill_alerts(stack)  # detection never comes: the drill waits until we interrupt it
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
        assert not all(x["alive"] for x in _replicas(cli, env))  # the fault is on
        os.killpg(p.pid, signal.SIGINT)
        out, _err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, seen + (out or "")
    assert all(x["alive"] for x in _replicas(cli, env))
    _serves_data(stack["url"])
    (run,) = _drill_runs(procops_home)
    assert run["status"] == "interrupted" and run["rolled_back"] is True


def test_backup_corruption_finds_the_damaged_pack_in_a_copy_and_leaves_the_repository_intact(
    cli, port_block, tmp_path, procops_home
):
    port = port_block(3)
    path = tmp_path / "procops.yaml"
    path.write_text(
        yaml.safe_dump(
            {"sandbox": {"port": port, "replicas": 1, "seed": {"announcements": 5, "suppliers": 2, "documents": 3}}}
        )
    )
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", env=env, check=0)
        cli("backup", "init", env=env, timeout=120, check=0)
        cli("backup", "run", env=env, timeout=300, check=0)
        r = cli("drill", "run", "backup-corruption", "--auto", "--json", env=env, timeout=600)
        assert r.code == 0, r.err
        res = r.json()
        pack = res["fault"]["pack"]
        assert pack in res["rollback"]["check"]["packs"] and res["rollback"]["check"]["ok"] is False
        assert not Path(res["fault"]["copy"]).exists()
        (inc,) = _incidents(cli, env)
        assert inc["drill"] is True and inc["fault_type"] == "backup-failure"
        # the real off-site repository was never touched: its full check still passes
        assert cli("backup", "check", "--repo", "offsite", "--read-data-subset", "all", env=env, timeout=300).code == 0
    finally:
        cli("sandbox", "down", "--force", env=env)


@pytest.fixture
def bare(tmp_path):
    """A config with a scenarios_dir and no platform: what is refused is refused before anything runs."""
    (tmp_path / "scenarios").mkdir()
    path = tmp_path / "procops.yaml"
    path.write_text(yaml.safe_dump({"drills": {"scenarios_dir": str(tmp_path / "scenarios")}}))
    return {"PROCOPS_CONFIG": str(path)}


def _start_drill(env: dict, *args: str) -> tuple[subprocess.Popen, str]:
    """``procops drill run ...`` in the background, read until its T0 (or tabletop) line."""
    p = subprocess.Popen(
        [PROCOPS, "drill", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, **env),
        start_new_session=True,
    )
    seen = ""
    assert p.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line and p.poll() is not None:
            break
        seen += line
        if "T0 " in line or "TABLETOP" in line:
            break
    return p, seen


def test_a_real_incident_during_the_drill_aborts_it_and_rolls_back(cli, stack, tmp_path, procops_home):
    env = stack["env"]
    _scenario(tmp_path, "app-crash", **{"detection.within": "120s"})
    _silence_drill_alerts(stack)
    p, seen = _start_drill(env, "app-crash", "--auto")
    try:
        assert "T0 " in seen, seen
        cli("incident", "open", "--title", "a real outage elsewhere", env=env, check=0)
        out, _err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 1, seen + out
    assert "real incident opened during the drill" in out
    assert all(x["alive"] for x in _replicas(cli, env))
    (run,) = _drill_runs(procops_home)
    assert run["status"] == "failed" and run["rolled_back"] is True
    assert any("real incident" in f for f in run["findings"])


def test_interactive_prompts_the_runbook_steps_while_the_responders_work_the_drill_incident(cli, stack, procops_home):
    env = stack["env"]
    p, seen = _start_drill(env, "app-crash", "--unannounced", "--wait", "240")
    try:
        assert "T0 " in seen, seen
        incs: list[dict] = []
        for _ in range(120):
            incs = _incidents(cli, env)
            if incs:
                break
            time.sleep(0.5)
        (inc,) = incs  # opened by the real, drill-labelled alert
        assert inc["drill"] is True and inc["source"]["kind"] == "alert"
        cli("incident", "classify", inc["id"], "--type", "app-crash", env=env, check=0)
        cli("incident", "report", inc["id"], "--submit", env=env, check=0)
        out, _err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, seen + out
    assert "next steps (runbook app-crash)" in out and "Confirm the fault type" in out
    assert all(x["alive"] for x in _replicas(cli, env))
    (run,) = _drill_runs(procops_home)
    assert run["mode"] == "interactive" and run["announced"] is False and run["rolled_back"] is True
    assert run["clocks"]["15m"] is True and run["clocks"]["24h"] is True


def test_tabletop_injects_nothing_and_times_the_responders(cli, stack, procops_home):
    env = stack["env"]
    before = _replicas(cli, env)
    p, seen = _start_drill(env, "app-crash", "--tabletop", "--wait", "120")
    try:
        assert "TABLETOP" in seen, seen
        incs: list[dict] = []
        for _ in range(60):
            incs = _incidents(cli, env)
            if incs:
                break
            time.sleep(0.5)
        (inc,) = incs
        assert inc["drill"] is True
        cli("incident", "classify", inc["id"], "--type", "app-crash", env=env, check=0)
        cli("incident", "report", inc["id"], "--submit", env=env, check=0)
        out, _err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, seen + out
    assert _replicas(cli, env) == before  # no fault was injected
    (run,) = _drill_runs(procops_home)
    assert run["mode"] == "tabletop" and run["status"] == "ok" and run["clocks"]["15m"] is True
    # a tabletop does not cover the quarter's live drill
    st = cli("drill", "status", "--json", env=env).json()
    assert next(s for s in st["scenarios"] if s["scenario"] == "app-crash")["overdue"] is True


def test_a_scenario_with_an_error_is_exit_2_naming_the_field(cli, bare, tmp_path):
    _scenario(tmp_path, "app-crash", **{"detection.within": "soon"})
    for args in (("drill", "run", "app-crash", "--auto"), ("drill", "list"), ("drill", "plan", "app-crash")):
        r = cli(*args, env=bare)
        assert r.code == 2, args
        assert "app-crash.yaml:" in r.err and "field detection.within" in r.err


def test_a_target_outside_the_allowlist_is_refused_before_anything_runs(cli, bare, tmp_path, procops_home):
    _scenario(
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
    assert _drill_runs(procops_home) == []


def test_bad_release_is_rolled_back_by_the_gates_and_detected_by_them(cli, stack, procops_home):
    env = stack["env"]
    before = {x["version"] for x in _replicas(cli, env)}
    r = cli("drill", "run", "bad-release", "--auto", "--json", env=env, timeout=600)
    assert r.code == 0, r.err
    res = r.json()
    assert res["status"] == "ok" and res["rolled_back"] is True and res["findings"] == []
    assert res["detected_s"] is not None and res["detected_s"] <= 300
    # the gates rolled the bad version back: every replica is on the version it ran before
    assert {x["version"] for x in _replicas(cli, env)} == before and "1.1.1-bad" not in before
    bad = [h for h in cli("release", "history", "--json", env=env).json() if h["version"] == "1.1.1-bad"]
    assert len(bad) == 1 and bad[0]["status"] == "rolled_back"
    _serves_data(stack["url"])
    # a drill incident (opened by the drill's probe, the gates), no real one
    incs = _incidents(cli, env)
    assert [i["id"] for i in incs] == [res["incident_id"]] and incs[0]["drill"] is True
    (run,) = _drill_runs(procops_home)
    assert run["status"] == "ok" and run["scenario"] == "bad-release"
