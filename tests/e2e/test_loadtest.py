"""`procops loadtest` as an operator runs it: real Locust against the real sandbox (2 replicas behind HAProxy).

One sandbox per module (small seed); each run is 5-12 s of load from a handful of
users with small bid files, so the generator stays far from the CPU limit on a
shared 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from testsupport import PROCOPS, free_port_block

SMALL_SEED = [
    "--seed-announcements",
    "30",
    "--seed-suppliers",
    "5",
    "--seed-documents",
    "10",
    "--document-size",
    "20KB",
]

BASE_CONFIG = """
loadtest:
  upload_size_min: 50KB
  upload_size_max: 200KB
  think_time_min: 0.2s
  think_time_max: 1s
"""

# Uploads dominate: enough of them in 10 s that a 5% error rate is certain to show.
UPLOAD_HEAVY = """
loadtest:
  upload_size_min: 50KB
  upload_size_max: 100KB
  think_time_min: 0.05s
  think_time_max: 0.2s
  supplier_tasks: {browse: 1, detail: 0, search: 0, download: 0, bid: 6, registration: 0}
  regulator_weight: 0
"""


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@dataclass
class Env:
    home: Path
    url: str
    config: Path

    def run(self, *args: str, config: Path | None = None, timeout: float = 180) -> Result:
        env = {k: v for k, v in os.environ.items() if k != "PROCOPS_CONFIG"}
        env["PROCOPS_HOME"] = str(self.home)
        p = subprocess.run(
            [PROCOPS, "-c", str(config or self.config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    def config_file(self, name: str, text: str) -> Path:
        p = self.home / name
        p.write_text(text)
        return p


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    home = tmp_path_factory.mktemp("loadtest-home")
    cfg = home / "procops.yaml"
    cfg.write_text(BASE_CONFIG)
    env = Env(home, "", cfg)
    port = free_port_block(4)
    r = env.run("sandbox", "up", "--replicas", "2", "--port", str(port), *SMALL_SEED, "--json")
    assert r.code == 0, r.err
    env.url = r.json()["url"]
    try:
        yield env
    finally:
        env.run("sandbox", "fault", "clear")
        env.run("sandbox", "down")


def _journal(sb: Env, kind: str) -> list[dict]:
    r = sb.run("audit", "log", "--json")
    assert r.code == 0, r.err
    return [e for e in r.json() if e["kind"] == kind]


def _failed(summary: dict) -> list[str]:
    return [r["name"] for r in summary["slos"] if not r["ok"]]


def test_short_peak_passes_with_a_full_report(sb, tmp_path):
    rd = tmp_path / "peak"
    r = sb.run(
        "loadtest", "peak", "--users", "6", "--spawn-rate", "6", "--duration", "10s", "--report-dir", str(rd), "--json"
    )
    assert r.code == 0, r.out + r.err
    s = r.json()
    assert s["verdict"] == "pass" and _failed(s) == []
    assert s["target"] == sb.url and s["users"] == 6
    # every request of the run is a raw sample; Locust's own count agrees (it misses at most the
    # requests in flight when the test stopped: one per user)
    assert s["requests"] > 20 and s["samples_complete"]
    assert 0 <= s["requests"] - s["locust_requests"] <= s["users"]
    assert "announcements.search" not in s["endpoints"]  # version 1.0.0 has no search
    for name in ("announcements.list", "bids.upload", "suppliers.login"):
        e = s["endpoints"][name]
        assert e["requests"] > 0 and e["p50_ms"] <= e["p95_ms"] <= e["p99_ms"] <= e["max_ms"]
    assert {r["name"] for r in s["slos"]} >= {"p95 announcements.list", "upload success", "no 5xx"}
    assert s["generator_cpu"]["ok"] and s["generator_cpu"]["samples"] > 0
    for f in (
        "summary.json",
        "locust-report.html",
        "locust_stats.csv",
        "locust_stats_history.csv",
        "latency.png",
        "rps.png",
        "samples.tsv",
    ):
        assert (rd / f).is_file() and (rd / f).stat().st_size > 0, f
    assert (rd / "latency.png").read_bytes()[:4] == b"\x89PNG"
    # the report command reads it back
    again = sb.run("loadtest", "report", str(rd), "--json")
    assert again.code == 0 and again.json() == json.loads((rd / "summary.json").read_text())
    text = sb.run("loadtest", "report", str(rd))
    assert "PASS" in text.out and "p95 announcements.list" in text.out
    # evidence: a journal event and the last-pass metric
    ev = _journal(sb, "loadtest.peak")[-1]
    assert ev["data"]["verdict"] == "pass" and ev["data"]["report_dir"] == str(rd)
    prom = (sb.home / "textfile" / "loadtest_peak.prom").read_text()
    assert 'procops_loadtest_last_pass_timestamp_seconds{scenario="peak"}' in prom


def test_slow_page_endpoint_fails_its_slo_with_exit_1(sb, tmp_path):
    prom = sb.home / "textfile" / "loadtest_peak.prom"
    before = prom.read_text() if prom.exists() else None
    assert sb.run("sandbox", "fault", "set", "latency=2500ms", "--endpoint", "announcements.list").code == 0
    try:
        r = sb.run(
            "loadtest",
            "peak",
            "--users",
            "6",
            "--spawn-rate",
            "6",
            "--duration",
            "10s",
            "--report-dir",
            str(tmp_path / "slow"),
        )
    finally:
        sb.run("sandbox", "fault", "clear")
    assert r.code == 1, r.out + r.err
    assert "FAIL" in r.out and "[NOT HELD] p95 announcements.list" in r.out
    s = json.loads((tmp_path / "slow" / "summary.json").read_text())
    assert s["verdict"] == "fail" and _failed(s) == ["p95 announcements.list"]
    row = next(x for x in s["slos"] if x["name"] == "p95 announcements.list")
    assert row["observed"] >= 2500 and row["threshold"] == 2000
    # a failed run leaves the last-pass timestamp alone
    assert (prom.read_text() if prom.exists() else None) == before
    assert _journal(sb, "loadtest.peak")[-1]["data"]["failed_slos"] == ["p95 announcements.list"]


def test_upload_errors_fail_the_upload_slo(sb, tmp_path):
    cfg = sb.config_file("upload-heavy.yaml", UPLOAD_HEAVY)
    assert sb.run("sandbox", "fault", "set", "errors=0.05", "--endpoint", "bids.upload").code == 0
    try:
        r = sb.run(
            "loadtest",
            "peak",
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--duration",
            "10s",
            "--report-dir",
            str(tmp_path / "uploads"),
            "--json",
            config=cfg,
        )
    finally:
        sb.run("sandbox", "fault", "clear")
    assert r.code == 1, r.out + r.err
    s = r.json()
    up = s["endpoints"]["bids.upload"]
    assert up["requests"] >= 60  # 0.95**60 < 5%: the fault shows up
    assert 0 < up["failures"] == up["server_errors"]
    assert "upload success" in _failed(s) and "no 5xx" in _failed(s)
    row = next(x for x in s["slos"] if x["name"] == "upload success")
    assert row["observed"] == pytest.approx((up["requests"] - up["failures"]) / up["requests"], abs=1e-6)
    assert not any(n.startswith("p95") for n in _failed(s))


def test_capacity_small_steps_reports_a_multiple(sb, tmp_path):
    rd = tmp_path / "cap"
    r = sb.run(
        "loadtest",
        "capacity",
        "--baseline-users",
        "2",
        "--multiple",
        "2",
        "--max-multiple",
        "2",
        "--step-duration",
        "5s",
        "--spawn-rate",
        "4",
        "--report-dir",
        str(rd),
        "--json",
    )
    assert r.code == 0, r.out + r.err
    s = r.json()
    assert [st["label"] for st in s["steps"]] == ["1x", "1.5x", "2x"]
    assert [st["users"] for st in s["steps"]] == [2, 3, 4]
    assert s["capacity"]["multiple"] == 2.0 and s["capacity"]["users"] == 4 and s["capacity"]["rps"] > 0
    # per-step percentiles come from each step's own samples: their requests add up to the run's
    assert sum(st["requests"] for st in s["steps"]) == s["requests"]
    assert all(st["endpoints"]["Aggregated"]["requests"] == st["requests"] for st in s["steps"])
    assert (rd / "capacity.png").is_file()
    assert _journal(sb, "loadtest.capacity")[-1]["data"]["capacity_multiple"] == 2.0
    text = sb.run("loadtest", "report", str(rd)).out
    assert "held 2x" in text


def test_distributed_run_sums_the_workers_requests(sb, tmp_path):
    r = sb.run(
        "loadtest",
        "peak",
        "--users",
        "6",
        "--spawn-rate",
        "6",
        "--duration",
        "10s",
        "--workers",
        "2",
        "--report-dir",
        str(tmp_path / "dist"),
        "--json",
    )
    assert r.code == 0, r.out + r.err
    s = r.json()
    nodes = s["requests_per_node"]
    assert len(nodes) == 2 and all(n > 0 for n in nodes.values())
    assert sum(nodes.values()) == s["requests"]
    assert 0 <= s["requests"] - s["locust_requests"] <= s["users"]
    assert s["workers"] == 2 and s["expect_workers"] == 2
    assert {k.split(" ")[0] for k in s["generator_cpu"]["processes"]} >= {"master", "worker-1", "worker-2"}


def test_generator_over_its_cpu_limit_makes_the_run_invalid(sb, tmp_path):
    cfg = sb.config_file("strict-cpu.yaml", UPLOAD_HEAVY + "  max_generator_cpu: 0.0001\n")
    r = sb.run(
        "loadtest",
        "peak",
        "--users",
        "3",
        "--spawn-rate",
        "3",
        "--duration",
        "5s",
        "--report-dir",
        str(tmp_path / "cpu"),
        "--json",
        config=cfg,
    )
    assert r.code == 3, r.out + r.err
    s = r.json()
    assert s["verdict"] == "invalid" and s["generator_cpu"]["max_ratio"] > 0.0001
    assert "CPU" in s["invalid_reason"]
    assert _journal(sb, "loadtest.peak")[-1]["data"]["verdict"] == "invalid"


def test_unreachable_host_and_bad_arguments(sb, tmp_path):
    port = free_port_block(1)
    # bounded by the subprocess timeout: the preflight must answer in seconds
    r = sb.run(
        "loadtest", "peak", "--host", f"http://127.0.0.1:{port}", "--report-dir", str(tmp_path / "x"), timeout=20
    )
    assert r.code == 3 and "unreachable" in r.err
    assert not (tmp_path / "x").exists()
    ev = _journal(sb, "loadtest.peak")[-1]
    assert ev["data"]["verdict"] == "error" and "unreachable" in ev["data"]["error"]
    assert sb.run("loadtest", "capacity", "--host", f"http://127.0.0.1:{port}", timeout=20).code == 3
    for args in (
        ["peak", "--users", "0"],
        ["peak", "--duration", "soon"],
        ["peak", "--host", "ftp://x"],
        ["peak", "--workers", "-1"],
        ["peak", "--master-bind", "nowhere"],
        ["peak", "--workers", "1", "--expect-workers", "3"],
        ["capacity", "--multiple", "6", "--max-multiple", "4"],
        ["peak", "--bogus"],
    ):
        assert sb.run("loadtest", *args, timeout=20).code == 2, args
    assert sb.run("loadtest", "report", str(tmp_path)).code == 2


def test_remote_workers_through_the_loadgen_playbook(sb, tmp_path):
    """A master waits for a worker that playbooks/loadgen.yml starts (on localhost, connection local)."""
    import time

    root = Path(__file__).resolve().parent.parent.parent
    port = free_port_block(1)
    rd = tmp_path / "remote"
    env = {k: v for k, v in os.environ.items() if k != "PROCOPS_CONFIG"}
    env["PROCOPS_HOME"] = str(sb.home)
    master = subprocess.Popen(
        [
            PROCOPS,
            "-c",
            str(sb.config),
            "loadtest",
            "peak",
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--duration",
            "6s",
            "--workers",
            "0",
            "--master-bind",
            f"127.0.0.1:{port}",
            "--expect-workers",
            "1",
            "--report-dir",
            str(rd),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for _ in range(100):
            if (rd / "scenario.json").exists():
                break
            time.sleep(0.1)
        py = sys.executable
        pb = subprocess.run(
            [
                str(Path(py).parent / "ansible-playbook"),
                "-i",
                "localhost,",
                "-c",
                "local",
                str(root / "playbooks" / "loadgen.yml"),
                "-e",
                "loadgen_hosts=localhost",
                "-e",
                "master_host=127.0.0.1",
                "-e",
                f"master_port={port}",
                "-e",
                "workers_per_host=1",
                "-e",
                f"procops_python={py}",
                "-e",
                f"locustfile_dir={root / 'loadtests'}",
                "-e",
                f"scenario_file={rd / 'scenario.json'}",
                "-e",
                f"log_dir={tmp_path}",
                "-e",
                "max_runtime=120",
                "-e",
                f"ansible_python_interpreter={py}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(env, PATH=f"{Path(py).parent}:{env['PATH']}"),
        )
        assert pb.returncode == 0, pb.stdout[-2000:] + pb.stderr[-2000:]
        out, err = master.communicate(timeout=120)
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()
    assert master.returncode == 0, out + err
    s = json.loads(out)
    assert s["verdict"] == "pass" and s["expect_workers"] == 1 and s["workers"] == 0
    [(node, count)] = s["requests_per_node"].items()
    assert count == s["requests"] > 0 and 0 <= s["requests"] - s["locust_requests"] <= s["users"]


def test_readiness_step_runs_a_peak_at_the_policy_multiple(sb, tmp_path, monkeypatch):
    from procops.config import Config
    from procops.loadtests import steps
    from procops.readiness import Context

    monkeypatch.setenv("PROCOPS_HOME", str(sb.home))
    cfg = Config.model_validate(
        {
            "loadtest": {
                "normal_peak_users": 4,
                "upload_size_min": "50KB",
                "upload_size_max": "200KB",
                "think_time_min": "0.2s",
                "think_time_max": "1s",
            }
        }
    )
    ctx = Context(config=cfg, lang="en", report_dir=tmp_path, facts={"url": sb.url}, quick=True)
    detail, evidence = steps.short_peak(ctx)
    # 3x (policy.capacity_multiple) the normal peak of 4, held 15 s with --quick
    assert evidence["verdict"] == "pass" and evidence["users"] == 12 and evidence["multiple"] == 3
    assert "every SLO held" in detail
    assert (tmp_path / "loadtest-peak" / "summary.json").is_file()


def test_search_is_exercised_on_a_version_that_has_it(sb, tmp_path):
    port = free_port_block(4)
    up = sb.run(
        "sandbox",
        "up",
        "--instance",
        "v110",
        "--version",
        "1.1.0",
        "--replicas",
        "1",
        "--port",
        str(port),
        *SMALL_SEED,
        "--json",
    )
    assert up.code == 0, up.err
    try:
        r = sb.run(
            "loadtest",
            "peak",
            "--host",
            up.json()["url"],
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--duration",
            "8s",
            "--report-dir",
            str(tmp_path / "v110"),
            "--json",
        )
    finally:
        sb.run("sandbox", "down", "--instance", "v110")
    assert r.code == 0, r.out + r.err
    s = r.json()
    assert s["platform_version"] == "1.1.0"
    assert s["endpoints"]["announcements.search"]["requests"] > 0
    assert "p95 announcements.search" in {x["name"] for x in s["slos"]}


def test_loadgen_playbook_syntax():
    root = Path(__file__).resolve().parent.parent.parent
    p = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--syntax-check",
            "-i",
            "localhost,",
            str(root / "playbooks" / "loadgen.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_stop_condition_ends_a_load_test_against_a_failing_platform_before_its_duration(sb, tmp_path):
    cfg = sb.config_file(
        "abort.yaml",
        BASE_CONFIG + "  abort_error_ratio: 0.3\n  abort_delay: 2s\n  abort_hold: 3s\n  abort_window: 3s\n",
    )
    assert sb.run("sandbox", "fault", "set", "errors=0.9").code == 0
    try:
        r = sb.run(
            "loadtest",
            "peak",
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--duration",
            "120s",
            "--abort-on-fail",
            "--report-dir",
            str(tmp_path / "abort"),
            "--json",
            config=cfg,
            timeout=150,
        )
    finally:
        sb.run("sandbox", "fault", "clear")
    assert r.code == 1, r.out + r.err
    s = r.json()
    assert s["verdict"] == "fail"
    fired = s["aborted"]
    assert fired and fired["condition"] == "error_ratio" and fired["value"] > fired["limit"]
    assert fired["reason"] and _failed(s)[0].startswith("stop condition")
    # it fired long before the planned end of the 120 s hold
    assert s["requests"] > 0 and fired["fired_at"] - fired["test_start"] < 120
