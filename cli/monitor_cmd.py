"""procops monitor: 7x24 monitoring: tested alert rules, the local stack, the alert webhook (R2, R11)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

app = typer.Typer(help="7x24 monitoring: tested alert rules, the local stack, the alert webhook (R2, R11).",
                  no_args_is_help=True)


@app.command()
def rules(
    out: Annotated[Optional[str], typer.Option("--out", metavar="DIR",
                                               help="Folder for the rule and test files "
                                               "(default $PROCOPS_HOME/monitoring/rules).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Render alert rules from policy and test them with promtool (exit 1 when a check or test fails)."""
    from procops.monitoring import rules as r

    res = r.write_and_test(STATE.config, out)

    def human(_: object) -> None:
        say(f"rules: {res.rules_path} ({len(res.alerts)} alerts)")
        say(f"tests: {res.tests_path} ({res.test_cases} cases)")
        say(f"promtool check rules: {'ok' if res.check_ok else 'FAILED'}; "
            f"promtool test rules: {'ok' if res.test_ok else 'FAILED'}")
        if not res.ok:
            say(res.output)

    emit(res.as_dict(), json_, human)
    if not res.ok:
        raise typer.Exit(1)
