"""procops scan: the weekly host security scan (R3)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say


def scan(
    group: Annotated[
        Optional[list[str]],
        typer.Option("--group", help="Only this lynis test group (repeatable), e.g. authentication, ssh."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Weekly host security scan with lynis; exit 1 when warnings or the hardening index break the policy."""
    from procops import scan as s
    from procops.home import area_dir

    res = s.run_scan(STATE.config.scan, area_dir("reports"), groups=group, loaded=STATE.loaded())

    def human(d: dict) -> None:
        say(
            f"lynis {d['lynis_version']}: {d['tests_executed']} tests, hardening index {d['hardening_index']} "
            f"(policy >= {d['min_hardening_index']}), {len(d['warnings'])} warnings (policy <= {d['max_warnings']}), "
            f"{d['suggestions']} suggestions"
        )
        for w in d["warnings"]:
            say(f"  WARNING {w['test']}: {w['text']}")
        say(f"report: {d['report_dir']}")
        say("PASS" if d["ok"] else "FAIL: the host does not meet the scan policy")

    emit(res.as_dict(), json_, human)
    if not res.ok:
        raise typer.Exit(1)
