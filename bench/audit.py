"""Benchmark: `procops audit --since 90d` on a journal of 100,000 events, against a plain `sqlite3`
query of the same rows (the evidence rows of the kinds the audit reads in the period, and every row of
the journal, which the verification of its chain reads).

Target: at most 3 s. Two runs of ours: `--journal-only` (the evidence rows, the evaluators, the
chain verified row by row, the Markdown report) and the full audit, which also lists the
repositories (restic; none is initialised in the bench's home, so each answers at once), checks the
journal's anchors and the state's modes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from _common import PROCOPS, machine, temp_home
from _journal import build

from procops import compliance

RUNS = 5
TARGET_S = 3.0
KINDS = ", ".join(f"'{k.value}'" for k in compliance.KINDS if k not in compliance.NEWEST_ONLY)
SINCE = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-90 days')"
# the evidence rows (every row of the kinds read whole, the newest of the others), then every row of
# the journal, which the chain's verification reads
EVIDENCE = f"SELECT * FROM events WHERE kind IN ({KINDS}) AND time >= {SINCE} ORDER BY time, id;" + "".join(
    f"SELECT * FROM events WHERE kind = '{k.value}' AND time >= {SINCE} ORDER BY time DESC, id DESC LIMIT {n};"
    for k, n in compliance.NEWEST_ONLY.items()
)
SQL = EVIDENCE + "SELECT * FROM events ORDER BY id"


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
    rows = subprocess.run(["sqlite3", str(home / "journal.db"), EVIDENCE], capture_output=True, text=True).stdout
    print(f"evidence rows the audit reads: {len(rows.splitlines()):,}; the chain: all {n:,}")
    env = {**os.environ, "PROCOPS_HOME": str(home), "PROCOPS_LANG": "en"}
    ref, journal_only, full = [], [], []
    for _ in range(RUNS):
        ref.append(timed(["sqlite3", str(home / "journal.db"), SQL], env))
        journal_only.append(timed([PROCOPS, "audit", "--since", "90d", "--journal-only", "--json"], env))
        full.append(timed([PROCOPS, "audit", "--since", "90d", "--json"], env))
    r = statistics.median(ref)
    print(f"sqlite3 (the same rows)               median {r * 1000:7.1f} ms ({RUNS} runs)")
    for name, xs in (("audit --since 90d --journal-only", journal_only), ("audit --since 90d", full)):
        m = statistics.median(xs)
        print(f"procops {name:<32} median {m * 1000:7.1f} ms, ratio {m / r:.1f}x")
    worst = max(statistics.median(journal_only), statistics.median(full))
    print(f"verdict: {'ok' if worst <= TARGET_S else 'TOO SLOW'} (target: at most {TARGET_S:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
