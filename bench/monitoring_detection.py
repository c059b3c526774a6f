"""Benchmark: detection latency in sandbox mode, fault -> incident, by stage (target: at most 60 s).

Brings up the sandbox and the monitoring stack (scrape and evaluation every 2 s, Alertmanager
group_wait 1 s) in a temporary $PROCOPS_HOME, then for two faults measures from the fault until:
  scrape   - Prometheus holds the symptom (failure counter > 0, or the health probe failing);
  rule     - the alert is firing in Prometheus (evaluation + the rule's `for`);
  am       - Alertmanager holds the alert;
  incident - the webhook has opened the incident (group_wait + delivery + incident store).
Faults: upload errors (`sandbox fault set errors=1.0 --endpoint bids.upload` and 3 uploads),
and the platform stopped (`sandbox down`; PlatformDown has `for: 15s`).
The reference is the same pipeline with the Debian/upstream defaults (scrape and evaluation
every 1 m, group_wait 30 s), computed from those intervals, not run (its worst case alone is
2.5 min).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

import httpx
import yaml

from _common import machine, run_procops, temp_home, free_port


AUTH: tuple[str, str] | None = None  # Prometheus and Alertmanager require basic auth (set after 'monitor up')


def query(prom: str, q: str) -> bool:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": q}, timeout=5, auth=AUTH).json()
    return bool(r["data"]["result"])


def firing(prom: str, name: str) -> bool:
    alerts = httpx.get(f"{prom}/api/v1/alerts", timeout=5, auth=AUTH).json()["data"]["alerts"]
    return any(a["labels"].get("alertname") == name and a["state"] == "firing" for a in alerts)


def in_am(am: str, name: str) -> bool:
    return any(
        a["labels"].get("alertname") == name for a in httpx.get(f"{am}/api/v2/alerts", timeout=5, auth=AUTH).json()
    )


def incident(home: Path, name: str) -> bool:
    db = home / "procops.db"
    if not db.exists():
        return False
    c = sqlite3.connect(db)
    try:
        return any(json.loads(d)["source"].get("alertname") == name for (d,) in c.execute("SELECT doc FROM incidents"))
    except sqlite3.Error:
        return False
    finally:
        c.close()


def measure(home: Path, prom: str, am: str, name: str, symptom: str, t0: float, limit: float = 120) -> dict:
    stages = {
        "scrape": lambda: query(prom, symptom),
        "rule": lambda: firing(prom, name),
        "am": lambda: in_am(am, name),
        "incident": lambda: incident(home, name),
    }
    seen: dict[str, float] = {}
    while time.monotonic() - t0 < limit and len(seen) < len(stages):
        for k, f in stages.items():
            if k not in seen:
                try:
                    if f():
                        seen[k] = round(time.monotonic() - t0, 2)
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
        time.sleep(0.1)
    return seen


def main() -> None:
    global AUTH
    home = temp_home()
    sp, mp = free_port(3), free_port(7)
    cfg = {
        "sandbox": {"port": sp, "replicas": 2, "seed": {"announcements": 20, "suppliers": 5, "documents": 5}},
        "monitoring": {
            "prometheus_port": mp,
            "alertmanager_port": mp + 1,
            "node_exporter_port": mp + 2,
            "blackbox_exporter_port": mp + 3,
            "postgres_exporter_port": mp + 4,
            "exporter_port": mp + 5,
            "webhook_port": mp + 6,
            "scrape_interval": "2s",
            "evaluation_interval": "2s",
            "group_wait": "1s",
        },
    }
    path = home / "procops.yaml"
    path.write_text(yaml.safe_dump(cfg))
    args = ("--config", str(path))
    prom, am = f"http://127.0.0.1:{mp}", f"http://127.0.0.1:{mp + 1}"
    results = {}
    run_procops(*args, "sandbox", "up", home=home)
    try:
        run_procops(*args, "monitor", "up", home=home)
        AUTH = ("procops", (home / "secrets" / "monitoring-web-password").read_text().strip())
        time.sleep(3)
        # 1. upload errors
        run_procops(*args, "sandbox", "fault", "set", "errors=1.0", "--endpoint", "bids.upload", home=home)
        url = f"http://127.0.0.1:{sp}"
        with httpx.Client(base_url=url, timeout=10) as c:
            tok = c.post(
                "/api/suppliers/login", json={"email": "supplier-1@example.test", "password": "password-1"}
            ).json()["token"]
            t0 = time.monotonic()
            for _ in range(3):
                c.post(
                    "/api/announcements/1/bids",
                    files={"file": ("b.pdf", b"x" * 1000)},
                    headers={"Authorization": f"Bearer {tok}"},
                )
        results["upload errors -> UploadFailures"] = measure(
            home, prom, am, "UploadFailures", 'sandbox_uploads_total{result="failure"} > 0', t0
        )
        run_procops(*args, "sandbox", "fault", "clear", home=home)
        # 2. platform stopped
        t0 = time.monotonic()
        run_procops(*args, "sandbox", "down", home=home)
        results["platform stopped -> PlatformDown"] = measure(
            home, prom, am, "PlatformDown", 'probe_success{job="blackbox-health"} == 0', t0
        )
    finally:
        run_procops(*args, "monitor", "down", home=home, check=False)
        run_procops(*args, "sandbox", "down", home=home, check=False)
    print(f"machine: {machine()}")
    print("sandbox mode: scrape 2s, evaluation 2s, group_wait 1s; seconds from the fault")
    for k, v in results.items():
        print(
            f"  {k:36} scrape {v.get('scrape', '-'):>6}  rule {v.get('rule', '-'):>6}  "
            f"alertmanager {v.get('am', '-'):>6}  incident {v.get('incident', '-'):>6}"
        )
    ref = 60 + 60 + 30
    for k, v in results.items():
        if "incident" in v:
            print(
                f"  {k}: {v['incident']:.1f}s to the incident; budget 60 s "
                f"({'met' if v['incident'] <= 60 else 'NOT met'}); default-interval worst case "
                f"{ref}s + for -> ratio {v['incident'] / ref:.2f}"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
