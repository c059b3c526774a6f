"""`drill plan SCENARIO`: the dry run (as AWS FIS's): the targets resolved, the steady state checked,
every action with its rollback, the detection and response expected; nothing is injected, no alert
is marked, no incident opened. Exit 0 when the drill could start now, 1 when the steady state does
not hold (the drill would refuse), 3 when what it needs is missing (the preflight names it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from procops.errors import ProcopsError
from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config
    from procops.drills.injectors import PlannedAction
    from procops.drills.probes import ProbeResult
    from procops.drills.scenario import Scenario


@dataclass
class Plan:
    scenario: Scenario
    targets: list[dict[str, Any]]
    steady_state: list[ProbeResult]
    actions: list[PlannedAction]
    preflight_error: str | None = None
    preflight_hint: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.preflight_error:
            return 3
        return 0 if all(p.ok for p in self.steady_state) else 1

    def as_dict(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "scenario": s.name,
            "title": s.title,
            "fault_type": s.fault_type,
            "targets": self.targets,
            "steady_state": [p.as_dict() for p in self.steady_state],
            "actions": [a.as_dict() for a in self.actions],
            "detection": s.detection.model_dump(),
            "response": s.response.model_dump(),
            "rollback": s.rollback.model_dump(),
            "verification": s.verification.model_dump(),
            "stop_conditions": s.stop_conditions.model_dump(),
            "preflight_error": self.preflight_error,
            "preflight_hint": self.preflight_hint,
            "injected": False,
            "exit_code": self.exit_code,
        }


def resolve_targets(config: Config, scenario: Scenario) -> list[dict[str, Any]]:
    """Where the fault would land: the sandbox's front end, or each allowed host's SSH address."""
    from procops.drills import scenario as sc

    sc.check_target(scenario, config.drills.allowed_hosts)
    if scenario.target.kind == "sandbox":
        from procops.sandbox import api as sandbox

        fe = sandbox.frontend()
        return [{"kind": "sandbox", "url": fe.url if fe else None, "running": fe is not None}]
    known = {h.name: h for h in config.drills.hosts}
    out = []
    for name in scenario.target.hosts:
        h = known.get(name)
        out.append({"kind": "host", "name": name, "address": h.address if h else None, "port": h.port if h else None})
    return out


def plan(config: Config, scenario: Scenario) -> Plan:
    from procops.drills import injectors, probes
    from procops.home import area_dir

    targets = resolve_targets(config, scenario)
    injector = injectors.for_scenario(config, scenario, area_dir("drills") / "plan")
    actions = list(injector.plan())
    p = Plan(scenario, targets, probes.steady_state(config, list(scenario.steady_state)), actions)
    try:
        injector.preflight()
    except ProcopsError as e:
        p.preflight_error, p.preflight_hint = e.message, e.hint
    if scenario.detection.alert:
        p.notes.append(
            _("the drill's alerts ({alert} and the platform's symptoms) will carry drill=<id> while it runs").format(
                alert=scenario.detection.alert
            )
        )
    return p


def describe(p: Plan) -> str:
    s = p.scenario
    lines = [_("Drill plan (演练方案) {name}: {title}").format(name=s.name, title=s.title)]
    lines.append(_("Targets:"))
    for t in p.targets:
        lines.append("  - " + ", ".join(f"{k}={v}" for k, v in t.items()))
    lines.append(_("Steady state now:"))
    for r in p.steady_state:
        lines.append(f"  - {r.name}: {'ok' if r.ok else 'FAILED'} ({r.detail})")
    lines.append(_("Actions and their rollbacks:"))
    for a in p.actions:
        lines.append(_("  - do: {action}\n    undo: {rollback}").format(action=a.action, rollback=a.rollback))
    lines.append(
        _("Expected detection: {what} within {within:g} s").format(
            what=s.detection.alert or s.detection.probe, within=s.detection.within
        )
    )
    lines.append(_("Response (runbook {runbook}):").format(runbook=s.response.runbook))
    for st in s.response.steps:
        lines.append(f"  - [{st.milestone}] {st.text}" + (f"  ({st.command})" if st.command else ""))
    lines.append(
        _("Stop conditions: error ratio above {ratio:.0%}, downtime above {down:g} s").format(
            ratio=s.stop_conditions.max_error_ratio, down=s.stop_conditions.max_downtime
        )
    )
    for n in p.notes:
        lines.append("  * " + n)
    if p.preflight_error:
        lines.append(_("Cannot run now: {error}").format(error=p.preflight_error))
    lines.append(_("Nothing was injected (dry run)."))
    return "\n".join(lines)


def describe_result(res: Any) -> str:
    """A finished drill in a few lines for people."""
    lines = [
        _("drill {id} ({scenario}, {mode}): {status}").format(
            id=res.drill_id, scenario=res.scenario.name, mode=res.mode, status=res.status.value
        )
    ]
    if res.incident_id:
        lines.append(_("  drill incident: {id}").format(id=res.incident_id))
    if res.detected_s is not None:
        lines.append(
            _("  detected after {s:.1f} s (limit {limit:g} s)").format(
                s=res.detected_s, limit=res.scenario.detection.within
            )
        )
    for k, v in res.clocks.items():
        lines.append(_("  clock {clock}: {state}").format(clock=k, state=_("met") if v else _("MISSED")))
    lines.append(_("  rolled back: {yes}").format(yes=_("yes") if res.rolled_back else _("no")))
    for f in res.findings:
        lines.append(_("  finding: {finding}").format(finding=f))
    if res.report.get("markdown"):
        lines.append(_("  report: {path}").format(path=res.report["markdown"]))
    return "\n".join(lines)
