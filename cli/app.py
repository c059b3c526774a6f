"""The Typer application: the global options and the command groups.

Imported by :func:`procops.cli.main.main` only after the language is settled, because the
help texts below (``_()`` at import time) are read in the operator's language.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops import __version__
from procops.cli import (
    audit_cmd,
    backup_cmd,
    config_cmd,
    drill_cmd,
    hosts_cmd,
    incident_cmd,
    loadtest_cmd,
    monitor_cmd,
    readiness_cmd,
    release_cmd,
    runbook_cmd,
    sandbox_cmd,
    scan_cmd,
    schedule_cmd,
    status_cmd,
)
from procops.cli.common import STATE, set_lang
from procops.i18n import _

app = typer.Typer(
    name="procops",
    help=_(
        "Reliability and operations toolkit for the procurement platform: peak-load tests, "
        "threshold alerts, off-site backups with integrity checks, gray releases, emergency "
        "drills on the 15 min / 1 h / 24 h clocks, and an evidence journal."
    ),
    epilog=_("Example: {command}").format(command="procops status"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"procops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    config: Annotated[
        Optional[str],
        typer.Option(
            "--config",
            "-c",
            metavar="PATH",
            envvar="PROCOPS_CONFIG",
            help=_("Config file (else ./procops.yaml, /etc/procops/procops.yaml, the embedded default)."),
        ),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help=_("Machine-readable result (and errors) as JSON on stdout."))
    ] = False,
    lang: Annotated[
        Optional[str],
        typer.Option(
            "--lang",
            metavar="en|zh",
            envvar="PROCOPS_LANG",
            help=_(
                "Language of everything procops prints: en or zh (also accepted after the command; "
                "default: $PROCOPS_LANG, then the locale, e.g. LANG=zh_CN.UTF-8)."
            ),
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help=_("Print the version and exit."))
    ] = False,
) -> None:
    STATE.config_path = config
    STATE.json = json_
    if lang is not None:
        set_lang(lang)


for module, name in (
    (config_cmd, "config"),
    (sandbox_cmd, "sandbox"),
    (loadtest_cmd, "loadtest"),
    (monitor_cmd, "monitor"),
    (backup_cmd, "backup"),
    (schedule_cmd, "schedule"),
    (release_cmd, "release"),
    (hosts_cmd, "hosts"),
    (incident_cmd, "incident"),
    (drill_cmd, "drill"),
    (runbook_cmd, "runbook"),
    (audit_cmd, "audit"),
):
    app.add_typer(module.app, name=name)
app.command(
    "scan",
    help=_("Weekly host security scan with lynis; exit 1 when warnings or the hardening index break the policy."),
    epilog=_("Example: {command}").format(command="procops scan"),
)(scan_cmd.scan)
app.command(
    "status",
    help=_(
        "One screen for the ops desk, each line with its verdict: the active site, alerts, open incidents "
        "and their clocks, backups against the RPO, checks, load test, drills, release, faults, failed jobs; "
        "exit 1 when something needs a person."
    ),
    epilog=_("Example: {command}").format(command="procops status"),
)(status_cmd.status)
app.command(
    "readiness",
    help=_("Check the platform against the policy, step by step; exit 0 only if every step passes."),
    epilog=_("Example: {command}").format(command="procops readiness --lang zh"),
)(readiness_cmd.readiness)


def for_invocation(words: list[str]) -> typer.Typer:
    """The app as one command line needs it: the group it names built whole, every other group as its
    help line alone (``procops --help`` lists them all; converting all ~60 commands into Click
    commands costs more than the rest of the start-up). Shell completion gets the whole app."""
    import os

    if any(k.endswith("_COMPLETE") for k in os.environ):
        return app
    wanted = words[0] if words else None
    trimmed = typer.Typer()
    trimmed.info = app.info
    trimmed.registered_callback = app.registered_callback
    trimmed.registered_commands = app.registered_commands
    trimmed._add_completion = app._add_completion
    trimmed.pretty_exceptions_enable = app.pretty_exceptions_enable
    for info in app.registered_groups:
        if info.name == wanted or info.typer_instance is None:
            trimmed.registered_groups.append(info)
            continue
        group = info.typer_instance.info
        stub = typer.Typer(help=group.help, no_args_is_help=True)
        stub.command(help=group.help, hidden=True)(lambda: None)  # a group needs a command to be one
        trimmed.add_typer(stub, name=info.name, help=group.help)
    return trimmed
