"""Shared helpers of the benchmarks: the machine, temporary homes, free ports."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROCOPS = str(BIN / "procops")


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def temp_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="procops-bench-"))


def free_port(n: int = 1) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    from testsupport import free_port_block  # noqa: E402

    return free_port_block(n)


def run_procops(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PROCOPS_HOME=str(home))
    return subprocess.run([PROCOPS, *args], env=env, capture_output=True, text=True, check=check)


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
