"""A local webhook receiver that records what it is sent (escalations, alert notifications).

``procops incident receiver --port N`` runs it in the foreground; tests and drills
use :class:`RecordingReceiver` as a context manager. Each POST body (JSON) is
appended, with the time and path, to a JSON-lines file and kept in memory.
An optional bearer token is checked (401 otherwise).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from procops.timeutil import iso, utcnow


class RecordingReceiver:
    def __init__(
        self, port: int, host: str = "127.0.0.1", *, out: Path | None = None, token: str | None = None
    ) -> None:
        self.host, self.port, self.out, self.token = host, port, out, token
        self._lock = threading.Lock()
        self._items: list[dict] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._reply(200, {"received": outer.received()})

            def do_POST(self) -> None:  # noqa: N802
                if outer.token and self.headers.get("Authorization") != f"Bearer {outer.token}":
                    self._reply(401, {"error": "unauthorized"})
                    return
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._reply(400, {"error": "not JSON"})
                    return
                outer._record({"received_at": iso(utcnow()), "path": self.path, "body": body})
                self._reply(200, {"ok": True})

        return Handler

    def _record(self, item: dict) -> None:
        with self._lock:
            self._items.append(item)
            if self.out:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                with open(self.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(item, ensure_ascii=False) + "\n")

    def received(self) -> list[dict]:
        """The bodies received so far."""
        with self._lock:
            return [i["body"] for i in self._items]

    def start(self) -> RecordingReceiver:
        self._server = ThreadingHTTPServer((self.host, self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server = ThreadingHTTPServer((self.host, self.port), self._handler())
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> RecordingReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
