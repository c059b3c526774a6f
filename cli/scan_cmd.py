"""procops scan: the weekly host security scan (R3): lynis and debsecan, here or on inventory hosts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

from procops.i18n import _


def scan(
    group: Annotated[
        Optional[list[str]],
        typer.Option("--group", help=_("Only this lynis test group (repeatable), e.g. authentication, ssh.")),
    ] = None,
    host: Annotated[
        Optional[list[str]],
        typer.Option(
            "--host",
            metavar="NAME",
            help=_("Scan this inventory host over SSH instead of this one (repeatable)."),
        ),
    ] = None,
    inventory: Annotated[
        Optional[Path],
        typer.Option(
            "--inventory", metavar="FILE", help=_("Ansible inventory (INI) of the hosts (default: scan.inventory).")
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Weekly host security scan with lynis and debsecan; exit 1 when the hardening index or the warnings
    break the policy, or on new warnings or new high-urgency vulnerabilities since the previous scan."""
    from procops import scan as s
    from procops.home import area_dir

    cfg = STATE.config
    targets = s.resolve_hosts(cfg, host, inventory) if host else [None]
    results = [s.run_scan(cfg.scan, area_dir("reports"), groups=group, loaded=STATE.loaded(), host=h) for h in targets]

    def human_one(d: dict) -> None:
        say(
            _(
                "{target}: lynis {lynis_version}: {tests_executed} tests, hardening index {hardening_index} (policy >= {min_hardening_index}), {n_warnings} warnings (policy <= {max_warnings}), {suggestions} suggestions"
            ).format(
                target=d["target"],
                lynis_version=d["lynis_version"],
                tests_executed=d["tests_executed"],
                hardening_index=d["hardening_index"] if d["hardening_index"] is not None else "-",
                min_hardening_index=d["min_hardening_index"],
                n_warnings=len(d["warnings"]),
                max_warnings=d["max_warnings"],
                suggestions=d["suggestions"],
            )
        )
        for w in d["warnings"]:
            say(_("  WARNING {test}: {text}").format(test=w["test"], text=w["text"]))
        if d["vulnerabilities"] is not None:
            say(
                _("  debsecan ({suite}): {n} known vulnerabilities, {high} high-urgency").format(
                    suite=d["suite"] or "-", n=len(d["vulnerabilities"]), high=d["high"]
                )
            )
        c = d["changes"]
        if c["previous"]:
            say(
                _(
                    "  since the previous scan: {nw} new and {rw} resolved warnings, {nv} new and {fv} fixed vulnerabilities"
                ).format(
                    nw=len(c["new_warnings"]),
                    rw=len(c["resolved_warnings"]),
                    nv=len(c["new_vulnerabilities"]),
                    fv=len(c["fixed_vulnerabilities"]),
                )
            )
        else:
            say(_("  first scan of {target}: nothing to compare with").format(target=d["target"]))
        for key in c["new_high"][:10]:
            say(_("  NEW HIGH {key}").format(key=key))
        say(_("  report: {report_dir}").format(report_dir=d["report_dir"]))
        if d["ok"]:
            say(_("PASS"))
        else:
            say(_("FAIL: the host does not meet the scan policy"))
            for p in d["problems"]:
                say(f"  - {p}")

    def human(data: dict | list) -> None:
        for d in data if isinstance(data, list) else [data]:
            human_one(d)

    emit(results[0].as_dict() if not host else [r.as_dict() for r in results], json_, human)
    if not all(r.ok for r in results):
        raise typer.Exit(1)
