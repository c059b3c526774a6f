"""procops status: one screen for the ops desk, each line with its verdict."""

from __future__ import annotations

from procops.cli.common import JsonOpt, emit, say

from procops.i18n import _


def status(json_: JsonOpt = False) -> None:
    import typer

    from procops import desk
    from procops.cli.common import STATE
    from procops.display import using
    from procops.errors import ExitCode

    with using(STATE.config):
        data = desk.status(STATE.config)

        def human(d: dict) -> None:
            marks = {desk.OK: _("ok"), desk.ATTENTION: _("ATTENTION"), desk.UNKNOWN: _("unknown")}
            for name in desk.SECTIONS:
                s = d["sections"][name]
                lines = s["lines"] or [name]
                say(f"[{marks[s['verdict']]:^9}] {lines[0]}")
                for line in lines[1:]:
                    say(f"            {line}")
            say(_("journal: {rows} rows, head {head}").format(rows=d["journal"]["rows"], head=d["journal"]["head"]))
            if d["needs_person"]:
                say(
                    _("NEEDS A PERSON: {sections}").format(
                        sections=", ".join(_(desk.SECTION_TITLES[n]) for n in d["attention"])
                    )
                )
            else:
                say(_("all clear"))

        emit(data, json_, human)
    if data["needs_person"]:
        raise typer.Exit(int(ExitCode.VERDICT_FAILED))
