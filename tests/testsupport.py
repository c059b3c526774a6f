"""Helpers shared by tests and benchmarks (importable as ``testsupport``: tests/ is on pytest's path)."""

from __future__ import annotations

import sys
from pathlib import Path

BIN = Path(sys.executable).parent
PROCOPS = str(BIN / "procops")


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


def monitoring_ports(first: int) -> dict:
    """A monitoring config section whose seven components listen on ``first`` .. ``first + 6``."""
    names = ("prometheus_port", "alertmanager_port", "node_exporter_port", "blackbox_exporter_port",
             "postgres_exporter_port", "exporter_port", "webhook_port")
    return {name: first + i for i, name in enumerate(names)}
