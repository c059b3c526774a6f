"""procops incident: Incident response on the 15 min / 1 h / 24 h clocks (R7, R11, R12)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say, want_json

app = typer.Typer(help="Incident response on the 15 min / 1 h / 24 h clocks (R7, R11, R12).", no_args_is_help=True)
action_app = typer.Typer(
    help="Rectification items: problem found -> rectified -> accepted (R12).", no_args_is_help=True
)
app.add_typer(action_app, name="action")

IdArg = Annotated[str, typer.Argument(metavar="ID", help="Incident id, e.g. INC-20261125-001.")]
ByOpt = Annotated[Optional[str], typer.Option("--by", help="Who did it (default: user@host).")]


def _store():
    from procops.incidents import api

    return api.open_store(STATE.config)


def _metrics(store) -> None:
    from procops.incidents import api

    api.write_metrics(store)


def _lang(lang: str | None) -> str:
    from procops.errors import BadInput

    lang = lang or STATE.lang
    if lang not in ("zh", "en"):
        raise BadInput(f"unknown language {lang!r}: use zh or en")
    return lang


def _clock_line(c: dict, lang: str = "en") -> str:
    from procops.incidents import api
    from procops.timeutil import format_duration

    title = api.MILESTONE_TITLES[lang][c["milestone"]]
    left = c["remaining_seconds"]
    if lang == "zh":
        if c["reached_at"]:
            state = f"已完成 {c['reached_at']}" + ("（超时）" if c["late"] else "（按时）")
        elif c["waived"]:
            state = "无需执行"
        else:
            state = f"剩余 {format_duration(left)}" if left >= 0 else f"已超时 {format_duration(-left)}"
        return f"  {c['milestone']:<9} {title}  截止 {c['deadline']}  {state}"
    if c["reached_at"]:
        state = f"reached {c['reached_at']}" + (" (LATE)" if c["late"] else " (in time)")
    elif c["waived"]:
        state = f"not needed: {c['waived']}"
    else:
        state = api.describe_remaining(left) + (" (MISSED)" if left < 0 else "")
    return f"  {c['milestone']:<9} {title:<33} due {c['deadline']}  {state}"


def _show_human(inc, lang: str) -> None:
    from procops.incidents import api

    say(f"{inc.id}  {'[DRILL] ' if inc.drill else ''}{inc.title}")
    say(f"  severity {inc.severity}, status {inc.status}, type {inc.fault_type or '(not classified)'}")
    if inc.alerts:
        say(f"  attached alerts: {', '.join(str(a.get('alertname')) for a in inc.alerts)}")
    say(f"  T0 {inc.t0}, opened {inc.opened_at} by {inc.opened_by}, source {inc.source.get('kind')}")
    roles = ", ".join(f"{k} {v}" for k, v in inc.roles.items() if v)
    if roles:
        say(f"  roles: {roles}")
    if inc.standby:
        say(f"  standby serving at {inc.standby.get('url')}")
    if inc.resolution:
        say(
            f"  resolved {inc.resolution['at']} by {inc.resolution['by']}"
            + (f": {inc.resolution['summary']}" if inc.resolution.get("summary") else "")
        )
    say("clocks:")
    for c in inc.clocks():
        say(_clock_line(c, lang))
    if inc.actions:
        say("rectification items:")
        for a in inc.actions:
            say(f"  {a.n}. [{a.status}] {a.problem} (owner {a.owner}, due {a.due or '-'})")
    say("timeline:")
    for e in inc.timeline:
        detail = ", ".join(f"{k}={v}" for k, v in e.data.items() if v not in (None, "", {}, []) and k != "deadlines")
        say(f"  {e.time}  {e.kind:<18} {e.actor}  {detail[:160]}")
    rb = api.runbook_for_type(inc.fault_type, lang)
    if rb:
        say(f"runbook: {rb.title} ({rb.path})\n  procops runbook show {rb.id} --lang {lang}")


def _done(inc, as_json: bool, line: str) -> None:
    emit(inc, as_json, lambda _: say(line))


@app.command("open")
def open_(
    title: Annotated[str, typer.Option("--title", "-t", help="What is wrong, in a few words.")],
    severity: Annotated[
        str, typer.Option("--severity", "-s", help="critical, major, minor, warning or info.")
    ] = "critical",
    t0: Annotated[
        Optional[str], typer.Option("--t0", help="Fault start as detected (ISO 8601, UTC); default now.")
    ] = None,
    commander: Annotated[Optional[str], typer.Option("--commander", help="Incident commander.")] = None,
    operations: Annotated[Optional[str], typer.Option("--operations", help="Operations lead.")] = None,
    scribe: Annotated[Optional[str], typer.Option("--scribe", help="Communications / scribe.")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open an incident (starts the three clocks); prints the new id."""
    from procops.incidents.api import parse_time

    with _store() as store:
        inc, _ = store.open(
            title,
            severity=severity,
            t0=parse_time(t0) if t0 else None,
            actor=by,
            source={"kind": "manual"},
            roles={"commander": commander, "operations": operations, "scribe": scribe},
        )
        _metrics(store)
    if want_json(as_json):
        emit(inc, True, lambda _: None)
    else:
        typer.echo(inc.id)
        for c in inc.clocks():
            say(_clock_line(c), err=True)


