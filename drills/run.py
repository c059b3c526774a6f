"""The drill lifecycle (应急演练): steady state, fault, detection, response on the clocks, rollback,
steady state again, findings, report, journal. One run is one operation (``drill.run``)::

    steady state before ─► mark the drill's alerts (drill=<id>) ─► inject (T0) ─► wait for the
    drill incident opened by the real alert (or the detection probe) within detection.within,
    watching the stop conditions and real incidents ─► response: --auto classifies, starts the
    standby by a real restore when the scenario says so, writes the report; interactive prompts the
    runbook steps and the time left while the responders work; --tabletop plays the timeline with
    no fault ─► rollback (always: a failed step, a stop condition, Ctrl-C) ─► steady state after
    ─► unmark ─► findings become rectification items on the drill incident ─► drill report ─►
    ``drill.run`` in the journal (and ``procops_drill_last_success_timestamp_seconds``).

The rollback runs with SIGINT/SIGTERM held (:meth:`procops.operation.Operation.signals_held`): a
Ctrl-C during the drill is answered by the rollback, then exit 130; the operation keeps the
injector's rollback as its last resort should the drill's own one be cut short.

Exit codes: 0 every check held; 1 detection late or missing, a clock missed, a stop condition
fired, steady state not back after the rollback; 2 bad scenario or target; 3 what the drill needs
is missing (monitoring stack, sandbox, root, gray release); 130 interrupted (rolled back).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.errors import EnvironmentFailure, Interrupted, ProcopsError
from procops.events import DrillRun, Kind, Status, verdict_word
from procops.i18n import _
from procops.timeutil import iso, parse_iso, utcnow

if TYPE_CHECKING:
    from procops.config import Config, LoadedConfig
    from procops.drills.injectors import Injector
    from procops.drills.probes import ProbeResult
    from procops.drills.scenario import Scenario
    from procops.operation import Operation

MODES = ("auto", "interactive", "tabletop")
CLOCK_NAMES = {"classify": "15m", "standby": "1h", "report": "24h"}
# The platform's symptoms: while a drill runs they carry its label too, so a replica restarted by
# the rollback or an outage the fault causes opens no real incident.
PLATFORM_ALERTS = ("PlatformDown", "ReplicaDown", "PageLoadSlow", "ErrorRatioHigh", "UploadFailures")


@dataclass
class DrillResult:
    drill_id: str
    scenario: Scenario
    mode: str
    announced: bool
    status: Status = Status.FAILED
    incident_id: str | None = None
    injected_at: str | None = None
    detected_at: str | None = None
    milestones: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> reached_at, deadline, limit_s
    detected_s: float | None = None
    clocks: dict[str, bool] = field(default_factory=dict)
    rolled_back: bool = False
    steady_before: list[ProbeResult] = field(default_factory=list)
    steady_after: list[ProbeResult] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)  # rectification items made
    stop: str | None = None
    reason: str = ""
    report: dict[str, str] = field(default_factory=dict)
    exit_code: int = 1
    fault: dict[str, Any] = field(default_factory=dict)
    rollback: dict[str, Any] = field(default_factory=dict)
    of_limits: dict[str, float | None] = field(default_factory=dict)  # detect/classify/standby/report

    def note(self, what: str, detail: str = "", at: dt.datetime | None = None) -> None:
        self.timeline.append({"at": iso(at or utcnow()), "what": what, "detail": detail})

    def seconds(self, name: str) -> float | None:
        m = self.milestones.get(name) or {}
        if not m.get("reached_at") or not self.injected_at:
            return None
        return round((parse_iso(m["reached_at"]) - parse_iso(self.injected_at)).total_seconds(), 3)

    def fractions(self, policy: Any) -> dict[str, float | None]:
        """Each measured time as a fraction of its limit (detection: the scenario's ``within``)."""
        limits = {
            "detect": self.scenario.detection.within,
            "classify": policy.classify_deadline,
            "standby": policy.standby_deadline,
            "report": policy.report_deadline,
        }
        took = {
            "detect": self.detected_s,
            "classify": self.seconds("classify"),
            "standby": self.seconds("standby"),
            "report": self.seconds("report"),
        }
        return {k: (round(took[k] / limits[k], 4) if took[k] is not None else None) for k in limits}

    def evidence(self) -> DrillRun:
        return DrillRun(
            drill_id=self.drill_id,
            scenario=self.scenario.name,
            mode=self.mode,
            announced=self.announced,
            status=self.status,
            verdict=verdict_word(self.status),
            target=self.scenario.target.kind
            if self.scenario.target.kind == "sandbox"
            else ",".join(self.scenario.target.hosts),
            incident_id=self.incident_id,
            injected_at=self.injected_at,
            detected_s=self.detected_s,
            classified_s=self.seconds("classify"),
            standby_s=self.seconds("standby"),
            reported_s=self.seconds("report"),
            clocks=dict(self.clocks),
            rolled_back=self.rolled_back,
            steady_state_after=bool(self.steady_after) and all(p.ok for p in self.steady_after),
            findings=list(self.findings),
            report=self.report.get("markdown"),
            reason=self.reason,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "drill_id": self.drill_id,
            "scenario": self.scenario.name,
            "mode": self.mode,
            "announced": self.announced,
            "status": self.status.value,
            "fractions": self.of_limits,
            "exit_code": self.exit_code,
            "incident_id": self.incident_id,
            "injected_at": self.injected_at,
            "detected_at": self.detected_at,
            "detected_s": self.detected_s,
            "milestones": self.milestones,
            "clocks": self.clocks,
            "rolled_back": self.rolled_back,
            "steady_state_before": [p.as_dict() for p in self.steady_before],
            "steady_state_after": [p.as_dict() for p in self.steady_after],
            "timeline": self.timeline,
            "findings": self.findings,
            "actions": self.actions,
            "stop": self.stop,
            "reason": self.reason,
            "report": self.report,
            "fault": _plain(self.fault),
            "rollback": _plain(self.rollback),
        }


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)) for k, v in d.items()}


