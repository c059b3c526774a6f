"""Benchmark: `procops status` on a journal of 100,000 events, against a plain `sqlite3` query of the
same rows (the newest row of each kind the desk reads, and the last day's scheduled jobs).

Target: at most 1 s. The desk reads the newest rows per kind through the (kind, time) index, never
the whole journal; the platform and Prometheus are not running here, so the probes fail fast (a
running platform adds its health requests).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from _common import PROCOPS, machine, temp_home
from _journal import build

RUNS = 7
TARGET_S = 1.0
KINDS = (
    "backup.check",
    "backup.verify",
    "scan.run",
    "loadtest.peak",
    "loadtest.readiness-peak",
    "loadtest.capacity",
    "drill.run",
    "release.start",
    "release.stage",
    "sandbox.fault",
)
SQL = ";".join(
    [f"SELECT * FROM events WHERE kind = '{k}' ORDER BY time DESC, id DESC LIMIT 1" for k in KINDS]
    + [
        "SELECT * FROM events WHERE kind = 'backup.run' ORDER BY time DESC, id DESC LIMIT 200",
        "SELECT * FROM events WHERE kind = 'schedule.job' AND time >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')",
        "SELECT * FROM events WHERE kind = 'schedule.job_failed' AND time >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')",
        "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
    ]
)


def timed(argv: list[str], env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main() -> None:
    home = temp_home()
    t = time.perf_counter()
    n = build(home / "journal.db")
    print(f"machine: {machine()}")
    print(f"journal: {n:,} events over 90 days, built in {time.perf_counter() - t:.1f} s")
    env = {**os.environ, "PROCOPS_HOME": str(home), "PROCOPS_LANG": "en"}
    ours, ref = [], []
    for _ in range(RUNS):
        ref.append(timed(["sqlite3", str(home / "journal.db"), SQL], env))
        ours.append(timed([PROCOPS, "status", "--json"], env))
    r, m = statistics.median(ref), statistics.median(ours)
    print(f"sqlite3 (the same rows)     median {r * 1000:7.1f} ms ({RUNS} runs)")
    print(f"procops status --json       median {m * 1000:7.1f} ms ({RUNS} runs), ratio {m / r:.1f}x")
    print(f"verdict: {'ok' if m <= TARGET_S else 'TOO SLOW'} (target: at most {TARGET_S:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
