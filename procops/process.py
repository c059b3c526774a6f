"""Long-running child processes that procops starts and stops (the sandbox, the monitoring stack).

A started process is recorded as a :class:`Proc` (name, pid and its start
time). ``stop`` only signals a pid whose start time still matches the record,
so a pid reused by another program is never killed.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from procops.errors import EnvironmentFailure


@dataclass
class Proc:
    name: str
    pid: int
    create_time: float
    port: int | None = None
    version: str | None = None

    def alive(self) -> bool:
        import psutil

        try:
            p = psutil.Process(self.pid)
            return abs(p.create_time() - self.create_time) < 0.5 and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def spawn(
    argv: list[str], env: dict[str, str] | None, log: Path, name: str, *, cwd: Path | None = None, **extra: Any
) -> Proc:
    """Start a detached process (own session) with stdout and stderr appended to ``log``."""
    import psutil

    with open(log, "ab") as out:
        try:
            p = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd=cwd,
            )
        except FileNotFoundError:
            raise EnvironmentFailure(f"{argv[0]} is not installed (run scripts/bootstrap)") from None
    return Proc(name=name, pid=p.pid, create_time=psutil.Process(p.pid).create_time(), **extra)


def terminate(procs: list[Proc], timeout: float = 10.0) -> list[str]:
    """SIGTERM what is still ours, then SIGKILL what is left. Returns the names stopped."""
    import psutil

    live: list[tuple[Proc, psutil.Process]] = []
    for pr in procs:
        if pr.alive():
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pr.pid)
                p.send_signal(signal.SIGTERM)
                live.append((pr, p))
    _, still = psutil.wait_procs([p for _, p in live], timeout=timeout)
    for p in still:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(still, timeout=5)
    return [pr.name for pr, _ in live]


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def http_ok(url: str, timeout: float = 2.0) -> tuple[bool, dict | None]:
    """(answered 200, JSON body or None)."""
    import httpx

    try:
        r = httpx.get(url, timeout=timeout)
    except httpx.HTTPError:
        return False, None
    try:
        body = r.json()
    except ValueError:
        body = None
    return r.status_code == 200, body


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
