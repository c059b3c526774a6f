"""Help and usage errors in the operator's language, without type noise.

* :func:`tidy` walks the click command tree Typer built: flags show no ``<bool>``, value
  options show a word for their value (``--repo REPO``, ``--limit N``) instead of ``<str>`` or
  ``<int>``, and the options Typer adds itself (``--help``, ``--install-completion``,
  ``--show-completion``) are described in the current language.
* :func:`usage_message` says what was wrong with the command line, translated (the messages of
  Typer's bundled Click are plain English strings).
"""

from __future__ import annotations

from typing import Any

from procops.i18n import _

# One example for every command (and group): shown at the end of its --help, and run with
# --help by tests/unit/test_cli_help.py so an example never names a command or option that is gone.
EXAMPLES: dict[str, str] = {
    "": "procops status",
    "scan": "procops scan",
    "status": "procops status",
    "readiness": "procops readiness --lang zh",
    "config": "procops config validate",
    "config validate": "procops config validate procops.yaml",
    "config show": "procops config show",
    "config schema": "procops config schema > procops.schema.json",
    "config init": "procops config init procops.yaml",
    "sandbox": "procops sandbox up --replicas 2",
    "sandbox up": "procops sandbox up --replicas 2",
    "sandbox down": "procops sandbox down",
    "sandbox status": "procops sandbox status",
    "sandbox fault": "procops sandbox fault set latency=2500ms --endpoint announcements.list",
    "sandbox fault set": "procops sandbox fault set latency=2500ms --endpoint announcements.list",
    "sandbox fault clear": "procops sandbox fault clear",
    "sandbox switch": "procops sandbox switch r1 --version 1.1.0",
    "sandbox reload": "procops sandbox reload",
    "release": "procops release status",
    "drill": "procops drill list",
    "drill list": "procops drill list",
    "drill plan": "procops drill plan app-crash",
    "drill run": "procops drill run app-crash --auto",
    "drill status": "procops drill status",
    "release plan": "procops release plan 1.1.0",
    "release start": "procops release start 1.1.0 --analysis 2m",
    "release status": "procops release status",
    "release promote": "procops release promote",
    "release abort": "procops release abort --reason 'uploads slow on the canary'",
    "release resume": "procops release resume",
    "release history": "procops release history",
    "release feedback": "procops release feedback list",
    "release feedback add": "procops release feedback add --unit unit-0001 --blocking 'the bid form lost its attachment list'",
    "release feedback resolve": "procops release feedback resolve 1",
    "release feedback list": "procops release feedback list",
    "hosts": "procops hosts version",
    "hosts exec": "procops hosts exec --host web1 uptime",
    "hosts health": "procops hosts health",
    "hosts version": "procops hosts version",
    "loadtest": "procops loadtest peak --users 150 --duration 2m",
    "loadtest peak": "procops loadtest peak --users 150 --duration 2m",
    "loadtest capacity": "procops loadtest capacity --baseline-users 50",
    "loadtest report": "procops loadtest report ~/.local/state/procops/reports/loadtest-peak-20261201T020000Z",
    "monitor": "procops monitor check",
    "monitor rules": "procops monitor rules",
    "monitor exporter": "procops monitor exporter --port 19101",
    "monitor webhook": "procops monitor webhook --port 19102",
    "monitor up": "procops monitor up",
    "monitor down": "procops monitor down",
    "monitor status": "procops monitor status",
    "monitor check": "procops monitor check",
    "backup": "procops backup status",
    "backup init": "procops backup init",
    "backup run": "procops backup run",
    "backup restore": "procops backup restore --document 42",
    "backup prune": "procops backup prune --repo local",
    "backup check": "procops backup check",
    "backup verify": "procops backup verify --live",
    "backup snapshots": "procops backup snapshots --repo offsite",
    "backup status": "procops backup status",
    "schedule": "procops schedule install --systemd --dry-run",
    "schedule install": "procops schedule install --systemd --dry-run",
    "schedule show": "procops schedule show",
    "schedule remove": "procops schedule remove",
    "schedule run-job": "procops schedule run-job backup",
    "schedule job-failed": "procops schedule job-failed backup",
    "incident": "procops incident list --open",
    "incident open": 'procops incident open --title "bid upload fails" --t0 "2026-12-01 10:00"',
    "incident list": "procops incident list --open",
    "incident show": "procops incident show INC-20261201-001",
    "incident classify": "procops incident classify INC-20261201-001 --type disk-full",
    "incident standby": "procops incident standby INC-20261201-001 --execute",
    "incident failback": "procops incident failback INC-20261201-001 --execute",
    "incident report": "procops incident report INC-20261201-001 --lang zh --submit",
    "incident resolve": 'procops incident resolve INC-20261201-001 --summary "disk cleaned"',
    "incident set": 'procops incident set INC-20261201-001 --commander "Wang Li" --impact "uploads failed 40 min"',
    "incident escalate": "procops incident escalate",
    "incident receiver": "procops incident receiver --port 19103",
    "incident action": "procops incident action list INC-20261201-001",
    "incident action add": 'procops incident action add INC-20261201-001 --problem "no disk alert" --owner ops',
    "incident action update": "procops incident action update INC-20261201-001 1 --status rectified",
    "incident action list": "procops incident action list INC-20261201-001",
    "runbook": "procops runbook list",
    "runbook list": "procops runbook list --lang zh",
    "runbook show": "procops runbook show disk-full --lang zh",
    "audit": "procops audit verify-journal",
    "audit verify-journal": "procops audit verify-journal",
    "audit log": "procops audit log --kind backup --limit 20",
}

