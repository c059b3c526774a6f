"""An interrupted readiness run: the step that ran is ``interrupted``, the report says so, exit 130."""

from __future__ import annotations

import json
import os
import signal

import pytest

from procops import readiness as r
from procops.config import Config
from procops.journal import open_journal
from procops.operation import Interrupted


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PROCOPS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _ok(_ctx):
    return "fine", {}


def _interrupt(_ctx):
    os.kill(os.getpid(), signal.SIGINT)
    raise AssertionError("the signal did not interrupt the step")


def test_an_interrupted_step_is_recorded_interrupted_and_the_report_says_the_run_was_interrupted(tmp_path):
    steps = [
        r.Step("first", "First", _ok),
        r.Step("cut", "Cut", _interrupt),
        r.Step("never", "N", _ok),
    ]
    with pytest.raises(Interrupted):
        r.run(Config(), "en", tmp_path / "reports", steps=steps)
    (report,) = (tmp_path / "reports").iterdir()
    data = json.loads((report / "readiness.json").read_text())
    assert [(s["name"], s["status"]) for s in data["steps"]] == [("first", "ok"), ("cut", "interrupted")]
    assert data["interrupted"] and data["final"]
    md = (report / "readiness.md").read_text()
    assert "INTERRUPTED" in md and "in progress" not in md
    with open_journal() as j:
        run = j.last("readiness.run")
        end = j.last("operation.end")
    assert run.data["status"] == "interrupted" and run.data["steps"] == {"first": "ok", "cut": "interrupted"}
    assert end.data["operation"] == "readiness.run" and end.data["exit_code"] == 130
