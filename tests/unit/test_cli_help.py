"""Help that teaches: every command has a purpose line and an example, every option is
described, flags show no type noise, and every example parses."""

from __future__ import annotations

import shlex

import pytest
import typer

from procops.cli.app import app
from procops.cli.help import EXAMPLES, tidy
from procops.cli.main import main


def _commands():
    root = typer.main.get_command(app)
    tidy(root)
    out = []

    def walk(cmd, path):
        out.append((path, cmd))
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(root, "")
    return out


COMMANDS = _commands()


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=[p or "procops" for p, _ in COMMANDS])
def test_every_command_has_a_purpose_an_example_and_described_options(path, cmd):
    assert (cmd.help or "").strip(), f"'procops {path}' has no help"
    assert path in EXAMPLES, f"'procops {path}' has no example in procops.cli.help.EXAMPLES"
    assert "Example" in (cmd.epilog or "")
    for p in cmd.params:
        if p.param_type_name == "option":
            assert (p.help or "").strip(), f"'procops {path} {p.opts[0]}' is not described"
            assert not str(p.metavar or "").startswith("<"), f"'procops {path} {p.opts[0]}' shows {p.metavar}"


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_every_example_parses(path, capsys):
    argv = shlex.split(EXAMPLES[path])
    assert argv[0] == "procops"
    assert main([*argv[1:], "--help"]) == 0, capsys.readouterr().err


def test_flags_show_no_type_and_help_reads_in_chinese(capsys):
    assert main(["--lang", "zh", "audit", "log", "--help"]) == 0
    out = capsys.readouterr().out
    assert "<bool>" not in out and "<str>" not in out and "<int>" not in out
    assert "显示本帮助并退出" in out and "示例" in out
    main(["--lang", "en", "--help"])


def test_shell_completion_completes_commands():
    import os
    import subprocess

    from testsupport import PROCOPS

    env = {**os.environ, "_PROCOPS_COMPLETE": "complete_bash", "COMP_WORDS": "procops backup st", "COMP_CWORD": "2"}
    p = subprocess.run([PROCOPS], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.split() == ["status"]


def test_only_global_options_show_the_help_and_json_errors_are_objects(capsys):
    import json

    import os
    import subprocess

    from testsupport import PROCOPS

    p = subprocess.run([PROCOPS, "--lang", "zh"], capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert p.returncode == 0
    assert "选项" in p.stdout and "命令" in p.stdout and "示例：procops status" in p.stdout
    assert main(["--lang", "en", "--json", "backup", "status", "--bogus"]) == 2
    err = json.loads(capsys.readouterr().out)["error"]
    assert err == {
        "exit_code": 2,
        "kind": "usage",
        "message": "No such option: --bogus",
        "hint": "see: procops backup status --help",
    }