class StopCondition(ProcopsError):
    """A stop condition fired: the drill aborts and rolls back (exit 1)."""

    exit_code = 1  # type: ignore[assignment]
    kind = "verdict_failed"


@dataclass
class Watch:
    """The stop conditions and the real-incident guard, sampled while the fault is on."""

    config: Config
    scenario: Scenario
    real_open_before: set[str]
    down_since: float | None = None
    samples: int = 0
    failures: int = 0

    def sample(self, store: Any) -> None:
        from procops.drills import probes

        sc = self.scenario.stop_conditions
        up = probes.up_now(self.config)
        now = time.monotonic()
        self.samples += 1
        if not up:
            self.failures += 1
            self.down_since = self.down_since or now
            if now - self.down_since > sc.max_downtime:
                raise StopCondition(
                    _("stop condition: the platform has been down for more than {limit:g} s").format(
                        limit=sc.max_downtime
                    )
                )
        else:
            self.down_since = None
        if self.samples >= 10 and self.failures / self.samples > sc.max_error_ratio:
            raise StopCondition(
                _("stop condition: error ratio {ratio:.0%} above {limit:.0%}").format(
                    ratio=self.failures / self.samples, limit=sc.max_error_ratio
                )
            )
        real = {i.id for i in store.list(open_only=True, drill=False)} - self.real_open_before
        if real:
            raise StopCondition(
                _("a real incident opened during the drill ({ids}): the drill is aborted").format(
                    ids=", ".join(sorted(real))
                )
            )


def new_drill_id(scenario: str, now: dt.datetime | None = None) -> str:
    return f"{scenario}-{(now or utcnow()).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:4]}"


def drill_workdir(drill_id: str) -> Path:
    from procops.home import area_dir

    d = area_dir("drills") / drill_id
    d.mkdir(parents=True, exist_ok=True)
    return d


def _find_drill_incident(store: Any, drill_id: str) -> Any:
    for inc in store.list(drill=True):
        labels = (inc.source or {}).get("labels") or {}
        if labels.get("drill") == drill_id:
            return inc
    return None


