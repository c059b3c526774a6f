"""standby --execute's wiring: which restore it calls, with what, and how it checks the standby serves.

The restore itself belongs to the backup area, reached through its api
(``procops.backup.api.restore_to_sandbox``); here that boundary is replaced by a stand-in that returns what the real one returns, and the
"standby" is a tiny HTTP server answering like the platform. The real restore into
a real standby is tests/e2e/test_incident_standby.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from procops.config import Config
from procops.incidents import response
from procops.incidents.incident import IncidentStore
from procops.errors import BadInput, EnvironmentFailure

DOC = b"tender document"


def platform_like(port: int, doc: bytes):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802
            path = self.path.split("?")[0]
            if path == "/healthz":
                body, ctype = json.dumps({"status": "ok"}).encode(), "application/json"
            elif path == "/api/announcements":
                body, ctype = json.dumps({"items": [{"id": 1}], "total": 30}).encode(), "application/json"
            elif path == "/api/archive":
                body = json.dumps(
                    {"items": [{"id": 7, "sha256": hashlib.sha256(DOC).hexdigest()}], "total": 10}
                ).encode()
                ctype = "application/json"
            elif path == "/api/documents/7":
                body, ctype = doc, "application/octet-stream"
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def fake_restore(monkeypatch, port_block):
    calls = []
    port = port_block(1)

    def restore_to_sandbox(config, *, repo=None, snapshot="latest", instance="standby"):
        calls.append({"repo": repo, "snapshot": snapshot, "instance": instance})
        return {"url": f"http://127.0.0.1:{port}", "snapshot": "abc123", "repository": repo, "seconds": 1.5}

    from procops.backup import api as backup_api

    monkeypatch.setattr(backup_api, "restore_to_sandbox", restore_to_sandbox)
    return calls, port


def test_failover_restores_the_offsite_repo_into_the_standby_and_checks_it(procops_home, fake_restore):
    calls, port = fake_restore
    srv = platform_like(port, DOC)
    try:
        result = response.failover(Config())
    finally:
        srv.shutdown()
        srv.server_close()
    assert calls == [{"repo": "offsite", "snapshot": "latest", "instance": "standby"}]
    assert result["url"] == f"http://127.0.0.1:{port}" and result["snapshot"] == "abc123"
    assert result["serving"] == {"healthz": True, "announcements_total": 30, "archive_total": 10, "document_served": 7}
    with IncidentStore(policy=Config().policy) as s:
        inc, _ = s.open("db lost")
        inc = s.standby(inc.id, evidence=result)
    assert inc.standby["url"] == result["url"] and inc.milestones["standby"].evidence["snapshot"] == "abc123"


def test_failover_refuses_a_standby_serving_altered_documents(procops_home, fake_restore):
    calls, port = fake_restore
    srv = platform_like(port, b"altered")
    try:
        with pytest.raises(EnvironmentFailure, match="intact"):
            response.failover(Config())
    finally:
        srv.shutdown()
        srv.server_close()


def test_failover_uses_the_configured_offsite_repository(procops_home, fake_restore):
    calls, port = fake_restore
    cfg = Config.model_validate(
        {
            "backup": {
                "repositories": [
                    {"name": "main", "url": "/srv/restic"},
                    {"name": "city-dc", "url": "sftp:b@dr:/r", "offsite": True},
                ]
            }
        }
    )
    assert response.offsite_repository(cfg) == "city-dc"
    with pytest.raises(EnvironmentFailure):  # nothing listens: the standby does not serve
        response.failover(cfg, snapshot="s1")
    assert calls == [{"repo": "city-dc", "snapshot": "s1", "instance": "standby"}]


def test_failover_on_real_hosts_without_an_inventory_is_bad_input(procops_home):
    cfg = Config.model_validate({"platform": {"url": "https://bid.example.gov.cn"}})
    with pytest.raises(BadInput, match="failover_inventory"):
        response.failover(cfg)


def test_switch_commands_point_every_main_server_at_a_standby_replica():
    assert response.switch_commands(["r1", "r2", "r3"], [18181, 18182]) == [
        "set server replicas/r1 addr 127.0.0.1 port 18181",
        "set server replicas/r1 state ready",
        "set server replicas/r2 addr 127.0.0.1 port 18182",
        "set server replicas/r2 state ready",
        "set server replicas/r3 addr 127.0.0.1 port 18181",
        "set server replicas/r3 state ready",
    ]
    with pytest.raises(ValueError):
        response.switch_commands([], [1])
