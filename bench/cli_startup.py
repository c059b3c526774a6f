"""Benchmark: `procops --help` and every group's `--help` next to `python -c pass`.

Target: each at most 0.35 s more than `python -c pass` (the reference, run interleaved
with ours so both see the same load). Prints one row per command and a verdict that
fails when any row is over. procops runs in Chinese (PROCOPS_LANG=zh): the message catalog is
loaded and every help text is translated, the heavier case.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from _common import PROCOPS, machine

RUNS = 10
TARGET_S = 0.35
GROUPS = (
    "config",
    "sandbox",
    "loadtest",
    "monitor",
    "backup",
    "schedule",
    "release",
    "incident",
    "drill",
    "runbook",
    "audit",
    "scan",
    "status",
    "readiness",
)


ENV = {**os.environ, "PROCOPS_LANG": "zh"}


def once(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
    return time.perf_counter() - t


def main() -> None:
    commands = [[PROCOPS, "--help"]] + [[PROCOPS, g, "--help"] for g in GROUPS]
    ref: list[float] = []
    ours: dict[str, list[float]] = {" ".join(c[1:]): [] for c in commands}
    for _ in range(RUNS):
        for c in commands:  # the reference before each of ours: the same load for both
            ref.append(once([sys.executable, "-c", "pass"]))
            ours[" ".join(c[1:])].append(once(c))
    r = statistics.median(ref)
    print(f"machine: {machine()}")
    print(f"python -c pass                 median {r * 1000:7.1f} ms ({len(ref)} runs)")
    worst = 0.0
    for name, times in ours.items():
        m = statistics.median(times)
        worst = max(worst, m - r)
        print(f"procops {name:<22} median {m * 1000:7.1f} ms  (+{(m - r) * 1000:.0f} ms, ratio {m / r:.1f}x)")
    print(
        f"verdict: {'ok' if worst <= TARGET_S else 'TOO SLOW'} "
        f"(slowest +{worst * 1000:.0f} ms; target: at most +{TARGET_S * 1000:.0f} ms for each)"
    )


if __name__ == "__main__":
    main()
