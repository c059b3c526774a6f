"""The external programs of the monitoring stack: pure argv builders and one runner.

Every command is built by a function returning an argv list (unit-tested without
starting anything) and run by :func:`run`, with a timeout, an explicit
environment and the tail of its output in the error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from procops.errors import EnvironmentFailure

BINARIES = {
    "prometheus": "prometheus",
    "promtool": "promtool",
    "alertmanager": "prometheus-alertmanager",
    "amtool": "amtool",
    "node_exporter": "prometheus-node-exporter",
    "blackbox_exporter": "prometheus-blackbox-exporter",
    "postgres_exporter": "prometheus-postgres-exporter",
}


def binary(name: str) -> str:
    """Absolute path of one of the stack's programs (exit 3 naming the Debian package when missing)."""
    exe = BINARIES[name]
    found = shutil.which(exe) or shutil.which(exe, path="/usr/bin:/usr/sbin:/usr/local/bin")
    if not found:
        raise EnvironmentFailure(f"{exe} is not installed (run scripts/bootstrap)")
    return found


def promtool_check_rules(path: Path) -> list[str]:
    return [binary("promtool"), "check", "rules", str(path)]


def promtool_test_rules(path: Path) -> list[str]:
    return [binary("promtool"), "test", "rules", str(path)]


def promtool_check_config(path: Path) -> list[str]:
    return [binary("promtool"), "check", "config", str(path)]


def amtool_check_config(path: Path) -> list[str]:
    return [binary("amtool"), "check-config", str(path)]


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])


def tool_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}


def run(argv: list[str], *, timeout: float = 120, cwd: Path | None = None) -> Completed:
    """Run one tool to completion; a missing binary or a timeout is an environment failure (exit 3)."""
    try:
        p = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=tool_env(), stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise EnvironmentFailure(f"{argv[0]} is not installed (run scripts/bootstrap)") from None
    except subprocess.TimeoutExpired:
        raise EnvironmentFailure(
            f"{Path(argv[0]).name} {' '.join(argv[1:3])} did not finish within {timeout:g}s"
        ) from None
    return Completed(tuple(argv), p.returncode, (p.stdout or "") + (p.stderr or ""))
