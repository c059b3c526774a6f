"""The human summary of a run (pure: summary.json in, text out)."""

from __future__ import annotations

from procops.loadtests.report import human


def _summary(**kw):
    s = {
        "scenario": "peak",
        "verdict": "fail",
        "target": "http://127.0.0.1:1",
        "platform_version": "1.0.0",
        "users": 10,
        "duration_s": 17.2,
        "requests": 300,
        "rps": 17.4,
        "failures": 3,
        "workers": 0,
        "expect_workers": 0,
        "generator_cpu": {"max_ratio": 0.12, "threshold": 0.9, "max_mean_wait_ratio": 0.01},
        "slos": [
            {
                "name": "p95 announcements.list",
                "observed": 2524.09,
                "threshold": 2000.0,
                "unit": "ms",
                "ok": False,
                "detail": "17 requests",
            },
            {
                "name": "upload success",
                "observed": None,
                "threshold": 1.0,
                "unit": "",
                "ok": False,
                "detail": "no bid file was uploaded",
            },
        ],
        "endpoints": {
            "announcements.list": {
                "requests": 17,
                "failures": 0,
                "server_errors": 0,
                "p50_ms": 2510.0,
                "p95_ms": 2524.09,
                "p99_ms": 2530.0,
                "max_ms": 2530.0,
            }
        },
        "notes": ["a note"],
        "report_dir": "/r",
    }
    s.update(kw)
    return s


def test_failed_rows_are_named_with_observed_and_threshold():
    text = human(_summary(), "en")
    assert text.startswith("load test peak: FAIL")
    assert "10 users for 17 s" in text
    assert "[NOT HELD] p95 announcements.list: 2524.09ms (threshold 2000ms)" in text
    assert "[NOT HELD] upload success: no data" in text
    assert "one Locust process" in text and "note: a note" in text and "report: /r" in text


def test_invalid_and_distributed_and_capacity():
    text = human(
        _summary(
            verdict="invalid",
            invalid_reason="generator at 97% CPU",
            workers=2,
            expect_workers=2,
            requests_per_node={"w1": 150, "w2": 150},
            capacity={"multiple": 2.0, "baseline_users": 2, "users": 4, "rps": 9.8, "target_multiple": 3.0},
            steps=[
                {"label": "1x", "users": 2, "rps": 4.8, "ok": True, "slos": []},
                {"label": "3x", "users": 6, "rps": 9.0, "ok": False, "slos": [{"name": "no 5xx", "ok": False}]},
            ],
        )
    )
    assert "INVALID: generator at 97% CPU" in text
    assert "master + 2 workers (2 local): w1=150, w2=150" in text
    assert "every SLO held at 2x of 2 users = 4 users" in text and "not held: no 5xx" in text


def test_chinese_summary_keeps_endpoint_names():
    text = human(_summary(), "zh")
    assert text.startswith("压力测试 peak：不通过")
    assert "10 个用户，持续 17秒" in text
    assert "[未满足] p95 announcements.list：2524.09ms（阈值 2000ms）" in text
    assert "[未满足] 投标文件上传成功率：无数据" in text and "报告：/r" in text
    assert "upload success" not in text
