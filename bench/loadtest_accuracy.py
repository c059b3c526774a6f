"""Benchmark: p95 accuracy of `procops loadtest peak` against an independent measurement of the same requests.

The sandbox (2 replicas) sits behind a second, logging HAProxy that procops targets;
HAProxy logs every request's total active time (%Ta, whole milliseconds) — an
independent clock on the very same requests. The fault knob adds 1234 ms to the
announcement list so its times are far above the log's 1 ms resolution. For each
GET page endpoint: p95 from procops's summary.json, p95 (nearest rank) of HAProxy's
%Ta for the requests made during the test, Locust's own (rounded) p95 from its CSV,
and the relative differences. Target: within 5% (where 1 ms resolution allows).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from _common import PROCOPS, free_port, machine, reachable, temp_home

USERS = int(os.environ.get("BENCH_USERS", "10"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))

HAPROXY_CFG = """
global
    maxconn 2000
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend measured
    bind 127.0.0.1:{port}
    log-format "%Ts.%ms %Ti %Ta %ST %tsc %{{+Q}}r"
    default_backend platform
backend platform
    server sandbox 127.0.0.1:{backend}
"""

ENDPOINTS = (
    ("announcements.detail", re.compile(r"^GET /api/announcements/\d+$")),
    ("announcements.list", re.compile(r"^GET /api/announcements$")),
    ("archive.list", re.compile(r"^GET /api/archive$")),
    ("dashboard", re.compile(r"^GET /api/dashboard$")),
)

CONFIG = """
loadtest:
  upload_size_min: 50KB
  upload_size_max: 200KB
  think_time_min: 0.2s
  think_time_max: 1s
"""


def nearest_rank(values: list[float], p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[max(1, math.ceil(p / 100 * len(v))) - 1]


def procops(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PROCOPS_HOME=str(home))
    return subprocess.run(
        [PROCOPS, "-c", str(home / "procops.yaml"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=600,
    )


def main() -> None:
    home = temp_home()
    (home / "procops.yaml").write_text(CONFIG)
    port = free_port(4)
    front = free_port(1)
    work = Path(tempfile.mkdtemp(prefix="procops-bench-acc-"))
    procops(
        home,
        "sandbox",
        "up",
        "--replicas",
        "2",
        "--port",
        str(port),
        "--seed-announcements",
        "60",
        "--seed-suppliers",
        "20",
        "--seed-documents",
        "20",
        "--document-size",
        "20KB",
    )
    cfg = work / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=front, backend=port))
    log = work / "haproxy.log"
    hap = subprocess.Popen(["haproxy", "-f", str(cfg), "-db"], stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        for _ in range(50):
            if reachable(front):
                break
            time.sleep(0.1)
        procops(home, "sandbox", "fault", "set", "latency=1234ms", "--endpoint", "announcements.list")
        rd = work / "report"
        p = procops(
            home,
            "loadtest",
            "peak",
            "--host",
            f"http://127.0.0.1:{front}",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            f"{SECONDS}s",
            "--report-dir",
            str(rd),
            check=False,
        )
        if p.returncode not in (0, 1):
            raise SystemExit(f"procops loadtest peak exited {p.returncode}:\n{p.stderr}")
    finally:
        hap.terminate()
        hap.wait(timeout=10)
        procops(home, "sandbox", "down", check=False)
    s = json.loads((rd / "summary.json").read_text())
    start = s["test_start"]
    import datetime as dt

    t0 = dt.datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
    t_end = t0 + s["duration_s"]
    measured: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        m = re.match(r'^(\d+\.\d+) (-?\d+) (-?\d+) (-?\d+) (\S+) "(\S+) (\S+) HTTP', line)
        if not m or not m.group(5).startswith("--"):
            continue
        # %Ts is the connection's accept date (or the end of the previous request on a
        # keep-alive connection); the request itself began %Ti ms later
        began = float(m.group(1)) + max(0, int(m.group(2))) / 1000
        ta = float(m.group(3))
        # requests of the test that completed before it ended: the generator stops its users at
        # the end and never records the answers still in flight then
        if began < t0 - 0.01 or began + ta / 1000 > t_end:
            continue
        req = f"{m.group(6)} {m.group(7).split('?')[0]}"
        for name, rx in ENDPOINTS:
            if rx.match(req):
                measured.setdefault(name, []).append(ta)
    locust_p95 = {}
    with open(rd / "locust_stats.csv", newline="") as f:
        for row in csv.DictReader(f):
            locust_p95[row["Name"]] = float(row["95%"]) if row["95%"] not in ("", "N/A") else None
    print(f"machine: {machine()}")
    print(f"{USERS} users, {SECONDS}s hold; fault latency=1234ms on announcements.list; verdict {s['verdict']}")
    print(
        f"{'endpoint':<22} {'n procops':>9} {'n haproxy':>9} {'p95 procops':>12} {'p95 haproxy':>12} "
        f"{'diff':>7} {'abs':>6} {'locust p95':>11} {'diff':>7}"
    )
    for name, _ in ENDPOINTS:
        e = s["endpoints"].get(name)
        hp = nearest_rank(measured.get(name, []), 95)
        if not e or hp is None:
            continue
        ours = e["p95_ms"]
        lo = locust_p95.get(name)
        d1 = (ours - hp) / hp * 100 if hp else float("nan")
        d2 = (lo - hp) / hp * 100 if (hp and lo is not None) else float("nan")
        print(
            f"{name:<22} {e['requests']:>9} {len(measured[name]):>9} {ours:>12.3f} {hp:>12.0f} {d1:>6.1f}% {ours - hp:>5.1f}ms "
            f"{lo if lo is not None else float('nan'):>11.0f} {d2:>6.1f}%"
        )
    print(
        "diff: relative to HAProxy's p95; abs: procops minus HAProxy in ms (the client's clock also counts "
        "loopback and the proxy's own parsing; %Ta has 1 ms resolution)"
    )
    print(f"report: {rd}")


if __name__ == "__main__":
    main()
