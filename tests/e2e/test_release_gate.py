"""The manual gate of a gray release: pause for feedback, refuse promotion while blocking feedback
is open or inside a freeze window, promote, abort back to stable (real sandbox, monitoring stack,
Ansible)."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest
from release_testing import all_equal_and_up, journal, running_platform, versions, weights, write_config


@pytest.fixture
def platform(cli, port_block, tmp_path, procops_home):
    with running_platform(cli, port_block, tmp_path, procops_home, pilot_units=["unit-0001"]) as p:
        yield p


def _window(name: str) -> list[dict]:
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "name": name,
            "start": (now - dt.timedelta(minutes=5)).isoformat(),
            "end": (now + dt.timedelta(hours=1)).isoformat(),
        }
    ]


def _replicas(port: int, n: int, **kw) -> list[str]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
        return [c.get("/api/announcements", **kw).headers["x-platform-replica"] for _ in range(n)]


def _unit_requests_scraped(platform: dict, unit: str, at_least: int, timeout: float = 30.0) -> None:
    """Wait until Prometheus has scraped ``at_least`` requests of ``unit`` from the platform."""
    from procops import config as procops_config
    from procops.monitoring import webauth

    auth = webauth.of(procops_config.load(platform["path"]).config).httpx()
    q = f'sum(sandbox_unit_requests_total{{unit="{unit}"}})'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"http://127.0.0.1:{platform['mon']}/api/v1/query", params={"query": q}, auth=auth, timeout=5)
        res = r.json()["data"]["result"]
        if res and float(res[0]["value"][1]) >= at_least:
            return
        time.sleep(1)
    raise AssertionError(f"Prometheus never saw {at_least} requests of {unit}")


def _pilot_series(port: int) -> set[str]:
    """The handlers a replica counted as pilot requests (traffic="pilot" on its own /metrics)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        line.split('handler="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("http_request_duration_seconds_count") and 'traffic="pilot"' in line
    }


