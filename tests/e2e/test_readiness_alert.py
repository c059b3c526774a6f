"""`procops readiness` end to end: a critical alert firing fails the verdict."""

from __future__ import annotations


def test_readiness_fails_while_a_critical_alert_fires_and_names_it(cli, port_block, tmp_path):
    """Uploads failing (a fault left active): whatever the other steps say, the verdict fails and the
    report names the firing alert; what readiness did not start (the sandbox) is left running."""
    from testsupport import readiness_config

    readiness_config(port_block, tmp_path)
    try:
        assert cli("sandbox", "up").code == 0
        assert cli("sandbox", "fault", "set", "errors=1.0", "--endpoint", "bids.upload").code == 0
        r = cli("readiness", "--quick", "--json", timeout=900)
        assert r.code == 1, r.err
        res = r.json()
        assert res["verdict"] == "fail"
        health = next(s for s in res["steps"] if s["name"] == "platform-health")
        assert health["status"] == "failed" and "UploadFailures" in health["detail"]
        assert "UploadFailures" in open(res["report"], encoding="utf-8").read()
        assert {s["what"] for s in res["stopped"]} == {"monitoring stack"}
        assert cli("sandbox", "status", "--json", check=0).json()["running"] is True
    finally:
        cli("monitor", "down")
        cli("sandbox", "down")
