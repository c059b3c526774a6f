"""Benchmark: generator overhead of `procops loadtest peak` versus plain `locust --headless`.

Target: HAProxy answering every request itself (`http-request return ... string ok`),
so the load generator, not the target, is the bottleneck: the worst case for
procops's per-request recording. Both runs use bench/static_locustfile.py with the
same users and length, one after the other, alternating, several rounds. Requests/s
comes from each run's own Locust CSV (Aggregated row), computed the same way.
Target: ratio (procops / plain) >= 0.95. Prints the ratio of the medians.
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PROCOPS, ROOT, free_port, machine, reachable, temp_home

USERS = int(os.environ.get("BENCH_USERS", "20"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
# The generator (and everything procops starts) on core 1, HAProxy on core 0: both runs
# get the same core, whatever else the machine is doing.
GEN = ["taskset", "-c", "1"]
TARGET = ["taskset", "-c", "0"]
LOCUSTFILE = ROOT / "bench" / "static_locustfile.py"

HAPROXY_CFG = """
global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend static
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string ok
"""


def rps_from_csv(path: Path) -> tuple[float, int]:
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                return float(row["Requests/s"]), int(row["Request Count"])
    raise RuntimeError(f"no Aggregated row in {path}")


def plain(url: str, out: Path) -> tuple[float, int]:
    subprocess.run(
        [
            *GEN,
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            f"{SECONDS}s",
            "--host",
            url,
            "--csv",
            str(out / "plain"),
            "--only-summary",
            "--exit-code-on-error",
            "0",
            "--logfile",
            str(out / "plain.log"),
        ],
        check=True,
        capture_output=True,
        timeout=SECONDS + 120,
    )
    return rps_from_csv(out / "plain_stats.csv")


def procops(url: str, out: Path, home: Path) -> tuple[float, int, dict]:
    import json

    rd = out / "procops"
    env = dict(os.environ, PROCOPS_HOME=str(home))
    # the ramp takes USERS/rate = 1 s: hold SECONDS - 1 so both runs last SECONDS
    p = subprocess.run(
        [
            *GEN,
            PROCOPS,
            "loadtest",
            "peak",
            "--locustfile",
            str(LOCUSTFILE),
            "--host",
            url,
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            f"{SECONDS - 1}s",
            "--report-dir",
            str(rd),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=SECONDS + 180,
    )
    if p.returncode not in (0, 1, 3):
        raise RuntimeError(p.stderr)
    summary = json.loads((rd / "summary.json").read_text())
    rps, count = rps_from_csv(rd / "locust_stats.csv")
    return rps, count, summary


LOAD = [None]


def main() -> None:
    LOAD[0] = os.getloadavg()
    port = free_port(1)
    work = Path(tempfile.mkdtemp(prefix="procops-bench-lt-"))
    cfg = work / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=port))
    hap = subprocess.Popen(
        [*TARGET, "haproxy", "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    home = temp_home()
    rows = []
    try:
        for _ in range(50):
            if reachable(port):
                break
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        for i in range(ROUNDS):
            d = work / f"round-{i}"
            d.mkdir()
            order = ("plain", "procops") if i % 2 == 0 else ("procops", "plain")
            got = {}
            for which in order:
                sub = d / which
                sub.mkdir()
                if which == "plain":
                    got["plain"] = plain(url, sub)
                else:
                    r, c, s = procops(url, sub, home)
                    got["procops"] = (r, c)
                    got["summary"] = s
            rows.append(got)
            s = got["summary"]
            print(
                f"round {i + 1}: plain {got['plain'][0]:.0f} req/s ({got['plain'][1]} requests), "
                f"procops {got['procops'][0]:.0f} req/s ({got['procops'][1]} requests; raw samples "
                f"{s['requests']}, generator CPU peak {s['generator_cpu']['max_ratio']:.0%}, verdict "
                f"{s['verdict']}), ratio {got['procops'][0] / got['plain'][0]:.3f}",
                flush=True,
            )
    finally:
        hap.terminate()
        hap.wait(timeout=10)
    plain_med = statistics.median(r["plain"][0] for r in rows)
    proc_med = statistics.median(r["procops"][0] for r in rows)
    paired = statistics.median(r["procops"][0] / r["plain"][0] for r in rows)
    print(f"machine: {machine()}; load average before/after: {LOAD[0]} / {os.getloadavg()}")
    print(
        f"users {USERS}, {SECONDS}s per run, {ROUNDS} rounds (alternating order), generator pinned to core 1, "
        "HAProxy to core 0"
    )
    print(f"median plain locust: {plain_med:.0f} req/s; median procops loadtest peak: {proc_med:.0f} req/s")
    print(
        f"RATIO procops/plain: ratio of medians {proc_med / plain_med:.3f}, median of paired ratios "
        f"{paired:.3f} (target >= 0.95)"
    )


if __name__ == "__main__":
    main()
