"""The steps of `procops readiness`, one or more per area, in the order they run.

Each step calls an area's public API and returns ``(detail, evidence)`` or
raises :class:`procops.readiness.StepFailed` when the platform does not meet
the policy.
"""

from __future__ import annotations

from procops.readiness import Context, StepFailed, step


@step("config", "Configuration is valid", "配置有效")
def config_valid(ctx: Context) -> tuple[str, dict]:
    p = ctx.config.policy
    return (
        f"policy: pages p95 <= {p.page_load_p95:g}s, uploads {p.upload_success_ratio:.0%}, "
        f"capacity {p.capacity_multiple:g}x, backup every {p.backup_interval / 60:g} min",
        {"policy": ctx.config.policy.model_dump(mode="json")},
    )


@step("sandbox", "Platform is up and healthy", "平台已启动且健康", needs=("config",))
def sandbox_up(ctx: Context) -> tuple[str, dict]:
    from procops.sandbox import platform

    if ctx.config.platform.url:
        import httpx

        url = ctx.config.platform.url.rstrip("/")
        try:
            r = httpx.get(url + "/healthz", timeout=10)
        except httpx.HTTPError as e:
            raise StepFailed(f"{url} is unreachable: {e}") from None
        if r.status_code != 200:
            raise StepFailed(f"{url}/healthz answered {r.status_code}")
        ctx.facts["url"] = url
        return f"{url} healthy", {"url": url}
    state, started = platform.up(platform.UpOptions.from_config(ctx.config.sandbox))
    st = platform.status()
    if not st["healthy"]:
        raise StepFailed("the sandbox is not healthy", st)
    ctx.facts["url"] = state.url
    return (
        f"{state.url}: {len(st['replicas'])} replicas healthy ({'started' if started else 'already running'})",
        {"url": state.url, "replicas": st["replicas"]},
    )


@step("seeded-data", "Seeded data is served", "种子数据可访问", needs=("sandbox",))
def seeded_data(ctx: Context) -> tuple[str, dict]:
    import httpx

    url = ctx.facts["url"]
    with httpx.Client(base_url=url, timeout=10) as c:
        ann = c.get("/api/announcements", params={"page": 1, "size": 20})
        arc = c.get("/api/archive", params={"page": 1, "size": 1})
    if ann.status_code != 200 or arc.status_code != 200:
        raise StepFailed(f"announcements answered {ann.status_code}, archive {arc.status_code}")
    n_ann, n_docs = ann.json()["total"], arc.json()["total"]
    if not ctx.config.platform.url:
        want = ctx.config.sandbox.seed
        if n_ann < want.announcements or n_docs < want.documents:
            raise StepFailed(
                f"{n_ann} announcements and {n_docs} documents; seeded {want.announcements} and {want.documents}"
            )
    return f"{n_ann} announcements, {n_docs} archived documents", {"announcements": n_ann, "documents": n_docs}


# The areas' own steps, in the order DESIGN.md gives: monitoring stack, peak test,
# backup with integrity verification, canary release, drill.
from procops.monitoring import steps as _monitoring  # noqa: E402,F401
from procops.loadtests import steps as _loadtests  # noqa: E402,F401
from procops.backup import steps as _backup  # noqa: E402,F401
from procops.release import steps as _release  # noqa: E402,F401
from procops.incidents import steps as _incidents  # noqa: E402,F401


@step("journal", "Evidence journal is intact", "证据日志完整")
def journal_intact(ctx: Context) -> tuple[str, dict]:
    from procops.journal import open_journal

    with open_journal() as j:
        v = j.verify()
    if not v.ok:
        raise StepFailed(f"journal tampered at row {v.first_bad_id}: {v.problem}", v.as_dict())
    return f"{v.rows} events, chain intact", v.as_dict()
