"""procops release: gray-release rollouts with HAProxy weights and Prometheus gates (R6)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, one_line, say, want_json

from procops.i18n import _

app = typer.Typer(
    help=_("Gray-release rollouts with HAProxy weights and metric gates (R6)."),
    no_args_is_help=True,
)
feedback_app = typer.Typer(help=_("Feedback of the pilot units on the release in progress."), no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")

AnalysisOpt = Annotated[
    Optional[str],
    typer.Option(
        "--analysis", metavar="DURATION", help=_("Analysis window of every stage, e.g. 30s (default: the config's).")
    ),
]


def _duration(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    from procops.errors import BadInput
    from procops.timeutil import parse_duration

    try:
        d = parse_duration(value)
    except ValueError as e:
        raise BadInput(_("--analysis: {e}").format(e=e)) from None
    if d <= 0:
        raise BadInput(_("--analysis must be longer than 0"))
    return d


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"


def _progress(text: str) -> None:
    say(text, err=True)


def _result(res: Any, json_: bool) -> None:
    def human(d: dict) -> None:
        rel = d.get("release") or {}
        outcome = d["outcome"]
        text = {
            "rolled_out": _("rolled out: {version} on every host ({id})"),
            "rolled_back": _("rolled back: {version} failed its gates, every host is back on {from_version} ({id})"),
            "aborted": _("aborted: every host is back on {from_version} ({id})"),
            "paused": _("paused before stage {stage} of {stages}: {reason}"),
        }[outcome]
        say(
            text.format(
                version=rel.get("version"),
                from_version=rel.get("from_version"),
                id=rel.get("id"),
                stage=rel.get("stage"),
                stages=rel.get("stages"),
                reason=one_line(d.get("message")),
            )
        )
        if outcome == "rolled_back" and d.get("message"):
            say(_("reason: {reason}").format(reason=one_line(d["message"])))

    emit(res.as_dict(), json_, human)
    if res.exit_code:
        raise typer.Exit(res.exit_code)


@app.command(help=_("Show the rollout plan of VERSION with its preflight checks (exit 2 bad input, 3 environment)."))
def plan(
    version: Annotated[str, typer.Argument(help=_("The version to release."))],
    analysis: AnalysisOpt = None,
    json_: JsonOpt = False,
) -> None:
    from procops.display import duration, when
    from procops.release import api

    p = api.plan(STATE.config, version, analysis=_duration(analysis))

    def human(d: dict) -> None:
        lang = STATE.lang
        say(
            _("release {version} (from {from_version}), backend {backend}").format(
                version=d["version"], from_version=d["from_version"] or "?", backend=d["backend"]
            )
        )
        n = d["notice"]
        say(
            _("change notice: {text}").format(
                text=one_line((n or {}).get(lang if lang == "zh" else "en") or _("missing"))
            )
        )
        for st in d["stages"]:
            weights = ", ".join(f"{s}={w}" for s, w in st["weights"].items())
            say(
                _(
                    "stage {stage}: hosts {hosts}; weights {weights}; {traffic}% of the traffic; analysis {analysis:.0f}s{gate}"
                ).format(
                    stage=st["stage"],
                    hosts=", ".join(st["hosts"]),
                    weights=weights,
                    traffic=st["traffic_percent"],
                    analysis=st["analysis_s"],
                    gate=_("; manual gate") if st["manual_gate"] and not st["last"] else "",
                )
            )
            for name, q in st["queries"].items():
                say(f"    {name}: {q}")
        if d["pilot_units"]:
            say(_("pilot units: {units}").format(units=", ".join(d["pilot_units"])))
            share = d["pilot_share"]
            if share and share["share"] is not None:
                say(
                    _("  {percent:.1f}% of the platform's requests over the last {window} ({n} of {total})").format(
                        percent=100.0 * share["share"],
                        window=duration(share["window_s"]),
                        n=share["requests"],
                        total=share["total"],
                    )
                )
            else:
                reasons = {
                    "not_exported": _(
                        "the platform has counted no purchasing unit's requests (sandbox_unit_requests_total)"
                    ),
                    "no_requests": _("the platform served no request in the window"),
                }
                say(
                    _("  their share of the traffic is unknown: {reason}").format(
                        reason=reasons.get((share or {}).get("reason", ""), _("Prometheus does not answer"))
                    )
                )
        say(_("next freeze windows:"))
        for w in d["freeze_windows"] or []:
            say(f"  {when(w['start'])} - {when(w['end'])}  {one_line(w['name'])}")
        if not d["freeze_windows"]:
            say(_("  none"))
        say(_("preflight:"))
        for c in d["preflight"]:
            say(f"  {'ok  ' if c['ok'] else 'FAIL'} {c['check']}: {one_line(c['detail'])}")

    emit(p, json_, human)
    if p["exit_code"]:
        raise typer.Exit(p["exit_code"])


@app.command(
    help=_(
        "Start a gray release of VERSION: stages of deploy, weights, analysis; exit 0 rolled out (or paused at a manual gate), 1 rolled back."
    )
)
def start(
    version: Annotated[str, typer.Argument(help=_("The version to release."))],
    auto: Annotated[
        bool, typer.Option("--auto", help=_("Promote through every stage whose gates pass (no manual gate)."))
    ] = False,
    analysis: AnalysisOpt = None,
    acknowledge: Annotated[
        Optional[str],
        typer.Option(
            "--acknowledge",
            metavar="REASON",
            help=_("Acknowledge the consecutive automatic rollbacks that stop new releases."),
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    from procops.release import api

    res = api.start(
        STATE.config,
        version,
        auto=auto,
        analysis=_duration(analysis),
        acknowledge=acknowledge,
        loaded=STATE.loaded(),
        say=_progress,
    )
    _result(res, json_)


@app.command(help=_("Promote the paused release past its manual gate (refused while blocking feedback is open)."))
def promote(
    override: Annotated[bool, typer.Option("--override", help=_("Promote despite open blocking feedback."))] = False,
    reason: Annotated[Optional[str], typer.Option("--reason", help=_("Why (required with --override)."))] = None,
    json_: JsonOpt = False,
) -> None:
    from procops.release import api

    _result(api.promote(STATE.config, override=override, reason=reason, loaded=STATE.loaded(), say=_progress), json_)


@app.command(
    help=_("Resume an interrupted release: re-read HAProxy's weights and the hosts' versions, run the stage again.")
)
def resume(
    auto: Annotated[
        Optional[bool],
        typer.Option("--auto/--no-auto", help=_("Change whether manual gates pause (default: as started).")),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    from procops.release import api

    _result(api.resume(STATE.config, auto=auto, loaded=STATE.loaded(), say=_progress), json_)


@app.command(
    help=_("Abort the release: all traffic to the stable servers, roll the canary hosts back, restore the weights.")
)
def abort(
    reason: Annotated[str, typer.Option("--reason", help=_("Why, for the record."))] = "",
    json_: JsonOpt = False,
) -> None:
    from procops.release import api

    _result(api.abort(STATE.config, reason=reason, loaded=STATE.loaded(), say=_progress), json_)


@app.command(help=_("The current (or last) release: stage, weights, last gate values against thresholds, decisions."))
def status(json_: JsonOpt = False) -> None:
    from procops.display import when
    from procops.release import api

    data = api.status()

    def human(d: dict) -> None:
        rel = d.get("release")
        if rel is None:
            say(_("no release yet"))
            return
        say(_("{id}: {from_version} -> {version}, {status}, stage {stage}/{stages} ({phase})").format(**rel))
        say(_("weights: {weights}").format(weights=", ".join(f"{s}={w}" for s, w in rel["weights"].items())))
        say(_("deployed: {deployed}").format(deployed=", ".join(f"{h}={v}" for h, v in rel["deployed"].items())))
        for g in rel["last_gates"]:
            say(
                f"  {'ok  ' if g['passed'] else 'FAIL'} {g['gate']}: {_num(g['value'])} / {_num(g['threshold'])}"
                + (f" ({g['reason']})" if g["reason"] else "")
            )
            say(f"       {g['query']}")
        say(_("decisions:"))
        for dcs in rel["decisions"]:
            say(
                f"  {when(dcs['at'])} "
                + _("stage {n}").format(n=dcs["stage"])
                + f" {dcs['decision']} {dcs['by']} {one_line(dcs['reason'])}"
            )
        for f in rel["feedback"]:
            say(
                f"  #{f['id']} {one_line(f['unit'])} {'[blocking]' if f['blocking'] else ''}"
                f"{'[resolved]' if f['resolved'] else ''} {one_line(f['text'])}"
            )
        if rel["reason"]:
            say(_("reason: {reason}").format(reason=one_line(rel["reason"])))

    emit(data, json_, human)


@app.command(help=_("Ended releases, oldest first."))
def history(json_: JsonOpt = False) -> None:
    from procops.display import when
    from procops.release import api

    rows = api.history()

    def human(rows: list) -> None:
        if not rows:
            say(_("no release has ended yet"))
        for r in rows:
            say(
                f"{when(r['started_at'])}  {r['id']}  {r['from_version']} -> {r['version']}  {r['status']}  "
                f"{one_line(r['reason'])}"
            )

    emit(rows, json_, human)


@feedback_app.command("add", help=_("Record feedback of a pilot unit on the release in progress."))
def feedback_add(
    text: Annotated[str, typer.Argument(help=_("The feedback."))],
    unit: Annotated[str, typer.Option("--unit", help=_("The purchasing unit that gives it."))],
    blocking: Annotated[bool, typer.Option("--blocking", help=_("Promotion waits until it is resolved."))] = False,
    json_: JsonOpt = False,
) -> None:
    from procops.release import api

    item = api.add_feedback(unit, text, blocking=blocking)
    emit(item, json_, lambda d: say(_("feedback #{id} recorded").format(id=d["id"])))


@feedback_app.command("resolve", help=_("Mark a feedback item resolved."))
def feedback_resolve(
    item: Annotated[int, typer.Argument(help=_("Feedback number (procops release status)."))],
    json_: JsonOpt = False,
) -> None:
    from procops.release import api

    res = api.resolve_feedback(item)
    emit(res, json_, lambda d: say(_("feedback #{id} resolved").format(id=d["id"])))


@feedback_app.command("list", help=_("Feedback on the current release."))
def feedback_list(json_: JsonOpt = False) -> None:
    from procops.release import api

    rel = api.status().get("release") or {}
    items = rel.get("feedback", [])

    def human(rows: list) -> None:
        if not rows:
            say(_("no feedback"))
        for f in rows:
            say(
                f"#{f['id']} {one_line(f['unit'])} {'[blocking]' if f['blocking'] else ''}"
                f"{'[resolved]' if f['resolved'] else ''} {one_line(f['text'])}"
            )

    if want_json(json_):
        emit(items, json_, human)
    else:
        human(items)
