"""The `procops` command: the language, then the app, then one exit code.

Exit codes: 0 done and the verdict holds; 1 done and the verdict failed;
2 bad input (usage, config, unknown name); 3 environment failure (binary
missing, service unreachable, lock held); 130 interrupted (SIGINT or SIGTERM:
children stopped, the operation's journal event written with status
``interrupted``).

The language is settled first, from ``--lang`` (anywhere before ``--``),
``$PROCOPS_LANG``, then the locale, so that the help texts, which are read when the command
modules are imported, are already in the operator's language. With ``--json`` an error is
also a JSON object on stdout: ``{"error": {"exit_code": 2, "message": ..., "hint": ...}}``.
"""

from __future__ import annotations

import sys
from typing import Any


def lang_in_argv(argv: list[str]) -> str | None:
    """The value of the last ``--lang X`` / ``--lang=X`` before ``--`` (None when there is none)."""
    found = None
    for i, a in enumerate(argv):
        if a == "--":
            break
        if a == "--lang" and i + 1 < len(argv):
            found = argv[i + 1]
        elif a.startswith("--lang="):
            found = a.split("=", 1)[1]
    return found


def shows_help(root: Any, argv: list[str]) -> bool:
    """Whether this command line prints a help page: ``--help``/``-h``, or a group named without
    one of its commands."""
    head = argv[: argv.index("--")] if "--" in argv else argv
    if "--help" in head or "-h" in head:
        return True
    node, skip = root, False
    for a in head:
        if skip:
            skip = False
            continue
        if a in ("--lang", "--config", "-c"):
            skip = True
            continue
        subs = getattr(node, "commands", None)
        if subs and a in subs:
            node = subs[a]
        elif not a.startswith("-"):
            return False
    return bool(getattr(node, "commands", None))


def _json_wanted(argv: list[str]) -> bool:
    from procops.cli.common import STATE

    return STATE.json or "--json" in argv[: argv.index("--") if "--" in argv else len(argv)]


# What helps when a command of a group fails without a hint of its own: its runbook or its status.
NEXT_STEP = {
    "backup": "procops runbook show backup-failure",
    "sandbox": "procops runbook show app-crash",
    "loadtest": "procops runbook show capacity",
    "incident": "procops runbook show incident-response",
    "monitor": "procops monitor status",
    "schedule": "procops schedule show",
    "scan": "procops runbook show security",
    "readiness": "procops status",
}


def command_words(argv: list[str]) -> list[str]:
    """The words of a command line that are not options, nor the values of the global ones."""
    words, skip = [], False
    for a in argv[: argv.index("--")] if "--" in argv else argv:
        if skip:
            skip = False
        elif a in ("--lang", "--config", "-c"):
            skip = True
        elif not a.startswith("-"):
            words.append(a)
    return words


def default_hint(argv: list[str], kind: str) -> str:
    """The next step when an error brings none: the command's help for bad input, else the
    runbook or status command of its group."""
    from procops.i18n import _

    words = command_words(argv)
    if kind in ("bad_input", "usage"):
        return _("see: {command}").format(command=" ".join(["procops", *words[:2], "--help"]))
    group = words[0] if words else ""
    return _("what to do next: {command}").format(command=NEXT_STEP.get(group, "procops runbook list"))


def _fail(argv: list[str], code: int, message: str, hint: str | None = None, kind: str = "error") -> int:
    """An error for people (stderr) and, with --json, for machines (a JSON object on stdout).
    Every error names what helps next: its own hint, else :func:`default_hint`."""
    import typer

    from procops.i18n import _
    from procops.masking import mask_text

    hint = hint or default_hint(argv, kind)

    typer.echo(mask_text(_("procops: error: {message}").format(message=message)), err=True)
    if hint:
        typer.echo(mask_text(_("hint: {hint}").format(hint=hint)), err=True)
    if _json_wanted(argv):
        from procops.cli.common import print_json

        print_json({"error": {"exit_code": code, "kind": kind, "message": message, "hint": hint}})
    return code


def main(argv: list[str] | None = None) -> int:
    from procops import i18n
    from procops.errors import ExitCode

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        i18n.use(i18n.resolve(lang_in_argv(argv)))
    except ValueError as e:
        return _fail(argv, int(ExitCode.BAD_INPUT), str(e), kind="bad_input")

    import typer
    from typer._click import exceptions as click_errors  # Typer bundles its own Click

    from procops.errors import Interrupted, ProcopsError, signals_raise
    from procops.home import private_umask
    from procops.i18n import _

    from procops.cli.app import for_invocation
    from procops.cli.common import hoist_lang
    from procops.cli.help import tidy_along, usage_message

    private_umask()
    command = typer.main.get_command(for_invocation(command_words(argv)))
    argv = hoist_lang(argv, command)
    tidy_along(command, argv)
    eager = ("--version", "--install-completion", "--show-completion", "--help", "-h")
    if argv and not command_words(argv) and not any(a.split("=")[0] in eager for a in argv):
        argv = [*argv, "--help"]  # only global options (procops --lang zh): the help, as with no argument
    if shows_help(command, argv):  # Typer's own words (Options, Commands ...) in the language too
        i18n.use_for_libraries(["typer.rich_utils"])
    try:
        with signals_raise():
            rv = command(args=argv, prog_name="procops", standalone_mode=False)
        return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
    except Interrupted as e:
        typer.echo(_("procops: {message}").format(message=e.message), err=True)
        if _json_wanted(argv):
            from procops.cli.common import print_json

            print_json({"error": {"exit_code": 130, "kind": "interrupted", "message": e.message, "hint": None}})
        return int(ExitCode.INTERRUPTED)
    except ProcopsError as e:
        return _fail(argv, int(e.exit_code), e.message, e.hint, kind=e.kind)
    except click_errors.NoArgsIsHelpError as e:
        if e.format_message().strip():  # the help of the group named without a command (rich prints it itself)
            typer.echo(e.format_message(), err=True)
        return int(ExitCode.BAD_INPUT)
    except click_errors.UsageError as e:
        ctx = getattr(e, "ctx", None)
        hint = _("see: {command}").format(command=f"{ctx.command_path} --help") if ctx is not None else None
        if ctx is not None and not _json_wanted(argv):
            typer.echo(ctx.get_usage(), err=True)
        return _fail(argv, int(ExitCode.BAD_INPUT), usage_message(e), hint, kind="usage")
    except typer.Abort:
        typer.echo(_("procops: interrupted"), err=True)
        return int(ExitCode.INTERRUPTED)
    except click_errors.ClickException as e:
        return _fail(argv, e.exit_code, e.format_message())
    except SystemExit as e:
        return _exit_code(e.code)
    except KeyboardInterrupt:
        typer.echo(_("procops: interrupted"), err=True)
        return int(ExitCode.INTERRUPTED)
    return 0


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    import typer

    typer.echo(str(code), err=True)
    return 1


def entry() -> None:
    sys.exit(main())


def __getattr__(name: str) -> Any:
    if name == "app":  # the Typer app, for tests and tools that want the click command
        from procops.cli.app import app

        return app
    raise AttributeError(name)


if __name__ == "__main__":
    entry()
