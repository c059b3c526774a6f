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
from procops.timeutil import format_duration, iso, parse_iso, utcnow

from procops.incidents.incident import FAULT_TYPES, MILESTONE_TITLES, Incident

if TYPE_CHECKING:
    from procops.config import Config

STANDBY_INSTANCE = "standby"

FAULT_TYPE_TITLES = {
    "en": {
        "app-crash": "application crash",
        "database-failure": "database failure",
        "disk-full": "disk full",
        "network": "network failure",
        "backup-failure": "backup failure",
        "capacity": "capacity surge (announcement peak)",
        "bad-release": "bad release",
        "security": "security incident or data leak",
        "other": "other",
    },
    "zh": {
        "app-crash": "应用崩溃",
        "database-failure": "数据库故障",
        "disk-full": "磁盘空间耗尽",
        "network": "网络故障",
        "backup-failure": "备份失败",
        "capacity": "公告高峰容量不足",
        "bad-release": "版本发布缺陷",
        "security": "安全事件或数据泄露",
        "other": "其他",
    },
}
assert all(set(v) == set(FAULT_TYPES) for v in FAULT_TYPE_TITLES.values())


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
                raise EnvironmentFailure(f"the standby at {url} answers /healthz with {h.status_code}")
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
                            f"the standby at {url} does not serve archived document "
                            f"{items[0]['id']} intact (HTTP {d.status_code})"
                        )
                    doc["document_served"] = items[0]["id"]
    except httpx.HTTPError as e:
        raise EnvironmentFailure(f"the standby at {url} does not serve: {e}") from None
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
            "platform.url is set, so standby --execute runs playbooks/failover.yml on the real hosts: "
            "set drills.failover_inventory (groups 'standby' and 'lb') in the config",
            hint="or start the standby by hand and record it with --evidence TEXT",
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
        hint="the standby milestone is not reached; fix and run it again",
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

LABELS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Fault analysis report",
        "incident": "Incident",
        "severity": "Severity",
        "status": "Status",
        "type": "Fault type",
        "t0": "Fault start (T0)",
        "opened": "Opened",
        "source": "Source",
        "roles": "Roles",
        "commander": "Incident commander",
        "operations": "Operations lead",
        "scribe": "Communications / scribe",
        "summary": "Summary",
        "impact": "Impact",
        "timeline": "Timeline",
        "detection": "Detection",
        "root_cause": "Root cause",
        "resolution": "Resolution",
        "compliance": "Deadline compliance",
        "milestone": "Milestone",
        "limit": "Limit",
        "deadline": "Deadline",
        "reached": "Reached at",
        "took": "After T0",
        "met": "Met",
        "yes": "yes",
        "no": "NO (late)",
        "pending": "pending",
        "waived": "not needed",
        "actions": "Rectification items",
        "problem": "Problem",
        "owner": "Owner",
        "due": "Due",
        "time": "Time (UTC)",
        "event": "Event",
        "actor": "By",
        "tbd": "(to be completed)",
        "none": "none",
        "generated": "Generated",
        "standby": "Standby system",
        "not_resolved": "not resolved yet",
        "closed_loop": "Closed loop (resolved, report submitted, all items accepted)",
        "statuses": {"open": "open", "rectified": "rectified", "accepted": "accepted"},
        "incident_statuses": {"open": "open (being handled)", "resolved": "resolved"},
    },
    "zh": {
        "title": "故障分析报告",
        "incident": "事件编号",
        "severity": "严重程度",
        "status": "状态",
        "type": "故障类型",
        "t0": "故障开始时间（T0）",
        "opened": "登记时间",
        "source": "来源",
        "roles": "角色",
        "commander": "应急指挥",
        "operations": "运维负责人",
        "scribe": "通讯与记录",
        "summary": "概述",
        "impact": "影响范围",
        "timeline": "时间线",
        "detection": "发现方式",
        "root_cause": "根本原因",
        "resolution": "处置结果",
        "compliance": "时限达标情况",
        "milestone": "环节",
        "limit": "时限",
        "deadline": "截止时间",
        "reached": "完成时间",
        "took": "距T0",
        "met": "是否达标",
        "yes": "达标",
        "no": "超时",
        "pending": "未完成",
        "waived": "无需执行",
        "actions": "整改事项",
        "problem": "问题",
        "owner": "责任人",
        "due": "期限",
        "time": "时间（UTC）",
        "event": "事件",
        "actor": "操作人",
        "tbd": "（待补充）",
        "none": "无",
        "generated": "生成时间",
        "standby": "备用系统",
        "not_resolved": "尚未恢复",
        "closed_loop": "闭环（已恢复、报告已提交、整改全部验收）",
        "statuses": {"open": "待整改", "rectified": "已整改", "accepted": "已验收"},
        "incident_statuses": {"open": "处置中", "resolved": "已恢复"},
    },
}

