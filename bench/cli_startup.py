"""Benchmark: `procops --help` wall time next to `python -c pass` (target: at most 0.35 s more)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _common import PROCOPS, machine

RUNS = 20


def wall(argv: list[str]) -> list[float]:
    out = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ref = wall([sys.executable, "-c", "pass"])
    ours = wall([PROCOPS, "--help"])
    sub = wall([PROCOPS, "backup", "--help"])
    r, o, s = statistics.median(ref), statistics.median(ours), statistics.median(sub)
    print(f"machine: {machine()}")
    print(f"python -c pass          median {r * 1000:7.1f} ms ({RUNS} runs)")
    print(f"procops --help          median {o * 1000:7.1f} ms  (+{(o - r) * 1000:.0f} ms, ratio {o / r:.1f}x)")
    print(f"procops backup --help   median {s * 1000:7.1f} ms  (+{(s - r) * 1000:.0f} ms)")
    print(f"verdict: {'ok' if o - r <= 0.35 else 'TOO SLOW'} (target: at most +350 ms)")


if __name__ == "__main__":
    main()
