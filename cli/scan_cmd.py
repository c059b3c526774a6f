"""procops scan: the weekly host security scan (R3)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

from procops.i18n import _


def scan(
    group: Annotated[
        Optional[list[str]],
        typer.Option("--group", help=_("Only this lynis test group (repeatable), e.g. authentication, ssh.")),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Weekly host security scan with lynis; exit 1 when warnings or the hardening index break the policy."""
    from procops import scan as s
    from procops.home import area_dir

    res = s.run_scan(STATE.config.scan, area_dir("reports"), groups=group, loaded=STATE.loaded())

    def human(d: dict) -> None:
        say(
            _(
                "lynis {lynis_version}: {tests_executed} tests, hardening index {hardening_index} (policy >= {min_hardening_index}), {n_warnings} warnings (policy <= {max_warnings}), {suggestions} suggestions"
            ).format(
                lynis_version=d["lynis_version"],
                tests_executed=d["tests_executed"],
                hardening_index=d["hardening_index"],
                min_hardening_index=d["min_hardening_index"],
                n_warnings=len(d["warnings"]),
                max_warnings=d["max_warnings"],
                suggestions=d["suggestions"],
            )
        )
        for w in d["warnings"]:
            say(_("  WARNING {test}: {text}").format(test=w["test"], text=w["text"]))
        say(_("report: {report_dir}").format(report_dir=d["report_dir"]))
        say(_("PASS") if d["ok"] else _("FAIL: the host does not meet the scan policy"))

    emit(res.as_dict(), json_, human)
    if not res.ok:
        raise typer.Exit(1)
