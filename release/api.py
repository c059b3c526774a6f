"""The gray release's public API: the only module other areas and ``cli/`` import.

* :func:`plan` -- stages, hosts, weights, effective traffic, rendered PromQL, the change notice, the
  next freeze windows and the preflight checks (``exit_code`` 0, 2 bad input, 3 environment).
* :func:`start`, :func:`promote`, :func:`resume`, :func:`abort` -- the controller
  (:mod:`procops.release.controller`), each an operation; :class:`Result` with an ``outcome``
  (:class:`Outcome`: rolled_out, rolled_back, aborted, paused) and an ``exit_code``.
* :func:`status`, :func:`history`, :func:`add_feedback`, :func:`resolve_feedback`.
* For drills and readiness: :func:`short_stages` (a config whose stages have short analysis
  windows and no manual gate) and ``start(config, version, auto=True)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from procops.release.controller import Outcome, Result

if TYPE_CHECKING:
    from procops.config import Config, LoadedConfig
    from procops.readiness import Step

__all__ = [
    "Outcome",
    "Result",
    "abort",
    "add_feedback",
    "current_version",
    "history",
    "hosts_exec",
    "hosts_health",
    "hosts_version",
    "plan",
    "promote",
    "readiness_steps",
    "resolve_feedback",
    "resume",
    "short_stages",
    "start",
    "status",
]


def readiness_steps() -> list[Step]:
    """The release's readiness steps, in order (:data:`procops.release.steps.STEPS`)."""
    from procops.release import steps

    return list(steps.STEPS)


def short_stages(config: Config, analysis: float = 15.0) -> Config:
    """A copy of ``config`` whose release stages analyse for ``analysis`` seconds and do not pause."""
    from procops.release import plan as P

    rel = config.release.model_copy(update={"stages": P.short_stages(config.release, analysis)})
    return config.model_copy(update={"release": rel})


def start(
    config: Config,
    version: str,
    auto: bool = True,
    *,
    analysis: float | None = None,
    acknowledge: str | None = None,
    loaded: LoadedConfig | None = None,
    say: Any = None,
) -> Result:
    from procops.release import controller

    return controller.start(
        config, version, auto=auto, analysis=analysis, acknowledge=acknowledge, loaded=loaded, say=say
    )


def promote(
    config: Config,
    *,
    override: bool = False,
    reason: str | None = None,
    loaded: LoadedConfig | None = None,
    say: Any = None,
) -> Result:
    from procops.journal import default_actor
    from procops.release import controller

    return controller.promote(config, by=default_actor(), override=override, reason=reason, loaded=loaded, say=say)


def resume(config: Config, *, auto: bool | None = None, loaded: LoadedConfig | None = None, say: Any = None) -> Result:
    from procops.release import controller

    return controller.resume(config, auto=auto, loaded=loaded, say=say)


def abort(config: Config, *, reason: str = "", loaded: LoadedConfig | None = None, say: Any = None) -> Result:
    from procops.journal import default_actor
    from procops.release import controller

    return controller.abort(config, by=default_actor(), reason=reason, loaded=loaded, say=say)


def current_version(config: Config) -> str | None:
    """The version every host answers now (None: they differ, or one does not answer)."""
    from procops.release import controller

    env = controller.resolve(config)
    found = {controller.host_version(h) for h in env.hosts}
    return found.pop() if len(found) == 1 else None


def status() -> dict[str, Any]:
    from procops.release import controller
    from procops.release import state as S

    return controller.status_view(S.load())


def history() -> list[dict[str, Any]]:
    from procops.release import state as S

    return S.history()


def add_feedback(unit: str, text: str, *, blocking: bool = False) -> dict[str, Any]:
    from procops.journal import default_actor
    from procops.release import controller

    return controller.add_feedback(unit, text, blocking=blocking, by=default_actor())


def resolve_feedback(item: int) -> dict[str, Any]:
    from procops.journal import default_actor
    from procops.release import controller

    return controller.resolve_feedback(item, by=default_actor())


def hosts_exec(config: Config, argv: list[str], names: list[str] | None = None) -> list[dict[str, Any]]:
    """Run ``argv`` over SSH (Fabric) on the inventory hosts (``names``: some of them)."""
    from procops.release import controller, hosts

    env = controller.resolve(config)
    return [hosts.run(h, list(argv)).as_dict() for h in hosts.select(env, names)]


def hosts_health(config: Config, names: list[str] | None = None) -> list[dict[str, Any]]:
    from procops.release import controller, hosts

    env = controller.resolve(config)
    return [hosts.health(h).as_dict() for h in hosts.select(env, names)]


def hosts_version(config: Config, names: list[str] | None = None) -> list[dict[str, Any]]:
    from procops.release import controller, hosts

    env = controller.resolve(config)
    return [hosts.deployed_version(h).as_dict() for h in hosts.select(env, names)]


def pilot_share(config: Config, env: Any) -> dict[str, Any]:
    """What share of the platform's requests the pilot units made over ``release.pilot_share_window``:
    ``share`` is None when Prometheus cannot say, with the ``reason``: ``not_exported`` (the platform
    has no ``sandbox_unit_requests_total``) or ``no_requests`` (none at all in the window)."""
    from procops.release import controller as C
    from procops.release import gates as G

    rel = config.release
    q = G.pilot_share_queries(rel.job, list(rel.pilot_units), rel.pilot_share_window)
    out: dict[str, Any] = {
        "window_s": rel.pilot_share_window,
        "requests": None,
        "total": None,
        "share": None,
        "reason": "",
        "queries": [q["units"], q["total"]],
    }
    counted = C.prom_query(env, q["counted"])
    total = C.prom_query(env, q["total"])
    if counted is None:
        out["reason"] = "not_exported"  # the platform has no per-unit counter
    elif not total:
        out["reason"] = "no_requests"
    else:
        n = C.prom_query(env, q["units"]) or 0.0  # no series of these units: none of their requests
        out.update(requests=round(n), total=round(total), share=min(1.0, n / total))
    return out


