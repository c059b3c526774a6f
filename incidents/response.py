"""What a responder does to an incident beyond recording it: fail over, write the report.

* :func:`failover` starts the standby system: the latest off-site backup restored
  into the ``standby`` sandbox instance (``procops.backup.api.restore_to_sandbox``),
  then checked to serve (``/healthz`` and the restored announcements and documents).
  With ``platform.url`` set (real hosts) it runs ``playbooks/failover.yml`` instead
  (:func:`failover_on_hosts`, through ``procops.playbook.run_playbook``): restore on the
  ``standby`` host, switch HAProxy on ``lb``; per-host results from the run's events.
* :func:`write_report` renders the fault analysis report (故障分析报告) in zh or en,
  Markdown and HTML, with the deadline-compliance table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.errors import BadInput, EnvironmentFailure, ExitCode, ProcopsError
from procops.timeutil import parse_iso, utcnow

from procops.incidents.incident import (
    ACTION_STATUS_TITLES,
    FAULT_TYPE_TITLES,
    MILESTONE_TITLES,
    SEVERITY_TITLES,
    STATUS_TITLES,
    Incident,
    shown,
)

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

STANDBY_INSTANCE = "standby"


# --------------------------------------------------------------------------- failover


def offsite_repository(config: Config) -> str | None:
    """The repository the standby restores from: the first off-site one (embedded default: 'offsite')."""
    repos = config.backup.repositories
    if not repos:
        return "offsite"
    for r in repos:
        if r.offsite:
            return r.name
    return None


def check_serving(url: str, timeout: float = 10.0) -> dict:
    """The standby answers /healthz, lists announcements and serves an archived document intact."""
    import hashlib as _h

    import httpx

    url = url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout) as c:
            h = c.get(url + "/healthz")
            if h.status_code != 200:
                raise EnvironmentFailure(
                    _("the standby at {url} answers /healthz with {status_code}").format(
                        url=url, status_code=h.status_code
                    )
                )
            a = c.get(url + "/api/announcements", params={"page": 1, "size": 1})
            a.raise_for_status()
            total = a.json().get("total")
            doc: dict[str, Any] = {"document_served": None}
            arch = c.get(url + "/api/archive", params={"page": 1, "size": 1})
            if arch.status_code == 200:
                body = arch.json()
                items = body.get("items", []) if isinstance(body, dict) else []
                doc["archive_total"] = body.get("total") if isinstance(body, dict) else None
                if items:
                    d = c.get(f"{url}/api/documents/{items[0]['id']}")
                    ok = d.status_code == 200 and (
                        not items[0].get("sha256") or _h.sha256(d.content).hexdigest() == items[0]["sha256"]
                    )
                    if not ok:
                        raise EnvironmentFailure(
                            _(
                                "the standby at {url} does not serve archived document {id} intact (HTTP {status_code})"
                            ).format(url=url, id=items[0]["id"], status_code=d.status_code)
                        )
                    doc["document_served"] = items[0]["id"]
    except httpx.HTTPError as e:
        raise EnvironmentFailure(_("the standby at {url} does not serve: {e}").format(url=url, e=e)) from None
    return {"healthz": True, "announcements_total": total, **doc}


def switch_commands(
    servers: list[str], standby_ports: list[int], backend: str = "replicas", host: str = "127.0.0.1"
) -> list[str]:
    """HAProxy runtime API commands pointing the main frontend's servers at the standby's replicas."""
    if not servers or not standby_ports:
        raise ValueError("nothing to switch")
    cmds = []
    for i, name in enumerate(servers):
        port = standby_ports[i % len(standby_ports)]
        cmds.append(f"set server {backend}/{name} addr {host} port {port}")
        cmds.append(f"set server {backend}/{name} state ready")
    return cmds


def switch_main_haproxy(instance: str = STANDBY_INSTANCE) -> dict | None:
    """Point the main sandbox's HAProxy at the standby's replicas, so users keep the usual URL.

    Returns what was switched, or None when the main HAProxy is not running (users then go to
    the standby URL). Never raises: a failed switch is reported in the result.
    """
    from procops.haproxy import RuntimeAPI
    from procops.sandbox import api as sandbox

    try:
        main = sandbox.running("main")
        standby = sandbox.running(instance)
        if main is None or not main.haproxy_alive or standby is None:
            return None
        cmds = switch_commands(
            [r.name for r in main.replicas], [r.port for r in standby.replicas if r.port], host=standby.host
        )
        api = RuntimeAPI(main.haproxy_socket)
        answers = [api.command(c).strip() for c in cmds]
        bad = [
            f"{c}: {a}"
            for c, a in zip(cmds, answers)
            if a and "changed" not in a.lower() and "no need" not in a.lower()
        ]
        return {"url": main.url, "commands": cmds, "ok": not bad, "errors": bad}
    except Exception as e:  # noqa: BLE001 - the standby URL still serves; report, do not fail
        return {"ok": False, "errors": [f"{type(e).__name__}: {e}"]}


PLAYBOOK_TIMEOUT = 3600.0  # the standby clock itself


def failover_inventory(config: Config) -> Path:
    """drills.failover_inventory, which real hosts need (groups 'standby' and 'lb'); else bad input."""
    inventory = config.drills.failover_inventory
    if inventory is None:
        raise BadInput(
            _(
                "platform.url is set, so standby --execute runs playbooks/failover.yml on the real hosts: "
                "set drills.failover_inventory (groups 'standby' and 'lb') in the config"
            ),
            hint=_("or start the standby by hand and record it with --evidence TEXT"),
        )
    return Path(inventory)


def failover_extra_vars(config: Config, *, repo: str | None = None, snapshot: str | None = None) -> dict[str, str]:
    """The playbook's variables: ``drills.failover_extra_vars`` with ``--repo`` and ``--snapshot`` on top
    (as ``procops_offsite_repo`` and ``procops_snapshot``; ``latest`` is the playbook's default)."""
    extra: dict[str, str] = dict(config.drills.failover_extra_vars)
    if repo:
        extra["procops_offsite_repo"] = repo
    if snapshot and snapshot != "latest":
        extra["procops_snapshot"] = snapshot
    return extra


def failover_on_hosts(
    config: Config, *, repo: str | None = None, snapshot: str = "latest", timeout: float = PLAYBOOK_TIMEOUT
) -> dict:
    """Run playbooks/failover.yml (``procops.playbook.run_playbook``); returns
    {"ok", "status", "exit_code", "rc", "recap", "standby", "failures", "seconds", ...}.

    ``recap`` is the PLAY RECAP per host (from the run's events), ``standby`` what the playbook reported
    with ``set_stats``. Never raises for a failed playbook (``ok`` is False, ``error`` and ``output_tail``
    say why, ``exit_code`` is 2 for a playbook or inventory that cannot be used, else 3), so the caller
    can record the result before it fails. No inventory configured is :class:`BadInput`.
    """
    from procops.home import project_path
    from procops.playbook import PlaybookStatus, run_playbook

    playbook = project_path("playbooks", "failover.yml")
    inventory = failover_inventory(config)
    extra = failover_extra_vars(config, repo=repo, snapshot=snapshot)
    res = run_playbook(playbook, inventory, extra_vars=extra, timeout=timeout)
    standby = res.reported.get("standby") if isinstance(res.reported.get("standby"), dict) else None
    ok = res.ok and standby is not None
    error = res.error
    if res.ok and standby is None:
        error = "the failover playbook did not report a standby (set_stats 'standby')"
    if res.status is PlaybookStatus.TIMEOUT:
        error = f"the failover playbook took longer than {timeout:.0f}s"
    result: dict[str, Any] = {
        "ok": ok,
        "status": res.status.value,
        "exit_code": int(res.exit_code(on_failure=ExitCode.ENVIRONMENT)) if not res.ok else (0 if ok else 3),
        "rc": res.rc,
        "playbook": str(playbook),
        "inventory": str(inventory),
        "recap": {h: asdict(s) for h, s in res.hosts.items()},
        "standby": (
            {k: standby.get(k) for k in ("instance", "run", "repository", "url", "replica_ports")} if standby else None
        ),
        "failures": [asdict(f) for f in res.failures],
        "check": res.check,
        "url": config.platform.url,
        "seconds": res.seconds,
    }
    if not ok:
        result["error"] = error or f"the failover playbook ended {res.status.value}"
        result["output_tail"] = list(res.output_tail)
    return result


def failover_error(result: dict, prefix: str = "") -> ProcopsError:
    """The error of an unsuccessful :func:`failover_on_hosts`: exit 2 for an unusable playbook or
    inventory, else 3 (a failed task or an unreachable host: the environment the standby needs)."""
    cls = BadInput if result.get("exit_code") == ExitCode.BAD_INPUT else EnvironmentFailure
    return cls(
        f"{prefix}the failover playbook failed: {result['error']}",
        hint=_("the standby milestone is not reached; fix and run it again"),
    )


def data_cutoff(restored: dict) -> dict:
    """What the standby holds: the restored snapshot's time; what was written after it is not there."""
    at = restored.get("time")
    return {
        "snapshot_time": at,
        "snapshot": restored.get("snapshot"),
        "repository": restored.get("repository"),
        "note": (
            f"the standby holds the data up to {at} (snapshot {restored.get('snapshot')} of "
            f"{restored.get('repository')}); what was written after it is not on the standby"
        ),
    }


def failover(
    config: Config,
    *,
    repo: str | None = None,
    snapshot: str = "latest",
    instance: str = STANDBY_INSTANCE,
    incident: str | None = None,
) -> dict:
    """Restore the latest off-site backup into the standby instance, check that it serves, switch the
    main HAProxy to it and record the active site (``standby``, with the data cutoff).

        With ``platform.url`` set: :func:`failover_on_hosts`, an unsuccessful playbook being
    :func:`failover_error` (exit 3, or 2 for an unusable playbook or inventory).
    """
    if config.platform.url:
        result = failover_on_hosts(config, repo=repo, snapshot=snapshot)
        if not result["ok"]:
            raise failover_error(result)
        return result
    from procops.backup.api import restore_to_sandbox

    started = time.monotonic()
    result = dict(
        restore_to_sandbox(config, repo=repo or offsite_repository(config), snapshot=snapshot, instance=instance)
    )
    result["serving"] = check_serving(result["url"])
    result["instance"] = instance
    switched = switch_main_haproxy(instance)
    if switched is not None:
        if switched.get("ok"):
            deadline = time.monotonic() + 15  # health checks bring the re-pointed servers up (inter 1s)
            while True:
                try:
                    switched["serving"] = check_serving(switched["url"])
                    break
                except EnvironmentFailure as e:
                    if time.monotonic() > deadline:
                        switched.update(ok=False, errors=[e.message])
                        break
                    time.sleep(0.5)
        result["switched"] = switched
    result["data_cutoff"] = data_cutoff(result)
    from procops.sandbox import api as sandbox

    sandbox.record_active_site(
        instance,
        incident=incident,
        operation="failover",
        url=switched["url"] if switched and switched.get("ok") else result["url"],
        data_cutoff=result["data_cutoff"]["snapshot_time"],
    )
    result["failover_seconds"] = round(time.monotonic() - started, 3)
    return result


# --------------------------------------------------------------------------- report


def _late(data: dict) -> str:
    return _(" (late)") if data.get("late") else ""


def _timeline_text(kind: str, data: dict) -> str:
    """One timeline entry as people read it, in the current language."""
    ms = data.get("milestone", "")
    if kind == "open":
        return _("incident opened, the three clocks start")
    if kind == "classify":
        return _("{milestone}: {fault_type}").format(
            milestone=shown(MILESTONE_TITLES, "classify"), fault_type=shown(FAULT_TYPE_TITLES, data.get("type"))
        ) + _late(data)
    if kind == "standby":
        ev = data.get("evidence") or {}
        where = ev.get("url") or ev.get("note") or ""
        return f"{shown(MILESTONE_TITLES, 'standby')} {where}".strip() + _late(data)
    if kind == "report.submit":
        return shown(MILESTONE_TITLES, "report")
    if kind == "report.write":
        return _("report draft written")
    if kind == "resolve":
        if data.get("summary"):
            return _("service restored: {summary}").format(summary=data["summary"])
        return _("service restored")
    if kind.startswith("escalation."):
        level = _("deadline missed") if data.get("level") == "missed" else _("deadline near")
        args = {"milestone": shown(MILESTONE_TITLES, ms), "level": level, "receiver": data.get("receiver")}
        if kind == "escalation.sent":
            return _("escalated ({milestone}, {level}) -> {receiver}").format(**args)
        return _("escalation failed ({milestone}, {level}) -> {receiver}: {error}").format(
            **args, error=data.get("error", "")
        )
    if kind == "action.add":
        return _("rectification item {action} added: {problem}").format(
            action=data.get("action"), problem=data.get("problem")
        )
    if kind == "action.update":
        return _("rectification item {action} -> {status}").format(
            action=data.get("action"), status=shown(ACTION_STATUS_TITLES, data.get("status"))
        )
    if kind == "update":
        return _("updated: {fields}").format(fields=", ".join(sorted(data.get("fields", {}))))
    if kind == "standby.execute":
        return _("failover started (restore from the off-site backup)")
    if kind == "standby.playbook":
        hosts = ", ".join(
            f"{h} ok={r.get('ok')} failed={r.get('failed')} unreachable={r.get('unreachable')}"
            for h, r in (data.get("recap") or {}).items()
        )
        if data.get("ok"):
            return _("failover playbook playbooks/failover.yml succeeded (rc={rc}; {hosts})").format(
                rc=data.get("rc"), hosts=hosts
            )
        return _("failover playbook playbooks/failover.yml failed (rc={rc}; {hosts})").format(
            rc=data.get("rc"), hosts=hosts
        )
    if kind == "standby.failed":
        return _("failover failed: {error}").format(error=data.get("error", ""))
    detail = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", {}, []))
    return f"{kind}" + (f": {detail}" if detail else "")


def report_context(inc: Incident, lang: str, config: Config, now: dt.datetime | None = None) -> dict:
    """What the report template shows, in ``lang`` (times in the display zone, durations in words)."""
    from procops.display import duration, using, when
    from procops.i18n import normalize, speaking
    from procops.report import header

    try:
        lang = normalize(lang)
    except ValueError as e:
        raise BadInput(str(e)) from None
    with speaking(lang), using(config):
        now = now or utcnow()
        t0 = parse_iso(inc.t0)
        rows = []
        for r in inc.compliance():
            if r["met"] is True:
                met = _("not needed") if r["waived"] else _("met")
            elif r["met"] is False:
                met = _("NO (late)")
            else:
                met = _("pending")
            rows.append(
                {
                    "milestone": shown(MILESTONE_TITLES, r["milestone"]),
                    "limit": duration(r["limit_seconds"]),
                    "deadline": when(r["deadline"]),
                    "reached": when(r["reached_at"]),
                    "took": duration(r["took_seconds"]) if r["took_seconds"] is not None else "-",
                    "met": met,
                }
            )
        timeline = [
            {"time": when(e.time), "actor": e.actor, "text": _timeline_text(e.kind, e.data).replace("|", "/")}
            for e in inc.timeline
        ]
        kind = inc.source.get("kind", "manual")
        source = {"manual": _("by hand"), "alert": _("from an alert"), "drill": _("drill")}.get(kind, kind)
        if inc.source.get("alertname"):
            source += f" ({inc.source['alertname']})"
        detection = None
        if inc.detection:
            detection = inc.detection
        elif inc.source.get("kind") == "alert":
            detection = _("alert {alertname} opened the incident at {time}").format(
                alertname=inc.source.get("alertname"), time=when(inc.opened_at)
            )
        resolution = None
        if inc.resolution:
            took = duration((parse_iso(inc.resolution["at"]) - t0).total_seconds())
            resolution = _("{time} ({took} after T0)").format(time=when(inc.resolution["at"]), took=took)
            if inc.resolution.get("summary"):
                resolution += f": {inc.resolution['summary']}"
        title = _("Fault analysis report")
        return {
            "head": header(f"{title} {inc.id}", config.platform.name, now=now),
            "inc": inc,
            "t0": when(inc.t0),
            "opened_at": when(inc.opened_at),
            "platform": config.platform.name,
            "type": shown(FAULT_TYPE_TITLES, inc.fault_type) or None,
            "severity": shown(SEVERITY_TITLES, inc.severity),
            "status": shown(STATUS_TITLES, inc.status),
            "source": source,
            "compliance": rows,
            "timeline": timeline,
            "detection": detection,
            "resolution": resolution,
            "actions": [
                {
                    "n": a.n,
                    "problem": a.problem.replace("|", "/"),
                    "owner": a.owner,
                    "due": when(a.due)[:10],
                    "status": shown(ACTION_STATUS_TITLES, a.status),
                }
                for a in inc.actions
            ],
            "standby": inc.standby,
            "closed_loop": inc.closed_loop(),
        }


def report_dir(incident_id: str) -> Path:
    from procops.home import area_dir

    d = area_dir("reports") / "incidents" / incident_id
    d.mkdir(parents=True, exist_ok=True)
    return d


def submitted_files(inc: Incident) -> set[str]:
    """The files of the submitted report (recorded in milestone 3 with their sha256): never rewritten."""
    m = inc.milestones.get("report")
    if m is None or not m.reached_at or not m.evidence.get("sha256"):
        return set()
    return {str(m.evidence[k]) for k in ("markdown", "html", "pdf") if m.evidence.get(k)}


def report_paths(inc: Incident, lang: str, d: Path, now: dt.datetime | None = None) -> tuple[Path, Path, Path]:
    """Where a render of the report goes: ``<id>-report.<lang>.md|html|pdf``, or, once a report was
    submitted, a new ``<id>-report.<lang>.<UTC time>.*`` so the submitted files keep the sha256 that
    milestone 3 recorded."""
    names = [d / f"{inc.id}-report.{lang}.{ext}" for ext in ("md", "html", "pdf")]
    kept = submitted_files(inc)
    if not kept.intersection(str(p) for p in names):
        return names[0], names[1], names[2]
    stamp = (now or utcnow()).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    n = 0
    while True:
        suffix = stamp if n == 0 else f"{stamp}-{n}"
        names = [d / f"{inc.id}-report.{lang}.{suffix}.{ext}" for ext in ("md", "html", "pdf")]
        if not any(p.exists() or str(p) in kept for p in names):
            return names[0], names[1], names[2]
        n += 1


def write_report(
    inc: Incident, lang: str, config: Config, now: dt.datetime | None = None, out_dir: Path | None = None
) -> dict:
    """Render the report; returns {"markdown", "html", "pdf", "sha256"} (paths as strings).

    The PDF is what a supervisor opens; a PDF that cannot be made (no renderer on this host)
    does not stop the report: ``pdf`` is None and ``pdf_error`` says why."""
    from procops.home import atomic_write
    from procops.report import markdown_to_html, render, to_pdf

    from procops.display import using

    ctx = report_context(inc, lang, config, now)
    with using(config):
        md = render("incident-report.md.j2", lang, **ctx)
    html = markdown_to_html(md, ctx["head"]["title"])
    d = out_dir or report_dir(inc.id)
    md_path, html_path, pdf_path = report_paths(inc, lang, d, now)
    atomic_write(md_path, md)
    atomic_write(html_path, html)
    out = {
        "markdown": str(md_path),
        "html": str(html_path),
        "pdf": None,
        "sha256": hashlib.sha256(md.encode()).hexdigest(),
    }
    try:
        out["pdf"] = str(to_pdf(html, pdf_path))
    except (ImportError, OSError) as e:  # WeasyPrint or Pango missing: scripts/bootstrap installs them
        out["pdf_error"] = f"{type(e).__name__}: {e}"
    return out
