"""The installed CLI: config commands, exit codes, journal audit."""

from __future__ import annotations

import sqlite3


def test_version_and_unknown_command(cli):
    assert cli("--version", check=0).out.startswith("procops ")
    r = cli("no-such-command")
    assert r.code == 2 and "No such command" in r.err


def test_config_validate_reports_every_error_with_line(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy:\n  page_load_p95: 2s\n  page_lod: 3\nsandbox:\n  replicas: -1\n")
    r = cli("--config", str(bad), "config", "validate")
    assert r.code == 2
    assert f"{bad}:3: field policy.page_lod: unknown key" in r.err
    assert f"{bad}:5: field sandbox.replicas:" in r.err


def test_config_from_env_and_missing_file(cli, tmp_path):
    r = cli("config", "validate", env={"PROCOPS_CONFIG": str(tmp_path / "missing.yaml")})
    assert r.code == 2 and "does not exist" in r.err


def test_config_init_then_validate_and_show_masks_secrets(cli, tmp_path):
    cli("config", "init", check=0)
    assert cli("config", "init").code == 2  # refuses to overwrite
    assert cli("config", "validate", "--json", check=0).json()["source"] == "procops.yaml"
    (tmp_path / "procops.yaml").write_text(
        "sandbox:\n  database_url: postgresql+psycopg://app:TopSecret9@127.0.0.1/p\n"
    )
    shown = cli("config", "show", "--json", check=0)
    assert "TopSecret9" not in shown.out
    assert shown.json()["config"]["sandbox"]["database_url"].endswith(":********@127.0.0.1/p")
    assert cli("config", "schema", check=0).json()["title"] == "procops configuration"


def test_verify_journal_detects_tampering(cli, procops_home):
    cli("config", "init", check=0)  # no journal event: init writes a file only
    from procops.events import IncidentTimeline, Kind
    from procops.journal import Journal

    j = Journal(procops_home / "journal.db")
    for i in range(3):
        j.append(Kind.INCIDENT_TIMELINE, "x", IncidentTimeline(kind="note", details={"i": i}))
    j.close()
    ok = cli("audit", "verify-journal", "--json", check=0).json()
    assert ok["ok"] and ok["rows"] == 3
    db = sqlite3.connect(procops_home / "journal.db", isolation_level=None)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("""UPDATE events SET data = '{"i":7,"kind":"note"}' WHERE id = 2""")
    db.close()
    r = cli("audit", "verify-journal")
    assert r.code == 1 and "row 2" in r.out
    assert [e["id"] for e in cli("audit", "log", "--json", check=0).json()] == [1, 2, 3]


def test_an_unknown_name_is_exit_2(cli):
    assert cli("schedule", "run-job", "nosuch").code == 2
    assert cli("runbook", "show", "nosuch").code == 2
    assert cli("incident", "show", "INC-20000101-999").code == 2
    assert cli("sandbox", "status", "--instance", "no/such").code == 2


def test_lang_is_accepted_after_the_subcommand_as_json_is(cli):
    after = cli("config", "show", "--lang", "zh", "--json")
    assert after.code == 0 and after.json() == cli("--lang", "zh", "config", "show", "--json").json()
    bad = cli("config", "show", "--lang", "fr")
    assert bad.code == 2 and "unknown language 'fr'" in bad.err
    zh = cli("runbook", "list", "--lang", "zh", "--json").json()  # its own --lang still wins
    assert zh and all(rb["lang"] == "zh" for rb in zh)