def run(
    config: Config,
    scenario: Scenario,
    *,
    mode: str = "interactive",
    announced: bool = True,
    lang: str = "en",
    say: Callable[[str], None] | None = None,
    loaded: LoadedConfig | None = None,
    interactive_wait: float | None = None,
) -> DrillResult:
    """One drill as an operation; the result carries the exit code (the operation's status matches)."""
    from procops.drills import scenario as sc
    from procops.operation import Operation

    if mode not in MODES:
        from procops.errors import BadInput

        raise BadInput(_("unknown drill mode {mode!r} (one of {modes})").format(mode=mode, modes=", ".join(MODES)))
    sc.check_target(scenario, config.drills.allowed_hosts)
    out = say or (lambda _line: None)
    res = DrillResult(new_drill_id(scenario.name), scenario, mode, announced)
    with Operation(Kind.DRILL_RUN, scenario.name, loaded=loaded) as op:
        _run(op, config, res, lang, out, interactive_wait)
        op.finish(res.status, res.reason)
    return res


def _run(
    op: Operation,
    config: Config,
    res: DrillResult,
    lang: str,
    say: Callable[[str], None],
    interactive_wait: float | None,
) -> None:
    from procops.drills import injectors, probes
    from procops.incidents import api as incidents

    scenario = res.scenario
    workdir = drill_workdir(res.drill_id)
    injector = injectors.for_scenario(config, scenario, workdir)
    marked = False
    failback: dict[str, Any] = {}
    pending: BaseException | None = None
    store = incidents.open_store(config)
    try:
        if "release" in scenario.requires and res.mode != "tabletop":
            with op.step("requires"):
                injector.preflight()  # what the release needs (the sandbox, no release in progress): exit 3
        with op.step("steady-state-before"):
            res.steady_before = probes.steady_state(config, list(scenario.steady_state))
            bad = [p for p in res.steady_before if not p.ok]
            for p in res.steady_before:
                say(
                    _("  steady state {name}: {state} ({detail})").format(
                        name=p.name, state="ok" if p.ok else "FAILED", detail=p.detail
                    )
                )
            if bad:
                raise EnvironmentFailure(
                    _("steady state does not hold before the drill ({probes}): no drill on a sick platform").format(
                        probes=", ".join(f"{p.name}: {p.detail}" for p in bad)
                    ),
                    hint=_("make the platform healthy first: procops sandbox status, procops monitor check"),
                )
        if res.mode == "tabletop":
            _tabletop(config, res, store, say, interactive_wait)
        else:
            with op.step("preflight"):
                injector.preflight()
            if scenario.detection.alert:
                with op.step("mark-alerts"):
                    names = list(dict.fromkeys([scenario.detection.alert, *PLATFORM_ALERTS]))
                    from procops.monitoring import api as monitoring

                    if not monitoring.mark_drill(config, res.drill_id, names):
                        raise EnvironmentFailure(
                            _(
                                "the monitoring stack is not running: a drill measures detection through the real alerts"
                            ),
                            hint=_("start it: procops monitor up"),
                        )
                    marked = True
                    op.add_rollback("unmark-alerts", lambda: monitoring.unmark_drill(config), always=True)
            op.add_rollback("fault", lambda: None if res.rolled_back else injector.rollback(), always=True)
            watch = Watch(config, scenario, {i.id for i in store.list(open_only=True, drill=False)})
            with op.step("inject"):
                t0 = utcnow()
                res.injected_at = iso(t0)
                res.note("inject", scenario.fault.action)
                say(
                    _("T0 {time}: fault {action} injected").format(
                        time=_when(res.injected_at), action=scenario.fault.action
                    )
                )
                res.fault = injector.inject()
            with op.step("detect"):
                _detect(config, res, store, injector, watch, say)
            if res.incident_id is not None:
                _assign_participants(config, res, store)
                with op.step("response"):
                    if res.mode == "auto":
                        _auto(config, res, store, say, failback)
                    else:
                        _interactive(config, res, store, watch, say, interactive_wait)
    except (Interrupted, KeyboardInterrupt) as e:
        pending = e
        res.reason = _("interrupted")
        res.note("interrupted")
    except StopCondition as e:
        res.stop = e.message
        res.reason = e.message
        res.findings.append(e.message)
        res.note("stop", e.message)
        say(e.message)
    except ProcopsError as e:
        pending = e
        res.reason = e.message
        res.note("error", e.message)
    if res.injected_at is not None:  # something happened: roll back, check, judge, report
        with op.signals_held():
            _close(op, config, res, store, injector, failback, marked, lang, say)
    store.close()
    if isinstance(pending, (Interrupted, KeyboardInterrupt)):
        res.status, res.exit_code = Status.INTERRUPTED, 130
        _record_run(res, config)
        raise pending
    if pending is not None:
        res.status = Status.ERROR
        res.exit_code = int(getattr(pending, "exit_code", 3))
        _record_run(res, config)
        raise pending
    res.status = Status.OK if not res.findings else Status.FAILED
    res.exit_code = 0 if res.status is Status.OK else 1
    if not res.reason and res.findings:
        res.reason = res.findings[0]
    _record_run(res, config)


