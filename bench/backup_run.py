"""Benchmarks of `procops backup` against the plain tools, side by side in one run.

1. `procops backup run --repo local` versus a plain shell script doing the same restic work (an SQLite
   online backup piped to `restic backup --stdin`, then `restic backup` of the documents store): first
   backup (target ratio <= 1.05) and an incremental after 1% more documents (target <= 1.15).
2. verify's parallel hashing versus `sha256sum` under `xargs -P <cores>` over the same restored files
   (target: at least 0.8 of its throughput).
3. `procops backup restore --to-sandbox` from the off-site repository: seconds from the command to the
   first successful request of the standby (target: at most 60 s for 1 GB; R7 allows 1 hour).

Data: the sandbox seeded with BENCH_DOCS documents of BENCH_DOC_SIZE (default 10000 x 100KB, about 1 GB;
BENCH_DOCS=3000 for about 300 MB).
Usage: .venv/bin/python bench/backup_run.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _common import PROCOPS, free_port, machine, temp_home

DOCS = int(os.environ.get("BENCH_DOCS", "10000"))
DOC_SIZE = os.environ.get("BENCH_DOC_SIZE", "100KB")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))

REF_SCRIPT = r"""#!/bin/sh
# the plain way: the same restic work as 'procops backup run --repo local'
set -eu
export RESTIC_REPOSITORY="$1" RESTIC_PASSWORD_FILE="$2"
DB="$3" DOCS="$4" TMP="$5"
sqlite3 "$DB" ".backup '$TMP/platform.sqlite3'"
restic backup --quiet --stdin --stdin-filename database/platform.sqlite3 --tag ref < "$TMP/platform.sqlite3"
rm -f "$TMP/platform.sqlite3"
restic backup --quiet --tag ref --exclude "$DOCS/.incoming" "$DOCS"
"""


def sh(argv: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{argv[:4]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return time.perf_counter() - t


def main() -> None:
    home = temp_home()
    env = dict(os.environ, PROCOPS_HOME=str(home))
    env.pop("PROCOPS_CONFIG", None)
    work = Path(tempfile.mkdtemp(prefix="procops-bench-work-"))
    port = free_port(3)
    cfg = work / "procops.yaml"
    cfg.write_text(
        f"sandbox:\n  port: {port}\n  replicas: 1\n  seed: {{documents: {DOCS}, document_size: {DOC_SIZE}}}\n"
        "backup:\n  retention: {keep_last: 50}\n"
    )
    env["PROCOPS_CONFIG"] = str(cfg)
    P = lambda *a: subprocess.run([PROCOPS, *a], env=env, capture_output=True, text=True)  # noqa: E731
    print(f"machine: {machine()}")
    print(f"data: {DOCS} documents of {DOC_SIZE} in the sandbox (SQLite)")
    try:
        r = P("sandbox", "up", "--json")
        if r.returncode:
            sys.exit(r.stderr)
        url = json.loads(r.stdout)["url"]
        st = json.loads(P("sandbox", "status", "--json").stdout)
        docs_dir = Path(st["documents_dir"])
        db = home / "sandbox" / "platform.db"
        size = sum(p.stat().st_size for p in docs_dir.rglob("*") if p.is_file())
        print(f"documents store: {size / 1024**2:.0f} MiB")
        P("backup", "init")
        # the reference repository, initialised like ours (same restic, same defaults)
        ref_repo = work / "ref-repo"
        pw = home / "secrets" / "restic-local"
        renv = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        renv.update(RESTIC_REPOSITORY=str(ref_repo), RESTIC_PASSWORD_FILE=str(pw))
        sh(["restic", "init", "--quiet"], renv)
        script = work / "ref.sh"
        script.write_text(REF_SCRIPT)
        script.chmod(0o755)
        tmp = work / "tmp"
        tmp.mkdir()
        ref = lambda: sh([str(script), str(ref_repo), str(pw), str(db), str(docs_dir), str(tmp)])  # noqa: E731
        ours = lambda: sh([PROCOPS, "backup", "run", "--repo", "local"], env)  # noqa: E731

        print("\n1. backup run, one repository")
        r1, o1 = ref(), ours()
        print(
            f"   first backup:       plain script {r1:7.2f} s   procops {o1:7.2f} s   ratio {o1 / r1:.3f}   "
            f"difference {o1 - r1:+.2f} s (target <= 1.05)"
        )
        # 1% more documents, uploaded through the platform's API, then both; ROUNDS times, the order alternating
        n = max(1, DOCS // 100)
        diffs, ratios = [], []
        with httpx.Client(base_url=url, timeout=60) as c:
            token = c.post(
                "/api/suppliers/login", json={"email": "supplier-1@example.test", "password": "password-1"}
            ).json()["token"]
            items = c.get("/api/announcements", params={"page": 1, "size": 100}).json()["items"]
            now = time.time()
            open_ids = [
                a["id"]
                for a in items
                if dt.datetime.fromisoformat(a["deadline_at"].replace("Z", "+00:00")).timestamp() > now + 3600
            ]
            if not open_ids:
                sys.exit("no announcement open for bids in the seeded data")
            for k in range(ROUNDS):
                blob = os.urandom(100 * 1024)
                for i in range(n):
                    resp = c.post(
                        f"/api/announcements/{open_ids[i % len(open_ids)]}/bids",
                        headers={"Authorization": f"Bearer {token}"},
                        files={"file": (f"bid-{k}-{i}.pdf", blob[i % 97 :] + i.to_bytes(4, "big"))},
                    )
                    if resp.status_code not in (200, 201):
                        sys.exit(f"upload failed: {resp.status_code} {resp.text}")
                if k % 2:
                    o2, r2 = ours(), ref()
                else:
                    r2, o2 = ref(), ours()
                diffs.append(o2 - r2)
                ratios.append(o2 / r2)
                print(f"   incremental {k + 1} (+{n} documents): plain script {r2:7.2f} s   procops {o2:7.2f} s")
        print(
            f"   incremental, median of {ROUNDS}: ratio {statistics.median(ratios):.3f}   difference "
            f"{statistics.median(diffs):+.2f} s (target <= +0.30 s; with the run's confirmation)"
        )

        print("\n2. verify hashing")
        target = work / "restored"
        t = time.perf_counter()
        rr = P("backup", "restore", "--repo", "local", "--target", str(target))
        if rr.returncode:
            sys.exit(rr.stderr)
        print(f"   restore of the latest run to a folder: {time.perf_counter() - t:.2f} s")
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from procops.backup.verify import hash_many

        files = [p for p in (target / "documents").rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        cores = os.cpu_count() or 2
        best_ref = best_ours = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            subprocess.run(
                f"find '{target / 'documents'}' -type f -print0 | xargs -0 -P {cores} -n 64 sha256sum > /dev/null",
                shell=True,
                check=True,
            )
            best_ref = min(best_ref, time.perf_counter() - t)
            t = time.perf_counter()
            res = hash_many(files)
            best_ours = min(best_ours, time.perf_counter() - t)
            assert all(not isinstance(v, Exception) for v in res.values())
        mb = total / 1024**2
        print(
            f"   {len(files)} files, {mb:.0f} MiB: sha256sum x{cores} {mb / best_ref:7.1f} MiB/s   "
            f"procops {mb / best_ours:7.1f} MiB/s   ratio {best_ref / best_ours:.3f} (target >= 0.8)"
        )
        t = time.perf_counter()
        v = P("backup", "verify", "--repo", "local", "--json")
        print(
            f"   full 'backup verify --repo local' (restore + load + hash): {time.perf_counter() - t:.2f} s, "
            f"exit {v.returncode}"
        )

        print("\n3. restore --to-sandbox from the off-site repository")
        P("backup", "run")  # the off-site copy (catch-up of every run)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [PROCOPS, "backup", "restore", "--to-sandbox", "--repo", "offsite", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = proc.communicate(timeout=600)
        if proc.returncode:
            sys.exit(err)
        sb = json.loads(out)
        first = None
        with httpx.Client(base_url=sb["url"], timeout=10) as c:
            while time.perf_counter() - t0 < 600:
                try:
                    if c.get("/api/announcements", params={"page": 1, "size": 20}).status_code == 200:
                        first = time.perf_counter() - t0
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            total_docs = c.get("/api/archive", params={"page": 1, "size": 1}).json()["total"]
        print(
            f"   {total_docs} documents served by the standby: first successful request {first:.2f} s after the "
            f"command (command itself {sb['seconds']:.2f} s); target <= 60 s, R7 allows 3600 s"
        )
    finally:
        P("sandbox", "down", "--instance", "standby")
        P("sandbox", "down")
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
