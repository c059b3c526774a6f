"""Benchmark: `procops readiness --quick` on a fresh $PROCOPS_HOME, the embedded default platform.

Target (issue: the main job): the whole run in at most 5 minutes on a 2-core machine. There is no
tool doing the same steps to run beside it, so the reference is the target itself: the ratio printed
is the wall time over 300 s, and each step's share is listed so the slow one is named.

The run starts the sandbox and the monitoring stack on free ports and stops them at the end (no --keep).
Usage: .venv/bin/python bench/readiness.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PROCOPS, free_port, machine, temp_home

TARGET_S = 300.0


def main() -> None:
    home = temp_home()
    work = Path(tempfile.mkdtemp(prefix="procops-bench-ready-"))
    port = free_port(4)
    cfg = work / "procops.yaml"
    from procops.config import MonitoringConfig

    names = [n for n in MonitoringConfig.model_fields if n.endswith("_port")]  # every component's port
    mon = free_port(len(names))
    cfg.write_text(
        f"sandbox:\n  port: {port}\nmonitoring:\n" + "".join(f"  {n}: {mon + i}\n" for i, n in enumerate(names))
    )
    env = dict(os.environ, PROCOPS_HOME=str(home), PROCOPS_CONFIG=str(cfg), PROCOPS_LANG="en")
    print(f"machine: {machine()}")
    t = time.perf_counter()
    p = subprocess.run([PROCOPS, "readiness", "--quick", "--json"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1):
        sys.exit(f"readiness exited {p.returncode}: {p.stderr[-3000:]}")
    res = json.loads(p.stdout)
    print(f"verdict: {res['verdict']} (exit {p.returncode})")
    for s in res["steps"]:
        print(f"   {s['name']:<18} {s['status']:<8} {s['duration_s']:7.1f} s  {s['detail'][:90]}")
    print(
        f"readiness --quick: {wall:.1f} s wall, target <= {TARGET_S:.0f} s, ratio {wall / TARGET_S:.2f} "
        f"({'ok' if wall <= TARGET_S else 'TOO SLOW'})"
    )


if __name__ == "__main__":
    main()
