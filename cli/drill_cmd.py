"""procops drill: Quarterly emergency drills on the 15 min / 1 h / 24 h clocks (R8)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, one_line, say, want_json
from procops.i18n import _

app = typer.Typer(help=_("Quarterly emergency drills on the 15 min / 1 h / 24 h clocks (R8)."), no_args_is_help=True)

ScenarioArg = Annotated[str, typer.Argument(metavar="SCENARIO", help=_("Scenario name, e.g. app-crash."))]


@app.command(
    "list",
    help=_("List the drill scenarios (every file is validated; an invalid one is exit 2 naming the field)."),
    epilog=_("Example: {command}").format(command="procops drill list"),
)
def list_(as_json: JsonOpt = False) -> None:
    from procops.drills import api

    items = api.scenarios(STATE.config)
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "title": s.shown_title(STATE.lang),
            "fault_type": s.fault_type,
            "action": s.fault.action,
            "target": s.target.kind,
            "detection": s.detection.alert or s.detection.probe,
            "within_s": s.detection.within,
            "standby": s.response.standby,
            "requires": list(s.requires),
            "file": s.source,
        }
        for s in items
    ]

    def human(_unused) -> None:
        for r in rows:
            needs = _("  (needs: {what})").format(what=", ".join(r["requires"])) if r["requires"] else ""
            say(
                f"{r['name']:<18} {r['fault_type']:<17} {r['action']:<18} "
                + _("detect {what} in {s:g}s").format(what=r["detection"], s=r["within_s"])
                + f"  {one_line(r['title'])}{needs}"
            )

    emit(rows, as_json, human)


@app.command(
    "plan",
    help=_(
        "Dry run: resolve the targets, check the steady state, show every action and its rollback; nothing is injected."
    ),
    epilog=_("Example: {command}").format(command="procops drill plan app-crash"),
)
def plan(scenario: ScenarioArg, as_json: JsonOpt = False) -> None:
    from procops.drills import api

    res = api.plan(STATE.config, scenario)
    emit(res.as_dict(), as_json, lambda _unused: say(api.describe_plan(res)))
    raise typer.Exit(res.exit_code)


@app.command(
    "run",
    help=_(
        "Run a drill: steady state, fault (T0), detection through the real alerts, the drill incident on its clocks, "
        "rollback (always), steady state again, the report. Exit 1 when a check or a clock fails."
    ),
    epilog=_("Example: {command}").format(command="procops drill run app-crash --auto"),
)
def run(
    scenario: ScenarioArg,
    auto: Annotated[
        bool, typer.Option("--auto", help=_("Run the response steps automatically (classify, standby, report)."))
    ] = False,
    tabletop: Annotated[
        bool, typer.Option("--tabletop", help=_("Inject no fault: play the timeline and time the responders."))
    ] = False,
    announced: Annotated[
        bool,
        typer.Option("--announced/--unannounced", help=_("Whether the responders were told in advance (recorded).")),
    ] = True,
    wait: Annotated[
        Optional[float],
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help=_("Interactive and tabletop: stop waiting for the responders after this long (default: the clocks)."),
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    from procops.drills import api
    from procops.errors import BadInput

    if auto and tabletop:
        raise BadInput(_("--auto and --tabletop exclude each other"))
    mode = "auto" if auto else "tabletop" if tabletop else "interactive"
    res = api.run(
        STATE.config,
        scenario,
        mode=mode,
        announced=announced,
        lang=STATE.lang,
        say=lambda line: say(line, err=True) if want_json(as_json) else say(line),
        loaded=STATE.loaded(),
        interactive_wait=wait,
    )
    emit(res.as_dict(), as_json, lambda _unused: say(api.describe(res)))
    raise typer.Exit(res.exit_code)


@app.command(
    "status",
    help=_("Last drill per scenario, its mode and result, the next due date; exit 1 when any is overdue."),
    epilog=_("Example: {command}").format(command="procops drill status"),
)
def status(as_json: JsonOpt = False) -> None:
    from procops.display import when
    from procops.drills import api

    rows = api.status(STATE.config)
    api.write_metrics()
    overdue = [r for r in rows if r.overdue]

    def human(_unused) -> None:
        for r in rows:
            last = (
                _("last {time} ({mode}, {result})").format(
                    time=when(r.last_run), mode=r.last_mode, result=r.last_result
                )
                if r.last_run
                else _("never drilled")
            )
            due = _("due {time}").format(time=when(r.next_due)) if r.next_due else _("due now")
            say(f"{r.scenario:<18} {last}; {due}" + (_("  OVERDUE") if r.overdue else ""))
        if overdue:
            say(
                _(
                    "{n} scenario(s) overdue: at least one drill per quarter (R8); run: procops drill run SCENARIO --auto"
                ).format(n=len(overdue)),
                err=True,
            )

    emit({"scenarios": [r.as_dict() for r in rows], "overdue": [r.scenario for r in overdue]}, as_json, human)
    raise typer.Exit(1 if overdue else 0)
