"""The external programs of the monitoring stack: pure argv builders.

Every command is built by a function returning an argv list (unit-tested without
starting anything) and run by :func:`procops.execute.run` with the tool's entry of
:data:`procops.execute.TOOLS` (timeout, exact environment, the tail of its output
in the error).
"""

from __future__ import annotations

from pathlib import Path

from procops import execute

NAMES = (
    "prometheus",
    "promtool",
    "alertmanager",
    "amtool",
    "node_exporter",
    "blackbox_exporter",
    "postgres_exporter",
)


def tool(name: str) -> execute.Tool:
    """The runner's entry of one of the stack's programs."""
    return execute.TOOLS[name]


def binary(name: str) -> str:
    """Absolute path of one of the stack's programs (exit 3 naming the Debian package when missing)."""
    return tool(name).resolve()


def promtool_check_rules(path: Path) -> list[str]:
    return [binary("promtool"), "check", "rules", str(path)]


def promtool_test_rules(path: Path, *more: Path) -> list[str]:
    return [binary("promtool"), "test", "rules", str(path), *(str(p) for p in more)]


def promtool_check_config(path: Path) -> list[str]:
    return [binary("promtool"), "check", "config", str(path)]


def promtool_check_web_config(path: Path) -> list[str]:
    return [binary("promtool"), "check", "web-config", str(path)]


def amtool_check_config(path: Path) -> list[str]:
    return [binary("amtool"), "check-config", str(path)]
