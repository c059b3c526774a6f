"""`procops --help` must not import heavy libraries (STYLE: fast CLIs).

pydantic is not on the list: typer itself imports it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "locust",
    "gevent",
    "ansible",
    "fabric",
    "matplotlib",
    "fastapi",
    "sqlalchemy",
    "uvicorn",
    "httpx",
    "psutil",
    "plumbum",
    "jinja2",
    "prometheus_client",
)
GROUPS = [
    "",
    "config",
    "sandbox",
    "sandbox fault",
    "loadtest",
    "monitor",
    "backup",
    "schedule",
    "release",
    "incident",
    "drill",
    "runbook",
    "audit",
    "readiness",
    "status",
    "scan",
]

PROBE = """
import sys
from procops.cli.main import main
code = main({argv!r})
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("group", GROUPS)
def test_help_imports_no_heavy_library(group):
    argv = [*group.split(), "--help"]
    p = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    assert "Usage" in p.stdout
    assert "HEAVY:\n" in p.stderr, p.stderr.splitlines()[-1]
