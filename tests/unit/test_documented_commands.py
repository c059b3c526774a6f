"""Every `procops ...` command line that README, docs/ and runbooks/ show names a command that
exists and options it has: each is run with --help, and its options are checked against it."""

from __future__ import annotations

import contextlib
import functools
import io
import re
import shlex
from pathlib import Path

import pytest
import typer

from procops.cli.app import app
from procops.cli.help import tidy
from procops.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [ROOT / "README.md", ROOT / "README.zh.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "runbooks").glob("*/*.md")]
)
INLINE = re.compile(r"`((?:\.venv/bin/)?procops(?: [^`]*)?)`")
LINE = re.compile(r"^\s*(?:\$ )?((?:\.venv/bin/)?procops(?: .*)?)$")


def command_lines(text: str) -> list[str]:
    """The procops command lines of a Markdown text: in code blocks and in `code` spans."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            m = LINE.match(line)
            if m:
                found.append(m.group(1))
        else:
            found += INLINE.findall(line)
    out = []
    for c in found:
        c = re.split(r"\s+#\s|\s\|\s|\s>\s|\s&&\s|;\s", c)[0].strip()  # a comment, a pipe, a redirect
        if "<" in c or c.endswith("..."):  # a pattern (`procops <args>`), an elided command
            continue
        out.append(c.removeprefix(".venv/bin/"))
    return out


def _tokens(line: str) -> list[str]:
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    return [w.strip("[]") for w in words if w not in ("|", "...", "[", "]")][1:]


ROOT_CMD = typer.main.get_command(app)
tidy(ROOT_CMD)


def resolve(tokens: list[str]) -> tuple[list[str], object, list[str]]:
    """(the command path, its click command, the option tokens of the line)."""
    node, path, i = ROOT_CMD, [], 0
    root_value_opts = {"--config", "-c", "--lang"}
    while i < len(tokens):
        t = tokens[i]
        subs = getattr(node, "commands", None) or {}
        if t in subs:
            node, path = subs[t], [*path, t]
        elif node is ROOT_CMD and t in root_value_opts:
            i += 1
        elif not t.startswith("-"):
            break
        i += 1
    opts = []
    for t in tokens:  # "--lang zh|en", "--a|--b" and "--a/--b" name alternatives
        if re.match(r"^--?[A-Za-z][\w-]*", t):
            opts += [o.split("=")[0] for o in re.split(r"[|/](?=--)", t)]
    return path, node, opts


def _known(cmd) -> set[str]:
    names = {"--help", "-h"}
    for c in (cmd, ROOT_CMD):
        for p in c.params:
            names.update(getattr(p, "opts", []))
            names.update(getattr(p, "secondary_opts", []))
    return names


LINES = sorted({(d.relative_to(ROOT).as_posix(), c) for d in DOCS for c in command_lines(d.read_text("utf-8"))})


def test_the_documents_show_command_lines():
    assert len(LINES) > 100
    docs = {d for d, _unused in LINES}
    assert {"README.md", "README.zh.md", "runbooks/zh/incident-response.md", "docs/backup.md"} <= docs


@pytest.mark.parametrize("doc, line", LINES, ids=[f"{d}: {c}" for d, c in LINES])
def test_a_documented_command_exists_with_its_options(doc, line):
    tokens = _tokens(line)
    path, cmd, opts = resolve(tokens)
    if tokens and not tokens[0].startswith("-"):
        assert path, f"{doc}: '{line}' names no procops command"
    unknown = [o for o in opts if o not in _known(cmd)]
    assert not unknown, f"{doc}: '{line}': 'procops {' '.join(path)}' has no option {unknown}"
    assert _help(tuple(path)) == 0, f"{doc}: 'procops {' '.join(path)} --help' failed"


@functools.cache
def _help(path: tuple[str, ...]) -> int:
    """``procops PATH --help`` (once per command: many lines name the same one)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main([*path, "--help"])


def test_a_missing_command_or_option_is_caught():
    _unused, cmd, opts = resolve(_tokens("procops backup run --no-such-flag"))
    assert [o for o in opts if o not in _known(cmd)] == ["--no-such-flag"]
    path, _unused, _unused2 = resolve(_tokens("procops backup frobnicate"))
    assert path == ["backup"]  # 'frobnicate' is no subcommand: the line names only the group
    assert command_lines("run `procops status` then\n```sh\nprocops backup run   # hourly\n```\n") == [
        "procops status",
        "procops backup run",
    ]