def _when(ts: str | None) -> str:
    from procops.display import when

    return when(ts) if ts else "-"


def _detect(
    config: Config, res: DrillResult, store: Any, injector: Injector, watch: Watch, say: Callable[[str], None]
) -> None:
    """Wait for the detection within its time; a stop condition or a real incident aborts."""
    scenario = res.scenario
    t0 = parse_iso(res.injected_at or iso(utcnow()))
    deadline = time.monotonic() + scenario.detection.within
    poll = config.drills.poll_interval
    while time.monotonic() < deadline:
        watch.sample(store)
        if scenario.detection.alert:
            inc = _find_drill_incident(store, res.drill_id)
            if inc is not None:
                res.incident_id = inc.id
                res.detected_at = inc.opened_at
                break
        else:
            found = getattr(injector, "detect", None)
            if found is not None and found():
                res.detected_at = iso(utcnow())
                break
        time.sleep(poll)
    if res.detected_at is None:
        what = scenario.detection.alert or scenario.detection.probe
        msg = _("detection missed: {what} did not find the fault within {within:g} s of T0").format(
            what=what, within=scenario.detection.within
        )
        res.findings.append(msg)
        res.note("detection-missed", msg)
        say(msg)
        # the findings need a home: a drill incident opened by the drill itself
        inc, _created = store.open(
            _("[drill] {title}: detection missed").format(title=scenario.title),
            severity=scenario.severity,
            t0=t0,
            source={"kind": "drill", "drill": res.drill_id, "scenario": scenario.name},
            dedupe_key=f"drill:{res.drill_id}",
            actor="drill",
            drill=True,
        )
        res.incident_id = inc.id
        return
    res.detected_s = round((parse_iso(res.detected_at) - t0).total_seconds(), 3)
    if scenario.detection.probe and res.incident_id is None:
        inc, _created = store.open(
            _("[drill] {title}").format(title=scenario.title),
            severity=scenario.severity,
            t0=t0,
            source={
                "kind": "drill",
                "drill": res.drill_id,
                "scenario": scenario.name,
                "probe": scenario.detection.probe,
            },
            dedupe_key=f"drill:{res.drill_id}",
            actor="drill",
            drill=True,
        )
        res.incident_id = inc.id
    res.note("detect", scenario.detection.alert or scenario.detection.probe or "", parse_iso(res.detected_at))
    say(
        _("detected after {s:.1f} s (limit {limit:g} s): drill incident {id}").format(
            s=res.detected_s, limit=scenario.detection.within, id=res.incident_id
        )
    )
    if res.detected_s > scenario.detection.within:
        res.findings.append(
            _("detection took {s:.1f} s, more than the {limit:g} s allowed").format(
                s=res.detected_s, limit=scenario.detection.within
            )
        )


