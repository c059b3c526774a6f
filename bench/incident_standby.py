"""Benchmark: `procops incident standby --execute` on the seeded sandbox (about 1 GB of documents).

Measures seconds from the command to the standby serving (restore of the latest
off-site backup into the standby instance, platform started, documents checked),
as a fraction of the 1 h deadline (target: at most 60 s). The reference, in the
same run: raw `restic restore latest` of the same off-site repository into a
scratch folder (no database, no platform start).

    .venv/bin/python bench/incident_standby.py [--documents 5000] [--document-size 200KB]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PROCOPS, machine, temp_home, free_port


def run(home: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, PROCOPS_HOME=str(home))
    env.pop("PROCOPS_CONFIG", None)
    p = subprocess.run([PROCOPS, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        sys.exit(f"procops {' '.join(args)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    return p


def raw_restic_restore(home: Path) -> tuple[float, int]:
    os.environ["PROCOPS_HOME"] = str(home)
    from procops.backup.sources import repositories
    from procops.config import Config

    repo = next(r for r in repositories(Config()) if r.offsite)
    target = Path(tempfile.mkdtemp(prefix="bench-restic-"))
    env = dict(os.environ, **repo.env())
    try:
        t = time.monotonic()
        subprocess.run(
            ["restic", "restore", "latest", "--target", str(target)],
            env=env,
            check=True,
            capture_output=True,
            timeout=1800,
        )
        took = time.monotonic() - t
        return took, sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    finally:
        shutil.rmtree(target, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--documents", type=int, default=5000)
    ap.add_argument("--document-size", default="200KB")
    a = ap.parse_args()
    try:
        import importlib

        importlib.import_module("procops.backup.restore")
    except ImportError:
        sys.exit("procops.backup.restore is not in this build: nothing to measure")
    home = temp_home()
    port = free_port(4)
    try:
        run(
            home,
            "sandbox",
            "up",
            "--port",
            str(port),
            "--seed-documents",
            str(a.documents),
            "--document-size",
            a.document_size,
        )
        run(home, "backup", "init")
        run(home, "backup", "run")
        run(home, "sandbox", "down")  # the main platform is "lost"
        ref, ref_bytes = raw_restic_restore(home)
        iid = run(home, "incident", "open", "--title", "bench: database lost").stdout.strip()
        run(home, "incident", "classify", iid, "--type", "database-failure")
        t = time.monotonic()
        out = run(home, "incident", "standby", iid, "--execute", "--json").stdout
        ours = time.monotonic() - t
        ev = json.loads(out)["milestones"]["standby"]["evidence"]
        docs_bytes = sum(f.stat().st_size for f in (home / "sandbox" / "documents").rglob("*") if f.is_file())
        print(f"machine: {machine()}")
        print(f"documents: {a.documents} x {a.document_size} ({docs_bytes / 1024**3:.2f} GiB on disk)")
        print(f"reference raw restic restore latest (off-site): {ref:.1f} s ({ref_bytes / 1024**3:.2f} GiB restored)")
        print(
            f"procops incident standby --execute (restore + start + checks): {ours:.1f} s "
            f"(restore step reported {ev.get('seconds')} s)"
        )
        print(f"ratio procops / raw restic: {ours / ref:.2f}")
        print(f"fraction of the 1 h deadline: {ours / 3600:.2%} (target <= 60 s: {'met' if ours <= 60 else 'NOT met'})")
    finally:
        subprocess.run(
            [PROCOPS, "sandbox", "down", "--instance", "standby"],
            env=dict(os.environ, PROCOPS_HOME=str(home)),
            capture_output=True,
        )
        subprocess.run([PROCOPS, "sandbox", "down"], env=dict(os.environ, PROCOPS_HOME=str(home)), capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
