"""The fault analysis report rendered from an incident with every kind of event, in zh and en."""

from __future__ import annotations

import datetime as dt

import pytest

from procops.config import Config
from procops.incidents import escalation, response
from procops.incidents.incident import IncidentStore

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> dt.datetime:
        return self.t


@pytest.fixture
def worked(procops_home):
    from procops import display

    clock, cfg = Clock(), Config.model_validate({"display": {"timezone": "Asia/Shanghai"}})
    display.configure(cfg)
    with IncidentStore(clock=clock, policy=cfg.policy) as s:
        inc, _ = s.open(
            "bid upload fails",
            severity="major",
            t0=T0,
            dedupe_key="fp",
            source={"kind": "alert", "alertname": "UploadFailures", "fingerprint": "fp"},
        )
        clock.t = T0 + dt.timedelta(minutes=16)
        escalation.escalate_due(cfg, clock.t, store=s)
        s.classify(inc.id, "disk-full", note="/var 100%")
        s.add_timeline(inc.id, "standby.execute", {"repo": None})
        clock.t = T0 + dt.timedelta(minutes=40)
        s.standby(inc.id, evidence={"url": "http://127.0.0.1:18180", "snapshot": "ab12cd34", "repository": "offsite"})
        s.update_fields(inc.id, impact="uploads | failed", root_cause="log rotation off")
        s.add_action(inc.id, "rotate logs", "ops", T0 + dt.timedelta(days=7))
        s.update_action(inc.id, 1, status="rectified")
        clock.t = T0 + dt.timedelta(minutes=50)
        s.resolve(inc.id, summary="logs removed")
        clock.t = T0 + dt.timedelta(hours=25)
        s.submit_report(inc.id, "zh")
        yield s.get(inc.id), cfg
    display.configure(Config())


def test_report_zh(worked):
    inc, cfg = worked
    md = open(response.write_report(inc, "zh", cfg)["markdown"], encoding="utf-8").read()
    # times in Beijing time (display.timezone), durations in words
    assert "| 确认故障类型 | 15分钟 | 2026-11-25 16:15:00 +08:00 | 2026-11-25 16:16:00 +08:00 | 16分钟 | 超时 |" in md
    assert "| 启动备用系统 | 1小时 | 2026-11-25 17:00:00 +08:00 | 2026-11-25 16:40:00 +08:00 | 40分钟 | 达标 |" in md
    assert (
        "| 提交故障分析报告 | 24小时 | 2026-11-26 16:00:00 +08:00 | 2026-11-26 17:00:00 +08:00 | 25小时 | 超时 |" in md
    )
    assert "告警 UploadFailures" in md and "已发送升级通知（确认故障类型，已超时）→ local" in md
    assert "- 平台: procurement platform (sandbox)" in md and "Asia/Shanghai (UTC+08:00)" in md
    assert (
        "磁盘空间耗尽" in md
        and "http://127.0.0.1:18180" in md
        and "| 1 | rotate logs | ops | 2026-12-02 | 已整改 |" in md
    )
    assert "uploads / failed" not in md  # narrative text is kept as written outside tables
    assert "严重程度: 重大" in md


def test_report_en_and_html(worked):
    inc, cfg = worked
    files = response.write_report(inc, "en", cfg)
    md = open(files["markdown"], encoding="utf-8").read()
    assert (
        "| Fault type confirmed | 15 min | 2026-11-25 16:15:00 +08:00 | 2026-11-25 16:16:00 +08:00 | 16 min | NO (late) |"
        in md
    )
    assert "escalated (Fault type confirmed, deadline missed) -> local" in md
    assert "failover started" in md and "log rotation off" in md and "rectified" in md
    html = open(files["html"], encoding="utf-8").read()
    assert "<h1>Fault analysis report " + inc.id + "</h1>" in html and html.count("<table>") == 3