# value words of the options that name a person or take free text
_WORDS = {
    **dict.fromkeys(("commander", "operations", "scribe", "by", "owner"), "NAME"),
    **dict.fromkeys(("title", "summary", "impact", "detection", "root-cause", "note", "problem", "evidence"), "TEXT"),
}
_VALUE_WORDS = {"<int>": "N", "<float>": "NUMBER", "<path>": "PATH", "<file>": "FILE", "<directory>": "DIR"}


def tidy_along(root: Any, argv: list[str]) -> None:
    """:func:`tidy` the root and the commands ``argv`` names, only them (``--help`` stays quick)."""
    node, path = root, ""
    tidy(root, recursive=False)
    for a in argv:
        subs = getattr(node, "commands", None)
        if a == "--" or not subs:
            break
        if a in subs:
            node, path = subs[a], f"{path} {a}".strip()
            tidy(node, path, recursive=False)


_CONTEXT: Any = None


def _context_class() -> Any:
    """A Click context whose help formatter says "Usage:" in the current language."""
    global _CONTEXT
    if _CONTEXT is None:
        from typer._click.core import Context
        from typer._click.formatting import HelpFormatter

        class Formatter(HelpFormatter):
            def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
                super().write_usage(prog, args, _("Usage:") + " " if prefix is None else prefix)

        class TranslatedContext(Context):
            formatter_class = Formatter

        _CONTEXT = TranslatedContext
    return _CONTEXT


def tidy(command: Any, path: str = "", *, recursive: bool = True) -> None:
    """Clean the help of ``command`` (and every subcommand), in place; add each one's example."""
    command.context_class = _context_class()
    if path in EXAMPLES and not getattr(command, "epilog", None):
        command.epilog = _("Example: {command}").format(command=EXAMPLES[path])
    own = {
        "help": _("Show this message and exit."),
        "install_completion": _("Install shell completion for procops (bash, zsh, fish), then open a new shell."),
        "show_completion": _("Print the shell completion script, to copy it or install it by hand."),
    }
    from typer._click.core import Context  # Typer bundles its own Click

    # the help option is made on first use and kept (Command._help_option): make it now
    helper = command.get_help_option(Context(command, help_option_names=["-h", "--help"]))
    for param in [*getattr(command, "params", []), *([helper] if helper is not None else [])]:
        if getattr(param, "param_type_name", "") != "option":
            continue
        if param.name in own:
            param.help = own[param.name]
        if param.metavar is not None:
            continue
        if getattr(param, "is_flag", False) or getattr(param, "is_bool_flag", False):
            param.metavar = ""
            continue
        try:
            shown = param.display_type(None)
        except Exception:  # a type Typer cannot show without a context: leave it
            continue
        if shown in ("<str>", "<text>") or shown is None:
            longs = [o for o in param.opts if o.startswith("--")]
            name = longs[0][2:] if longs else param.name or "VALUE"
            param.metavar = _WORDS.get(name, name.upper().replace("-", "_"))
        elif shown in _VALUE_WORDS:
            param.metavar = _VALUE_WORDS[shown]
        elif isinstance(shown, str) and shown.startswith("<") and shown.endswith(">"):
            param.metavar = shown[1:-1]
    if not recursive:
        return
    for name, sub in (getattr(command, "commands", None) or {}).items():
        tidy(sub, f"{path} {name}".strip())


def usage_message(e: Any) -> str:
    """What was wrong with the command line (a Click usage error), in the current language."""
    from typer._click import exceptions as x  # Typer bundles its own Click

    if isinstance(e, x.NoSuchOption):
        text = _("No such option: {option}").format(option=e.option_name)
        if e.possibilities:
            text += " " + _("(did you mean {options}?)").format(options=", ".join(sorted(e.possibilities)))
        return text
    if isinstance(e, x.MissingParameter):
        param = e.param
        kind = getattr(param, "param_type_name", "") or e.param_type or ""
        name = _hint(e)
        if kind == "argument":
            return _("Missing argument {name}.").format(name=name)
        return _("Missing option {name}.").format(name=name)
    if isinstance(e, x.BadParameter):
        name = _hint(e)
        if name:
            return _("Invalid value for {name}: {message}").format(name=name, message=e.message)
        return _("Invalid value: {message}").format(message=e.message)
    msg = str(getattr(e, "message", e))
    if msg.startswith("No such command"):
        return _("No such command: {name}").format(name=msg.split(" ", 3)[-1].rstrip("."))
    if msg.startswith("Got unexpected extra argument"):
        return _("Unexpected extra arguments: {args}").format(args=msg.split("(", 1)[-1].rstrip(")"))
    return msg


def _hint(e: Any) -> str:
    hint = getattr(e, "param_hint", None)
    if hint is None and getattr(e, "param", None) is not None:
        hint = e.param.get_error_hint()
    if isinstance(hint, (list, tuple)):
        hint = " / ".join(str(h) for h in hint)
    return str(hint or "")
