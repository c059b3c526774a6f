"""procops monitor: 7x24 monitoring: tested alert rules, the local stack, the alert webhook (R2, R11)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

app = typer.Typer(
    help="7x24 monitoring: tested alert rules, the local stack, the alert webhook (R2, R11).", no_args_is_help=True
)


@app.command()
def rules(
    out: Annotated[
        Optional[str],
        typer.Option(
            "--out", metavar="DIR", help="Folder for the rule and test files (default $PROCOPS_HOME/monitoring/rules)."
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Render alert rules from policy and test them with promtool (exit 1 when a check or test fails)."""
    from procops.monitoring import api

    res = api.rules(STATE.config, out)

    def human(_: object) -> None:
        say(f"rules: {res.rules_path} ({len(res.alerts)} alerts)")
        say(f"tests: {res.tests_path} ({res.test_cases} cases)")
        say(f"web config (basic auth, bcrypt hash): {Path(res.rules_path).parent / 'web.yml'}")
        say(
            f"promtool check rules: {'ok' if res.check_ok else 'FAILED'}; "
            f"promtool test rules: {'ok' if res.test_ok else 'FAILED'}"
        )
        if not res.ok:
            say(res.output)

    emit(res.as_dict(), json_, human)
    if not res.ok:
        raise typer.Exit(1)


PortOpt = Annotated[
    Optional[int], typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1 (default from the config).")
]


@app.command()
def exporter(port: PortOpt = None) -> None:
    """Serve the procops_* metrics from the journal and the textfiles (runs until stopped)."""
    from procops.monitoring import api

    cfg = STATE.config
    p = port or cfg.monitoring.exporter_port
    server, _thread = api.serve_exporter(cfg, p)
    say(f"procops exporter: http://127.0.0.1:{p}/metrics", err=True)
    try:
        api.wait_for_signal()
    finally:
        server.shutdown()


@app.command()
def webhook(port: PortOpt = None) -> None:
    """Receive Alertmanager notifications and open incidents (runs until stopped)."""
    from procops.monitoring import api

    svc = api.start_webhook(STATE.config, port)
    say(
        f"procops webhook: {svc.incident_url} (escalation: {svc.escalation_url}; bearer token in {svc.token_file})",
        err=True,
    )
    api.run_webhook_forever(svc)


@app.command()
def up(json_: JsonOpt = False) -> None:
    """Start Prometheus, Alertmanager, exporters and the webhook on loopback (idempotent)."""
    from procops.monitoring import api

    loaded = STATE.loaded()
    st, started = api.up(loaded.config, loaded.source)
    data = {"started": started, **st}

    def human(d: dict) -> None:
        say(
            f"monitoring stack {'started' if started else 'already running (targets refreshed)'}; "
            f"watching {d['target'].get('url')}"
        )
        _print_components(d)

    emit(data, json_, human)


def _print_components(d: dict) -> None:
    for c in d["components"]:
        say(f"  {c['name']:<18} pid {c['pid']:<8} {c['url']:<28} {'healthy' if c['healthy'] else 'UNHEALTHY'}")


@app.command()
def down(json_: JsonOpt = False) -> None:
    """Stop what `monitor up` started (and nothing else)."""
    from procops.monitoring import api

    stopped = api.down()
    emit(
        {"stopped": stopped},
        json_,
        lambda d: say(f"stopped: {', '.join(stopped)}" if stopped else "the monitoring stack was not running"),
    )


@app.command()
def status(json_: JsonOpt = False) -> None:
    """List each monitoring component with its URL, pid and health."""
    from procops.monitoring import api

    st = api.status()

    def human(d: dict) -> None:
        if not d["running"]:
            say(f"monitoring stack: not running (configs in {d['config_dir']})")
            return
        say(
            f"monitoring stack: {'healthy' if d['healthy'] else 'UNHEALTHY'} since {d['started_at']}; "
            f"watching {d['target'].get('url')}"
        )
        _print_components(d)

    emit(st, json_, human)


@app.command()
def check(json_: JsonOpt = False) -> None:
    """Ask Prometheus and Alertmanager what is firing now (exit 1 when a critical alert fires)."""
    from procops.monitoring import api

    res = api.check(STATE.config, loaded=STATE.loaded())
    data = res.as_dict()

    def human(d: dict) -> None:
        if not d["firing"] and not d["pending"]:
            say("nothing is firing")
        for a in d["firing"] + d["pending"]:
            say(f"  {a['state']:<8} {a['severity']:<9} {a['alertname']:<24} {a['summary']}")
        for sil in d["silences_covering_critical"]:
            say(
                f"warning: silence {sil['id']} ({sil['matchers']}) by {sil['created_by']} until {sil['ends_at']} "
                f"covers critical alert(s): {', '.join(sil['covers'])}"
            )
        if d["alertmanager"] is not None:
            say(f"Alertmanager holds {len(d['alertmanager'])} active alert(s)")
        elif d["alertmanager_error"]:
            say(d["alertmanager_error"])

    emit(data, json_, human)
    if res.critical:
        raise typer.Exit(1)