SEVERITY_TITLES = {"zh": {"critical": "紧急", "major": "重大", "minor": "一般", "warning": "警告", "info": "提示"}}


def _timeline_text(kind: str, data: dict, lang: str) -> str:
    ms = MILESTONE_TITLES[lang]
    if kind == "open":
        return "登记事件，三个时限开始计时" if lang == "zh" else "incident opened, the three clocks start"
    if kind == "classify":
        t = FAULT_TYPE_TITLES[lang].get(data.get("type", ""), data.get("type", ""))
        return f"{ms['classify']}: {t}" + (
            " (超时)" if lang == "zh" and data.get("late") else " (late)" if data.get("late") else ""
        )
    if kind == "standby":
        where = (data.get("evidence") or {}).get("url") or (data.get("evidence") or {}).get("note") or ""
        late = (" (超时)" if lang == "zh" else " (late)") if data.get("late") else ""
        return f"{ms['standby']} {where}".strip() + late
    if kind == "report.submit":
        return ms["report"]
    if kind == "report.write":
        return "生成报告草稿" if lang == "zh" else "report draft written"
    if kind == "resolve":
        return ("服务恢复" if lang == "zh" else "service restored") + (
            f": {data['summary']}" if data.get("summary") else ""
        )
    if kind.startswith("escalation."):
        lvl = data.get("level")
        m = ms.get(data.get("milestone", ""), data.get("milestone", ""))
        if lang == "zh":
            word = "已升级通知" if kind == "escalation.sent" else "升级通知发送失败"
            return f"{word}（{m}，{'已超时' if lvl == 'missed' else '即将到期'}）→ {data.get('receiver')}"
        word = "escalated" if kind == "escalation.sent" else "escalation failed"
        return f"{word} ({m}, {lvl}) -> {data.get('receiver')}" + (f": {data['error']}" if data.get("error") else "")
    if kind == "action.add":
        return (
            f"新增整改事项 {data.get('action')}: {data.get('problem')}"
            if lang == "zh"
            else f"rectification item {data.get('action')} added: {data.get('problem')}"
        )
    if kind == "action.update":
        st = LABELS[lang]["statuses"].get(data.get("status", ""), data.get("status", ""))
        return (
            f"整改事项 {data.get('action')} → {st}"
            if lang == "zh"
            else f"rectification item {data.get('action')} -> {st}"
        )
    if kind == "update":
        fields = data.get("fields", {})
        return ("更新：" if lang == "zh" else "updated: ") + ", ".join(sorted(fields))
    if kind == "standby.execute":
        return (
            "开始切换到备用系统（从异地备份恢复）"
            if lang == "zh"
            else "failover started (restore from the off-site backup)"
        )
    if kind == "standby.playbook":
        hosts = ", ".join(
            f"{h} ok={r.get('ok')} failed={r.get('failed')} unreachable={r.get('unreachable')}"
            for h, r in (data.get("recap") or {}).items()
        )
        word = ("备用系统切换剧本" if lang == "zh" else "failover playbook") + " playbooks/failover.yml"
        state = ("成功" if lang == "zh" else "succeeded") if data.get("ok") else ("失败" if lang == "zh" else "failed")
        return f"{word}: {state} (rc={data.get('rc')}; {hosts})"
    if kind == "standby.failed":
        return ("切换失败：" if lang == "zh" else "failover failed: ") + str(data.get("error", ""))
    detail = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", {}, []))
    return f"{kind}" + (f": {detail}" if detail else "")


