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

_VALUE_WORDS = {"<int>": "N", "<float>": "NUMBER", "<path>": "PATH", "<file>": "FILE", "<directory>": "DIR"}


def tidy(command: Any) -> None:
    """Clean the help of ``command`` and every subcommand, in place."""
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
            param.metavar = (longs[0][2:] if longs else param.name or "VALUE").upper().replace("-", "_")
        elif shown in _VALUE_WORDS:
            param.metavar = _VALUE_WORDS[shown]
        elif isinstance(shown, str) and shown.startswith("<") and shown.endswith(">"):
            param.metavar = shown[1:-1]
    for sub in (getattr(command, "commands", None) or {}).values():
        tidy(sub)


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
