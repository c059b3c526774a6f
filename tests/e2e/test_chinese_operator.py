"""A Chinese-speaking operator: LANG=zh_CN.UTF-8, no --lang, Beijing time. What procops prints
is Chinese, with no English words outside command names, ids, paths and units."""

from __future__ import annotations

import json
import re

import pytest

ZH = {"LANG": "zh_CN.UTF-8", "PROCOPS_LANG": "", "TZ": "Asia/Shanghai"}

# what may stay as it is in a Chinese line: units, names of tools and protocols, our field names
ALLOWED = {
    "ms",
    "min",
    "UTC",
    "RPO",
    "SLO",
    "p50",
    "p95",
    "p99",
    "max",
    "5xx",
    "HTTP",
    "JSON",
    "PDF",
    "HTML",
    "Markdown",
    "restic",
    "Locust",
    "HAProxy",
    "Prometheus",
    "Alertmanager",
    "lynis",
    "promtool",
    "sha256",
    "main",
    "standby",
    "local",
    "offsite",
    "root",
    "localhost",
    "peak",
    "capacity",
    "SIGINT",
    "SIGTERM",
    "procops",
    "classify",
    "report",  # the command, and milestone ids that are its subcommands
}
NOT_PROSE = re.compile(
    r"`[^`]*`"  # code
    r"|\bprocops(?: [a-z][\w-]*)+"  # command lines
    r"|--[\w-]+"  # options
    r"|https?://\S+"  # URLs
    r"|(?:/[\w.*<>-]+)+/?"  # paths
    r"|\b[\w-]+@[\w.-]+"  # user@host
    r"|\bINC-\d{8}-\d{3}\b"  # incident ids
    r"|\b[0-9a-f]{12,64}\b"  # hashes (the journal's head)
    r"|\b[a-z]+(?:[._-][a-z0-9]+)+\b"  # ids: kinds (backup.run), endpoints, fault types (disk-full)
)


def english_words(text: str) -> list[str]:
    prose = NOT_PROSE.sub(" ", text)
    return [w for w in re.findall(r"[A-Za-z][A-Za-z]{2,}", prose) if w not in ALLOWED]


def assert_chinese(text: str) -> None:
    assert re.search(r"[\u4e00-\u9fff]", text), text
    assert english_words(text) == [], text


@pytest.fixture
def zh(cli):
    def run(*args, check=None):
        return cli(*args, env=ZH, check=check)

    return run


def test_status_and_backup_status_on_a_fresh_home_speak_chinese_and_say_what_to_do(zh):
    r = zh("status", check=1)  # a fresh home: no backup, no check, no load test, no drill yet
    assert_chinese(r.out)
    assert "procops sandbox up" in r.out
    zh("incident", "open", "--title", "门户无法访问", check=0)
    r = zh("status", check=1)  # the ops desk with an open incident and its clocks, all in Chinese
    assert_chinese(r.out)
    assert "[紧急] 门户无法访问" in r.out and "剩余" in r.out
    r = zh("audit", "--journal-only", check=1)  # nothing shown yet: not a pass
    assert_chinese(r.out)
    assert "合规审计" in r.out and "未达标" in r.out
    r = zh("backup", "status")
    assert r.code == 1  # no backup: the RPO does not hold
    assert_chinese(r.out)
    assert "procops backup init" in r.out


def test_an_incident_typed_in_beijing_time_has_its_t0_in_utc_and_reads_in_chinese(zh):
    r = zh("incident", "open", "--title", "投标文件无法上传", "--t0", "2026-12-01 10:00", check=0)
    iid = r.out.strip()
    assert "2026-12-01 10:00:00 +08:00（UTC 2026-12-01T02:00:00Z）" in r.err
    inc = zh("incident", "show", iid, "--json", check=0).json()
    assert inc["t0"].startswith("2026-12-01T02:00:00")  # evidence stays UTC
    zh("incident", "classify", iid, "--type", "disk-full", check=0)
    zh("incident", "action", "add", iid, "--problem", "磁盘没有告警", "--owner", "运维组", check=0)
    r = zh("incident", "show", iid, check=0)
    assert_chinese(r.out)
    assert "2026-12-01 10:00:00 +08:00" in r.out and "磁盘空间耗尽" in r.out and "整改事项" in r.out
    r = zh("incident", "list", check=0)
    assert_chinese(r.out)


def test_an_error_is_chinese_and_with_json_it_is_an_object_on_stdout(zh):
    r = zh("incident", "show", "INC-19990101-001")
    assert r.code == 2
    assert_chinese(r.err)
    assert "错误" in r.err and "procops incident list" in r.err
    r = zh("--json", "incident", "show", "INC-19990101-001")
    assert r.code == 2
    err = json.loads(r.out)["error"]
    assert err["exit_code"] == 2 and "INC-19990101-001" in err["message"] and err["hint"]
    r = zh("backup", "status", "--bogus")
    assert r.code == 2
    assert "没有这个选项" in r.err


def test_a_load_test_summary_reads_in_chinese(zh, tmp_path):
    d = tmp_path / "loadtest-peak"
    d.mkdir()
    summary = {
        "scenario": "peak",
        "verdict": "fail",
        "target": "http://127.0.0.1:18080",
        "users": 150,
        "duration_s": 895,
        "requests": 9000,
        "rps": 10.1,
        "failures": 3,
        "workers": 0,
        "slos": [
            {"name": "p95 announcements.list", "observed": 2524.0, "threshold": 2000.0, "unit": "ms", "ok": False},
            {"name": "upload success", "observed": 1.0, "threshold": 1.0, "unit": "", "ok": True},
        ],
        "endpoints": {},
        "report_dir": str(d),
    }
    (d / "summary.json").write_text(json.dumps(summary))
    r = zh("loadtest", "report", str(d))
    assert_chinese(r.out)
    assert "14分55秒" in r.out and "未满足" in r.out and "投标文件上传成功率" in r.out


def test_help_reads_in_chinese(zh):
    r = zh("incident", "open", "--help", check=0)
    assert "登记事件" in r.out and "示例" in r.out and "选项" in r.out


def test_readiness_reports_each_step_and_its_verdict_in_chinese(zh, procops_home):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:  # the sandbox cannot start on a busy port: the steps that need it are skipped, quickly
        cfg = procops_home / "procops.yaml"
        cfg.write_text(f"sandbox:\n  port: {busy.getsockname()[1]}\n")
        r = zh("--config", str(cfg), "readiness")
    finally:
        busy.close()
    assert r.code == 1
    text = r.out + r.err
    assert "[通过] 配置有效" in text and "[执行错误] 平台已启动且健康" in text and "已被占用" in text
    assert "不通过：平台不符合运维策略" in text
    for line in text.splitlines():
        line = re.sub(r"需要先通过：[\w, -]+", "", line)  # the ids of the steps a skipped one needs
        assert english_words(line) == [], line
    report = next(procops_home.glob("reports/readiness-*/readiness.md")).read_text(encoding="utf-8")
    assert "# 平台就绪检查报告" in report and "时区: Asia/Shanghai (UTC+08:00)" in report


def test_every_failure_names_what_to_do_next(zh, cli):
    r = zh("loadtest", "report", "/nonexistent")
    assert r.code == 2 and "提示：查看帮助：procops loadtest report --help" in r.err
    r = cli("--config", "/nonexistent.yaml", "backup", "status")
    assert r.code == 2 and "hint:" in r.err
