"""Shared fixtures: a fresh $PROCOPS_HOME per test and a way to run the installed CLI."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from testsupport import PROCOPS, free_port_block


@pytest.fixture
def procops_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    monkeypatch.delenv("PROCOPS_CONFIG", raising=False)
    # English and UTC unless a test asks otherwise: what people read depends on both
    monkeypatch.setenv("PROCOPS_LANG", "en")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.chdir(tmp_path)
    return home


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(procops_home):
    """Run the installed `procops` as a user does, in the test's $PROCOPS_HOME."""

    def run(*args: str, timeout: float = 300, env: dict | None = None, check: int | None = None) -> Result:
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run(
            [PROCOPS, *args], capture_output=True, text=True, timeout=timeout, env=e, stdin=subprocess.DEVNULL
        )
        r = Result(p.returncode, p.stdout, p.stderr)
        if check is not None:
            assert r.code == check, f"procops {' '.join(args)} exited {r.code}, wanted {check}\n{r.out}\n{r.err}"
        return r

    return run


@pytest.fixture
def port_block():
    return free_port_block