def participant_roles(participants: list[Any]) -> dict[str, str]:
    """The drill incident's roles from ``drills.participants`` (its escalations name them, never the
    leaders): a role mentioning commander, operations or scribe/record fills that role."""
    roles: dict[str, str] = {}
    for p in participants:
        r = str(p.role).lower()
        key = (
            "commander"
            if "commander" in r or "指挥" in r
            else "operations"
            if "operation" in r or "运维" in r
            else "scribe"
            if "scribe" in r or "record" in r or "记录" in r
            else None
        )
        if key and key not in roles:
            roles[key] = p.name
    if participants and "commander" not in roles:
        roles["commander"] = participants[0].name
    return roles


def _assign_participants(config: Config, res: DrillResult, store: Any) -> None:
    roles = participant_roles(list(config.drills.participants))
    if res.incident_id and roles:
        store.update_fields(res.incident_id, actor="drill", **roles)


def _auto(config: Config, res: DrillResult, store: Any, say: Callable[[str], None], failback: dict[str, Any]) -> None:
    """--auto: the response steps run by themselves (classify, standby by a real restore, report later)."""
    from procops.incidents import api as incidents

    scenario = res.scenario
    iid = res.incident_id
    assert iid is not None
    if not config.drills.participants:
        store.update_fields(iid, commander="drill", actor="drill")
    store.classify(iid, scenario.fault_type, note=_("drill {id} (--auto)").format(id=res.drill_id), actor="drill")
    res.note("classify", scenario.fault_type)
    say(_("classified as {type}").format(type=scenario.fault_type))
    if scenario.response.standby == "restore":
        say(_("starting the standby from the off-site backup (a real restore) ..."))
        incidents.start_standby(config, iid, execute=True, actor="drill", progress=say)
        failback["incident"] = iid
        res.note("standby", _("standby started by a restore of the off-site backup"))


def _milestone_prompt(res: DrillResult, inc: Any, now: dt.datetime) -> str:
    lines = []
    for step in res.scenario.response.steps:
        m = inc.milestones.get(step.milestone) if step.milestone in ("classify", "standby", "report") else None
        if m is not None and m.done:
            continue
        left = ""
        if m is not None:
            from procops.incidents import api as incidents

            left = " — " + incidents.describe_remaining(m.remaining(now))
        cmd = f"  ({(step.command or '').replace('ID', inc.id)})" if step.command else ""
        lines.append(f"  - {step.text}{cmd}{left}")
    return "\n".join(lines)


def _responders(
    config: Config,
    res: DrillResult,
    store: Any,
    watch: Watch | None,
    say: Callable[[str], None],
    wait: float | None,
) -> None:
    """Interactive and tabletop: the responders run the incident commands; we prompt and time them.

    Ends when the three milestones are reached (the standby may be waived by resolving the incident in
    time), when a deadline passes, or after ``wait`` seconds (tests; the clocks are judged as they are)."""
    iid = res.incident_id
    assert iid is not None
    end = time.monotonic() + wait if wait is not None else None
    last_prompt = 0.0
    while True:
        inc = store.get(iid)
        now = utcnow()
        pending = [
            m
            for m in inc.milestones.values()
            if not m.done and not (m.name == "standby" and res.scenario.response.standby == "none")
        ]
        if not pending or any(m.remaining(now) < 0 for m in pending) or not inc.is_open and not pending:
            break
        if end is not None and time.monotonic() >= end:
            break
        if time.monotonic() - last_prompt >= 30 or last_prompt == 0.0:
            say(
                _("drill incident {id}: next steps (runbook {runbook}):").format(
                    id=iid, runbook=res.scenario.response.runbook
                )
            )
            say(_milestone_prompt(res, inc, now))
            last_prompt = time.monotonic()
        if watch is not None:
            watch.sample(store)
        time.sleep(config.drills.poll_interval)


def _interactive(
    config: Config, res: DrillResult, store: Any, watch: Watch, say: Callable[[str], None], wait: float | None
) -> None:
    _responders(config, res, store, watch, say, wait)


