"""Helpers of the drill e2e tests (tests/e2e/drills/): scenarios copied with changes, what the sandbox,
the incident store and the journal say, a drill started in the background."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path

import httpx
import yaml
from testsupport import PROCOPS

from procops.drills.scenario import SCENARIOS_DIR


def scenario(tmp_path: Path, name: str, **changes) -> None:
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


def replicas(cli, env) -> list[dict]:
    return cli("sandbox", "status", "--json", env=env, check=0).json()["replicas"]


def incidents(cli, env) -> list[dict]:
    return cli("incident", "list", "--json", env=env, check=0).json()


def drill_runs(home: Path) -> list[dict]:
    from procops.journal import Journal

    with Journal(home / "journal.db") as j:
        return [e.data for e in j.events("drill.run")]


def serves_data(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/healthz").status_code == 200
        items = c.get("/api/archive", params={"page": 1, "size": 5}).json()["items"]
        assert items
        assert c.get(f"/api/documents/{items[0]['id']}").status_code == 200


def silence_drill_alerts(stack) -> None:
    """Alerting stopped for the drill's alerts: an Alertmanager silence on every drill-labelled alert."""
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


def start_drill(env: dict, *args: str) -> tuple[subprocess.Popen, str]:
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


def respond(cli, env: dict, timeout: float = 60.0) -> dict:
    """The responders' part of a drill: wait for the drill incident, classify it, submit the report."""
    deadline = time.monotonic() + timeout
    incs: list[dict] = []
    while time.monotonic() < deadline:
        incs = incidents(cli, env)
        if incs:
            break
        time.sleep(0.5)
    (inc,) = incs
    cli("incident", "classify", inc["id"], "--type", "app-crash", env=env, check=0)
    cli("incident", "report", inc["id"], "--submit", env=env, check=0)
    return inc
