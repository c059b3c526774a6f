"""The `procops` command: global options, command groups, exit codes.

Exit codes: 0 done and the verdict holds; 1 done and the verdict failed;
2 bad input (usage, config, unknown name); 3 environment failure (binary
missing, service unreachable, lock held); 130 interrupted (SIGINT or SIGTERM:
children stopped, the operation's journal event written with status
``interrupted``).
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from procops import __version__
from procops.cli import (
    audit_cmd,
    backup_cmd,
    config_cmd,
    drill_cmd,
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
from procops.cli.common import STATE, hoist_lang, set_lang

app = typer.Typer(
    name="procops",
    help="Reliability and operations toolkit for the procurement platform: peak-load tests, "
    "threshold alerts, off-site backups with integrity checks, gray releases, emergency "
    "drills on the 15 min / 1 h / 24 h clocks, and an evidence journal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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
            help="Config file (else ./procops.yaml, /etc/procops/procops.yaml, the embedded default).",
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable result on stdout.")] = False,
    lang: Annotated[
        Optional[str],
        typer.Option(
            "--lang",
            envvar="PROCOPS_LANG",
            help="Language of reports and runbooks: en or zh (also accepted after the command).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
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
    (incident_cmd, "incident"),
    (drill_cmd, "drill"),
    (runbook_cmd, "runbook"),
    (audit_cmd, "audit"),
):
    app.add_typer(module.app, name=name)
app.command("scan")(scan_cmd.scan)
app.command("status")(status_cmd.status)
app.command("readiness")(readiness_cmd.readiness)


def main(argv: list[str] | None = None) -> int:
    from procops.errors import ProcopsError
    from procops.errors import ExitCode, Interrupted, signals_raise

    from procops.home import private_umask

    private_umask()
    command = typer.main.get_command(app)
    argv = hoist_lang(sys.argv[1:] if argv is None else argv, command)
    try:
        with signals_raise():
            command(args=argv, prog_name="procops", standalone_mode=True)
    except Interrupted as e:
        typer.echo(f"procops: {e.message}", err=True)
        return int(ExitCode.INTERRUPTED)
    except ProcopsError as e:
        from procops.masking import mask_text

        typer.echo(mask_text(f"procops: error: {e.message}"), err=True)
        if e.hint:
            typer.echo(mask_text(f"hint: {e.hint}"), err=True)
        return int(e.exit_code)
    except SystemExit as e:
        code = e.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        typer.echo(str(code), err=True)
        return 1
    except KeyboardInterrupt:
        typer.echo("procops: interrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