def _tabletop(config: Config, res: DrillResult, store: Any, say: Callable[[str], None], wait: float | None) -> None:
    """No fault: a drill incident is opened at T0 and the scenario's timeline played to the responders."""
    scenario = res.scenario
    t0 = utcnow()
    res.injected_at = iso(t0)
    inc, _created = store.open(
        _("[drill, tabletop] {title}").format(title=scenario.title),
        severity=scenario.severity,
        t0=t0,
        source={"kind": "drill", "drill": res.drill_id, "scenario": scenario.name, "tabletop": True},
        dedupe_key=f"drill:{res.drill_id}",
        actor="drill",
        drill=True,
    )
    res.incident_id = inc.id
    res.detected_at = inc.opened_at
    res.detected_s = 0.0
    _assign_participants(config, res, store)
    res.note("tabletop", _("no fault injected; the timeline is played"))
    say(_("TABLETOP: no fault is injected. The scenario as it would unfold:"))
    say(_("  T0: {action} ({params})").format(action=scenario.fault.action, params=scenario.fault.params))
    say(
        _("  expected detection: {what} within {within:g} s").format(
            what=scenario.detection.alert or scenario.detection.probe, within=scenario.detection.within
        )
    )
    _responders(config, res, store, None, say, wait)


def _close(
    op: Operation,
    config: Config,
    res: DrillResult,
    store: Any,
    injector: Injector,
    failback: dict[str, Any],
    marked: bool,
    lang: str,
    say: Callable[[str], None],
) -> None:
    """Rollback, steady state after, unmark, clocks, findings -> rectification items, report, metrics."""
    from procops.incidents import api as incidents

    scenario = res.scenario
    if not failback.get("incident") and res.incident_id and scenario.target.kind == "sandbox":
        from procops.sandbox import api as sandbox

        site = sandbox.active_site()
        if site.failed_over and site.incident == res.incident_id:  # the responders started the standby
            failback["incident"] = res.incident_id
    if failback.get("incident"):
        with op.step("failback"):
            try:
                incidents.failback(config, failback["incident"], execute=True, actor="drill", progress=say)
                res.note("failback", _("site back on main"))
            except ProcopsError as e:
                res.findings.append(_("failback failed: {error}").format(error=e.message))
    if res.injected_at is not None and res.mode != "tabletop":
        with op.step("rollback"):
            try:
                res.rollback = injector.rollback()
                res.rolled_back = True
                res.note("rollback", ", ".join(scenario.rollback.steps))
                say(_("rolled back: {steps}").format(steps="; ".join(scenario.rollback.steps)))
            except Exception as e:  # a failed rollback is a finding, and the operation tries again
                res.findings.append(_("rollback failed: {error}").format(error=getattr(e, "message", str(e))))
    with op.step("steady-state-after"):
        res.steady_after = _steady_again(config, scenario, timeout=scenario.rollback.timeout)
        if scenario.verification.steady_state and not all(p.ok for p in res.steady_after):
            res.findings.append(
                _("steady state did not come back after the rollback: {probes}").format(
                    probes=", ".join(f"{p.name}: {p.detail}" for p in res.steady_after if not p.ok)
                )
            )
        res.note("steady-state", "ok" if all(p.ok for p in res.steady_after) else "failed")
    if marked:
        with op.step("unmark-alerts"):
            _wait_alerts_cleared(
                config, {*PLATFORM_ALERTS, scenario.detection.alert or ""}, scenario.rollback.timeout, say
            )
            from procops.monitoring import api as monitoring

            monitoring.unmark_drill(config)
    if res.incident_id is not None:
        with op.step("clocks"):
            _clocks(config, res, store, lang)
        with op.step("rectification"):
            _rectify(config, res, store)
    res.of_limits = res.fractions(config.policy)
    with op.step("report"):
        try:
            from procops.drills import report

            res.report = report.write(config, res, lang)
            res.note("report", res.report.get("markdown", ""))
        except Exception as e:  # the report is evidence, not the verdict: say so and go on
            res.report = {"error": f"{type(e).__name__}: {e}"}


def _steady_again(config: Config, scenario: Scenario, timeout: float) -> list[ProbeResult]:
    from procops.drills import probes

    deadline = time.monotonic() + timeout
    while True:
        got = probes.steady_state(config, list(scenario.steady_state))
        if all(p.ok for p in got) or time.monotonic() >= deadline:
            return got
        time.sleep(1.0)


