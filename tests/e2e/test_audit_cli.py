"""procops audit and procops status as an operator runs them, on journals laid down through the
Journal API (the journal's clock moved to lay down days of history)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from procops import events as ev
from procops.events import Kind, Status
from procops.journal import Journal

H = dt.timedelta(hours=1)


@pytest.fixture
def history(procops_home):
    """Three days of hourly backups up to now, with five missing runs 40 hours ago."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - 72 * H
    clock = {"t": start}
    with pytest.MonkeyPatch.context() as mp, Journal(procops_home / "journal.db") as j:
        mp.setattr("procops.journal.utcnow", lambda: clock["t"])
        for h in range(72):
            if 32 <= h < 37:
                continue
            clock["t"] = start + h * H + dt.timedelta(minutes=2)
            j.append(
                Kind.BACKUP_RUN,
                "all",
                ev.BackupRun(
                    status=Status.OK,
                    ok=True,
                    run=f"run-{h}",
                    repositories={n: ev.BackupRunRepo(status=Status.OK) for n in ("local", "offsite")},
                ),
            )
    return {"start": start, "hole_from": start + 31 * H + dt.timedelta(minutes=2)}


def test_a_hole_in_the_hourly_backups_fails_r3_naming_the_gap(cli, history, procops_home):
    r = cli("audit", "--journal-only", "--since", "3d", "--json")
    assert r.code == 1, r.err
    res = r.json()
    r3 = {x["id"]: x for x in res["requirements"]}["R3"]
    assert r3["status"] == "not_met"
    local = next(c for c in r3["data"]["cadences"] if c["name"] == "backup:local")
    assert local["longest_gap_s"] == 6 * 3600
    assert local["longest_gap_from"] == history["hole_from"].isoformat().replace("+00:00", "Z")
    assert any("'local'" in f and "longest gap 6 h" in f for f in r3["figures"]), r3["figures"]
    assert res["report"].endswith(".md")
    report = open(res["report"]).read()
    assert "## R3" in report and "longest gap 6 h" in report

    human = cli("audit", "--journal-only", "--since", "3d")
    assert human.code == 1 and "longest gap 6 h" in human.out and "FAIL" in human.out
    # each audit is journaled: its period, verdict, every requirement's status and the report
    runs = cli("audit", "log", "--kind", "audit.run", "--json", check=0).json()
    assert len(runs) == 2 and runs[0]["data"]["requirements"]["R3"] == "not_met"
    assert runs[0]["data"]["verdict"] == "fail" and runs[0]["data"]["report"] == res["report"]


def test_audit_reports_in_chinese_html_and_json(cli, history, tmp_path):
    out = tmp_path / "audit.html"
    r = cli("audit", "--journal-only", "--since", "3d", "--format", "html", "--out", str(out), "--lang", "zh")
    assert r.code == 1
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "R3" in page and "合规审计" in page, page[:400]
    j = tmp_path / "audit.json"
    cli("audit", "--journal-only", "--since", "3d", "--format", "json", "--out", str(j))
    data = json.loads(j.read_text())
    assert [x["id"] for x in data["requirements"]] == [f"R{i}" for i in range(1, 13)]
    pdf = tmp_path / "audit.pdf"
    cli("audit", "--journal-only", "--since", "3d", "--format", "pdf", "--out", str(pdf), "--lang", "zh")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert cli("audit", "--since", "3d", "--quarter", "2026Q4").code == 2
    assert cli("audit", "--format", "docx").code == 2


def test_status_json_has_every_section(cli, procops_home):
    r = cli("status", "--json")
    assert r.code == 1  # nothing has run on a fresh home: backups, checks, load test need a person
    d = r.json()
    assert set(d["sections"]) == {
        "site",
        "alerts",
        "incidents",
        "backups",
        "checks",
        "loadtest",
        "drills",
        "release",
        "faults",
        "jobs",
    }
    assert all(s["verdict"] in ("ok", "attention", "unknown") and s["lines"] for s in d["sections"].values())
    assert d["needs_person"] and "backups" in d["attention"]
    assert set(d["sections"]["backups"]["repositories"]) == {"local", "offsite"}
    iid = cli("incident", "open", "--title", "portal down", "--json", check=0).json()["id"]
    d = cli("status", "--json").json()
    inc = d["sections"]["incidents"]
    assert inc["verdict"] == "attention" and inc["open"][0]["id"] == iid
    assert {c["milestone"] for c in inc["open"][0]["clocks"]} == {"classify", "standby", "report"}
    assert iid in cli("status").out


def test_status_sections_follow_the_journal(cli, procops_home):
    with Journal(procops_home / "journal.db") as j:
        repos = {n: ev.BackupRunRepo(status=Status.OK) for n in ("local", "offsite")}
        j.append(Kind.BACKUP_RUN, "all", ev.BackupRun(status=Status.OK, ok=True, run="r1", repositories=repos))
        j.append(Kind.BACKUP_CHECK, "all", ev.BackupCheck(status=Status.OK, ok=True))
        j.append(Kind.BACKUP_VERIFY, "all", ev.BackupVerify(status=Status.OK, ok=True))
        j.append(Kind.SCAN_RUN, "host", ev.ScanRun(status=Status.OK, verdict="pass", hardening_index=70))
        j.append(Kind.LOADTEST_PEAK, "peak", ev.LoadtestRun(status=Status.OK, verdict="pass", users=150))
        j.append(Kind.DRILL_RUN, "app-crash", ev.DrillRun(scenario="app-crash", status=Status.OK, verdict="pass"))
        j.append(Kind.RELEASE_START, "rel-1", ev.ReleaseStart(release_id="rel-1", version="1.1.0", stages=3))
        j.append(Kind.RELEASE_STAGE, "rel-1", ev.ReleaseStage(release_id="rel-1", stage=2, decision="promote"))
        j.append(Kind.SANDBOX_FAULT, "main", ev.SandboxFault(action="set", fault={"latency": "2500ms"}))
        j.append(
            Kind.SCHEDULE_JOB, "backup-run", ev.ScheduleJob(status=Status.FAILED, command="backup run", exit_code=3)
        )
    d = cli("status", "--json").json()
    s = d["sections"]
    assert s["backups"]["verdict"] == "ok" and all(r["ok"] for r in s["backups"]["repositories"].values())
    assert s["checks"]["verdict"] == "ok"
    assert s["loadtest"]["verdict"] == "ok" and s["loadtest"]["last"]["multiple"] == 3
    assert s["drills"]["verdict"] == "ok" and s["drills"]["covered"]
    assert s["release"]["in_progress"] == {"release_id": "rel-1", "version": "1.1.0", "stage": 2}
    assert s["faults"]["verdict"] == "attention" and s["faults"]["active"]["fault"] == {"latency": "2500ms"}
    assert s["jobs"]["verdict"] == "attention" and s["jobs"]["failed"][0]["job"] == "backup-run"
    assert {"faults", "jobs"} <= set(d["attention"]) and "backups" not in d["attention"]
    with Journal(procops_home / "journal.db") as j:
        j.append(Kind.SANDBOX_FAULT, "main", ev.SandboxFault(action="clear"))
        j.append(Kind.RELEASE_END, "rel-1", ev.ReleaseEnd(release_id="rel-1", outcome="promoted"))
        j.append(Kind.SCHEDULE_JOB, "backup-run", ev.ScheduleJob(status=Status.OK, command="backup run"))
    s = cli("status", "--json").json()["sections"]
    assert s["faults"]["verdict"] == "ok" and s["release"]["in_progress"] is None and s["jobs"]["failed"] == []
