"""A gray release under faults, for real: the controller killed with SIGKILL resumes; Ctrl-C
restores the weights before it exits; a canary without traffic is never judged; Prometheus
stopped during the analysis rolls back, never promotes; consecutive rollbacks stop new starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import psutil
import pytest
from release_testing import (
    all_equal_and_up,
    journal,
    release_state,
    running_platform,
    versions,
    wait_phase,
    weights,
    write_config,
)
from testsupport import PROCOPS


@pytest.fixture
def platform(cli, port_block, tmp_path, procops_home):
    with running_platform(cli, port_block, tmp_path, procops_home) as p:
        yield p


def _background(p: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PROCOPS, *args],
        env={**os.environ, **p["env"]},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_controller_survives_sigkill_sigint_no_traffic_and_a_dead_prometheus(cli, platform):
    env, home, sock = platform["env"], platform["home"], platform["socket"]

    # SIGKILL in the middle of the first analysis: resume finishes the rollout
    proc = _background(platform, "release", "start", "1.1.0", "--auto")
    try:
        wait_phase(home, "analysing", stage=0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    st = release_state(home)
    assert st["status"] == "running" and st["stage"] == 0  # what it was doing when it died
    r = cli("release", "resume", "--json", env=env, timeout=400)
    assert r.code == 0, r.out + r.err
    assert r.json()["outcome"] == "rolled_out"
    assert any(d["decision"] == "resume" for d in r.json()["release"]["decisions"])
    assert set(versions(cli, env).values()) == {"1.1.0"}
    assert all_equal_and_up(weights(sock))

    # Ctrl-C during the second stage's analysis: every server back to its weight before exit 130
    proc = _background(platform, "release", "start", "1.0.0", "--auto")
    try:
        wait_phase(home, "analysing", stage=1, timeout=180)
        w = weights(sock)
        assert w["r3"][0] != w["r1"][0]  # the stage's weights are set
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert all_equal_and_up(weights(sock))
    assert release_state(home)["status"] == "interrupted"
    r = cli("release", "abort", "--json", env=env, timeout=300, check=0)
    assert r.json()["outcome"] == "aborted"
    assert set(versions(cli, env).values()) == {"1.1.0"}

    # a canary that receives no traffic is never judged: no gate passes, it is rolled back
    write_config(platform, load={"enabled": False}, gates={"probe": False, "traffic_timeout": "4s", "min_requests": 10})
    r = cli("release", "start", "1.0.0", "--auto", "--json", env=env, timeout=300)
    assert r.code == 1, r.out + r.err
    rel = r.json()["release"]
    assert not any(g["passed"] for g in rel["last_gates"])
    # (the monitoring's own page probe may reach it: a few requests are still too few to judge)
    assert rel["last_gates"][0]["reason"] in ("the canary received no traffic", "too few requests", "no data")
    assert all(g["no_data"] for g in rel["last_gates"])
    assert not any(d["decision"] == "promote" for d in rel["decisions"])
    assert set(versions(cli, env).values()) == {"1.1.0"}
    write_config(platform)

    # Prometheus stopped during the analysis: failed checks, rollback, never a promotion
    prom = next(
        c
        for c in cli("monitor", "status", "--json", env=env, check=0).json()["components"]
        if c["name"] == "prometheus"
    )
    proc = _background(platform, "release", "start", "1.0.0", "--auto", "--json")
    try:
        wait_phase(home, "analysing", stage=0)
        psutil.Process(prom["pid"]).kill()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    rel = json.loads(out)["release"]
    assert not any(d["decision"] == "promote" for d in rel["decisions"])
    assert any(g["no_data"] and not g["passed"] for g in rel["last_gates"])
    assert set(versions(cli, env).values()) == {"1.1.0"}
    assert all_equal_and_up(weights(sock))
    # every Prometheus check failed for want of data (the probe needs no Prometheus)
    assert all(not g["passed"] and g["no_data"] for g in rel["last_gates"] if g["gate"] != "probe")
    gates = [d for k, d in journal(home) if k == "release.gate" and d["gate"] == "upload_success"]
    assert gates[-1]["passed"] is False and gates[-1]["value"] is None

    # two automatic rollbacks in a row: with a limit of 2 the next start waits for a person
    write_config(platform, max_auto_rollbacks=2)
    r = cli("release", "start", "1.0.0", "--auto", env=env, check=1)
    assert "2 consecutive automatic rollbacks" in r.err and "--acknowledge" in r.err
