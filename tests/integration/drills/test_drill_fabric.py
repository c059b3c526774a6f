"""The Fabric injectors against a host of our own (a network namespace with its own sshd): each fault
is injected over SSH, seen through a probe, and rolled back."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import httpx
import pytest
from testsupport import netns_host

from procops.config import Config
from procops.drills import remote
from procops.drills.scenario import Scenario
from procops.errors import EnvironmentFailure

pytestmark = pytest.mark.root


@pytest.fixture
def host(tmp_path):
    with netns_host(tmp_path / "h1", prefix="pf") as h:
        yield h


def _config(h, **extra) -> Config:
    return Config.model_validate(
        {
            "drills": {
                "allowed_hosts": ["h1"],
                "hosts": [
                    {
                        "name": "h1",
                        "address": h["ip"],
                        "user": "root",
                        "key_file": str(h["key"]),
                        "known_hosts": str(h["known_hosts"]),
                        **extra,
                    }
                ],
            }
        }
    )


def _injector(cfg: Config, tmp_path, action: str, **params) -> remote.RemoteFault:
    s = Scenario.model_validate(
        {
            "name": "x",
            "title": "x",
            "fault_type": "network",
            "target": {"kind": "hosts", "hosts": ["h1"]},
            "steady_state": [{"name": "h"}],
            "fault": {"action": action, "params": params},
            "detection": {"probe": "http", "within": "30s"},
            "response": {"runbook": "incident-response", "steps": [{"text": "t"}]},
        }
    )
    inj = remote.for_scenario(cfg, s, tmp_path / "drill-x")
    assert isinstance(inj, remote.RemoteFault)
    return inj


@contextlib.contextmanager
def _web_server(h, port: int):
    p = subprocess.Popen(
        ["ip", "netns", "exec", h["ns"], sys.executable, "-m", "http.server", str(port), "--bind", h["ip"]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=h["dir"],
    )
    try:
        for _ in range(100):
            if _answers(h["ip"], port):
                break
            time.sleep(0.1)
        yield
    finally:
        p.terminate()
        p.wait(10)


def _answers(ip: str, port: int) -> bool:
    try:
        return httpx.get(f"http://{ip}:{port}/", timeout=1.5).status_code == 200
    except httpx.HTTPError:
        return False


def test_block_port_drops_the_port_until_rolled_back(host, tmp_path):
    inj = _injector(_config(host), tmp_path, "block-port", port=8080)
    inj.preflight()
    with _web_server(host, 8080):
        assert _answers(host["ip"], 8080)
        try:
            inj.inject()
            assert not _answers(host["ip"], 8080)  # the probe sees the fault
        finally:
            inj.rollback()
        assert _answers(host["ip"], 8080)
    rules = subprocess.run(
        ["ip", "netns", "exec", host["ns"], "iptables", "-S", "INPUT"], capture_output=True, text=True, check=True
    ).stdout
    assert remote.COMMENT not in rules
    assert inj.done == []


def test_fill_filesystem_writes_the_filler_and_the_rollback_removes_it(host, tmp_path):
    target = host["dir"] / "filler"
    inj = _injector(_config(host), tmp_path, "fill-filesystem", path=str(target), size="8MB")
    try:
        inj.inject()
        assert target.stat().st_size == 8 << 20
    finally:
        inj.rollback()
    assert not target.exists()


def test_latency_is_added_and_removed_or_a_missing_netem_is_exit_3_naming_it(host, tmp_path):
    peer = host["host_if"][:-1] + "b"  # the namespace's end of the veth pair
    inj = _injector(_config(host), tmp_path, "latency", interface=peer, delay_ms=300)
    with _web_server(host, 8081):
        try:
            try:
                inj.inject()
            except EnvironmentFailure as e:
                assert e.exit_code == 3 and "netem" in e.message
                return
            t0 = time.monotonic()
            assert _answers(host["ip"], 8081)
            assert time.monotonic() - t0 >= 0.3  # the delay is there (a lower bound, not a timing)
        finally:
            inj.rollback()
        qdisc = subprocess.run(
            ["ip", "netns", "exec", host["ns"], "tc", "qdisc", "show", "dev", peer], capture_output=True, text=True
        ).stdout
        assert "netem" not in qdisc


def test_an_unreachable_host_is_exit_3_naming_it(tmp_path):
    cfg = Config.model_validate(
        {
            "drills": {
                "allowed_hosts": ["h1"],
                "hosts": [{"name": "h1", "address": "127.0.0.1", "port": 1, "key_file": str(tmp_path / "nokey")}],
            }
        }
    )
    inj = _injector(cfg, tmp_path, "block-port", port=8080)
    with pytest.raises(EnvironmentFailure) as e:
        inj.preflight()
    assert e.value.exit_code == 3 and "h1" in e.value.message
