"""Readiness steps come from one explicit ordered list: importing the areas' steps modules in
another order cannot change it (nothing registers itself on import)."""

from __future__ import annotations

import importlib
import sys

from procops import steps

ORDER = [
    "config",
    "sandbox",
    "seeded-data",
    "monitoring-rules",
    "monitoring-stack",
    "monitoring-alert",
    "peak-test",
    "backup",
    "backup-check",
    "backup-verify",
    "canary-release",
    "runbooks",
    "journal",
]
AREA_STEPS = [f"procops.{a}.steps" for a in ("sandbox", "monitoring", "loadtests", "backup", "release", "incidents")]


def test_the_readiness_steps_run_in_the_designed_order():
    assert [s.name for s in steps.ordered()] == ORDER


def test_importing_the_areas_steps_in_reverse_order_does_not_change_the_readiness_order(monkeypatch):
    for name in AREA_STEPS + [m.replace(".steps", ".api") for m in AREA_STEPS]:
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name in reversed(AREA_STEPS):
        importlib.import_module(name)
    assert [s.name for s in steps.ordered()] == ORDER


def test_importing_an_area_steps_module_twice_adds_no_step():
    importlib.reload(importlib.import_module("procops.backup.steps"))
    assert [s.name for s in steps.ordered()] == ORDER


def test_every_step_needs_only_steps_that_run_before_it():
    seen: set[str] = set()
    for s in steps.ordered():
        assert set(s.needs) <= seen, f"{s.name} needs {set(s.needs) - seen}"
        seen.add(s.name)


def test_core_readiness_does_not_import_the_steps_or_any_area():
    import ast
    from pathlib import Path

    import procops.readiness as r

    tree = ast.parse(Path(r.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m == "procops.steps" or m.split(".")[:2][-1] in steps_areas()}


def steps_areas() -> set[str]:
    return {"sandbox", "monitoring", "loadtests", "backup", "release", "incidents", "drills", "cli"}
