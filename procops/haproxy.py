"""A small client of HAProxy's runtime API (the stats socket, level admin).

Used by the sandbox (wait until every server is UP) and by gray releases
(read and set server weights, drain and ready servers).
"""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass
from pathlib import Path

from procops.errors import EnvironmentFailure

from procops.i18n import _


@dataclass(frozen=True)
class ServerStat:
    backend: str
    server: str
    status: str  # UP, DOWN, MAINT, DRAIN, "UP 1/2" while rising...
    weight: int
    current_sessions: int
    total_sessions: int

    @property
    def up(self) -> bool:
        return self.status == "UP"


class RuntimeAPI:
    def __init__(self, socket_path: Path, timeout: float = 5.0) -> None:
        self.socket_path = Path(socket_path)
        self.timeout = timeout

    def command(self, cmd: str) -> str:
        if "\n" in cmd or ";" in cmd:
            raise ValueError("one runtime API command at a time")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                s.connect(str(self.socket_path))
                s.sendall(cmd.encode() + b"\n")
                chunks = []
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
        except OSError as e:
            raise EnvironmentFailure(
                _("HAProxy runtime API {socket_path} is unreachable: {e}").format(socket_path=self.socket_path, e=e)
            ) from None
        return b"".join(chunks).decode(errors="replace")

    def servers(self, backend: str | None = None) -> list[ServerStat]:
        return parse_stat(self.command("show stat"), backend)

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        out = self.command(f"set server {backend}/{server} weight {int(weight)}").strip()
        if out:
            raise EnvironmentFailure(
                _("HAProxy refused the weight of {backend}/{server}: {out}").format(
                    backend=backend, server=server, out=out
                )
            )

    def set_state(self, backend: str, server: str, state: str) -> None:
        if state not in ("ready", "drain", "maint"):
            raise ValueError(f"unknown server state {state!r}")
        out = self.command(f"set server {backend}/{server} state {state}").strip()
        if out:
            raise EnvironmentFailure(
                _("HAProxy refused the state of {backend}/{server}: {out}").format(
                    backend=backend, server=server, out=out
                )
            )


def parse_stat(text: str, backend: str | None = None) -> list[ServerStat]:
    """Parse ``show stat`` CSV into the servers' rows (not FRONTEND/BACKEND rows)."""
    text = text.lstrip("# ")
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        if not r.get("svname") or r["svname"] in ("FRONTEND", "BACKEND"):
            continue
        if backend is not None and r["pxname"] != backend:
            continue
        rows.append(
            ServerStat(
                r["pxname"],
                r["svname"],
                r.get("status", ""),
                int(r.get("weight") or 0),
                int(r.get("scur") or 0),
                int(r.get("stot") or 0),
            )
        )
    return rows
