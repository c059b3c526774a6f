"""`procops readiness` end to end: a fresh home passes every step and keeps what it started."""

from __future__ import annotations


def test_readiness_brings_the_sandbox_up_and_writes_a_report(cli, port_block, tmp_path):
    """A fresh home, in Chinese, with --keep: every step passes (peak and capacity tests at 3x, backup,
    canary release, app-crash drill, audit), the reports are written with their provenance, and what the
    run started stays up with its addresses and stop commands."""
    import json

    from testsupport import readiness_config

    port = readiness_config(port_block, tmp_path)
    try:
        r = cli("--lang", "zh", "readiness", "--quick", "--keep", "--json", timeout=900)
        assert r.code == 0, r.err
        res = r.json()
        assert res["verdict"] == "pass"
        steps = {s["name"]: s["status"] for s in res["steps"]}
        assert set(steps.values()) == {"ok"}, steps
        for name in ("peak-test", "capacity-test", "canary-release", "drill", "platform-health", "audit"):
            assert name in steps
        peak = next(s for s in res["steps"] if s["name"] == "peak-test")
        assert peak["evidence"]["users"] == 6 and peak["evidence"]["multiple"] == 3  # 3x the normal peak of 2
        report = open(res["report"], encoding="utf-8").read()
        assert "平台就绪检查报告" in report and "latency.png" in report and "backup-freshness.png" in report
        assert "drill-timeline.png" in report
        html = open(res["reports"]["html"], encoding="utf-8").read()
        assert "<table>" in html
        data = json.loads(open(res["reports"]["json"], encoding="utf-8").read())
        prov = data["provenance"]
        assert prov["mode"] == "quick" and prov["config_sha256"] and prov["host"]
        with_end = prov["journal_at_end"]
        assert with_end["rows"] > prov["journal_at_start"]["rows"] and with_end["head"] in report
        # --keep: what the run started stays up, and it says where and how to stop it
        assert {k["what"] for k in res["kept"]} == {"sandbox", "monitoring stack"} and not res["stopped"]
        assert f"127.0.0.1:{port}" in r.err and "procops sandbox down" in r.err and "procops monitor down" in r.err
        assert cli("sandbox", "status", "--json", check=0).json()["running"] is True
    finally:
        cli("monitor", "down")
        cli("sandbox", "down")
