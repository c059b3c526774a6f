"""Steady-state probes of a drill: the platform as users see it, with the scenario's tolerances.

:func:`judge` is pure (a probe and what was measured -> ok and why); :func:`run_probe` measures
over HTTP against the platform's front end (the sandbox's HAProxy, or ``platform.url``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from procops.errors import EnvironmentFailure
from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config
    from procops.drills.scenario import Probe


@dataclass(frozen=True)
class ProbeResult:
    name: str
    kind: str
    ok: bool
    detail: str
    seconds: float = 0.0
    status: int | None = None
    ratio: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "status": self.status,
            "ratio": self.ratio,
        }


def judge_http(probe: Probe, status: int | None, seconds: float, error: str | None = None) -> ProbeResult:
    """An HTTP answer against the probe's expectation (status and latency)."""
    if status is None:
        return ProbeResult(probe.name, probe.kind, False, _("no answer: {error}").format(error=error or "?"), seconds)
    if status != probe.expect_status:
        return ProbeResult(
            probe.name,
            probe.kind,
            False,
            _("HTTP {status}, expected {expected}").format(status=status, expected=probe.expect_status),
            seconds,
            status,
        )
    if seconds > probe.max_latency:
        return ProbeResult(
            probe.name,
            probe.kind,
            False,
            _("answered in {s:.2f} s, more than {limit:g} s").format(s=seconds, limit=probe.max_latency),
            seconds,
            status,
        )
    return ProbeResult(
        probe.name, probe.kind, True, _("HTTP {status} in {s:.3f} s").format(status=status, s=seconds), seconds, status
    )


def judge_ratio(probe: Probe, failed: int, total: int) -> ProbeResult:
    ratio = failed / total if total else 1.0
    ok = total > 0 and ratio <= probe.max_ratio
    return ProbeResult(
        probe.name,
        probe.kind,
        ok,
        _("{failed} of {total} requests failed ({ratio:.1%}; tolerated {limit:.1%})").format(
            failed=failed, total=total, ratio=ratio, limit=probe.max_ratio
        ),
        ratio=ratio,
    )


def platform_url(config: Config) -> str:
    """Where users reach the platform: ``platform.url``, else the sandbox's front end."""
    if config.platform.url:
        return str(config.platform.url).rstrip("/")
    from procops.sandbox import api as sandbox

    fe = sandbox.frontend()
    if fe is None:
        raise EnvironmentFailure(_("the sandbox platform is not running"), hint=_("start it first: procops sandbox up"))
    return fe.url.rstrip("/")


def _get(client: Any, url: str) -> tuple[int | None, float, str | None]:
    import httpx

    t0 = time.monotonic()
    try:
        r = client.get(url)
        return r.status_code, time.monotonic() - t0, None
    except httpx.HTTPError as e:
        return None, time.monotonic() - t0, type(e).__name__


def run_probe(config: Config, probe: Probe, base: str | None = None) -> ProbeResult:
    import httpx

    if probe.kind in ("backup-check", "documents", "release-gates"):
        return ProbeResult(probe.name, probe.kind, True, _("checked in the verification step"))
    base = base or platform_url(config)
    with httpx.Client(timeout=max(probe.max_latency * 2, 5.0)) as c:
        if probe.kind == "http":
            status, seconds, err = _get(c, base + probe.path)
            return judge_http(probe, status, seconds, err)
        failed = 0
        for _i in range(probe.requests):
            status, _s, _e = _get(c, base + probe.path)
            failed += status is None or status >= 500
        return judge_ratio(probe, failed, probe.requests)


def steady_state(config: Config, probes: list[Probe]) -> list[ProbeResult]:
    try:
        base = platform_url(config)
    except EnvironmentFailure as e:
        return [ProbeResult(p.name, p.kind, False, e.message) for p in probes]
    return [run_probe(config, p, base) for p in probes]


def up_now(config: Config, path: str = "/healthz") -> bool:
    """One quick look at the front end (stop conditions: downtime)."""
    import httpx

    try:
        base = platform_url(config)
        return httpx.get(base + path, timeout=3.0).status_code < 500
    except (httpx.HTTPError, EnvironmentFailure):
        return False
