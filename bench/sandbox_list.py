"""Benchmark: one sandbox replica serving the announcement list (20 items from the database).

wrk (an independent load tool) runs on one core, the replica on the other
(taskset); connections grow until p95 passes 100 ms. Reports the highest
requests/s with p95 < 100 ms (target: at least 300 req/s on one core), next to
HAProxy answering a static page through the same path as the reference ceiling.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import psutil

from _common import machine, run_procops, temp_home, free_port

LUA = """
done = function(summary, latency, requests)
  io.write(string.format("JSON{\\"p95_us\\": %d, \\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d}\\n",
    latency:percentile(95), summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""


def wrk(url: str, conns: int, seconds: int = 5) -> dict:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(LUA)
    p = subprocess.run(
        ["taskset", "-c", "0", "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    d = json.loads(re.search(r"JSON(\{.*\})", p.stdout).group(1))
    return {
        "conns": conns,
        "rps": d["requests"] / (d["duration_us"] / 1e6),
        "p95_ms": d["p95_us"] / 1000,
        "errors": d["errors"],
    }


def sweep(url: str) -> tuple[dict | None, list[dict]]:
    rows, best = [], None
    for conns in (1, 2, 4, 8, 16, 32):
        r = wrk(url, conns)
        rows.append(r)
        if r["p95_ms"] < 100 and r["errors"] == 0 and (best is None or r["rps"] > best["rps"]):
            best = r
        if r["p95_ms"] >= 100:
            break
    return best, rows


def main() -> None:
    home = temp_home()
    port = free_port(3)
    run_procops(
        "sandbox",
        "up",
        "--replicas",
        "1",
        "--port",
        str(port),
        "--seed-announcements",
        "500",
        "--seed-documents",
        "20",
        home=home,
    )
    try:
        st = json.loads(run_procops("sandbox", "status", "--json", home=home).stdout)
        replica = st["replicas"][0]
        psutil.Process(replica["pid"]).cpu_affinity([1])
        url = f"http://127.0.0.1:{replica['port']}/api/announcements?page=1&size=20"
        best, rows = sweep(url)
        static_cfg = Path(tempfile.mkstemp(suffix=".cfg")[1])
        sport = free_port(1)
        static_cfg.write_text(
            f"defaults\n  mode http\n  timeout client 10s\n  timeout server 10s\n"
            f"  timeout connect 1s\nfrontend f\n  bind 127.0.0.1:{sport}\n"
            f"  http-request return status 200 content-type text/plain string ok\n"
        )
        ha = subprocess.Popen(["taskset", "-c", "1", "haproxy", "-db", "-f", str(static_cfg)])
        try:
            import time

            time.sleep(0.5)
            ref = wrk(f"http://127.0.0.1:{sport}/", 16)
        finally:
            ha.terminate()
            ha.wait()
    finally:
        run_procops("sandbox", "down", home=home, check=False)
    print(f"machine: {machine()}")
    for r in rows:
        print(f"  {r['conns']:>3} connections: {r['rps']:8.0f} req/s  p95 {r['p95_ms']:6.1f} ms  errors {r['errors']}")
    print(f"reference: HAProxy static page on one core: {ref['rps']:.0f} req/s (p95 {ref['p95_ms']:.1f} ms)")
    if best:
        print(
            f"announcement list, one replica on one core: {best['rps']:.0f} req/s at p95 {best['p95_ms']:.1f} ms "
            f"({best['conns']} connections); {best['rps'] / ref['rps']:.2f} of the static ceiling; "
            f"{'ok' if best['rps'] >= 300 else 'BELOW'} target 300 req/s"
        )
    else:
        print("announcement list: p95 was never under 100 ms")


if __name__ == "__main__":
    os.chdir(Path(__file__).parent)
    main()