def plan(config: Config, version: str, *, analysis: float | None = None) -> dict[str, Any]:
    """The plan of releasing ``version`` and its preflight checks; ``exit_code`` says whether it can start."""
    from procops.errors import BadInput, EnvironmentFailure, VerdictFailed
    from procops.release import controller as C
    from procops.release import gates as G
    from procops.release import plan as P
    from procops.timeutil import utcnow

    env = C.resolve(config)
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str = "", code: int = 3) -> None:
        checks.append({"check": name, "ok": ok, "detail": detail, "exit_code": 0 if ok else code})

    try:
        sha = C.check_version(env, version)
        check("artifact", True, sha or "sandbox version")
    except BadInput as e:
        check("artifact", False, e.message, 2)
    try:
        n = C.notice(config, version)
        check("change_notice", n is not None, n.source if n else f"no change notice for {version}", 2)
    except BadInput as e:
        n = None
        check("change_notice", False, e.message, 2)
    problem = C.real_tender_problem(config)
    check("test_bids", problem is None, problem or "no test bid goes to a real tender", 2)
    stages = P.stages(env.hosts, config.release.stages, analysis)
    problems = P.stage_problems(env.hosts, stages)
    check("stages", not problems, "; ".join(problems), 2)
    versions = {h.name: C.host_version(h) for h in env.hosts}
    down = [k for k, v in versions.items() if v is None]
    check("hosts", not down, ", ".join(f"{k}={v}" for k, v in versions.items()), 3)
    if not env.sandbox:
        from procops.release import hosts as H

        try:
            unreachable = H.unreachable(env)
            check("ssh", not unreachable, ", ".join(unreachable) or "every host answers over SSH", 3)
        except EnvironmentFailure as e:
            check("ssh", False, e.message, 3)
    try:
        weights = C.read_weights(env)
        missing = [h.server for h in env.hosts if h.server not in weights]
        check(
            "haproxy",
            not missing,
            f"{env.socket}: " + (f"no server {', '.join(missing)} in {env.backend}" if missing else "answers"),
            2 if missing else 3,
        )
    except EnvironmentFailure as e:
        weights = {}
        check("haproxy", False, e.message, 3)
    prom_ok = C.prom_up(env)
    check("prometheus", prom_ok, env.prometheus, 3)
    current = {v for v in versions.values() if v}
    from_version = next(iter(current)) if len(current) == 1 else None
    rendered = []
    for st in stages:
        canary = G.Selector(config.release.job, tuple(env.instances[h] for h in st.hosts), version)
        stable_hosts = [h.name for h in env.hosts if h.name not in st.hosts]
        base = (
            G.Selector(config.release.job, tuple(env.instances[h] for h in stable_hosts), from_version or "?")
            if stable_hosts
            else None
        )
        pilots = bool(config.release.pilot_units) and not st.last
        rendered.append({**st.as_dict(), "queries": G.queries(canary, base, st.analysis, pilots=pilots)})
    if prom_ok and from_version:
        # every gate's baseline query answers now (over all the hosts on the current version)
        base_now = G.Selector(config.release.job, tuple(env.instances.values()), from_version)
        q = G.queries(base_now, None, 300.0)
        empty = [k for k in ("canary_requests", "canary_p95_seconds") if C.prom_query(env, q[k]) is None]
        if empty and config.release.load.enabled and env.frontend:
            # a quiet platform: a few seconds of page views (no uploads) give the queries data
            import time

            from procops.release import traffic

            g = config.release.gates
            password = g.probe_password.reveal() if g.probe_password is not None else "password-1"
            with traffic.BackgroundLoad(env.frontend, config.release.load.rate, 0.0, g.probe_user, password):
                time.sleep(5.0)
            time.sleep(config.monitoring.scrape_interval + 1.0)
            empty = [k for k in ("canary_requests", "canary_p95_seconds") if C.prom_query(env, q[k]) is None]
        check(
            "baseline_data",
            not empty,
            "the baseline queries return data" if not empty else f"no data now for: {', '.join(empty)}",
            3,
        )
    try:
        wins = C.windows(env)
        now = utcnow()
        active = P.active_window(wins, now)
        check("freeze", active is None, active.name if active else "no freeze window now", 1)
        nxt = [w.as_dict() for w in P.next_windows(wins, now)]
    except (EnvironmentFailure, VerdictFailed) as e:
        nxt = []
        check("freeze", False, e.message, 3)
    codes = [c["exit_code"] for c in checks if not c["ok"]]
    code = 0
    if codes:
        code = 2 if 2 in codes else (3 if 3 in codes else max(codes))
    total = sum(weights.values()) or 1
    return {
        "version": version,
        "from_version": from_version,
        "hosts": [h.as_dict() for h in env.hosts],
        "backend": env.backend,
        "current_weights": weights,
        "current_traffic_percent": {s: round(100.0 * w / total, 1) for s, w in weights.items()},
        "stages": rendered,
        "pilot_units": list(config.release.pilot_units),
        "pilot_share": pilot_share(config, env) if config.release.pilot_units and prom_ok else None,
        "notice": n.as_dict() if n else None,
        "freeze_windows": nxt,
        "preflight": checks,
        "exit_code": code,
    }