def _t(text: str | None) -> str | None:
    """A stored time shown to people: UTC, to the second."""
    if not text:
        return text
    return iso(parse_iso(text).replace(microsecond=0))


def _limit(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 and seconds % 3600 == 0 else format_duration(seconds)


def report_context(inc: Incident, lang: str, config: Config, now: dt.datetime | None = None) -> dict:
    if lang not in LABELS:
        raise BadInput(f"unknown language {lang!r}: use zh or en")
    L = LABELS[lang]
    now = now or utcnow()
    t0 = parse_iso(inc.t0)
    rows = []
    for r in inc.compliance():
        if r["met"] is True:
            met = L["waived"] if r["waived"] else L["yes"]
        elif r["met"] is False:
            met = L["no"]
        else:
            met = L["pending"]
        rows.append(
            {
                "milestone": MILESTONE_TITLES[lang][r["milestone"]],
                "limit": _limit(r["limit_seconds"]),
                "deadline": _t(r["deadline"]),
                "reached": _t(r["reached_at"]) or "-",
                "took": format_duration(r["took_seconds"]) if r["took_seconds"] is not None else "-",
                "met": met,
            }
        )
    timeline = [
        {"time": _t(e.time), "actor": e.actor, "text": _timeline_text(e.kind, e.data, lang).replace("|", "/")}
        for e in inc.timeline
    ]
    source = inc.source.get("kind", "manual")
    if inc.source.get("alertname"):
        source += f" ({inc.source['alertname']})"
    detection = inc.detection or (
        (
            f"告警 {inc.source.get('alertname')} 于 {inc.opened_at} 自动登记"
            if lang == "zh"
            else f"alert {inc.source.get('alertname')} opened the incident at {inc.opened_at}"
        )
        if inc.source.get("kind") == "alert"
        else None
    )
    resolution = None
    if inc.resolution:
        took = format_duration((parse_iso(inc.resolution["at"]) - t0).total_seconds())
        resolution = (
            f"{_t(inc.resolution['at'])}（距T0 {took}）"
            if lang == "zh"
            else f"{_t(inc.resolution['at'])} ({took} after T0)"
        )
        if inc.resolution.get("summary"):
            resolution += f": {inc.resolution['summary']}"
    sev = SEVERITY_TITLES.get(lang, {}).get(inc.severity, inc.severity)
    return {
        "L": L,
        "inc": inc,
        "generated": _t(iso(now)),
        "t0": _t(inc.t0),
        "opened_at": _t(inc.opened_at),
        "platform": config.platform.name,
        "type": FAULT_TYPE_TITLES[lang].get(inc.fault_type or "", None),
        "severity": sev,
        "status": L["incident_statuses"].get(inc.status, inc.status),
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
                "due": (a.due or "-")[:10],
                "status": L["statuses"].get(a.status, a.status),
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


def write_report(
    inc: Incident, lang: str, config: Config, now: dt.datetime | None = None, out_dir: Path | None = None
) -> dict:
    """Render the report; returns {"markdown", "html", "sha256"} (paths as strings)."""
    from procops.home import atomic_write
    from procops.report import markdown_to_html, render

    md = render("incident-report.md.j2", lang, **report_context(inc, lang, config, now))
    title = f"{LABELS[lang]['title']} {inc.id}"
    html = markdown_to_html(md, title)
    d = out_dir or report_dir(inc.id)
    md_path, html_path = d / f"{inc.id}-report.{lang}.md", d / f"{inc.id}-report.{lang}.html"
    atomic_write(md_path, md)
    atomic_write(html_path, html)
    return {"markdown": str(md_path), "html": str(html_path), "sha256": hashlib.sha256(md.encode()).hexdigest()}
