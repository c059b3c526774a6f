"""What every command shares: global options, config loading, output, errors.

The CLI is thin: parse, call the area's API, render. Human text goes to stderr
when ``--json`` is given, so stdout stays machine-readable.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from collections.abc import Callable

import typer

from procops.i18n import _
from procops.i18n import current as current_lang

if TYPE_CHECKING:
    from procops.config import Config, LoadedConfig

JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print the result as JSON on stdout."))]
LANGS = ("en", "zh")


@dataclass
class State:
    config_path: str | None = None
    json: bool = False
    lang: str = field(default_factory=current_lang)
    _loaded: LoadedConfig | None = None

    def loaded(self) -> LoadedConfig:
        """The effective config (loaded on first use: --help never imports pydantic)."""
        if self._loaded is None:
            from procops import config

            self._loaded = config.load(self.config_path)
            from procops import metrics

            metrics.configure(self._loaded.config)  # batch metrics go to monitoring.textfile_dir
            from procops import display

            display.configure(self._loaded.config)  # times for people in display.timezone
            from procops import ssh

            ssh.configure(self._loaded.config)  # host keys checked on every SSH connection
        return self._loaded

    @property
    def config(self) -> Config:
        return self.loaded().config


STATE = State()


def set_lang(lang: str) -> None:
    """``--lang``, before the command or after it: everything a person reads."""
    from procops import i18n

    try:
        STATE.lang = i18n.normalize(lang)
    except ValueError:
        raise typer.BadParameter(
            _("unknown language {lang!r}: use en or zh").format(lang=lang), param_hint="--lang"
        ) from None
    i18n.use(STATE.lang)


ROOT_VALUE_OPTIONS = ("--config", "-c", "--lang")


def hoist_lang(argv: list[str], root: Any) -> list[str]:
    """Accept ``--lang`` after the subcommand, as ``--json`` is (``procops backup status --lang zh``).

    A ``--lang X`` (or ``--lang=X``) after the command's name moves to the front, where the
    root option reads it, unless that command has a ``--lang`` of its own (``incident show``,
    ``runbook list``, ... which fall back to the global one). Nothing after ``--`` is touched.
    """
    args = list(argv)
    node, i = root, 0
    while i < len(args):
        a = args[i]
        subs = getattr(node, "commands", None)
        if a == "--" or subs is None:
            break
        if a in subs:
            node = subs[a]
        elif node is root and a in ROOT_VALUE_OPTIONS:
            i += 1
        i += 1
    if getattr(node, "commands", None) is not None or any("--lang" in getattr(p, "opts", ()) for p in node.params):
        return args
    head, tail, lang = args[:i], [], None
    j = i
    while j < len(args):
        a = args[j]
        if a == "--":
            tail += args[j:]
            break
        if a == "--lang" and j + 1 < len(args):
            lang, j = args[j + 1], j + 2
            continue
        if a.startswith("--lang="):
            lang, j = a.split("=", 1)[1], j + 1
            continue
        tail.append(a)
        j += 1
    return args if lang is None else ["--lang", lang, *head, *tail]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(value: Any) -> str:
    """Untrusted text (alert summaries, titles, owners, feedback) as one inert line for a table or a
    list: newlines, tabs and other control characters (terminal escape sequences included) become
    spaces, so a value cannot add lines, columns or colours to what the command prints."""
    return " ".join(_CONTROL.sub(" ", "" if value is None else str(value)).split())


def want_json(local: bool) -> bool:
    return local or STATE.json


def _default(o: Any) -> Any:
    if hasattr(o, "as_dict"):
        return o.as_dict()
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    return str(o)


def print_json(data: Any) -> None:
    from procops.masking import mask_data

    plain = json.loads(json.dumps(data, ensure_ascii=False, default=_default))
    sys.stdout.write(json.dumps(mask_data(plain), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def say(text: str = "", *, err: bool | None = None) -> None:
    """Human output: stdout normally, stderr when the result is JSON; URL passwords masked."""
    from procops.masking import mask_text

    to_err = STATE.json if err is None else err
    typer.echo(mask_text(text), err=to_err)


class _MaskingFile:
    """A text stream that masks URL passwords in everything written to it (rich's output)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from procops.masking import mask_text

        return self._stream.write(mask_text(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if want_json(as_json):
        print_json(data)
    else:
        human(data)


def console(stderr: bool | None = None):
    from rich.console import Console

    to_err = STATE.json if stderr is None else stderr
    from typing import IO, cast

    out = cast(IO[str], _MaskingFile(sys.stderr if to_err else sys.stdout))
    return Console(file=out, stderr=to_err, highlight=False)
