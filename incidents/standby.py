"""`incident standby`: milestone 2 (the standby system started, within 1 h of T0).

Either the responder says what was started (``evidence``), or the configured failover runs:
with ``platform.url`` set, ``playbooks/failover.yml`` on the real hosts
(:func:`procops.incidents.response.failover_on_hosts`); otherwise the latest off-site backup
restored into the standby sandbox (:func:`procops.incidents.response.failover`). Each step is
on the incident's timeline before it runs (``standby.execute``) and after (``standby.playbook``,
``standby.failed``); a failed failover leaves the milestone unreached and is exit 3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.errors import BadInput, ProcopsError

from procops.incidents.incident import Incident, IncidentStore

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

FAILOVER_PLAYBOOK = Path("playbooks/failover.yml")


@dataclass(frozen=True)
class StandbyResult:
    incident: Incident
    evidence: dict[str, Any]

    def as_dict(self) -> dict:
        return self.incident.as_dict()


def start_standby(
    config: Config,
    incident_id: str,
    *,
    execute: bool = False,
    evidence: str | None = None,
    repo: str | None = None,
    snapshot: str = "latest",
    actor: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> StandbyResult:
    """Reach the standby milestone of ``incident_id``, running the failover when ``execute``."""
    from procops.incidents import response
    from procops.incidents.escalation import write_metrics

    say = progress or (lambda _line: None)
    by = actor
    if not execute and not evidence:
        raise BadInput(_("say what was started with --evidence TEXT, or run the failover with --execute"))
    with IncidentStore(policy=config.policy) as store:
        inc = store.get(incident_id)
        if inc.milestones["standby"].reached_at:
            raise BadInput(
                _("{id}: the standby was already started at {reached_at}").format(
                    id=inc.id, reached_at=inc.milestones["standby"].reached_at
                )
            )
        ev: dict = {"note": evidence} if evidence else {}
        if execute and config.platform.url:
            inventory = str(response.failover_inventory(config))
            say(f"{inc.id}: running playbooks/failover.yml on {inventory} ...")
            store.add_timeline(
                inc.id,
                "standby.execute",
                {"repo": repo, "snapshot": snapshot, "playbook": "playbooks/failover.yml", "inventory": inventory},
                actor=by,
            )
            result = response.failover_on_hosts(config, repo=repo, snapshot=snapshot)
            store.add_timeline(
                inc.id,
                "standby.playbook",
                {
                    "ok": result["ok"],
                    "rc": result["rc"],
                    "status": result["status"],
                    "recap": result.get("recap"),
                    "seconds": result["seconds"],
                    "standby": result.get("standby"),
                    **({"error": result["error"], "failures": result["failures"]} if not result["ok"] else {}),
                },
                actor=by,
            )
            if not result["ok"]:
                store.add_timeline(inc.id, "standby.failed", {"error": result["error"]}, actor=by)
                for line in result.get("output_tail", []):
                    say(line)
                raise response.failover_error(result, prefix=f"{inc.id}: ")
            ev.update(
                {
                    "playbook": "playbooks/failover.yml",
                    "inventory": inventory,
                    "recap": result["recap"],
                    "failover_seconds": result["seconds"],
                    "standby": result.get("standby"),
                    "url": config.platform.url,
                    "snapshot": (result.get("standby") or {}).get("run"),
                    "repository": (result.get("standby") or {}).get("repository"),
                }
            )
        elif execute:
            say(f"{inc.id}: restoring the latest off-site backup into the standby instance ...")
            store.add_timeline(inc.id, "standby.execute", {"repo": repo, "snapshot": snapshot}, actor=by)
            try:
                result = response.failover(config, repo=repo, snapshot=snapshot, incident=inc.id)
            except ProcopsError as e:
                store.add_timeline(inc.id, "standby.failed", {"error": e.message}, actor=by)
                raise
            ev.update(result)
        inc = store.standby(inc.id, evidence=ev, actor=by)
        write_metrics(store)
    return StandbyResult(inc, ev)


def describe(res: StandbyResult) -> str:
    """One line for a person: when the milestone was reached and where the standby serves."""
    from procops.display import duration, when

    inc, ev = res.incident, res.evidence
    m = inc.milestones["standby"]
    took = duration(ev.get("failover_seconds")) if ev.get("failover_seconds") is not None else "-"
    if ev.get("playbook"):
        where = _("; playbooks/failover.yml switched {url} to the standby {standby} in {took}").format(
            url=ev["url"], standby=(ev.get("standby") or {}).get("url") or "", took=took
        )
    elif ev.get("url"):
        where = _(" serving at {url} (restored {snapshot} in {took})").format(
            url=ev["url"], snapshot=ev.get("snapshot"), took=took
        )
    else:
        where = ""
    sw = ev.get("switched")
    if sw:
        if sw.get("ok"):
            where += _("; {url} switched to it").format(url=sw["url"])
        else:
            where += _("; switching the main HAProxy failed ({errors}): use the standby URL").format(
                errors="; ".join(sw.get("errors", []))
            )
    cutoff = ev.get("data_cutoff")
    if cutoff:
        where += "\n" + _(
            "  data cutoff: the standby holds the data up to {time} (snapshot {snapshot} of {repository}); what was written after it is not on the standby"
        ).format(
            time=when(cutoff.get("snapshot_time")), snapshot=cutoff.get("snapshot"), repository=cutoff.get("repository")
        )
        where += "\n" + _("  fail back when main is repaired: {command}").format(
            command=f"procops incident failback {inc.id} --execute"
        )
    state = _(" (LATE)") if m.late else _(" (in time)")
    return _("{id}: standby started at {time}").format(id=inc.id, time=when(m.reached_at)) + state + where