def _wait_alerts_cleared(
    config: Config, names: set[str], timeout: float, say: Callable[[str], None] | None = None
) -> None:
    """Before the mark is lifted, the drill's alerts must be resolved: a still-firing one would come
    back unlabelled and open a real incident."""
    from procops.monitoring import api as monitoring

    deadline = time.monotonic() + timeout
    told: list[str] = []
    while time.monotonic() < deadline:
        try:
            alerts = monitoring.prometheus_alerts(config)
        except ProcopsError:
            return
        firing = sorted({a["alertname"] for a in alerts if a["alertname"] in names})
        if not firing:
            return
        if say is not None and firing != told:
            say(
                _("waiting for the drill's alerts to resolve before their drill label is lifted: {names}").format(
                    names=", ".join(firing)
                )
            )
            told = firing
        time.sleep(1.0)


def _clocks(config: Config, res: DrillResult, store: Any, lang: str) -> None:
    """Auto mode writes and submits the report; the drill incident is resolved; each clock judged."""
    from procops.incidents import api as incidents

    iid = res.incident_id
    assert iid is not None
    inc = store.get(iid)
    if res.mode == "auto" and inc.milestones["classify"].reached_at is not None:
        store.update_fields(
            iid,
            summary=_("Emergency drill {id} of scenario {name} (--auto).").format(
                id=res.drill_id, name=res.scenario.name
            ),
            detection=_("{what} after {s} s").format(
                what=res.scenario.detection.alert or res.scenario.detection.probe, s=res.detected_s
            ),
            actor="drill",
        )
        store.submit_report(iid, lang, actor="drill")
        inc = store.get(iid)
        files = incidents.write_report(inc, lang, config)
        store.record_report(
            iid, lang, {k: v for k, v in files.items() if k in ("markdown", "html", "sha256", "pdf")}, actor="drill"
        )
        res.note("report-submitted", files.get("markdown", ""))
    inc = store.get(iid)
    if inc.is_open and res.mode == "auto":
        store.resolve(iid, summary=_("drill over: rolled back"), actor="drill")
        inc = store.get(iid)
    now = utcnow()
    for name, key in CLOCK_NAMES.items():
        m = inc.milestones[name]
        res.milestones[name] = {
            "reached_at": m.reached_at,
            "deadline": m.deadline,
            "waived": m.waived,
            "late": m.late,
        }
        if m.reached_at:
            res.clocks[key] = not m.late
        elif m.waived or (name == "standby" and res.scenario.response.standby == "none"):
            res.clocks[key] = True
        elif m.remaining(now) < 0 or res.mode == "auto":
            res.clocks[key] = False
        else:
            continue  # still running: judged by the incident's own clock, not missed yet
        if not res.clocks[key]:
            res.findings.append(
                _("clock {clock} missed: {milestone}").format(
                    clock=key, milestone=incidents.shown(incidents.MILESTONE_TITLES, name)
                )
            )
    try:
        incidents.write_metrics(store)
    except Exception:  # metrics never fail the drill
        pass


def _rectify(config: Config, res: DrillResult, store: Any) -> None:
    """Every finding becomes a rectification item (R12) on the drill incident."""
    iid = res.incident_id
    assert iid is not None
    due = utcnow() + dt.timedelta(seconds=config.drills.rectification_due)
    owner = config.drills.rectification_owner
    existing = {a.problem for a in store.get(iid).actions}
    for f in res.findings:
        if f in existing:
            continue
        _inc, a = store.add_action(iid, f, owner, due, actor="drill")
        res.actions.append({"n": a.n, "problem": a.problem, "owner": a.owner, "due": a.due})


def _record_run(res: DrillResult, config: Config) -> None:
    from procops.journal import record

    res.of_limits = res.fractions(config.policy)

    record(Kind.DRILL_RUN, res.scenario.name, res.evidence())
    if res.status is Status.OK:
        try:
            from procops.drills import status as drill_status

            drill_status.write_metrics()
        except Exception:  # metrics never fail the drill
            pass
