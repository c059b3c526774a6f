"""Benchmark: alert webhook throughput (notifications/s handled with dedupe, target >= 200/s).

Runs side by side in one process tree, each server in its own subprocess:
- reference: a bare stdlib HTTP server that reads the body and answers 200 (the HTTP floor of this machine);
- procops: `procops monitor webhook` (bearer check, payload validation, fingerprint dedupe, one journal
  event per delivery, incident store), fed a storm of duplicate notifications of one critical alert,
  then a burst of distinct critical alerts (each opens an incident).
Clients: 4 threads with keep-alive connections. Prints notifications/s and the ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx

from _common import PROCOPS, machine, temp_home, free_port

N_DUP = 2000
N_UNIQUE = 200
THREADS = 4


def payload(fp: str) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "procops-webhook",
            "groupKey": "{}:{}",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "UploadFailures", "severity": "critical", "version": "1.0.0", "fp": fp},
                    "annotations": {"summary": "uploads failing"},
                    "startsAt": "2026-01-01T00:00:00Z",
                    "fingerprint": fp,
                }
            ],
        }
    ).encode()


def storm(url: str, bodies: list[bytes], token: str | None) -> float:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    chunks = [bodies[i::THREADS] for i in range(THREADS)]
    errors: list[int] = []

    def worker(part: list[bytes]) -> None:
        with httpx.Client(headers=headers, timeout=30) as c:
            for b in part:
                r = c.post(url, content=b)
                if r.status_code != 200:
                    errors.append(r.status_code)

    threads = [threading.Thread(target=worker, args=(p,)) for p in chunks]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{len(errors)} requests failed: {sorted(set(errors))}")
    return len(bodies) / dt


REFERENCE = textwrap.dedent("""
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 65536
        def log_message(self, *a): pass
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
            self.wfile.write(b"{}"); self.wfile.flush()
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


def wait_port(port: int) -> None:
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def main() -> None:
    home = temp_home()
    port = free_port(2)
    env = dict(os.environ, PROCOPS_HOME=str(home))
    ref = subprocess.Popen([sys.executable, "-c", REFERENCE, str(port + 1)])
    ours = subprocess.Popen([PROCOPS, "monitor", "webhook", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        wait_port(port + 1)
        wait_port(port)
        token = (home / "secrets" / "monitoring-webhook-token").read_text().strip()
        dup = [payload("storm")] * N_DUP
        ref_rate = storm(f"http://127.0.0.1:{port + 1}/alerts", dup, None)
        our_dup = storm(f"http://127.0.0.1:{port}/alerts", dup, token)
        uniq = [payload(f"u{i}") for i in range(N_UNIQUE)]
        our_uniq = storm(f"http://127.0.0.1:{port}/alerts", uniq, token)
        stats = httpx.get(f"http://127.0.0.1:{port}/healthz").json()["stats"]
    finally:
        for p in (ref, ours):
            p.terminate()
            p.wait(10)
    import sqlite3

    n_inc = sqlite3.connect(home / "procops.db").execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
    print(f"machine: {machine()}")
    print(f"reference (bare HTTP 200, no auth/parse/journal): {ref_rate:8.0f} notifications/s")
    print(
        f"procops webhook, {N_DUP} duplicates of one alert:  {our_dup:8.0f} notifications/s "
        f"(ratio {our_dup / ref_rate:.2f} of the floor)"
    )
    print(
        f"procops webhook, {N_UNIQUE} distinct critical alerts:  {our_uniq:8.0f} notifications/s "
        f"(each opens an incident)"
    )
    print(f"incidents opened: {n_inc} (expected {1 + N_UNIQUE}); webhook stats: {stats}")
    print(f"target >= 200/s: {'met' if our_dup >= 200 else 'NOT met'}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
