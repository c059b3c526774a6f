"""Benchmark: `procops drill run app-crash --auto` and `procops drill run db-loss --auto` on the
seeded sandbox with the monitoring stack.

For each drill: time to detect (T0 -> the drill incident opened by the real alert), to classify,
to the standby serving (db-loss: a real restore of the off-site backup into the standby instance),
each as a fraction of its limit (detection: the scenario's 60 s; classify 15 min; standby 1 h,
target <= 60 s for about 1 GB of documents); and the drill's overhead beyond the fault itself:
the steady-state checks, the alert mark and unmark (which waits for the drill's alerts to
resolve), the clocks, rectification and report steps, against the fault window (inject, detect,
response, failback, rollback). Figures come from the drill's own journal records.

    .venv/bin/python bench/drill.py [--documents 5000] [--document-size 200KB] [--only app-crash]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from _common import PROCOPS, free_port, machine, temp_home

FAULT_STEPS = ("inject", "detect", "response", "failback", "rollback")
OVERHEAD_STEPS = (
    "steady-state-before",
    "preflight",
    "mark-alerts",
    "steady-state-after",
    "unmark-alerts",
    "clocks",
    "rectification",
    "report",
)


def run(env: dict, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    p = subprocess.run([PROCOPS, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        sys.exit(f"procops {' '.join(args)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p


def records(home: Path, drill_id: str) -> tuple[dict, dict]:
    os.environ["PROCOPS_HOME"] = str(home)
    from procops.journal import Journal

    with Journal(home / "journal.db") as j:
        run_rec = next(e.data for e in j.events("drill.run") if e.data.get("drill_id") == drill_id)
        ends = [e.data for e in j.events("operation.end") if e.data.get("operation") == "drill.run"]
    return run_rec, ends[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--documents", type=int, default=5000)
    ap.add_argument("--document-size", default="200KB")
    ap.add_argument("--only", choices=("app-crash", "db-loss"))
    a = ap.parse_args()
    home = temp_home()
    port = free_port(12)
    cfg = {
        "sandbox": {"port": port, "replicas": 2, "seed": {"documents": a.documents, "document_size": a.document_size}},
        "monitoring": {
            "prometheus_port": port + 4,
            "alertmanager_port": port + 5,
            "node_exporter_port": port + 6,
            "blackbox_exporter_port": port + 7,
            "postgres_exporter_port": port + 8,
            "exporter_port": port + 9,
            "webhook_port": port + 10,
        },
    }
    (home / "procops.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PROCOPS_HOME=str(home), PROCOPS_CONFIG=str(home / "procops.yaml"), PROCOPS_LANG="en")
    try:
        run(env, "sandbox", "up")
        run(env, "monitor", "up")
        drills = [a.only] if a.only else ["app-crash", "db-loss"]
        if "db-loss" in drills:
            run(env, "backup", "init")
            run(env, "backup", "run")
        docs = sum(f.stat().st_size for f in (home / "sandbox" / "documents").rglob("*") if f.is_file())
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
        print(
            f"documents: {a.documents} x {a.document_size} ({docs / 1024**3:.2f} GiB); monitoring defaults "
            "(scrape and evaluation every 5 s)"
        )
        for name in drills:
            t = time.monotonic()
            p = run(env, "drill", "run", name, "--auto", "--json")
            wall = time.monotonic() - t
            import json

            res = json.loads(p.stdout)
            rec, end = records(home, res["drill_id"])
            steps = {s["name"]: s["duration_s"] for s in end["steps"]}
            fault = sum(steps.get(k, 0.0) for k in FAULT_STEPS)
            over = sum(steps.get(k, 0.0) for k in OVERHEAD_STEPS)
            print(f"\n{name}: {rec['status']} in {wall:.1f} s wall")
            for key, limit in (("detected_s", 60.0 if name else 60.0), ("classified_s", 900.0), ("standby_s", 3600.0)):
                v = rec.get(key)
                print(
                    f"  {key:<13} {('-' if v is None else f'{v:.1f} s'):>9}  "
                    + ("" if v is None else f"{v / limit:.4f} of {limit:g} s")
                )
            if rec.get("standby_s") is not None:
                sb = rec["standby_s"] - (rec.get("classified_s") or 0)
                print(
                    f"  standby serving after classification: {sb:.1f} s (target <= 60 s: {'met' if sb <= 60 else 'NOT met'})"
                )
            print(f"  fault window (inject, detect, response, failback, rollback): {fault:.1f} s")
            print(
                f"  drill overhead (steady state, alert mark/unmark, clocks, report): {over:.1f} s "
                f"= {over / fault:.2f} x the fault window"
            )
            print("  steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in steps.items()))
    finally:
        subprocess.run([PROCOPS, "monitor", "down"], env=env, capture_output=True)
        subprocess.run([PROCOPS, "sandbox", "down", "--instance", "standby", "--force"], env=env, capture_output=True)
        subprocess.run([PROCOPS, "sandbox", "down", "--force"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
