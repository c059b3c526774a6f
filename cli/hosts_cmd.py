"""procops hosts: the release inventory's hosts over SSH (Fabric): run a command, health, version."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, one_line, say

from procops.i18n import _

app = typer.Typer(
    help=_("The release inventory's hosts over SSH: run a command, health, deployed version."), no_args_is_help=True
)

HostOpt = Annotated[
    Optional[list[str]], typer.Option("--host", help=_("A host of the inventory (repeat; default: all)."))
]


def _show(rows: list[dict], json_: bool, field: str) -> None:
    def human(rows: list[dict]) -> None:
        for r in rows:
            value = r.get(field) if field != "stdout" else (r["stdout"] or r["stderr"]).strip()
            say(f"{'ok  ' if r['ok'] else 'FAIL'} {r['host']}: {one_line(value) if field != 'stdout' else value}")

    emit(rows, json_, human)
    if any(r.get("unreachable") for r in rows):
        raise typer.Exit(3)  # a host not reached over SSH: the environment, not a verdict
    if any(not r["ok"] for r in rows):
        raise typer.Exit(1)


@app.command(
    "exec",
    help=_(
        "Run a command on the hosts (argv after --, no shell); exit 1 if it fails on one, 3 if one is not reached over SSH."
    ),
)
def exec_(
    argv: Annotated[list[str], typer.Argument(help=_("The command and its arguments."))],
    host: HostOpt = None,
    json_: JsonOpt = False,
) -> None:
    from procops.release import api

    _show(api.hosts_exec(STATE.config, list(argv), host), json_, "stdout")


@app.command(
    help=_("Each host's health URL, read on the host; exit 1 if one does not answer, 3 if one is not reached over SSH.")
)
def health(host: HostOpt = None, json_: JsonOpt = False) -> None:
    from procops.release import api

    _show(api.hosts_health(STATE.config, host), json_, "version")


@app.command(help=_("The release each host runs (its current link; a sandbox replica's answered version)."))
def version(host: HostOpt = None, json_: JsonOpt = False) -> None:
    from procops.release import api

    _show(api.hosts_version(STATE.config, host), json_, "version")
