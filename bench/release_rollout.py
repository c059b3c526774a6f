"""Benchmark: gray releases on the sandbox (3 replicas behind HAProxy, the monitoring stack).

1. Controller overhead: a 3-stage rollout 1.0.0 -> 1.1.0 with --auto and 10 s analysis windows;
   wall time minus the configured windows, per stage (target: at most 10 s per stage). The
   controller's own split (deploy + health + weights + waiting for the first canary requests +
   probe + scrape settle) is printed from its state.
2. Failed gate to all traffic on stable: 1.1.0 -> 1.1.1-bad; the controller times the weights
   change from its rollback decision (target: at most 2 s). Reference: one raw `set server ...
   weight` round trip on HAProxy's runtime API socket.
3. Blast radius: while the bad release runs, a client uploads bid files through the front end at a
   fixed rate; failed uploads it saw, against the lower bound canary share x the bad version's
   failure rate (10%) x the client's uploads while the canary served (first to last response from
   1.1.1-bad). Target: at most 1.5x the bound. Counts are small: the ratio is noisy.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import yaml

from _common import PROCOPS, free_port, machine, temp_home

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "tests"))
from testsupport import monitoring_ports  # noqa: E402

ANALYSIS = 10.0


def cli(home, cfg, *args, check=True):
    env = dict(os.environ, PROCOPS_HOME=str(home), PROCOPS_CONFIG=str(cfg), PROCOPS_LANG="en")
    p = subprocess.run([PROCOPS, *args], env=env, capture_output=True, text=True, timeout=900)
    if check and p.returncode not in (0, 1):
        raise SystemExit(f"procops {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return p


class Client:
    """Bid uploads through the front end at `rate` per second, each outcome recorded with its version."""

    def __init__(self, url: str, rate: float) -> None:
        self.url, self.rate = url, rate
        self.rows: list[tuple[float, str, int]] = []  # (time, version, status)
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as c:
            token = c.post(
                "/api/suppliers/login", json={"email": "supplier-2@example.test", "password": "password-2"}
            ).json()["token"]
            items = c.get("/api/announcements?size=50").json()["items"]
            import datetime as dt

            now = dt.datetime.now(dt.UTC).isoformat()
            ann = next(i["id"] for i in items if i["deadline_at"] > now[:19])
            nxt = time.monotonic()
            while not self.stop.is_set():
                try:
                    r = c.post(
                        f"/api/announcements/{ann}/bids",
                        files={"file": ("b.pdf", b"%PDF-1.4 bench " + os.urandom(256))},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    self.rows.append((time.monotonic(), r.headers.get("x-platform-version", "?"), r.status_code))
                except httpx.HTTPError:
                    self.rows.append((time.monotonic(), "?", 0))
                nxt += 1.0 / self.rate
                self.stop.wait(max(0.0, nxt - time.monotonic()))


def raw_set_weight(sock: str) -> float:
    ts = []
    for _ in range(20):
        t0 = time.perf_counter()
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
            s.sendall(b"set server replicas/r3 weight 100\n")
            while s.recv(4096):
                pass
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


def main() -> None:
    home = temp_home()
    sp, mon = free_port(4), free_port(7)
    cfg = home / "procops.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "sandbox": {
                    "port": sp,
                    "replicas": 3,
                    "seed": {"announcements": 10, "suppliers": 3, "documents": 3, "document_size": "10KB"},
                },
                "monitoring": {
                    **monitoring_ports(mon),
                    "scrape_interval": "1s",
                    "evaluation_interval": "1s",
                    "group_wait": "1s",
                },
                "release": {
                    "stages": [
                        {"hosts": "1", "traffic": 10, "analysis": f"{ANALYSIS:.0f}s"},
                        {"hosts": "2", "traffic": 50, "analysis": f"{ANALYSIS:.0f}s"},
                        {"hosts": "all", "traffic": 100, "analysis": f"{ANALYSIS:.0f}s", "manual_gate": False},
                    ],
                    "gates": {"min_requests": 10, "probe_uploads": 20, "traffic_timeout": "40s"},
                    "load": {"rate": 12, "upload_share": 0.4},
                },
            }
        )
    )
    try:
        cli(home, cfg, "sandbox", "up")
        cli(home, cfg, "monitor", "up")
        sock = json.loads(cli(home, cfg, "sandbox", "status", "--json").stdout)["haproxy"]["runtime_api"]
        print(f"machine: {machine()}")

        t0 = time.monotonic()
        good = cli(home, cfg, "release", "start", "1.1.0", "--auto", "--json")
        wall = time.monotonic() - t0
        g = json.loads(good.stdout)
        print(f"\n1. rollout 1.0.0 -> 1.1.0: {g['outcome']} in {wall:.1f} s, 3 stages x {ANALYSIS:.0f} s analysis")
        per = (wall - 3 * ANALYSIS) / 3
        print(f"   overhead beyond the windows: {wall - 3 * ANALYSIS:.1f} s, {per:.1f} s per stage (target <= 10 s)")
        for k, v in sorted(g["release"]["timings"].items()):
            print(f"   {k}: {v}")

        client = Client(f"http://127.0.0.1:{sp}", rate=10.0)
        client.t.start()
        time.sleep(3)
        bad = cli(home, cfg, "release", "start", "1.1.1-bad", "--auto", "--json")
        time.sleep(3)
        client.stop.set()
        client.t.join(15)
        b = json.loads(bad.stdout)
        t = b["release"]["timings"]
        ref = raw_set_weight(sock)
        print(
            f"\n2. bad release 1.1.1-bad: {b['outcome']}; decision -> all traffic on stable: "
            f"{t.get('rollback_traffic_on_stable_s', float('nan')) * 1000:.1f} ms (target <= 2 s); "
            f"raw runtime-API set weight: {ref * 1000:.2f} ms; whole rollback {t.get('rollback_total_s')} s"
        )
        on_bad = [r for r in client.rows if r[1] == "1.1.1-bad"]
        failed = [r for r in client.rows if r[2] != 201]
        if on_bad:
            first, last = on_bad[0][0], on_bad[-1][0]
            during = [r for r in client.rows if first <= r[0] <= last]
            share = 22 / 222  # stage 1 of this config: r1 weight 22 against 100 + 100
            bound = share * 0.10 * len(during)
            print(
                f"\n3. blast radius: client uploads {len(client.rows)}, while the canary served {len(during)} "
                f"({last - first:.1f} s), of them on 1.1.1-bad {len(on_bad)}; failed uploads seen {len(failed)}; "
                f"lower bound {bound:.2f}; ratio {len(failed) / bound if bound else float('nan'):.2f} (target <= 1.5)"
            )
        else:
            print(f"\n3. blast radius: no client upload reached the canary; failed uploads seen {len(failed)}")
    finally:
        cli(home, cfg, "monitor", "down", check=False)
        cli(home, cfg, "sandbox", "down", check=False)


if __name__ == "__main__":
    main()
