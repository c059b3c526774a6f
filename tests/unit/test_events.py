"""The catalog of journal kinds: every kind has a record, and the journal takes nothing else."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from procops import events
from procops.events import RECORDS, Kind, Status
from procops.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("procops", "cli", "sandbox", "loadtests", "monitoring", "backup", "release", "drills", "incidents")
# functions that hand a kind on to Journal.append: their kind argument is checked like append's
WRAPPERS = {"append", "record", "_journal_append", "_journal"}


def test_every_kind_has_a_record_type_whose_fields_all_have_defaults():
    assert set(RECORDS) == set(Kind)
    for kind, rec in RECORDS.items():
        assert dataclasses.is_dataclass(rec) and rec.__dataclass_params__.frozen, kind  # type: ignore[attr-defined]
        rec()  # every field has a default: rows of older versions parse
        assert rec.from_data({}) == rec()


def test_operation_records_carry_a_closed_status():
    assert [s.value for s in Status] == ["ok", "failed", "error", "interrupted", "skipped"]
    with_status = [k for k, r in RECORDS.items() if isinstance(r().to_data().get("status"), str)]
    for kind in (Kind.BACKUP_RUN, Kind.BACKUP_CHECK, Kind.LOADTEST_PEAK, Kind.SCAN_RUN, Kind.READINESS_RUN):
        assert kind in with_status
        assert isinstance(RECORDS[kind]().status, Status)  # type: ignore[attr-defined]


def test_raw_strings_unknown_kinds_and_wrong_records_are_refused(tmp_path):
    with Journal(tmp_path / "journal.db") as j:
        with pytest.raises(TypeError, match=r"plain string.*Kind.BACKUP_RUN"):
            j.append("backup.run", "all", events.BackupRun())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not in the catalog"):
            j.append("made.up", "x", events.BackupRun())  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            Kind("made.up")
        with pytest.raises(ValueError, match="no journal kind for load test scenario 'soak'"):
            Kind.loadtest("soak")
        with pytest.raises(TypeError, match="must be a BackupRun, not BackupCheck"):
            j.append(Kind.BACKUP_RUN, "all", events.BackupCheck())
        with pytest.raises(TypeError, match="build the record instead"):
            j.append(Kind.BACKUP_RUN, "all", {"ok": True})  # type: ignore[arg-type]
        assert j.events() == []  # nothing was written
    from procops.journal import record

    with pytest.raises(TypeError):
        record("scan.run", "host", events.ScanRun())  # type: ignore[arg-type]


def test_a_record_round_trips_through_a_real_journal(tmp_path):
    rec = events.BackupRun(
        status=Status.FAILED,
        ok=False,
        run="20261125T080000Z",
        seconds=1.5,
        documents=12,
        repositories={
            "local": events.BackupRunRepo(status=Status.OK, files_snapshot="abcd1234", added_bytes=10),
            "offsite": events.BackupRunRepo(status=Status.FAILED, problem="unreachable", error="no route"),
        },
    )
    with Journal(tmp_path / "journal.db") as j:
        j.append(Kind.BACKUP_RUN, "all", rec)
        j.append(Kind.INCIDENT_ACTION_UPDATE, "INC-1", events.IncidentActionUpdate(action=1, from_="open"))
        j.append(Kind.INCIDENT_TIMELINE, "INC-1", events.IncidentTimeline("alert.resolved", {"token": "s3cret"}))
        got = j.events()
        assert j.verify().ok
    assert got[0].kind == "backup.run" and got[0].evidence == rec
    assert got[0].data["repositories"]["offsite"]["status"] == "failed"  # the stored JSON keeps its shape
    assert got[1].data == {"action": 1, "from": "open"} and got[1].evidence.from_ == "open"
    assert got[2].data == {"kind": "alert.resolved", "token": "********"}  # secrets are still scrubbed


def test_rows_of_older_versions_parse_with_defaults():
    class Row:
        kind, data = "backup.check", {"ok": False, "repositories": {"local": {"ok": False}}, "gone": 1}

    rec = events.evidence(Row)
    assert isinstance(rec, events.BackupCheck) and rec.status is Status.FAILED
    assert rec.repositories["local"] == events.BackupCheckRepo(ok=False)
    Row.kind, Row.data = "schedule.job", {"command": "procops backup run", "exit_code": 130}
    assert events.evidence(Row).status is Status.INTERRUPTED  # type: ignore[attr-defined]
    Row.kind = "drill.end"
    with pytest.raises(ValueError, match="not in the catalog"):
        events.evidence(Row)


def _kind_ok(arg: ast.expr, typed_params: set[str]) -> bool:
    if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "Kind":
        return arg.attr in Kind.__members__
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute):  # Kind.loadtest(scenario)
        f = arg.func
        return isinstance(f.value, ast.Name) and f.value.id == "Kind" and callable(getattr(Kind, f.attr, None))
    return isinstance(arg, ast.Name) and arg.id in typed_params  # a parameter annotated Kind, handed on


def _journal_calls(tree: ast.AST):
    """(call, names of the enclosing function's parameters annotated Kind) for every journal write."""

    def walk(node: ast.AST, typed: set[str]):
        for child in ast.iter_child_nodes(node):
            inner = typed
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = [*child.args.posonlyargs, *child.args.args, *child.args.kwonlyargs]
                inner = {a.arg for a in args if a.annotation is not None and ast.unparse(a.annotation) == "Kind"}
            if isinstance(child, ast.Call):
                f = child.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
                if name in WRAPPERS and len(child.args) >= 2:  # list.append(x) has one argument
                    yield child, typed
            yield from walk(child, inner)

    yield from walk(tree, set())


def test_every_journal_write_in_the_product_passes_a_kind_of_the_catalog():
    seen, bad = 0, []
    for area in PRODUCT:
        for path in sorted((ROOT / area).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for call, typed in _journal_calls(tree):
                seen += 1
                if not _kind_ok(call.args[0], typed):
                    bad.append(f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(call)[:100]}")
    assert seen >= 25  # the guard really looks at the producers
    assert not bad, "journal writes with a free-form kind:\n" + "\n".join(bad)