@app.command("list")
def list_(
    open_only: Annotated[bool, typer.Option("--open", help="Only incidents not yet resolved.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List incidents (drill incidents are listed too, marked [DRILL]; real-incident counts exclude them)."""
    from procops.incidents.api import describe_remaining

    with _store() as store:
        items = store.list(open_only=open_only)

    def human(_):
        if not items:
            say("no incidents")
        for inc in items:
            nxt = next((c for c in inc.clocks() if c["remaining_seconds"] is not None), None)
            clock = f"{nxt['milestone']} {describe_remaining(nxt['remaining_seconds'])}" if nxt else "clocks done"
            mark = "[DRILL] " if inc.drill else ""
            say(
                f"{inc.id}  {inc.status:<8} {inc.severity:<8} {(inc.fault_type or '-'):<16} {clock:<28} "
                f"{mark}{inc.title}"
            )

    emit(items, as_json, human)


@app.command("show")
def show(
    incident_id: IdArg,
    lang: Annotated[Optional[str], typer.Option("--lang", help="Language of the runbook pointer: zh or en.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an incident: each clock's deadline and time left or overdue, the timeline, the runbook."""
    from procops.incidents import api

    lang = _lang(lang)
    with _store() as store:
        inc = store.get(incident_id)
        _metrics(store)
    if want_json(as_json):
        d = inc.as_dict()
        d["escalations"] = []
        with _store() as store:
            d["escalations"] = store.escalations(inc.id)
        rb = api.runbook_for_type(inc.fault_type, lang)
        d["runbook"] = rb.as_dict() if rb else None
        emit(d, True, lambda _: None)
    else:
        _show_human(inc, lang)


@app.command("classify")
def classify(
    incident_id: IdArg,
    fault_type: Annotated[
        str,
        typer.Option(
            "--type",
            help="app-crash, database-failure, disk-full, network, "
            "backup-failure, capacity, bad-release, security, other.",
        ),
    ],
    note: Annotated[Optional[str], typer.Option("--note", help="What confirmed it.")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Confirm the fault type (milestone 1, within 15 min of T0)."""
    from procops.incidents import api

    with _store() as store:
        inc = store.classify(incident_id, fault_type, note=note, actor=by)
        _metrics(store)
    m = inc.milestones["classify"]
    rb = api.runbook_for_type(inc.fault_type, _lang(None))
    _done(
        inc,
        as_json,
        f"{inc.id}: fault type {fault_type} confirmed at {m.reached_at}"
        + (" (LATE)" if m.late else " (in time)")
        + (f"\nnext: procops runbook show {rb.id}" if rb else ""),
    )


@app.command("standby")
def standby(
    incident_id: IdArg,
    execute: Annotated[
        bool,
        typer.Option(
            "--execute",
            help="Run the configured failover: restore the latest "
            "off-site backup into the standby sandbox and serve it; with "
            "platform.url set, playbooks/failover.yml on drills.failover_inventory.",
        ),
    ] = False,
    evidence: Annotated[
        Optional[str], typer.Option("--evidence", help="Without --execute: what was started and where.")
    ] = None,
    repo: Annotated[
        Optional[str], typer.Option("--repo", help="Repository to restore from (default: the off-site one).")
    ] = None,
    snapshot: Annotated[str, typer.Option("--snapshot", help="Snapshot to restore.")] = "latest",
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that the standby system is started (milestone 2, within 1 h of T0)."""
    from procops.incidents import api

    res = api.start_standby(
        STATE.config,
        incident_id,
        execute=execute,
        evidence=evidence,
        repo=repo,
        snapshot=snapshot,
        actor=by,
        progress=lambda line: say(line, err=True),
        loaded=STATE.loaded(),
    )
    _done(res.incident, as_json, api.describe_standby(res))


@app.command("failback")
def failback(
    incident_id: IdArg,
    execute: Annotated[
        bool,
        typer.Option(
            "--execute",
            help="Run it: back the standby up, copy its database and documents into main, "
            "switch back to main, check main serves them, record the active site main.",
        ),
    ] = False,
    keep_standby: Annotated[
        bool, typer.Option("--keep-standby", help="Leave the standby running and its data in place.")
    ] = False,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring the platform back from the standby to main with the data written on the standby."""
    from procops.incidents import api

    res = api.failback(
        STATE.config,
        incident_id,
        execute=execute,
        keep_standby=keep_standby,
        actor=by,
        progress=lambda line: say(line, err=True),
        loaded=STATE.loaded(),
    )
    emit(res, as_json, lambda d: say(api.describe_failback(d)))


@app.command("report")
def report(
    incident_id: IdArg,
    lang: Annotated[Optional[str], typer.Option("--lang", help="zh or en (default: the global --lang).")] = None,
    submit: Annotated[bool, typer.Option("--submit", help="Submit it: milestone 3 (within 24 h of T0).")] = False,
    summary: Annotated[Optional[str], typer.Option("--summary", help="Summary paragraph.")] = None,
    impact: Annotated[Optional[str], typer.Option("--impact", help="Who and what was affected.")] = None,
    detection: Annotated[Optional[str], typer.Option("--detection", help="How it was detected.")] = None,
    root_cause: Annotated[Optional[str], typer.Option("--root-cause", help="The root cause.")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the fault analysis report (故障分析报告), Markdown and HTML; prints where."""
    from procops.incidents import api

    lang = _lang(lang)
    with _store() as store:
        store.update_fields(
            incident_id, summary=summary, impact=impact, detection=detection, root_cause=root_cause, actor=by
        )
        if submit:  # reached first, so the submitted report shows the milestone it reached
            store.submit_report(incident_id, lang, actor=by)
        inc = store.get(incident_id)
        files = api.write_report(inc, lang, STATE.config)
        inc = store.record_report(inc.id, lang, files, actor=by)
        _metrics(store)
    m = inc.milestones["report"]

    def human(_):
        say(files["markdown"])
        say(files["html"])
        if submit:
            say(f"{inc.id}: report submitted at {m.reached_at}" + (" (LATE)" if m.late else " (in time)"), err=True)

    emit({"incident": inc.id, "lang": lang, "submitted": submit, **files, "milestone": m.as_dict()}, as_json, human)


@app.command("resolve")
def resolve(
    incident_id: IdArg,
    summary: Annotated[Optional[str], typer.Option("--summary", help="How service was restored.")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resolve an incident (service restored); the report clock keeps running until it is submitted."""
    with _store() as store:
        inc = store.resolve(incident_id, summary=summary, actor=by)
        _metrics(store)
    rep = inc.milestones["report"]
    _done(
        inc,
        as_json,
        f"{inc.id}: resolved at {inc.resolution['at']}"
        + ("" if rep.done else f"; the report is due {rep.deadline}: procops incident report {inc.id} --submit"),
    )


@app.command("set")
def set_(
    incident_id: IdArg,
    title: Annotated[Optional[str], typer.Option("--title")] = None,
    commander: Annotated[Optional[str], typer.Option("--commander", help="Incident commander.")] = None,
    operations: Annotated[Optional[str], typer.Option("--operations", help="Operations lead.")] = None,
    scribe: Annotated[Optional[str], typer.Option("--scribe", help="Communications / scribe.")] = None,
    summary: Annotated[Optional[str], typer.Option("--summary")] = None,
    impact: Annotated[Optional[str], typer.Option("--impact")] = None,
    detection: Annotated[Optional[str], typer.Option("--detection")] = None,
    root_cause: Annotated[Optional[str], typer.Option("--root-cause")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set roles and the report's narrative fields."""
    with _store() as store:
        inc = store.update_fields(
            incident_id,
            title=title,
            commander=commander,
            operations=operations,
            scribe=scribe,
            summary=summary,
            impact=impact,
            detection=detection,
            root_cause=root_cause,
            actor=by,
        )
    _done(inc, as_json, f"{inc.id}: updated")


@app.command("escalate")
def escalate(as_json: JsonOpt = False) -> None:
    """Send the escalations that are due (run by cron; the alert webhook also runs it every 30 s)."""
    from procops.incidents import api

    results = api.escalate_due(STATE.config)

    def human(_):
        if not results:
            say("no escalation due")
        for r in results:
            say(
                f"{r['incident']} {r['milestone']} {r['level']} -> {r['receiver']}: {r['status']}"
                + (f" ({r['error']})" if r["error"] else "")
            )

    emit(results, as_json, human)
    if any(r["status"] == "failed" for r in results):
        say("some receivers could not be reached; they are retried on the next run", err=True)
        raise typer.Exit(3)


@app.command("receiver")
def receiver(
    port: Annotated[int, typer.Option("--port", help="Port to listen on (127.0.0.1).")],
    out: Annotated[
        Optional[str],
        typer.Option(
            "--out", help="JSON-lines file recording what is received (default $PROCOPS_HOME/incident/received.jsonl)."
        ),
    ] = None,
) -> None:
    """Run a local webhook receiver that records escalations (foreground; Ctrl-C stops it)."""
    from pathlib import Path

    from procops.errors import EnvironmentFailure
    from procops.home import area_dir
    from procops.incidents import api

    path = Path(out) if out else area_dir("incident") / "received.jsonl"
    rcv = api.recording_receiver(port, path)
    say(f"recording POSTs to {rcv.url} into {path}", err=True)
    try:
        rcv.serve_forever()
    except OSError as e:
        raise EnvironmentFailure(f"cannot listen on 127.0.0.1:{port}: {e.strerror}") from None


@action_app.command("add")
def action_add(
    incident_id: IdArg,
    problem: Annotated[str, typer.Option("--problem", help="The problem found.")],
    owner: Annotated[str, typer.Option("--owner", help="Who rectifies it.")],
    due: Annotated[Optional[str], typer.Option("--due", help="Due date (ISO 8601, e.g. 2026-12-01).")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a rectification item (prints its number)."""
    from procops.incidents.api import parse_time

    with _store() as store:
        inc, a = store.add_action(incident_id, problem, owner, parse_time(due) if due else None, actor=by)
    emit(a, as_json, lambda _: say(f"{inc.id} item {a.n}: {a.problem} (owner {a.owner}, due {a.due or '-'})"))


@action_app.command("update")
def action_update(
    incident_id: IdArg,
    number: Annotated[int, typer.Argument(metavar="N", help="Item number.")],
    status: Annotated[Optional[str], typer.Option("--status", help="open, rectified or accepted.")] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="Evidence or comment.")] = None,
    owner: Annotated[Optional[str], typer.Option("--owner")] = None,
    due: Annotated[Optional[str], typer.Option("--due")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a rectification item on: open -> rectified -> accepted."""
    from procops.incidents.api import parse_time

    with _store() as store:
        inc, a = store.update_action(
            incident_id, number, status=status, note=note, owner=owner, due=parse_time(due) if due else None, actor=by
        )
    emit(
        a,
        as_json,
        lambda _: say(
            f"{inc.id} item {a.n}: {a.status}"
            + ("; every item accepted" if all(x.status == "accepted" for x in inc.actions) else "")
        ),
    )


@action_app.command("list")
def action_list(incident_id: IdArg, as_json: JsonOpt = False) -> None:
    """List the rectification items of an incident."""
    from procops.timeutil import utcnow

    with _store() as store:
        inc = store.get(incident_id)
    now = utcnow()

    def human(_):
        if not inc.actions:
            say(f"{inc.id}: no rectification items")
        for a in inc.actions:
            say(
                f"{a.n}. [{a.status}] {a.problem} (owner {a.owner}, due {a.due or '-'})"
                + (" OVERDUE" if a.overdue(now) else "")
            )

    emit(inc.actions, as_json, human)
