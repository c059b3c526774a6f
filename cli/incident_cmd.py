"""procops incident: Incident response on the 15 min / 1 h / 24 h clocks (R7, R11, R12)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import one_line, STATE, JsonOpt, emit, say, want_json

from procops.display import when
from procops.i18n import _

app = typer.Typer(help=_("Incident response on the 15 min / 1 h / 24 h clocks (R7, R11, R12)."), no_args_is_help=True)
action_app = typer.Typer(
    help=_("Rectification items: problem found -> rectified -> accepted (R12)."), no_args_is_help=True
)
app.add_typer(action_app, name="action")

IdArg = Annotated[str, typer.Argument(metavar="ID", help=_("Incident id, e.g. INC-20261125-001."))]
ByOpt = Annotated[Optional[str], typer.Option("--by", help=_("Who did it (default: user@host)."))]


def _store():
    from procops.incidents import api

    return api.open_store(STATE.config)


def _metrics(store) -> None:
    from procops.incidents import api

    api.write_metrics(store)


def _lang(lang: str | None) -> str:
    """A report's or runbook's own --lang (default: the language procops speaks)."""
    from procops.errors import BadInput
    from procops.i18n import normalize

    try:
        return normalize(lang or STATE.lang)
    except ValueError as e:
        raise BadInput(str(e)) from None


def _clock_line(c: dict) -> str:
    from procops.display import when
    from procops.incidents import api

    title = api.shown(api.MILESTONE_TITLES, c["milestone"])
    left = c["remaining_seconds"]
    if c["reached_at"]:
        state = (_("done {time} (LATE)") if c["late"] else _("done {time} (in time)")).format(
            time=when(c["reached_at"])
        )
    elif c["waived"]:
        state = _("not needed: {reason}").format(reason=c["waived"])
    else:
        state = api.describe_remaining(left)
    return _("  {milestone:<9} {title}  due {deadline}  {state}").format(
        milestone=c["milestone"], title=title, deadline=when(c["deadline"]), state=state
    )


def _show_human(inc, lang: str) -> None:
    from procops.display import when
    from procops.incidents import api

    say(f"{inc.id}  {_('[DRILL] ') if inc.drill else ''}{one_line(inc.title)}")
    say(
        _("  severity: {severity}; status: {status}; fault type: {fault_type}").format(
            severity=api.shown(api.SEVERITY_TITLES, inc.severity),
            status=api.shown(api.STATUS_TITLES, inc.status),
            fault_type=api.shown(api.FAULT_TYPE_TITLES, inc.fault_type) or _("not confirmed yet"),
        )
    )
    if inc.alerts:
        say(_("  attached alerts: {alerts}").format(alerts=", ".join(one_line(a.get("alertname")) for a in inc.alerts)))
    say(
        _("  T0 {t0}; opened {opened_at} by {opened_by} ({source})").format(
            t0=when(inc.t0),
            opened_at=when(inc.opened_at),
            opened_by=one_line(inc.opened_by),
            source=_("from an alert") if inc.source.get("kind") == "alert" else _("by hand"),
        )
    )
    role_words = {"commander": _("incident commander"), "operations": _("operations lead"), "scribe": _("scribe")}
    roles = ", ".join(f"{role_words.get(k, k)} {one_line(v)}" for k, v in inc.roles.items() if v)
    if roles:
        say(_("  roles: {roles}").format(roles=roles))
    if inc.standby:
        say(_("  standby system serving at {url}").format(url=inc.standby.get("url")))
    if inc.resolution:
        say(
            _("  resolved {at} by {by}").format(at=when(inc.resolution["at"]), by=one_line(inc.resolution["by"]))
            + (f": {one_line(inc.resolution['summary'])}" if inc.resolution.get("summary") else "")
        )
    say(_("clocks:"))
    for c in inc.clocks():
        say(_clock_line(c))
    if inc.actions:
        say(_("rectification items:"))
        for a in inc.actions:
            say(
                _("  {n}. [{status}] {problem} (owner {owner}, due {due})").format(
                    n=a.n,
                    status=api.shown(api.ACTION_STATUS_TITLES, a.status),
                    problem=one_line(a.problem),
                    owner=one_line(a.owner),
                    due=when(a.due)[:10],
                )
            )
    say(_("timeline:"))
    for e in inc.timeline:
        say(f"  {when(e.time)}  {one_line(api.timeline_text(e.kind, e.data))[:160]}  ({one_line(e.actor)})")
    rb = api.runbook_for_type(inc.fault_type, lang)
    if rb:
        say(_("runbook: {title} ({path})").format(title=rb.title, path=rb.path))
        say(_("  procops runbook show {id}").format(id=rb.id))


def _done(inc, as_json: bool, line: str) -> None:
    emit(inc, as_json, lambda _unused: say(line))


@app.command("open", help=_("Open an incident (starts the three clocks); prints the new id."))
def open_(
    title: Annotated[str, typer.Option("--title", "-t", help=_("What is wrong, in a few words."))],
    severity: Annotated[
        str, typer.Option("--severity", "-s", help=_("critical, major, minor, warning or info."))
    ] = "critical",
    t0: Annotated[
        Optional[str],
        typer.Option(
            "--t0",
            metavar="TIME",
            help=_(
                "Fault start as detected, e.g. '2026-12-01 10:00' (read in display.timezone) or "
                "2026-12-01T02:00:00Z; default now."
            ),
        ),
    ] = None,
    commander: Annotated[Optional[str], typer.Option("--commander", help=_("Incident commander."))] = None,
    operations: Annotated[Optional[str], typer.Option("--operations", help=_("Operations lead."))] = None,
    scribe: Annotated[Optional[str], typer.Option("--scribe", help=_("Communications / scribe."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from procops.display import echo
    from procops.incidents.api import parse_time

    t0_at = parse_time(t0) if t0 else None
    if t0_at is not None:
        say(_("T0: {time}").format(time=echo(t0_at)), err=True)
    with _store() as store:
        inc, _unused = store.open(
            title,
            severity=severity,
            t0=t0_at,
            actor=by,
            source={"kind": "manual"},
            roles={"commander": commander, "operations": operations, "scribe": scribe},
        )
        _metrics(store)
    if want_json(as_json):
        emit(inc, True, lambda _unused: None)
    else:
        typer.echo(inc.id)
        for c in inc.clocks():
            say(_clock_line(c), err=True)


@app.command(
    "list",
    help=_("List incidents (drill incidents are listed too, marked [DRILL]; real-incident counts exclude them)."),
)
def list_(
    open_only: Annotated[bool, typer.Option("--open", help=_("Only incidents not yet resolved."))] = False,
    as_json: JsonOpt = False,
) -> None:
    from procops.incidents import api

    with _store() as store:
        items = store.list(open_only=open_only)

    def human(_unused):
        if not items:
            say(_("no incidents (open one: procops incident open --title TEXT)"))
        for inc in items:
            nxt = next((c for c in inc.clocks() if c["remaining_seconds"] is not None), None)
            if nxt:
                clock = _("{milestone}: {left}").format(
                    milestone=api.shown(api.MILESTONE_TITLES, nxt["milestone"]),
                    left=api.describe_remaining(nxt["remaining_seconds"]),
                )
            else:
                clock = _("every clock done")
            mark = _("[DRILL] ") if inc.drill else ""
            say(
                f"{inc.id}  {api.shown(api.STATUS_TITLES, inc.status)}  {api.shown(api.SEVERITY_TITLES, inc.severity)}  "
                f"{api.shown(api.FAULT_TYPE_TITLES, inc.fault_type) or '-'}  {clock}  {mark}{one_line(inc.title)}"
            )

    emit(items, as_json, human)


@app.command(
    "show", help=_("Show an incident: each clock's deadline and time left or overdue, the timeline, the runbook.")
)
def show(
    incident_id: IdArg,
    lang: Annotated[Optional[str], typer.Option("--lang", help=_("Language of the runbook pointer: zh or en."))] = None,
    as_json: JsonOpt = False,
) -> None:
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
        emit(d, True, lambda _unused: None)
    else:
        _show_human(inc, lang)


@app.command("classify", help=_("Confirm the fault type (milestone 1, within 15 min of T0)."))
def classify(
    incident_id: IdArg,
    fault_type: Annotated[
        str,
        typer.Option(
            "--type",
            help=_(
                "app-crash, database-failure, disk-full, network, "
                "backup-failure, capacity, bad-release, security, other."
            ),
        ),
    ],
    note: Annotated[Optional[str], typer.Option("--note", help=_("What confirmed it."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from procops.incidents import api

    with _store() as store:
        inc = store.classify(incident_id, fault_type, note=note, actor=by)
        _metrics(store)
    m = inc.milestones["classify"]
    rb = api.runbook_for_type(inc.fault_type, _lang(None))
    _done(
        inc,
        as_json,
        _("{id}: fault type {fault_type} confirmed at {reached_at}").format(
            id=inc.id, fault_type=fault_type, reached_at=when(m.reached_at)
        )
        + (_(" (LATE)") if m.late else _(" (in time)"))
        + (_("\nnext: procops runbook show {id}").format(id=rb.id) if rb else ""),
    )


@app.command("standby", help=_("Record that the standby system is started (milestone 2, within 1 h of T0)."))
def standby(
    incident_id: IdArg,
    execute: Annotated[
        bool,
        typer.Option(
            "--execute",
            help=_(
                "Run the configured failover: restore the latest "
                "off-site backup into the standby sandbox and serve it; with "
                "platform.url set, playbooks/failover.yml on drills.failover_inventory."
            ),
        ),
    ] = False,
    evidence: Annotated[
        Optional[str], typer.Option("--evidence", help=_("Without --execute: what was started and where."))
    ] = None,
    repo: Annotated[
        Optional[str], typer.Option("--repo", help=_("Repository to restore from (default: the off-site one)."))
    ] = None,
    snapshot: Annotated[str, typer.Option("--snapshot", help=_("Snapshot to restore."))] = "latest",
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
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


@app.command(
    "failback", help=_("Bring the platform back from the standby to main with the data written on the standby.")
)
def failback(
    incident_id: IdArg,
    execute: Annotated[
        bool,
        typer.Option(
            "--execute",
            help=_(
                "Run it: back the standby up, copy its database and documents into main, "
                "switch back to main, check main serves them, record the active site main."
            ),
        ),
    ] = False,
    keep_standby: Annotated[
        bool, typer.Option("--keep-standby", help=_("Leave the standby running and its data in place."))
    ] = False,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
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


@app.command("report", help=_("Write the fault analysis report (故障分析报告), Markdown and HTML; prints where."))
def report(
    incident_id: IdArg,
    lang: Annotated[Optional[str], typer.Option("--lang", help=_("zh or en (default: the global --lang)."))] = None,
    submit: Annotated[bool, typer.Option("--submit", help=_("Submit it: milestone 3 (within 24 h of T0)."))] = False,
    summary: Annotated[Optional[str], typer.Option("--summary", help=_("Summary paragraph."))] = None,
    impact: Annotated[Optional[str], typer.Option("--impact", help=_("Who and what was affected."))] = None,
    detection: Annotated[Optional[str], typer.Option("--detection", help=_("How it was detected."))] = None,
    root_cause: Annotated[Optional[str], typer.Option("--root-cause", help=_("The root cause."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
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

    def human(_unused):
        from procops.display import when

        say(files["markdown"])
        say(files["html"])
        if files.get("pdf"):
            say(files["pdf"])
        else:
            say(
                _("no PDF: {error} (run scripts/bootstrap to install the PDF renderer)").format(
                    error=files.get("pdf_error")
                ),
                err=True,
            )
        if submit:
            say(
                _("{id}: report submitted at {reached_at}").format(id=inc.id, reached_at=when(m.reached_at))
                + (_(" (LATE)") if m.late else _(" (in time)")),
                err=True,
            )

    emit({"incident": inc.id, "lang": lang, "submitted": submit, **files, "milestone": m.as_dict()}, as_json, human)


@app.command(
    "resolve", help=_("Resolve an incident (service restored); the report clock keeps running until it is submitted.")
)
def resolve(
    incident_id: IdArg,
    summary: Annotated[Optional[str], typer.Option("--summary", help=_("How service was restored."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    with _store() as store:
        inc = store.resolve(incident_id, summary=summary, actor=by)
        _metrics(store)
    rep = inc.milestones["report"]
    _done(
        inc,
        as_json,
        _("{id}: resolved at {at}").format(id=inc.id, at=when(inc.resolution["at"]))
        + (
            ""
            if rep.done
            else _("; the report is due {deadline}: procops incident report {id} --submit").format(
                deadline=when(rep.deadline), id=inc.id
            )
        ),
    )


@app.command("set", help=_("Set roles and the report's narrative fields."))
def set_(
    incident_id: IdArg,
    title: Annotated[Optional[str], typer.Option("--title", help=_("A better title for the incident."))] = None,
    commander: Annotated[Optional[str], typer.Option("--commander", help=_("Incident commander."))] = None,
    operations: Annotated[Optional[str], typer.Option("--operations", help=_("Operations lead."))] = None,
    scribe: Annotated[Optional[str], typer.Option("--scribe", help=_("Communications / scribe."))] = None,
    summary: Annotated[Optional[str], typer.Option("--summary", help=_("The report's summary."))] = None,
    impact: Annotated[
        Optional[str], typer.Option("--impact", help=_("Who and what was affected, and for how long."))
    ] = None,
    detection: Annotated[Optional[str], typer.Option("--detection", help=_("How the fault was found."))] = None,
    root_cause: Annotated[Optional[str], typer.Option("--root-cause", help=_("Why it happened."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
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
    _done(inc, as_json, _("{id}: updated").format(id=inc.id))


@app.command(
    "escalate", help=_("Send the escalations that are due (run by cron; the alert webhook also runs it every 30 s).")
)
def escalate(as_json: JsonOpt = False) -> None:
    from procops.incidents import api

    results = api.escalate_due(STATE.config)

    def human(_unused):
        if not results:
            say(_("no escalation due"))
        for r in results:
            say(
                f"{r['incident']} {r['milestone']} {r['level']} -> {r['receiver']}: {r['status']}"
                + (f" ({r['error']})" if r["error"] else "")
            )

    emit(results, as_json, human)
    if any(r["status"] == "failed" for r in results):
        say(_("some receivers could not be reached; they are retried on the next run"), err=True)
        raise typer.Exit(3)


@app.command("receiver", help=_("Run a local webhook receiver that records escalations (foreground; Ctrl-C stops it)."))
def receiver(
    port: Annotated[int, typer.Option("--port", help=_("Port to listen on (127.0.0.1)."))],
    out: Annotated[
        Optional[str],
        typer.Option(
            "--out",
            help=_("JSON-lines file recording what is received (default $PROCOPS_HOME/incident/received.jsonl)."),
        ),
    ] = None,
) -> None:
    from pathlib import Path

    from procops.errors import EnvironmentFailure
    from procops.home import area_dir
    from procops.incidents import api

    path = Path(out) if out else area_dir("incident") / "received.jsonl"
    rcv = api.recording_receiver(port, path)
    say(_("recording POSTs to {url} into {path}").format(url=rcv.url, path=path), err=True)
    try:
        rcv.serve_forever()
    except OSError as e:
        raise EnvironmentFailure(
            _("cannot listen on 127.0.0.1:{port}: {strerror}").format(port=port, strerror=e.strerror)
        ) from None


@action_app.command("add", help=_("Add a rectification item (prints its number)."))
def action_add(
    incident_id: IdArg,
    problem: Annotated[str, typer.Option("--problem", help=_("The problem found."))],
    owner: Annotated[str, typer.Option("--owner", help=_("Who rectifies it."))],
    due: Annotated[Optional[str], typer.Option("--due", help=_("Due date (ISO 8601, e.g. 2026-12-01)."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from procops.incidents.api import parse_time

    with _store() as store:
        inc, a = store.add_action(incident_id, problem, owner, parse_time(due) if due else None, actor=by)
    emit(
        a,
        as_json,
        lambda _unused: say(
            _("{id} item {n}: {problem} (owner {owner}, due {value})").format(
                id=inc.id, n=a.n, problem=one_line(a.problem), owner=one_line(a.owner), value=when(a.due)[:10]
            )
        ),
    )


@action_app.command("update", help=_("Move a rectification item on: open -> rectified -> accepted."))
def action_update(
    incident_id: IdArg,
    number: Annotated[int, typer.Argument(metavar="N", help=_("Item number."))],
    status: Annotated[Optional[str], typer.Option("--status", help=_("open, rectified or accepted."))] = None,
    note: Annotated[Optional[str], typer.Option("--note", help=_("Evidence or comment."))] = None,
    owner: Annotated[Optional[str], typer.Option("--owner", help=_("A new owner of the item."))] = None,
    due: Annotated[Optional[str], typer.Option("--due", help=_("A new due date, e.g. 2026-12-15."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from procops.incidents.api import ACTION_STATUS_TITLES, parse_time, shown

    with _store() as store:
        inc, a = store.update_action(
            incident_id, number, status=status, note=note, owner=owner, due=parse_time(due) if due else None, actor=by
        )
    emit(
        a,
        as_json,
        lambda _unused: say(
            _("{id} item {n}: {status}").format(id=inc.id, n=a.n, status=shown(ACTION_STATUS_TITLES, a.status))
            + (_("; every item accepted") if all(x.status == "accepted" for x in inc.actions) else "")
        ),
    )


@action_app.command("list", help=_("List the rectification items of an incident."))
def action_list(incident_id: IdArg, as_json: JsonOpt = False) -> None:
    from procops.incidents import api
    from procops.timeutil import utcnow

    with _store() as store:
        inc = store.get(incident_id)
    now = utcnow()

    def human(_unused):
        if not inc.actions:
            say(_("{id}: no rectification items").format(id=inc.id))
        for a in inc.actions:
            say(
                _("{n}. [{status}] {problem} (owner {owner}, due {value})").format(
                    n=a.n,
                    status=api.shown(api.ACTION_STATUS_TITLES, a.status),
                    problem=one_line(a.problem),
                    owner=one_line(a.owner),
                    value=when(a.due)[:10],
                )
                + (_(" OVERDUE") if a.overdue(now) else "")
            )

    emit(inc.actions, as_json, human)
