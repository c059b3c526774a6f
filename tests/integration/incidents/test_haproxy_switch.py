"""playbooks/files/haproxy_switch.py against a real HAProxy on loopback (no root needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "playbooks" / "files" / "haproxy_switch.py"


class Standby(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):  # noqa: N802
        body = b"standby"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "standby")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def haproxy(port_block):
    if not shutil.which("haproxy"):
        pytest.skip("needs haproxy")
    first = port_block(5)
    fe, dead, standby_port = first, first + 1, first + 4
    d = Path(tempfile.mkdtemp(prefix="phs-", dir="/tmp"))
    sock = d / "admin.sock"
    cfg = d / "haproxy.cfg"
    cfg.write_text(f"""global
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend platform
    bind 127.0.0.1:{fe}
    default_backend replicas
backend replicas
    option httpchk GET /healthz
    default-server inter 200ms fall 1 rise 1
    server r1 127.0.0.1:{dead} check
    server r2 127.0.0.1:{dead + 1} check
    server r3 127.0.0.1:{dead + 2} check
""")
    srv = ThreadingHTTPServer(("127.0.0.1", standby_port), Standby)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    p = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if sock.exists():
                break
            time.sleep(0.1)
        yield {"sock": sock, "url": f"http://127.0.0.1:{fe}", "standby": f"127.0.0.1:{standby_port}"}
    finally:
        p.terminate()
        p.wait(10)
        srv.shutdown()
        shutil.rmtree(d, ignore_errors=True)


def switch(*args: str) -> tuple[int, dict]:
    p = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)
    return p.returncode, json.loads(p.stdout)


def test_switch_points_a_server_at_the_standby_and_the_rest_to_maintenance(haproxy):
    assert httpx.get(haproxy["url"], timeout=5).status_code == 503  # every server is down
    rc, out = switch(
        "--socket",
        str(haproxy["sock"]),
        "--backend",
        "replicas",
        "--servers",
        "r2",
        "--target",
        haproxy["standby"],
        "--timeout",
        "15",
    )
    assert rc == 0, out
    assert out["changed"] and out["verified"]
    assert out["switched"] == {"r2": haproxy["standby"]}
    assert sorted(out["maint"]) == ["r1", "r3"]
    stat = {s["server"]: s for s in out["stat"]}
    assert stat["r2"]["status"].startswith("UP") and stat["r2"]["addr"] == haproxy["standby"]
    assert "MAINT" in stat["r1"]["status"] and "MAINT" in stat["r3"]["status"]
    r = httpx.get(haproxy["url"], timeout=5)
    assert r.status_code == 200 and r.headers["x-served-by"] == "standby"

    # a second run finds it switched and changes nothing
    rc, again = switch(
        "--socket", str(haproxy["sock"]), "--backend", "replicas", "--servers", "r2", "--target", haproxy["standby"]
    )
    assert rc == 0 and again["changed"] is False and again["verified"]


def test_a_target_that_never_comes_up_is_not_verified(haproxy, port_block):
    nothing = f"127.0.0.1:{port_block(1)}"
    rc, out = switch("--socket", str(haproxy["sock"]), "--backend", "replicas", "--target", nothing, "--timeout", "2")
    assert rc == 1 and out["verified"] is False
    assert "want UP" in out["error"]


def test_unknown_backend_or_server_is_bad_input_and_no_socket_is_exit_3(haproxy, tmp_path):
    rc, out = switch("--socket", str(haproxy["sock"]), "--backend", "nope", "--target", haproxy["standby"])
    assert rc == 2 and "no servers" in out["error"]
    rc, out = switch(
        "--socket", str(haproxy["sock"]), "--backend", "replicas", "--servers", "r9", "--target", haproxy["standby"]
    )
    assert rc == 2 and "r9" in out["error"]
    rc, out = switch("--socket", str(tmp_path / "none.sock"), "--backend", "replicas", "--target", haproxy["standby"])
    assert rc == 3 and "runtime API" in out["error"]
