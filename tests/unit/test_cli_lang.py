"""`--lang` is accepted after the subcommand, as `--json` is."""

from __future__ import annotations

import typer

from procops.cli.common import hoist_lang
from procops.cli.main import app

ROOT = typer.main.get_command(app)


def test_lang_after_the_subcommand_moves_before_it():
    assert hoist_lang(["backup", "status", "--lang", "zh"], ROOT) == ["--lang", "zh", "backup", "status"]
    assert hoist_lang(["backup", "status", "--lang=zh", "--json"], ROOT) == [
        "--lang",
        "zh",
        "backup",
        "status",
        "--json",
    ]
    assert hoist_lang(["--config", "x.yaml", "sandbox", "fault", "set", "db=down", "--lang", "en"], ROOT) == [
        "--lang",
        "en",
        "--config",
        "x.yaml",
        "sandbox",
        "fault",
        "set",
        "db=down",
    ]


def test_a_command_with_its_own_lang_keeps_it_and_nothing_after_dashdash_moves():
    assert hoist_lang(["runbook", "list", "--lang", "zh"], ROOT) == ["runbook", "list", "--lang", "zh"]
    assert hoist_lang(["incident", "show", "INC-1", "--lang", "zh"], ROOT) == [
        "incident",
        "show",
        "INC-1",
        "--lang",
        "zh",
    ]
    assert hoist_lang(["backup", "status", "--", "--lang", "zh"], ROOT) == ["backup", "status", "--", "--lang", "zh"]
    assert hoist_lang(["--lang", "zh", "backup", "status"], ROOT) == ["--lang", "zh", "backup", "status"]


def test_one_line_makes_untrusted_text_inert():
    from procops.cli.common import one_line

    assert one_line("a\nb\r\n\tc\x1b[31md\x00") == "a b c [31md"
    assert one_line(None) == "" and one_line(42) == "42"
