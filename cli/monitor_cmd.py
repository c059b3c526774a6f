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


PortOpt = Annotated[Optional[int], typer.Option("--port", min=1, max=65535,
                                                help="Port on 127.0.0.1 (default from the config).")]


@app.command()
def exporter(port: PortOpt = None) -> None:
    """Serve the procops_* metrics from the journal and the textfiles (runs until stopped)."""
    from procops.monitoring import exporter as ex
    from procops.monitoring.webhook import wait_for_signal

    cfg = STATE.config
    p = port or cfg.monitoring.exporter_port
    server, _thread = ex.serve(cfg, p)
    say(f"procops exporter: http://127.0.0.1:{p}/metrics", err=True)
    try:
        wait_for_signal()
    finally:
        server.shutdown()


@app.command()
def webhook(port: PortOpt = None) -> None:
    """Receive Alertmanager notifications and open incidents (runs until stopped)."""
    from procops.monitoring import webhook as wh

    cfg = STATE.config
    service = wh.start(cfg, port)
    say(f"procops webhook: http://127.0.0.1:{service.port}{wh.INCIDENT_PATH} "
        f"(escalation: {wh.ESCALATION_PATH}; bearer token in {wh.token_file(cfg)})", err=True)
    wh.run_forever(service)
