"""Traffic of a canary analysis: the synthetic probe and the small background load.

* :func:`probe` logs in as a supplier directly on a canary server, uploads ``n`` bid files to an
  open announcement, downloads each back and compares its sha256 (R1: a bid file that comes back
  different is as bad as a failed upload).
* :class:`BackgroundLoad` sends pages and bid uploads through the front end (HAProxy) at a fixed
  rate in a thread during the analysis window (Flagger's load-test webhook), so quiet hours still
  give the gates data. Bounded: it stops when told, or at its deadline.

httpx is imported inside the functions (``procops --help`` stays fast).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from procops.release.gates import ProbeResult

ANNOUNCEMENTS = "/api/announcements?size=50"
LOGIN = "/api/suppliers/login"
PROBE_HEADER = "X-Procops-Probe"


def _open_announcement(client: Any) -> int | None:
    r = client.get(ANNOUNCEMENTS)
    r.raise_for_status()
    now = dt.datetime.now(dt.UTC)
    for item in r.json().get("items", []):
        d = item.get("deadline_at")
        if not d:
            continue
        t = dt.datetime.fromisoformat(d.replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        if t > now + dt.timedelta(minutes=5):
            return int(item["id"])
    return None


def _login(client: Any, email: str, password: str) -> str:
    r = client.post(LOGIN, json={"email": email, "password": password})
    r.raise_for_status()
    return str(r.json()["token"])


def probe(
    base_url: str, email: str, password: str, uploads: int, timeout: float = 15.0, announcement: int | None = None
) -> ProbeResult:
    """Upload ``uploads`` bid files through ``base_url`` (one canary server) and read each back, to
    ``announcement`` (a test tender) or else to an open announcement (the sandbox)."""
    import httpx

    ok = 0
    first = ""
    try:
        # marked: the platform labels its requests traffic="probe", out of the canary's comparisons
        with httpx.Client(base_url=base_url, timeout=timeout, headers={PROBE_HEADER: "true"}) as c:
            ann = announcement or _open_announcement(c)
            if ann is None:
                return ProbeResult(uploads, 0, "no open announcement to bid on")
            token = _login(c, email, password)
            auth = {"Authorization": f"Bearer {token}"}
            for i in range(uploads):
                body = b"%PDF-1.4 procops release probe " + os.urandom(2048)
                want = hashlib.sha256(body).hexdigest()
                r = c.post(f"/api/announcements/{ann}/bids", files={"file": (f"probe-{i}.pdf", body)}, headers=auth)
                if r.status_code != 201:
                    first = first or f"upload {i + 1}: HTTP {r.status_code}"
                    continue
                doc = r.json().get("document_id")
                d = c.get(f"/api/documents/{doc}", headers=auth)
                got = hashlib.sha256(d.content).hexdigest() if d.status_code == 200 else ""
                if got != want:
                    first = first or f"download {i + 1}: HTTP {d.status_code}, sha256 {got[:12] or '-'} != {want[:12]}"
                    continue
                ok += 1
    except (httpx.HTTPError, ValueError, KeyError) as e:
        first = first or f"{type(e).__name__}: {e}"
    return ProbeResult(uploads, ok, first)


@dataclass
class LoadCounts:
    requests: int = 0
    uploads: int = 0
    upload_failures: int = 0
    errors: int = 0
    pilot_requests: int = 0  # sent as a pilot unit
    by_server: dict[str, int] = field(default_factory=dict)  # x-platform-replica -> requests

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "uploads": self.uploads,
            "upload_failures": self.upload_failures,
            "errors": self.errors,
            "pilot_requests": self.pilot_requests,
            "by_server": dict(self.by_server),
        }


class BackgroundLoad:
    """Pages and bid uploads through the front end at ``rate`` per second, in a thread; with
    ``pilot_units``, ``pilot_share`` of them are sent as those units (header ``X-Purchasing-Unit``,
    in turn), so the pilot units' gates have data."""

    def __init__(
        self,
        url: str,
        rate: float,
        upload_share: float,
        email: str,
        password: str,
        max_seconds: float = 1800.0,
        headers: dict[str, str] | None = None,
        pilot_units: list[str] | None = None,
        pilot_share: float = 0.0,
        announcement: int | None = None,
    ) -> None:
        self.url = url
        self.rate = rate
        self.upload_share = upload_share
        self.email = email
        self.password = password
        self.max_seconds = max_seconds
        self.headers = headers or {}
        self.pilot_units = list(pilot_units or [])
        self.pilot_share = pilot_share if self.pilot_units else 0.0
        self.announcement = announcement  # uploads bid on it (else on an open announcement)
        self.counts = LoadCounts()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundLoad:
        self._thread = threading.Thread(target=self._run, name="release-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadCounts:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(20)
        return self.counts

    def __enter__(self) -> BackgroundLoad:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _run(self) -> None:
        import httpx

        deadline = time.monotonic() + self.max_seconds
        period = 1.0 / self.rate
        acc = pilot_acc = 0.0
        turn = 0
        token, ann = None, None
        with httpx.Client(base_url=self.url, timeout=10, headers=self.headers) as c:
            nxt = time.monotonic()
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    if token is None or ann is None:
                        ann = self.announcement or _open_announcement(c)
                        token = _login(c, self.email, self.password)
                    unit: dict[str, str] = {}
                    pilot_acc += self.pilot_share
                    if pilot_acc >= 1.0:
                        pilot_acc -= 1.0
                        unit = {"X-Purchasing-Unit": self.pilot_units[turn % len(self.pilot_units)]}
                        turn += 1
                    acc += self.upload_share
                    if acc >= 1.0 and ann is not None:
                        acc -= 1.0
                        r = c.post(
                            f"/api/announcements/{ann}/bids",
                            files={"file": ("load.pdf", b"%PDF-1.4 procops release load " + os.urandom(512))},
                            headers={"Authorization": f"Bearer {token}", **unit},
                        )
                        self.counts.uploads += 1
                        if r.status_code != 201:
                            self.counts.upload_failures += 1
                    else:
                        r = c.get(ANNOUNCEMENTS, headers=unit)
                    self.counts.requests += 1
                    self.counts.pilot_requests += 1 if unit else 0
                    if r.status_code >= 500:
                        self.counts.errors += 1
                    srv = r.headers.get("x-platform-replica", "?")
                    self.counts.by_server[srv] = self.counts.by_server.get(srv, 0) + 1
                except (httpx.HTTPError, ValueError, KeyError):
                    self.counts.errors += 1
                    token = None
                nxt += period
                self._stop.wait(max(0.0, nxt - time.monotonic()))
