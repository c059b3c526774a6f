"""A load test's summary as text for people, in English or Chinese (pure: summary.json in, text out).

Endpoint and SLO names stay as they are in both languages: they are the names
the platform, its metrics and its fault knob use.
"""

from __future__ import annotations

from procops.i18n import N_, _

VERDICTS = {
    "pass": N_("PASS"),
    "fail": N_("FAIL"),
    "invalid": N_("INVALID"),
    "error": N_("ERROR"),
    "interrupted": N_("INTERRUPTED"),
}

# the SLO rows' names (summary.json keeps them in English; "p95 <endpoint>" reads the same in both)
SLO_NAMES = {"requests made": N_("requests made"), "upload success": N_("upload success"), "no 5xx": N_("no 5xx")}


def slo_name(name: str) -> str:
    return _(SLO_NAMES[name]) if name in SLO_NAMES else name


def _ms(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def human(s: dict, lang: str | None = None) -> str:
    """The summary for people, in ``lang`` (default: the language procops speaks)."""
    from procops.i18n import current, speaking

    with speaking(lang or current()):
        return _human(s)


def _human(s: dict) -> str:
    from procops.display import duration

    v = s.get("verdict", "")
    verdict = _(VERDICTS[v]) if v in VERDICTS else str(v or "?").upper()
    out = [
        _("load test {scenario}: {verdict}  target {target}").format(
            scenario=s.get("scenario"), verdict=verdict, target=s.get("target")
        )
        + (_(" (version {version})").format(version=s["platform_version"]) if s.get("platform_version") else "")
    ]
    if s.get("invalid_reason"):
        out.append(_("  INVALID: {reason}").format(reason=s["invalid_reason"]))
    if s.get("expect_workers"):
        nodes = s.get("requests_per_node") or {}
        gen = _("master + {n} workers ({local} local): {nodes}").format(
            n=s["expect_workers"], local=s.get("workers", 0), nodes=", ".join(f"{n}={c}" for n, c in nodes.items())
        )
    else:
        gen = _("one Locust process")
    out.append(
        _("  {users} users for {duration}, {requests} requests ({rps:.1f}/s), {failures} failed; {generator}").format(
            users=s.get("users"),
            duration=duration(s.get("duration_s", 0)),
            requests=s.get("requests"),
            rps=s.get("rps", 0),
            failures=s.get("failures"),
            generator=gen,
        )
    )
    cpu = s.get("generator_cpu") or {}
    if cpu:
        out.append(
            _(
                "  load generator CPU: peak {peak:.0%} of a core (limit {limit:.0%}); waited for a core {wait:.0%}"
            ).format(
                peak=cpu.get("max_ratio", 0), limit=cpu.get("threshold", 0.9), wait=cpu.get("max_mean_wait_ratio") or 0
            )
        )
    cap = s.get("capacity")
    if cap:
        out.append(
            _(
                "  capacity: every SLO held at {multiple:g}x of {base} users = {users} users, "
                "{rps:g} requests/s (needs {target:g}x)"
            ).format(
                multiple=cap["multiple"],
                base=cap["baseline_users"],
                users=cap["users"],
                rps=cap["rps"],
                target=cap["target_multiple"],
            )
        )
        out.append(_("  steps:"))
        for st in s.get("steps", []):
            bad = [slo_name(r["name"]) for r in st["slos"] if not r["ok"]]
            state = _("all SLOs held") if st["ok"] else _("not held: {slos}").format(slos=", ".join(bad))
            out.append(
                _("    {label:>5}  {users:>5} users  {rps:>8.1f} requests/s  {state}").format(
                    label=st["label"], users=st["users"], rps=st["rps"], state=state
                )
            )
    out.append(_("  SLOs:"))
    for r in s.get("slos", []):
        unit = r.get("unit", "")
        obs = _("no data") if r["observed"] is None else f"{r['observed']:g}{unit}"
        out.append(
            _("    [{mark}] {name}: {observed} (threshold {threshold})").format(
                mark=_("held") if r["ok"] else _("NOT HELD"),
                name=slo_name(r["name"]),
                observed=obs,
                threshold=f"{r['threshold']:g}{unit}",
            )
            + (f"  {r['detail']}" if r.get("detail") else "")
        )
    endpoint, requests, failed = _("endpoint"), _("requests"), _("failed")
    out.append(f"  {endpoint:<22} {requests:>7} {failed:>6} {'5xx':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    for name, e in (s.get("endpoints") or {}).items():
        out.append(
            f"  {name:<22} {e['requests']:>7} {e['failures']:>6} {e['server_errors']:>5} "
            f"{_ms(e['p50_ms']):>7} {_ms(e['p95_ms']):>7} {_ms(e['p99_ms']):>7} {_ms(e['max_ms']):>7}"
        )
    for n in s.get("notes", []):
        out.append(_("  note: {note}").format(note=n))
    out.append(_("  report: {folder}").format(folder=s.get("report_dir")))
    return "\n".join(out)
