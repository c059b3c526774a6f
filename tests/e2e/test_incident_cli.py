"""The incident commands as a responder runs them, in a fresh $PROCOPS_HOME."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from procops.journal import Journal
from testsupport import read_only_journal


def ago(minutes: float) -> str:
    t = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
    return t.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def journal_kinds(home, subject):
    with Journal(home / "journal.db") as j:
        return [(e.kind, e.data.get("milestone")) for e in j.events("incident.*", subject)]


def test_work_an_incident_from_open_to_accepted_rectification(cli, procops_home):
    r = cli("incident", "open", "--title", "bid upload fails", "--t0", ago(20), "--commander", "Li", "--json", check=0)
    inc = r.json()
    iid = inc["id"]
    assert iid.startswith("INC-") and inc["status"] == "open" and inc["roles"]["commander"] == "Li"
    assert [c["milestone"] for c in inc["clocks"]] == ["classify", "standby", "report"]
    assert inc["clocks"][0]["remaining_seconds"] < 0  # 20 min after T0: the 15 min clock is missed

    assert cli("incident", "classify", iid, "--type", "gremlins").code == 2
    assert cli("incident", "show", "INC-19990101-001").code == 2
    assert "unknown incident" in cli("incident", "classify", "INC-19990101-001", "--type", "app-crash").err

    r = cli("incident", "classify", iid, "--type", "app-crash", "--note", "no healthy replica", "--json", check=0)
    m = r.json()["milestones"]["classify"]
    assert m["late"] is True and m["evidence"]["note"] == "no healthy replica"  # late, and still exit 0

    r = cli("incident", "standby", iid, "--evidence", "replicas restarted on host b", "--json", check=0)
    assert r.json()["milestones"]["standby"]["late"] is False

    r = cli("incident", "show", iid, check=0)
    assert "classify" in r.out and "LATE" in r.out and "procops runbook show app-crash" in r.out
    assert cli("incident", "show", iid, "--json", check=0).json()["runbook"]["id"] == "app-crash"

    r = cli(
        "incident",
        "report",
        iid,
        "--lang",
        "en",
        "--impact",
        "suppliers could not upload for 40 min",
        "--root-cause",
        "replica out of memory",
        check=0,
    )
    md_en, html_en, pdf_en = r.out.split()
    text = open(md_en, encoding="utf-8").read()
    assert "# Fault analysis report " + iid in text
    assert "## Deadline compliance" in text and "| Fault type confirmed | 15 min |" in text and "NO (late)" in text
    assert "replica out of memory" in text and "<table>" in open(html_en, encoding="utf-8").read()
    assert open(pdf_en, "rb").read(5) == b"%PDF-"

    r = cli("incident", "resolve", iid, "--summary", "replicas restarted", check=0)
    assert "report is due" in r.out

    r = cli("incident", "report", iid, "--lang", "zh", "--submit", "--json", check=0)
    rep = r.json()
    assert rep["submitted"] and rep["milestone"]["late"] is False
    zh = open(rep["markdown"], encoding="utf-8").read()
    assert "# 故障分析报告 " + iid in zh and "## 时限达标情况" in zh and "| 确认故障类型 | 15分钟 |" in zh
    assert "| 提交故障分析报告 | 24小时 |" in zh and "超时" in zh and "已恢复" in zh

    r = cli(
        "incident",
        "action",
        "add",
        iid,
        "--problem",
        "no memory alert",
        "--owner",
        "ops team",
        "--due",
        "2026-12-31",
        "--json",
        check=0,
    )
    assert r.json()["n"] == 1
    assert cli("incident", "action", "update", iid, "1", "--status", "accepted").code == 2
    cli("incident", "action", "update", iid, "1", "--status", "rectified", "--note", "rule added", check=0)
    r = cli("incident", "action", "update", iid, "1", "--status", "accepted", check=0)
    assert "every item accepted" in r.out
    final = cli("incident", "show", iid, "--json", check=0).json()
    assert final["closed_loop"] is True and final["status"] == "resolved"

    assert journal_kinds(procops_home, iid) == [
        ("incident.open", None),
        ("incident.milestone", "classify"),
        ("incident.milestone", "standby"),
        ("incident.update", None),
        ("incident.report", None),
        ("incident.resolve", None),
        ("incident.milestone", "report"),
        ("incident.report", None),
        ("incident.action.add", None),
        ("incident.action.update", None),
        ("incident.action.update", None),
    ]
    assert cli("audit", "verify-journal").code == 0

    lst = cli("incident", "list", "--json", check=0).json()
    assert [i["id"] for i in lst] == [iid]
    assert cli("incident", "list", "--open", "--json", check=0).json() == []


def test_open_prints_the_id_and_writes_the_deadline_metric(cli, procops_home):
    r = cli("incident", "open", "--title", "slow pages", "--severity", "major", check=0)
    iid = r.out.strip()
    assert iid.startswith("INC-")
    prom = (procops_home / "textfile" / "incident.prom").read_text()
    assert f'procops_incident_deadline_remaining_seconds{{incident="{iid}",milestone="classify"}}' in prom
    assert cli("incident", "open", "--title", "x", "--severity", "apocalyptic").code == 2
    assert cli("incident", "open", "--title", "x", "--t0", "yesterday").code == 2
    assert cli("incident", "standby", iid).code == 2  # neither --evidence nor --execute


def test_escalation_reaches_a_local_receiver_and_is_retried_when_it_was_down(cli, procops_home, port_block):
    from procops.incidents.receiver import RecordingReceiver

    port = port_block(1)
    cfg = procops_home.parent / "procops.yaml"
    cfg.write_text(
        f"notifications:\n  escalation_receivers:\n    - name: leader\n      url: http://127.0.0.1:{port}/escalate\n"
    )
    env = {"PROCOPS_CONFIG": str(cfg)}
    iid = cli("incident", "open", "--title", "portal down", "--t0", ago(16), env=env, check=0).out.strip()

    down = cli("incident", "escalate", "--json", env=env)
    assert down.code == 3  # the receiver is down: recorded, retried on the next run
    assert [(x["milestone"], x["level"], x["status"]) for x in down.json()] == [("classify", "missed", "failed")]

    with RecordingReceiver(port=port) as rcv:
        up = cli("incident", "escalate", "--json", env=env, check=0)
        assert [(x["milestone"], x["level"], x["status"], x["attempt"]) for x in up.json()] == [
            ("classify", "missed", "sent", 2)
        ]
        assert cli("incident", "escalate", "--json", env=env, check=0).json() == []  # once per level
        got = rcv.received()
    assert len(got) == 1 and got[0]["incident"] == iid and got[0]["milestone"] == "classify"
    assert got[0]["level"] == "missed" and got[0]["seconds_left"] < 0 and "overdue" in got[0]["text"]

    timeline = [t["kind"] for t in cli("incident", "show", iid, "--json", env=env, check=0).json()["timeline"]]
    assert timeline == ["open", "escalation.failed", "escalation.sent"]
    with Journal(procops_home / "journal.db") as j:
        assert [e.data["kind"] for e in j.events("incident.escalation", iid)] == [
            "escalation.failed",
            "escalation.sent",
        ]


def test_default_receiver_records_locally(cli, procops_home):
    cli("incident", "open", "--title", "db down", "--t0", ago(58), check=0)
    r = cli("incident", "escalate", "--json", check=0)
    assert [(x["milestone"], x["level"]) for x in r.json()] == [("classify", "missed"), ("standby", "near")]
    lines = (procops_home / "incident" / "escalations.jsonl").read_text().splitlines()
    assert [json.loads(x)["level"] for x in lines] == ["missed", "near"]


def test_runbook_commands(cli):
    r = cli("runbook", "list", "--json", check=0)
    assert {b["id"] for b in r.json()} >= {
        "incident-response",
        "app-crash",
        "database-failure",
        "disk-full",
        "backup-failure",
        "capacity",
        "bad-release",
        "security",
        "drill-guide",
    }
    zh = cli("runbook", "show", "database-failure", "--lang", "zh", check=0).out
    assert "异地备份" in zh and "procops incident standby" in zh
    assert "off-site" in cli("--lang", "en", "runbook", "show", "database-failure", check=0).out
    assert cli("runbook", "show", "nope").code == 2


def test_receiver_command_records_escalations(cli, procops_home, port_block):
    import os
    import time

    from testsupport import PROCOPS

    port = port_block(1)
    out = procops_home / "received.jsonl"
    cfg = procops_home.parent / "procops.yaml"
    cfg.write_text(f"notifications:\n  escalation_receivers:\n    - name: desk\n      url: http://127.0.0.1:{port}/\n")
    env = {"PROCOPS_CONFIG": str(cfg)}
    proc = subprocess.Popen(
        [PROCOPS, "incident", "receiver", "--port", str(port), "--out", str(out)],
        env=dict(os.environ, PROCOPS_HOME=str(procops_home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        iid = cli("incident", "open", "--title", "x", "--t0", ago(11), env=env, check=0).out.strip()
        deadline = time.monotonic() + 20
        while True:  # wait until the receiver listens (bounded)
            r = cli("incident", "escalate", "--json", env=env)
            if r.code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert r.code == 0
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert [(x["body"]["incident"], x["body"]["level"]) for x in lines] == [(iid, "near")]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_failed_failover_is_recorded_and_the_milestone_not_reached(cli):
    import importlib.util

    if importlib.util.find_spec("procops.backup.restore") is None:
        pytest.skip("needs procops.backup.restore (backup area)")
    iid = cli("incident", "open", "--title", "db lost", check=0).out.strip()
    r = cli("incident", "standby", iid, "--execute")  # no repository was ever initialised
    assert r.code == 3 and "offsite" in r.err
    inc = cli("incident", "show", iid, "--json", check=0).json()
    assert [t["kind"] for t in inc["timeline"]] == ["open", "standby.execute", "standby.failed"]
    assert inc["milestones"]["standby"]["reached_at"] is None


def _journal_clocks(home) -> set[str]:
    """The milestones still pending by the journal alone (the exporter's fold, with no incident store)."""
    from procops.monitoring.exporter import JournalState

    state = JournalState({"classify": 900.0, "standby": 3600.0, "report": 86400.0})
    with Journal(home / "journal.db") as j:
        state.fold(j.events())
    series = state.series(0.0).get("procops_incident_deadline_remaining_seconds", {})
    return {dict(key)["milestone"] for key in series}


def test_a_report_draft_does_not_stop_the_24h_clock_and_a_submitted_report_does(cli, procops_home):
    iid = cli("incident", "open", "--title", "archive read errors", "--json", check=0).json()["id"]
    r = cli("incident", "report", iid, "--lang", "en", "--summary", "first draft", "--json", check=0).json()
    assert r["submitted"] is False and r["milestone"]["reached_at"] is None
    assert "report" in _journal_clocks(procops_home)  # a draft is no fault analysis report submitted
    shown = cli("incident", "show", iid, "--json", check=0).json()
    assert next(c for c in shown["clocks"] if c["milestone"] == "report")["state"] == "pending"

    cli("incident", "report", iid, "--lang", "en", "--submit", "--json", check=0)
    assert "report" not in _journal_clocks(procops_home)


def test_an_unwritable_journal_stops_incident_open_and_nothing_is_stored(cli, procops_home):
    with read_only_journal(procops_home):
        r = cli("incident", "open", "--title", "portal down")
        assert r.code == 3 and "journal" in r.err
        assert cli("incident", "list", "--json", check=0).json() == []
    cli("incident", "open", "--title", "portal down", check=0)  # the retry opens exactly one
    assert len(cli("incident", "list", "--json", check=0).json()) == 1


def test_an_unwritable_journal_stops_a_milestone_and_the_clock_keeps_running(cli, procops_home):
    iid = cli("incident", "open", "--title", "portal down", "--json", check=0).json()["id"]
    with read_only_journal(procops_home):
        r = cli("incident", "classify", iid, "--type", "app-crash")
        assert r.code == 3 and "journal" in r.err
        inc = cli("incident", "show", iid, "--json", check=0).json()
        assert inc["milestones"]["classify"]["reached_at"] is None and inc["fault_type"] is None
        assert [e["kind"] for e in inc["timeline"]] == ["open"]
    cli("incident", "classify", iid, "--type", "app-crash", check=0)
    assert journal_kinds(procops_home, iid) == [("incident.open", None), ("incident.milestone", "classify")]


def test_external_text_with_newlines_and_escapes_stays_one_line_in_list_and_show(cli):
    title = "disk full\n## FORGED HEADING\n| a | table |\x1b[31m red"
    iid = cli("incident", "open", "--title", title, check=0).out.strip()
    cli("incident", "action", "add", iid, "--problem", "line one\nline two", "--owner", "ops\nteam", check=0)
    listed = cli("incident", "list", check=0).out.strip().splitlines()
    assert len(listed) == 1 and "FORGED HEADING" in listed[0] and "\x1b" not in listed[0]
    shown = cli("incident", "show", iid, check=0).out
    assert "\x1b" not in shown and not any(line.startswith("## FORGED") for line in shown.splitlines())
    assert any("disk full ## FORGED HEADING" in line for line in shown.splitlines())
    assert any("line one line two" in line and "ops team" in line for line in shown.splitlines())
    items = cli("incident", "action", "list", iid, check=0).out.strip().splitlines()
    assert len(items) == 1 and "line one line two" in items[0]
    assert cli("incident", "show", iid, "--json", check=0).json()["title"] == title  # the record keeps it as given
