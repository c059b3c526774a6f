"""A load test's summary as text for people, in English or Chinese (pure: summary.json in, text out).

Endpoint and SLO names stay as they are in both languages: they are the names
the platform, its metrics and its fault knob use.
"""

from __future__ import annotations

from typing import Any

T: dict[str, dict[str, Any]] = {
    "en": {
        "verdict": {
            "pass": "PASS",
            "fail": "FAIL",
            "invalid": "INVALID",
            "error": "ERROR",
            "interrupted": "INTERRUPTED",
        },
        "head": "loadtest {scenario}: {verdict}  target {target}",
        "version": " (version {v})",
        "invalid": "  INVALID: {reason}",
        "load": "  {users} users, {dur:.0f}s, {requests} requests ({rps:.1f}/s), {failures} failures; {gen}",
        "one": "one Locust process",
        "dist": "master + {n} workers ({local} local): {nodes}",
        "cpu": "  generator CPU: peak {peak:.0%} of a core (limit {limit:.0%}); waited for a core {wait:.0%}",
        "cap": "  capacity: held {m:g}x of {base} users = {users} users, {rps:g} req/s (needs {target:g}x)",
        "steps": "  steps:",
        "step": "    {label:>5}  {users:>5} users  {rps:>8.1f} req/s  {state}",
        "failed": "FAILED: ",
        "slos": "  SLOs:",
        "ok": "ok",
        "bad": "FAIL",
        "nodata": "no data",
        "threshold": "threshold",
        "endpoint": "endpoint",
        "reqs": "reqs",
        "fails": "fails",
        "note": "  note: {n}",
        "report": "  report: {d}",
    },
    "zh": {
        "verdict": {"pass": "通过", "fail": "未通过", "invalid": "无效", "error": "错误", "interrupted": "已中断"},
        "head": "压力测试 {scenario}：{verdict}  目标 {target}",
        "version": "（版本 {v}）",
        "invalid": "  结果无效：{reason}",
        "load": "  {users} 个用户，{dur:.0f} 秒，{requests} 个请求（每秒 {rps:.1f} 个），失败 {failures} 个；{gen}",
        "one": "单个 Locust 进程",
        "dist": "主节点 + {n} 个工作节点（本机 {local} 个）：{nodes}",
        "cpu": "  压测机 CPU：峰值为单核的 {peak:.0%}（上限 {limit:.0%}）；等待 CPU {wait:.0%}",
        "cap": "  容量：在 {base} 个用户的 {m:g} 倍（{users} 个用户，每秒 {rps:g} 个请求）下满足全部目标（要求 {target:g} 倍）",
        "steps": "  阶梯：",
        "step": "    {label:>5}  {users:>5} 个用户  每秒 {rps:>8.1f} 个请求  {state}",
        "failed": "未满足：",
        "slos": "  服务目标：",
        "ok": "满足",
        "bad": "未满足",
        "nodata": "无数据",
        "threshold": "阈值",
        "endpoint": "接口",
        "reqs": "请求",
        "fails": "失败",
        "note": "  说明：{n}",
        "report": "  报告：{d}",
    },
}


def _ms(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def human(s: dict, lang: str = "en") -> str:
    t = T.get(lang, T["en"])
    verdict = t["verdict"].get(s.get("verdict", ""), str(s.get("verdict", "?")).upper())
    out = [
        t["head"].format(scenario=s.get("scenario"), verdict=verdict, target=s.get("target"))
        + (t["version"].format(v=s["platform_version"]) if s.get("platform_version") else "")
    ]
    if s.get("invalid_reason"):
        out.append(t["invalid"].format(reason=s["invalid_reason"]))
    if s.get("expect_workers"):
        nodes = s.get("requests_per_node") or {}
        gen = t["dist"].format(
            n=s["expect_workers"], local=s.get("workers", 0), nodes=", ".join(f"{n}={c}" for n, c in nodes.items())
        )
    else:
        gen = t["one"]
    out.append(
        t["load"].format(
            users=s.get("users"),
            dur=s.get("duration_s", 0),
            requests=s.get("requests"),
            rps=s.get("rps", 0),
            failures=s.get("failures"),
            gen=gen,
        )
    )
    cpu = s.get("generator_cpu") or {}
    if cpu:
        out.append(
            t["cpu"].format(
                peak=cpu.get("max_ratio", 0), limit=cpu.get("threshold", 0.9), wait=cpu.get("max_mean_wait_ratio") or 0
            )
        )
    cap = s.get("capacity")
    if cap:
        out.append(
            t["cap"].format(
                m=cap["multiple"],
                base=cap["baseline_users"],
                users=cap["users"],
                rps=cap["rps"],
                target=cap["target_multiple"],
            )
        )
        out.append(t["steps"])
        for st in s.get("steps", []):
            bad = [r["name"] for r in st["slos"] if not r["ok"]]
            state = t["ok"] if st["ok"] else t["failed"] + ", ".join(bad)
            out.append(t["step"].format(label=st["label"], users=st["users"], rps=st["rps"], state=state))
    out.append(t["slos"])
    for r in s.get("slos", []):
        unit = r.get("unit", "")
        obs = t["nodata"] if r["observed"] is None else f"{r['observed']:g}{unit}"
        out.append(
            f"    [{t['ok'] if r['ok'] else t['bad']}] {r['name']}: {obs} "
            f"({t['threshold']} {r['threshold']:g}{unit})" + (f"  {r['detail']}" if r.get("detail") else "")
        )
    out.append(
        f"  {t['endpoint']:<22} {t['reqs']:>7} {t['fails']:>6} {'5xx':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}"
    )
    for name, e in (s.get("endpoints") or {}).items():
        out.append(
            f"  {name:<22} {e['requests']:>7} {e['failures']:>6} {e['server_errors']:>5} "
            f"{_ms(e['p50_ms']):>7} {_ms(e['p95_ms']):>7} {_ms(e['p99_ms']):>7} {_ms(e['max_ms']):>7}"
        )
    for n in s.get("notes", []):
        out.append(t["note"].format(n=n))
    out.append(t["report"].format(d=s.get("report_dir")))
    return "\n".join(out)
