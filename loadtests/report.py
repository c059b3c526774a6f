"""A load test's summary as text for people (pure: summary.json in, text out)."""

from __future__ import annotations


def _ms(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def _gen(s: dict) -> str:
    if not s.get("expect_workers"):
        return "one Locust process"
    nodes = s.get("requests_per_node") or {}
    return (f"master + {s['expect_workers']} workers ({s.get('workers', 0)} local): "
            + ", ".join(f"{n}={c}" for n, c in nodes.items()))


def human(s: dict) -> str:
    verdict = s.get("verdict", "?").upper()
    out = [f"loadtest {s.get('scenario')}: {verdict}  target {s.get('target')}"
           + (f" (version {s['platform_version']})" if s.get("platform_version") else "")]
    if s.get("invalid_reason"):
        out.append(f"  INVALID: {s['invalid_reason']}")
    out.append(f"  {s.get('users')} users, {s.get('duration_s', 0):.0f}s, {s.get('requests')} requests "
               f"({s.get('rps', 0):.1f}/s), {s.get('failures')} failures; " + _gen(s))
    cpu = s.get("generator_cpu") or {}
    if cpu:
        out.append(f"  generator CPU: peak {cpu.get('max_ratio', 0):.0%} of a core "
                   f"(limit {cpu.get('threshold', 0.9):.0%}); waited for a core {cpu.get('max_mean_wait_ratio') or 0:.0%}")
    cap = s.get("capacity")
    if cap:
        out.append(f"  capacity: held {cap['multiple']:g}x of {cap['baseline_users']} users = {cap['users']} users, "
                   f"{cap['rps']:g} req/s (needs {cap['target_multiple']:g}x)")
        out.append("  steps:")
        for st in s.get("steps", []):
            bad = [r["name"] for r in st["slos"] if not r["ok"]]
            out.append(f"    {st['label']:>5}  {st['users']:>5} users  {st['rps']:>8.1f} req/s  "
                       f"{'ok' if st['ok'] else 'FAILED: ' + ', '.join(bad)}")
    out.append("  SLOs:")
    for r in s.get("slos", []):
        obs = "no data" if r["observed"] is None else f"{r['observed']:g}{r.get('unit', '')}"
        out.append(f"    [{'ok' if r['ok'] else 'FAIL'}] {r['name']}: {obs} "
                   f"(threshold {r['threshold']:g}{r.get('unit', '')})" + (f"  {r['detail']}" if r.get("detail") else ""))
    out.append(f"  {'endpoint':<22} {'reqs':>7} {'fails':>6} {'5xx':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    for name, e in (s.get("endpoints") or {}).items():
        out.append(f"  {name:<22} {e['requests']:>7} {e['failures']:>6} {e['server_errors']:>5} "
                   f"{_ms(e['p50_ms']):>7} {_ms(e['p95_ms']):>7} {_ms(e['p99_ms']):>7} {_ms(e['max_ms']):>7}")
    for n in s.get("notes", []):
        out.append(f"  note: {n}")
    out.append(f"  report: {s.get('report_dir')}")
    return "\n".join(out)
