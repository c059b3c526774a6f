"""Readiness steps of procops.sandbox, in the order they run (:data:`STEPS`, read through
``procops.sandbox.api.readiness_steps``): the platform is up and healthy, its seeded data is served."""

from __future__ import annotations

from procops.i18n import _, N_
from procops.readiness import Context, Step, StepFailed


def sandbox_up(ctx: Context) -> tuple[str, dict]:
    from procops.sandbox import platform

    if ctx.config.platform.url:
        import httpx

        url = ctx.config.platform.url.rstrip("/")
        try:
            r = httpx.get(url + "/healthz", timeout=10)
        except httpx.HTTPError as e:
            raise StepFailed(_("{url} is unreachable: {e}").format(url=url, e=e)) from None
        if r.status_code != 200:
            raise StepFailed(_("{url}/healthz answered {status_code}").format(url=url, status_code=r.status_code))
        ctx.facts["url"] = url
        return _("{url} healthy").format(url=url), {"url": url}
    from procops.readiness import Started

    state, started = platform.up(platform.UpOptions.from_config(ctx.config.sandbox))
    if started:
        ctx.started_here(
            Started(N_("sandbox"), lambda: platform.down(), "procops sandbox down", {"platform": state.url})
        )
    else:
        ctx.urls["platform"] = state.url
    st = platform.status()
    if not st["healthy"]:
        raise StepFailed(_("the sandbox is not healthy"), st)
    ctx.facts["url"] = state.url
    return (
        _("{url}: {n_replicas} replicas healthy ({value})").format(
            url=state.url, n_replicas=len(st["replicas"]), value="started" if started else "already running"
        ),
        {"url": state.url, "replicas": st["replicas"]},
    )


def seeded_data(ctx: Context) -> tuple[str, dict]:
    import httpx

    url = ctx.facts["url"]
    with httpx.Client(base_url=url, timeout=10) as c:
        ann = c.get("/api/announcements", params={"page": 1, "size": 20})
        arc = c.get("/api/archive", params={"page": 1, "size": 1})
    if ann.status_code != 200 or arc.status_code != 200:
        raise StepFailed(
            _("announcements answered {status_code}, archive {status_code2}").format(
                status_code=ann.status_code, status_code2=arc.status_code
            )
        )
    n_ann, n_docs = ann.json()["total"], arc.json()["total"]
    if not ctx.config.platform.url:
        want = ctx.config.sandbox.seed
        if n_ann < want.announcements or n_docs < want.documents:
            raise StepFailed(
                _("{n_ann} announcements and {n_docs} documents; seeded {announcements} and {documents}").format(
                    n_ann=n_ann, n_docs=n_docs, announcements=want.announcements, documents=want.documents
                )
            )
    return _("{n_ann} announcements, {n_docs} archived documents").format(n_ann=n_ann, n_docs=n_docs), {
        "announcements": n_ann,
        "documents": n_docs,
    }


STEPS = (
    Step("sandbox", N_("Platform is up and healthy"), sandbox_up, needs=("config",)),
    Step("seeded-data", N_("Seeded data is served"), seeded_data, needs=("sandbox",)),
)
