"""Benchmark: procops.execute.run() next to a bare subprocess.run of the same program (target: at most +5 ms).

Each program runs N times per side, interleaved (ours, bare, ours, ...), so load on a
shared machine hits both alike; medians, their ratio and the added milliseconds per
child are printed. Programs: /bin/true, and `restic version` when restic is installed.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

from _common import machine

from procops import execute

RUNS = 200


def bench(tool: execute.Tool, argv: list[str], runs: int) -> tuple[float, float]:
    env = execute.child_env(tool)  # the bare run gets the same small environment: only the runner differs
    ours, bare = [], []
    for _ in range(3):  # warm-up
        execute.run(tool, argv)
        subprocess.run(argv, env=env, capture_output=True, stdin=subprocess.DEVNULL, check=True)
    for _ in range(runs):
        t = time.perf_counter()
        execute.run(tool, argv)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, stdin=subprocess.DEVNULL, check=True)
        bare.append(time.perf_counter() - t)
    return statistics.median(ours), statistics.median(bare)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    cases = [("/bin/true", execute.Tool("true", "/bin/true"), ["/bin/true"], runs)]
    if shutil.which("restic"):
        cases.append(("restic version", execute.RESTIC, ["restic", "version"], max(20, runs // 4)))
    print(f"machine: {machine()}")
    worst = 0.0
    for label, tool, argv, n in cases:
        o, b = bench(tool, argv, n)
        worst = max(worst, o - b)
        print(
            f"{label:16} bare subprocess.run median {b * 1000:6.2f} ms, execute.run {o * 1000:6.2f} ms "
            f"({n} runs each): ratio {o / b:.2f}x, +{(o - b) * 1000:.2f} ms per child"
        )
    print(f"verdict: {'ok' if worst <= 0.005 else 'TOO SLOW'} (target: at most +5 ms per child)")


if __name__ == "__main__":
    main()
