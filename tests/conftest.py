"""Shared fixtures: a fresh $PROCOPS_HOME per test and a way to run the installed CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PROCOPS = str(BIN / "procops")


@pytest.fixture
def procops_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PROCOPS_HOME", str(home))
    monkeypatch.delenv("PROCOPS_CONFIG", raising=False)
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
        p = subprocess.run([PROCOPS, *args], capture_output=True, text=True, timeout=timeout, env=e,
                           stdin=subprocess.DEVNULL)
        r = Result(p.returncode, p.stdout, p.stderr)
        if check is not None:
            assert r.code == check, f"procops {' '.join(args)} exited {r.code}, wanted {check}\n{r.out}\n{r.err}"
        return r

    return run


def free_port_block(n: int = 1, start: int = 20000, end: int = 60000) -> int:
    """First port of ``n`` consecutive free loopback ports (randomised start, so parallel runs rarely clash)."""
    import random
    import socket

    base = random.randrange(start, end - n, 10)
    for first in range(base, end - n, 10):
        socks = []
        try:
            for p in range(first, first + n):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


@pytest.fixture
def port_block():
    return free_port_block