def test_a_manual_gate_waits_for_feedback_and_a_freeze_window_then_abort_restores_stable(cli, platform):
    env = platform["env"]
    port = platform["sandbox_port"]
    # the pilot unit's share of the traffic, from the platform's per-unit counter in Prometheus
    # (increase() counts from a series' first scrape: the replicas' unit series exist first)
    _replicas(port, 6, headers={"X-Purchasing-Unit": "unit-0001"})
    _replicas(port, 6, headers={"Cookie": "procops_unit=unit-0002"})
    _unit_requests_scraped(platform, "unit-0001", 6)
    _replicas(port, 20, headers={"X-Purchasing-Unit": "unit-0001"})
    _replicas(port, 40, headers={"Cookie": "procops_unit=unit-0002"})
    _unit_requests_scraped(platform, "unit-0001", 26)
    plan = cli("release", "plan", "1.1.0", "--json", env=env, check=0).json()
    share = plan["pilot_share"]
    assert share["requests"] >= 15 and share["total"] >= 45 and 0 < share["share"] < 0.5, share
    human = cli("release", "plan", "1.1.0", env=env, check=0).out
    assert "% of the platform's requests over the last 7 d" in human
    # the pilot gates of the first two stages (the last has no pilot route)
    assert 'traffic="pilot"' in plan["stages"][0]["queries"]["pilot_error_ratio"]
    assert "pilot_requests" not in plan["stages"][2]["queries"]
    assert [s["hosts"] for s in plan["stages"]] == [["r1"], ["r1", "r2"], ["r1", "r2", "r3"]]
    assert plan["stages"][0]["weights"] == {"r1": 22, "r2": 100, "r3": 100}
    assert "sandbox_uploads_total" in plan["stages"][0]["queries"]["canary_upload_success"]
    assert plan["notice"]["zh"] and plan["notice"]["en"]
    assert all(c["ok"] for c in plan["preflight"]), plan["preflight"]

    r = cli("release", "start", "1.1.0", "--json", env=env, timeout=300, check=0)
    out = r.json()
    assert out["outcome"] == "paused" and out["release"]["stage"] == 2
    assert versions(cli, env) == {"r1": "1.1.0", "r2": "1.0.0", "r3": "1.0.0"}
    w = weights(platform["socket"])
    assert w["r1"][0] == 22 and w["r2"][0] == 100  # the canary keeps its share while paused
    # stage 1 judged the pilot unit's own requests (the background load sent some as unit-0001)
    # against the stable servers' requests to the same handlers
    gates = {d["gate"]: d for k, d in journal(platform["home"]) if k == "release.gate" and d["stage"] == 1}
    assert {"pilot_requests", "pilot_error_ratio", "pilot_p95_latency"} <= set(gates)
    assert all(gates[g]["passed"] for g in ("pilot_requests", "pilot_error_ratio", "pilot_p95_latency")), gates
    assert gates["pilot_requests"]["value"] >= gates["pilot_requests"]["threshold"]
    assert "and on (handler)" in gates["pilot_error_ratio"]["query"]
    # pilot routing: the pilot unit's requests (cookie or header) reach the canary every time,
    # the others follow the weights
    assert set(_replicas(port, 20, headers={"Cookie": "procops_unit=unit-0001"})) == {"r1"}
    assert set(_replicas(port, 20, headers={"X-Purchasing-Unit": "unit-0001"})) == {"r1"}
    others = _replicas(port, 40, headers={"Cookie": "procops_unit=unit-0002"})
    assert {"r2", "r3"} <= set(others) and others.count("r1") < 20
    assert out["release"]["pilots"] == {"unit-0001": "r1"}
    # only the load balancer marks a request as a pilot's: a client's own X-Procops-Pilot is dropped
    spoofed = _replicas(port, 20, headers={"X-Procops-Pilot": "true", "Cookie": "procops_unit=unit-0002"})
    assert {"r2", "r3"} <= set(spoofed)
    assert _pilot_series(port + 2) == set() and _pilot_series(port + 3) == set()
    assert "/api/announcements" in _pilot_series(port + 1)
    # HAProxy reloaded mid-release: the canary's weight survives (server-state-file)
    cli("sandbox", "reload", env=env, check=0)
    assert weights(platform["socket"]) == w

    # blocking feedback of a pilot unit refuses promotion
    cli(
        "release",
        "feedback",
        "add",
        "--unit",
        "unit-0001",
        "--blocking",
        "the bid list lost its sort",
        env=env,
        check=0,
    )
    r = cli("release", "promote", env=env, check=1)
    assert "blocking feedback" in r.err and "unit-0001" in r.err
    assert cli("release", "promote", "--override", env=env).code == 2  # an override needs a reason
    cli("release", "feedback", "resolve", "1", env=env, check=0)

    # a freeze window refuses promotion, naming the window
    write_config(platform, freeze={"windows": _window("bid opening of project 0042")})
    r = cli("release", "promote", env=env, check=1)
    assert "bid opening of project 0042" in r.err
    write_config(platform)

    r = cli("release", "promote", "--json", env=env, timeout=300, check=0)
    out = r.json()
    assert out["outcome"] == "paused" and out["release"]["stage"] == 3
    assert versions(cli, env) == {"r1": "1.1.0", "r2": "1.1.0", "r3": "1.0.0"}
    st = cli("release", "status", "--json", env=env, check=0).json()["release"]
    assert st["approvals"] and st["approvals"][0]["by"]
    assert st["feedback"][0]["resolved"] is True

    # abort: traffic to stable first, then the canary hosts back, then the weights
    r = cli("release", "abort", "--reason", "pilot found a problem", "--json", env=env, timeout=300, check=0)
    assert r.json()["outcome"] == "aborted"
    assert set(versions(cli, env).values()) == {"1.0.0"}
    assert all_equal_and_up(weights(platform["socket"]))
    assert {"r2", "r3"} & set(_replicas(port, 20, headers={"Cookie": "procops_unit=unit-0001"}))  # no longer pinned
    ends = [d for k, d in journal(platform["home"]) if k == "release.end"]
    assert ends[-1]["outcome"] == "aborted"
    assert any(k == "release.feedback" for k, _d in journal(platform["home"]))

    # and a freeze window refuses a start
    write_config(platform, freeze={"windows": _window("year-end settlement")})
    r = cli("release", "start", "1.1.0", "--auto", env=env, check=1)
    assert "year-end settlement" in r.err
    plan = cli("release", "plan", "1.1.0", "--json", env=env).json()
    assert plan["freeze_windows"][0]["name"] == "year-end settlement"
    assert not next(c for c in plan["preflight"] if c["check"] == "freeze")["ok"]
