"""procops monitor: 7x24 monitoring: tested alert rules, the local stack, the alert webhook (R2, R11)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

from procops.display import when
from procops.i18n import _

app = typer.Typer(
    help=_("7x24 monitoring: tested alert rules, the local stack, the alert webhook (R2, R11)."), no_args_is_help=True
)


@app.command(help=_("Render alert rules from policy and test them with promtool (exit 1 when a check or test fails)."))
def rules(
    out: Annotated[
        Optional[str],
        typer.Option(
            "--out",
            metavar="DIR",
            help=_("Folder for the rule and test files (default $PROCOPS_HOME/monitoring/rules)."),
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    from procops.monitoring import api

    res = api.rules(STATE.config, out)

    def human(_unused: object) -> None:
        say(_("rules: {rules_path} ({n_alerts} alerts)").format(rules_path=res.rules_path, n_alerts=len(res.alerts)))
        say(_("tests: {tests_path} ({test_cases} cases)").format(tests_path=res.tests_path, test_cases=res.test_cases))
        say(_("web config (basic auth, bcrypt hash): {value}").format(value=Path(res.rules_path).parent / "web.yml"))
        say(
            _("promtool check rules: {value}; promtool test rules: {value2}").format(
                value=_("ok") if res.check_ok else _("FAILED"), value2=_("ok") if res.test_ok else _("FAILED")
            )
        )
        if not res.ok:
            say(res.output)

    emit(res.as_dict(), json_, human)
    if not res.ok:
        raise typer.Exit(1)


PortOpt = Annotated[
    Optional[int], typer.Option("--port", min=1, max=65535, help=_("Port on 127.0.0.1 (default from the config)."))
]


@app.command(help=_("Serve the procops_* metrics from the journal and the textfiles (runs until stopped)."))
def exporter(port: PortOpt = None) -> None:
    from procops.monitoring import api

    cfg = STATE.config
    p = port or cfg.monitoring.exporter_port
    server, _thread = api.serve_exporter(cfg, p)
    say(_("procops exporter: http://127.0.0.1:{p}/metrics").format(p=p), err=True)
    try:
        api.wait_for_signal()
    finally:
        server.shutdown()


@app.command(help=_("Receive Alertmanager notifications and open incidents (runs until stopped)."))
def webhook(port: PortOpt = None) -> None:
    from procops.monitoring import api

    svc = api.start_webhook(STATE.config, port)
    say(
        _("procops webhook: {incident_url} (escalation: {escalation_url}; bearer token in {token_file})").format(
            incident_url=svc.incident_url, escalation_url=svc.escalation_url, token_file=svc.token_file
        ),
        err=True,
    )
    api.run_webhook_forever(svc)


@app.command(help=_("Start Prometheus, Alertmanager, exporters and the webhook on loopback (idempotent)."))
def up(json_: JsonOpt = False) -> None:
    from procops.monitoring import api

    loaded = STATE.loaded()
    st, started = api.up(loaded.config, loaded.source)
    data = {"started": started, **st}

    def human(d: dict) -> None:
        say(
            _("monitoring stack {value}; watching {url}").format(
                value=_("started") if started else _("already running (targets refreshed)"), url=d["target"].get("url")
            )
        )
        _print_components(d)

    emit(data, json_, human)


def _print_components(d: dict) -> None:
    for c in d["components"]:
        say(
            _("  {name:<18} pid {pid:<8} {url:<28} {value}").format(
                name=c["name"], pid=c["pid"], url=c["url"], value=_("healthy") if c["healthy"] else _("UNHEALTHY")
            )
        )


@app.command(help=_("Stop what `monitor up` started (and nothing else)."))
def down(json_: JsonOpt = False) -> None:
    from procops.monitoring import api

    stopped = api.down()
    emit(
        {"stopped": stopped},
        json_,
        lambda d: say(
            _("stopped: {stopped}").format(stopped=", ".join(stopped))
            if stopped
            else _("the monitoring stack was not running")
        ),
    )


@app.command(help=_("List each monitoring component with its URL, pid and health."))
def status(json_: JsonOpt = False) -> None:
    from procops.monitoring import api

    st = api.status()

    def human(d: dict) -> None:
        if not d["running"]:
            say(_("monitoring stack: not running (configs in {config_dir})").format(config_dir=d["config_dir"]))
            return
        say(
            _("monitoring stack: {value} since {started_at}; watching {url}").format(
                value=_("healthy") if d["healthy"] else _("UNHEALTHY"),
                started_at=when(d["started_at"]),
                url=d["target"].get("url"),
            )
        )
        _print_components(d)

    emit(st, json_, human)


@app.command(help=_("Ask Prometheus and Alertmanager what is firing now (exit 1 when a critical alert fires)."))
def check(json_: JsonOpt = False) -> None:
    from procops.monitoring import api

    res = api.check(STATE.config, loaded=STATE.loaded())
    data = res.as_dict()

    def human(d: dict) -> None:
        if not d["firing"] and not d["pending"]:
            say(_("nothing is firing"))
        for a in d["firing"] + d["pending"]:
            say(f"  {a['state']:<8} {a['severity']:<9} {a['alertname']:<24} {a['summary']}")
        for sil in d["silences_covering_critical"]:
            say(
                _(
                    "warning: silence {id} ({matchers}) by {created_by} until {ends_at} covers critical alert(s): {covers}"
                ).format(
                    id=sil["id"],
                    matchers=sil["matchers"],
                    created_by=sil["created_by"],
                    ends_at=when(sil["ends_at"]),
                    covers=", ".join(sil["covers"]),
                )
            )
        if d["alertmanager"] is not None:
            say(_("Alertmanager holds {n_alertmanager} active alert(s)").format(n_alertmanager=len(d["alertmanager"])))
        elif d["alertmanager_error"]:
            say(d["alertmanager_error"])

    emit(data, json_, human)
    if res.critical:
        raise typer.Exit(1)
