"""`procops scan` runs the real lynis (a few test groups, to stay short) and the real debsecan, whose
vulnerability data a small HTTP server on loopback serves (this machine has no internet)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import zlib

import pytest

from testsupport import free_port_block, netns_host

HEADER = "VERSION 1\n"
# debsecan's data: vulnerability names; package lines (package,index,flags,fixed-in-unstable,other
# versions; flags: B binary / space source, urgency H M L or space, R remote, F fix available);
# source -> binary packages. bash and coreutils are installed on every Debian host.
LOW = [("CVE-2099-0002", "coreutils", " L  ", "")]
HIGH_BASH = [("CVE-2099-0001", "bash", " HRF", "99.0")]
HIGH_COREUTILS = [("CVE-2099-0004", "coreutils", " H F", "99.0")]


def dataset(entries) -> bytes:
    names = "".join(f"{cve},,a made-up flaw for the tests\n" for cve, *_rest in entries)
    pkgs = "".join(f"{pkg},{i},{flags},{fixed},\n" for i, (_cve, pkg, flags, fixed) in enumerate(entries))
    return zlib.compress((HEADER + names + "\n" + pkgs + "\nbash,bash\ncoreutils,coreutils\n").encode())


@pytest.fixture
def tracker(tmp_path):
    """A loopback server of the vulnerability data; ``serve(entries)`` changes what it serves."""
    root = tmp_path / "tracker"
    root.mkdir()

    def serve(entries) -> None:
        (root / "bookworm").write_bytes(dataset(entries))

    serve(LOW)
    port = free_port_block(1)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield {"url": f"http://127.0.0.1:{port}/", "serve": serve, "root": root}
    finally:
        srv.shutdown()
        srv.server_close()


def _config(tmp_path, tracker, extra: str = "") -> None:
    (tmp_path / "procops.yaml").write_text(
        "scan:\n  max_warnings: 1000\n  min_hardening_index: 0\n  suite: bookworm\n"
        f"  vulnerability_source: {tracker['url']}\n" + extra
    )


def test_scan_writes_report_journal_and_metric(cli, procops_home, tmp_path, tracker):
    _config(tmp_path, tracker)
    r = cli("scan", "--group", "authentication", "--json", timeout=600)
    assert r.code == 0, r.err + r.out
    d = r.json()
    assert d["verdict"] == "pass" and d["tests_executed"] > 0 and d["hardening_index"] is not None
    assert d["vulnerabilities"] == [
        {"cve": "CVE-2099-0002", "package": "coreutils", "urgency": "low", "remote": False, "fixed": False}
    ]
    summary = json.loads(open(f"{d['report_dir']}/summary.json").read())
    assert summary["hardening_index"] == d["hardening_index"] and summary["high"] == 0
    prom = (procops_home / "textfile" / "scan.prom").read_text()
    assert "procops_scan_last_success_timestamp_seconds" in prom
    ev = cli("audit", "log", "--kind", "scan.run", "--json", check=0).json()[0]["data"]
    assert ev["verdict"] == "pass" and ev["vulnerabilities"] == 1 and ev["high"] == 0


def test_scan_fails_on_new_high_vulnerabilities_and_shows_what_changed(cli, procops_home, tmp_path, tracker):
    _config(tmp_path, tracker)
    tracker["serve"](LOW + HIGH_BASH)
    first = cli("scan", "--group", "authentication", "--json", timeout=600)
    assert first.code == 1, first.err
    d = first.json()
    assert d["changes"]["previous"] is None and d["changes"]["new_high"] == ["CVE-2099-0001 bash"]
    assert any("CVE-2099-0001 bash" in p for p in d["problems"])

    # the same findings a week later: nothing new, the scan passes and says what it compared with
    second = cli("scan", "--group", "authentication", "--json", timeout=600)
    assert second.code == 0, second.out
    c = second.json()["changes"]
    assert c["previous"] == d["report_dir"] and c["new_high"] == [] and c["new_vulnerabilities"] == []

    # bash fixed, a new high one in coreutils
    tracker["serve"](LOW + HIGH_COREUTILS)
    third = cli("scan", "--group", "authentication", timeout=600)
    assert third.code == 1 and "NEW HIGH CVE-2099-0004 coreutils" in third.out, third.out
    assert "1 new and 1 fixed vulnerabilities" in third.out


def test_scan_fails_when_the_hardening_index_is_below_policy(cli, procops_home, tmp_path, tracker):
    _config(tmp_path, tracker)
    (tmp_path / "procops.yaml").write_text(
        (tmp_path / "procops.yaml").read_text().replace("min_hardening_index: 0", "min_hardening_index: 100")
    )
    r = cli("scan", "--group", "authentication", timeout=600)
    assert r.code == 1 and "FAIL" in r.out and "hardening index" in r.out
    prom = (procops_home / "textfile" / "scan.prom").read_text()
    assert "procops_scan_last_success_timestamp_seconds" not in prom


def test_unreachable_vulnerability_data_is_an_environment_failure(cli, procops_home, tmp_path, tracker):
    port = free_port_block(1)
    (tmp_path / "procops.yaml").write_text(
        f"scan:\n  min_hardening_index: 0\n  max_warnings: 1000\n  vulnerability_source: http://127.0.0.1:{port}/\n"
    )
    r = cli("scan", "--group", "authentication", timeout=600)
    assert r.code == 3 and "debsecan" in r.err and "vulnerability_source" in r.err, r.err


@pytest.mark.root
def test_scan_an_inventory_host_over_ssh(cli, procops_home, tmp_path, tracker):
    with netns_host(tmp_path / "host", prefix="ps") as h:
        inv = tmp_path / "inventory.ini"
        inv.write_text(
            f"[platform]\nweb1 ansible_host={h['ip']} ansible_user=root ansible_ssh_private_key_file={h['key']}\n"
        )
        _config(tmp_path, tracker, f"ssh:\n  known_hosts: {h['known_hosts']}\n")
        r = cli("scan", "--host", "web1", "--inventory", str(inv), "--group", "authentication", "--json", timeout=600)
        assert r.code == 0, r.err + r.out
        (d,) = r.json()
        assert d["target"] == "web1" and d["tests_executed"] > 0 and d["hardening_index"] is not None
        assert d["suite"] == "bookworm" and d["report_dir"].endswith("-web1")
        assert [v["package"] for v in d["vulnerabilities"]] == ["coreutils"]
        ev = cli("audit", "log", "--kind", "scan.run", "--json", check=0).json()[-1]
        assert ev["subject"] == "web1" and ev["data"]["target"] == "web1"
        assert cli("scan", "--host", "nosuch", "--inventory", str(inv)).code == 2
