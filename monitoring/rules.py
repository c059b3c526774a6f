"""Prometheus alerting rules rendered from the policy, with their promtool unit tests.

Everything here is pure: :func:`alerts` turns the config into a list of
:class:`Alert` (expression, ``for``, severity, annotations and at least one
firing and one quiet test case), :func:`render_rules` and :func:`render_tests`
turn that list into the two YAML files promtool reads. The same policy always
gives byte-identical files.

Test cases of time-based alerts (backup freshness, drill/load test/scan
cadence) keep the evaluation time short and put the last-success timestamp in
the past instead (negative values), so a quarter-long interval is tested in a
few evaluation steps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from procops.errors import BadInput

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

RULES_FILE = "procops-alerts.rules.yml"
TESTS_FILE = "procops-alerts.test.yml"
HOURLY_TESTS_FILE = "procops-alerts.nodata.test.yml"  # the no-data cases, evaluated hourly
HOURLY = 3600  # a Case with this input interval (or longer) goes to HOURLY_TESTS_FILE

# Scrape job names shared with the Prometheus config of the local stack.
JOB_PLATFORM = "platform"
JOB_NODE = "node"
JOB_PROCOPS = "procops"
JOB_BLACKBOX_HEALTH = "blackbox-health"
JOB_BLACKBOX_PAGE = "blackbox-page"
JOB_POSTGRES = "postgres"

# Labels the alert webhook reads (docs/monitoring.md, "Grouping, inhibition and drills").
SERVICE_LABEL = "service"  # alerts of one service attach to that service's open incident
SERVICE_PLATFORM = "procurement-platform"  # the platform's value (also on its scrape targets)
DRILL_LABEL = "drill"  # any non-empty value: the alert belongs to a drill and opens a drill incident
OPENS_INCIDENT_LABEL = "opens_incident"  # "true" on a warning that opens an incident of its own
WATCHDOG = "Watchdog"  # the always-firing dead man's switch (never an incident)

RUNBOOKS = (
    "app-crash",
    "database-failure",
    "disk-full",
    "backup-failure",
    "capacity",
    "bad-release",
    "security",
    "incident-response",
    "drill-guide",
)

_IGNORED_FS = "tmpfs|devtmpfs|squashfs|ramfs|nsfs|fuse.lxcfs|autofs|proc|sysfs"


@dataclass(frozen=True)
class Case:
    """One promtool test group: input series, an evaluation time, the alerts expected then."""

    series: tuple[tuple[str, str], ...]
    eval_time: int  # seconds
    fires: tuple[dict[str, str], ...] = ()  # label sets of the expected alerts (severity added)
    values: tuple[float | None, ...] = ()  # $value of each expected alert (for the annotations)
    interval: int = 60

    @property
    def firing(self) -> bool:
        return bool(self.fires)


@dataclass(frozen=True)
class Alert:
    name: str
    group: str
    expr: str
    for_s: float
    severity: str
    runbook: str
    summary: str
    description: str
    cases: tuple[Case, ...] = field(default_factory=tuple)
    labels: dict[str, str] = field(default_factory=dict)  # static labels besides severity (service ...)

    def rule(self, runbook_base: str) -> dict:
        r: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_s:
            r["for"] = prom_duration(self.for_s)
        r["labels"] = {"severity": self.severity, **self.labels}
        r["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": runbook_url(runbook_base, self.runbook),
        }
        return r


# --------------------------------------------------------------------------- small pure helpers


def prom_duration(seconds: float) -> str:
    """Prometheus duration text: whole units when exact (1h, 15m, 90s), else milliseconds."""
    ms = int(round(seconds * 1000))
    if ms <= 0:
        return "0s"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def runbook_url(base: str, runbook: str) -> str:
    return base.rstrip("/") + f"/{runbook}.md"


def default_runbook_base() -> str:
    from procops.home import project_path

    return project_path("runbooks", "en").as_uri()


def human_days(seconds: float) -> str:
    if seconds % 86400 == 0:
        return f"{seconds / 86400:g} days"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min"


def go_g4(v: float) -> str:
    """Go's ``%.4g`` (same as Python's for the values alerts carry)."""
    return "%.4g" % v


def humanize_duration(v: float) -> str:
    """Prometheus's ``humanizeDuration`` template function."""
    if math.isnan(v) or math.isinf(v):
        return go_g4(v)
    if v == 0:
        return "0s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        d = int(v)
        seconds, minutes, hours, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g4(v)}s"
    for unit, scale in (("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if abs(v) * scale >= 1 or unit == "ns":
            return f"{go_g4(v * scale)}{unit}"
    return go_g4(v)  # pragma: no cover


_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def render_annotation(template: str, labels: dict[str, str], value: float | None) -> str:
    """Render the small subset of Prometheus alert templates the rules use (for the expected test output)."""

    def sub(m: re.Match) -> str:
        expr = m.group(1)
        lm = re.fullmatch(r"\$labels\.(\w+)", expr)
        if lm:
            return labels.get(lm.group(1), "")
        if value is None:
            raise ValueError(f"template {expr!r} needs a value")
        if expr == "$value | humanizeDuration":
            return humanize_duration(value)
        if expr == "$value | humanizePercentage":
            return go_g4(value * 100) + "%"
        pm = re.fullmatch(r'\$value \| printf "%\.(\d)f"', expr)
        if pm:
            return f"{value:.{int(pm.group(1))}f}"
        raise ValueError(f"unsupported template expression {expr!r}")

    return _TEMPLATE.sub(sub, template)


def _above(threshold: float) -> float:
    """A ratio clearly above ``threshold`` (halfway to 1)."""
    if threshold >= 1.0:
        raise BadInput(
            _("a ratio threshold of {threshold} can never be exceeded; use a value below 1").format(threshold=threshold)
        )
    return round(threshold + (1.0 - threshold) / 2, 6)


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f"{k}={promql_string(v)}" for k, v in labels.items())
    return f"{name}{{{inner}}}"


def _const(v: float, n: int) -> str:
    return f"{_num(v)}x{n}"


def _ramp(step: float, n: int, start: float = 0) -> str:
    return f"{_num(start)}+{_num(step)}x{n}"


def _num(v: float) -> str:
    if float(v).is_integer():
        return str(int(v))
    return repr(float(v))


def _eval_after(for_s: float, extra: int = 300) -> int:
    """An evaluation time (a whole minute) after the ``for`` period and the rate windows are filled."""
    t = for_s + extra
    return int(math.ceil(t / 60.0) * 60)


# --------------------------------------------------------------------------- no data


NO_DATA_LABEL = "reason"  # reason="no_data" on the absent() rules (inhibition keys on it)
NO_DATA = "no_data"
NO_DATA_MIN_FOR = 900.0  # an absent() rule waits at least this long (a restarted exporter does not page)

_NO_DATA_SEVERITY = {
    "BackupStale": "critical",
    "OffsiteBackupStale": "critical",
    "BackupCheckFailed": "critical",
    "IntegrityProblems": "critical",
    "RestoreVerifyStale": "warning",
}


def configured_repositories(config: Config) -> list[tuple[str, bool]]:
    """(name, offsite) of every configured repository; the embedded default has 'local' and 'offsite'."""
    repos = config.backup.repositories
    if not repos:
        return [("local", False), ("offsite", True)]
    return [(r.name, r.offsite) for r in repos]


def no_data_alert(
    name: str, metric: str, repository: str, group_repos: list[str], limit: float, what: str, *, zero: bool = False
) -> Alert:
    """``absent(metric{repository=...})`` for ``limit`` seconds, under the alert name ``name``.

    Its cases: this repository silent while the others of its group report (fires, labels naming
    it), and every repository reporting (quiet). ``zero``: the reporting value is 0 (a count), else
    a fresh timestamp.
    """
    for_s = max(limit, NO_DATA_MIN_FOR)
    ev = int(math.ceil(for_s / HOURLY) + 1) * HOURLY  # an hourly evaluation after the for period
    n = ev // HOURLY + 1
    lab = {"job": JOB_PROCOPS, "instance": "127.0.0.1:19200"}

    def present(r: str) -> tuple[str, str]:
        value = 0 if zero else ev - 60
        return (_series(metric, dict(lab, repository=r)), _const(value, n))

    up = (_series("up", lab), _const(1, n))
    others = tuple(present(r) for r in group_repos if r != repository)
    return Alert(
        name,
        "procops-backup",
        f"absent({metric}{{repository={promql_string(repository)}}})",
        for_s,
        _NO_DATA_SEVERITY[name],
        "backup-failure",
        f"Repository {{{{ $labels.repository }}}} reports no {what.split(' ', 1)[1]}",
        f"No {metric} series for repository {{{{ $labels.repository }}}} in {human_days(for_s)}: it has never "
        f"recorded {what}, or its metrics no longer reach Prometheus (exporter or textfile collector gone). "
        "No data is not a pass: check 'procops backup status' and 'procops monitor status'.",
        (
            Case((up,) + others, ev, ({"repository": repository},), (1,), interval=HOURLY),
            Case((up, present(repository)) + others, ev, interval=HOURLY),
        ),
        {NO_DATA_LABEL: NO_DATA, "repository": repository},  # one rule per repository (promtool lint)
    )


# --------------------------------------------------------------------------- the alerts


def alerts(config: Config) -> list[Alert]:
    """Every alert of the 7x24 monitoring, from the policy (``config.policy``) and ``config.monitoring``."""
    pol, mon = config.policy, config.monitoring
    th = pol.thresholds
    fd = th.for_duration
    out: list[Alert] = []

    # ---- host (node_exporter)
    busy = _above(th.cpu_ratio)
    n = _eval_after(fd) // 60 + 2
    out.append(
        Alert(
            "HostCpuHigh",
            "procops-host",
            f'1 - avg by (instance) (rate(node_cpu_seconds_total{{job="{JOB_NODE}",mode="idle"}}[2m])) > {th.cpu_ratio:g}',
            fd,
            "warning",
            "capacity",
            "CPU of {{ $labels.instance }} is {{ $value | humanizePercentage }} busy",
            f"Host {{{{ $labels.instance }}}} has used more than {th.cpu_ratio:.0%} of its CPU for "
            f"{prom_duration(fd)} ({{{{ $value | humanizePercentage }}}}). Pages slow down next: check load and "
            "add capacity (R2).",
            (
                Case(
                    (
                        (
                            _series(
                                "node_cpu_seconds_total",
                                {"job": JOB_NODE, "instance": "h1", "cpu": "0", "mode": "idle"},
                            ),
                            _ramp(round(60 * (1 - busy), 6), n),
                        ),
                    ),
                    _eval_after(fd),
                    ({"instance": "h1"},),
                    (busy,),
                ),
                Case(
                    (
                        (
                            _series(
                                "node_cpu_seconds_total",
                                {"job": JOB_NODE, "instance": "h1", "cpu": "0", "mode": "idle"},
                            ),
                            _ramp(round(60 * (1 - th.cpu_ratio / 2), 6), n),
                        ),
                    ),
                    _eval_after(fd),
                ),
            ),
        )
    )
    used = _above(th.memory_ratio)
    total = 8 * 1024**3
    mem_labels = {"job": JOB_NODE, "instance": "h1"}
    out.append(
        Alert(
            "HostMemoryHigh",
            "procops-host",
            f'1 - node_memory_MemAvailable_bytes{{job="{JOB_NODE}"}} / node_memory_MemTotal_bytes{{job="{JOB_NODE}"}}'
            f" > {th.memory_ratio:g}",
            fd,
            "warning",
            "capacity",
            "Memory of {{ $labels.instance }} is {{ $value | humanizePercentage }} used",
            f"Host {{{{ $labels.instance }}}} has used more than {th.memory_ratio:.0%} of its memory for "
            f"{prom_duration(fd)} ({{{{ $value | humanizePercentage }}}}). The kernel may kill the platform next.",
            (
                Case(
                    (
                        (_series("node_memory_MemAvailable_bytes", mem_labels), _const(total * (1 - used) // 1, n)),
                        (_series("node_memory_MemTotal_bytes", mem_labels), _const(total, n)),
                    ),
                    _eval_after(fd),
                    ({"instance": "h1", "job": JOB_NODE},),
                    (1 - (total * (1 - used) // 1) / total,),
                ),
                Case(
                    (
                        (_series("node_memory_MemAvailable_bytes", mem_labels), _const(total // 2, n)),
                        (_series("node_memory_MemTotal_bytes", mem_labels), _const(total, n)),
                    ),
                    _eval_after(fd),
                ),
            ),
        )
    )
    full = _above(th.disk_ratio)
    size = 100 * 1024**3
    fs = {"job": JOB_NODE, "instance": "h1", "device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/srv"}
    tmpfs = {"job": JOB_NODE, "instance": "h1", "device": "tmpfs", "fstype": "tmpfs", "mountpoint": "/run"}
    fsel = f'job="{JOB_NODE}",fstype!~"{_IGNORED_FS}"'
    out.append(
        Alert(
            "HostDiskFull",
            "procops-host",
            f"1 - node_filesystem_avail_bytes{{{fsel}}} / node_filesystem_size_bytes{{{fsel}}} > {th.disk_ratio:g}",
            fd,
            "critical",
            "disk-full",
            "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is {{ $value | humanizePercentage }} full",
            f"{{{{ $labels.mountpoint }}}} ({{{{ $labels.device }}}}) on {{{{ $labels.instance }}}} is more than "
            f"{th.disk_ratio:.0%} full. Backups, uploads and the database fail when it fills up.",
            (
                Case(
                    (
                        (_series("node_filesystem_avail_bytes", fs), _const(size * (1 - full) // 1, n)),
                        (_series("node_filesystem_size_bytes", fs), _const(size, n)),
                        (_series("node_filesystem_avail_bytes", tmpfs), _const(0, n)),
                        (_series("node_filesystem_size_bytes", tmpfs), _const(size, n)),
                    ),
                    _eval_after(fd),
                    ({k: v for k, v in fs.items()},),
                    (1 - (size * (1 - full) // 1) / size,),
                ),
                Case(
                    (
                        (_series("node_filesystem_avail_bytes", fs), _const(size // 2, n)),
                        (_series("node_filesystem_size_bytes", fs), _const(size, n)),
                        (_series("node_filesystem_avail_bytes", tmpfs), _const(0, n)),
                        (_series("node_filesystem_size_bytes", tmpfs), _const(size, n)),
                    ),
                    _eval_after(fd),
                ),
            ),
        )
    )

    # ---- platform
    pool = 1000
    in_use = min(pool, int(pool * th.db_connections_ratio) + max(1, int(pool * (1 - th.db_connections_ratio) / 2)))
    r1 = {"job": JOB_PLATFORM, "instance": "127.0.0.1:18081"}
    out.append(
        Alert(
            "DatabaseConnectionsHigh",
            "procops-platform",
            f'(sum by (instance) (sandbox_db_connections_in_use{{job="{JOB_PLATFORM}"}}) '
            f'/ sum by (instance) (sandbox_db_pool_size{{job="{JOB_PLATFORM}"}}) > {th.db_connections_ratio:g}) '
            f'or (sum by (instance) (pg_stat_activity_count{{job="{JOB_POSTGRES}"}}) '
            f'/ sum by (instance) (pg_settings_max_connections{{job="{JOB_POSTGRES}"}}) > {th.db_connections_ratio:g})',
            fd,
            "warning",
            "database-failure",
            "Database connections of {{ $labels.instance }} at {{ $value | humanizePercentage }}",
            f"{{{{ $labels.instance }}}} uses more than {th.db_connections_ratio:.0%} of its database connections "
            f"for {prom_duration(fd)} ({{{{ $value | humanizePercentage }}}}). New requests will queue, then fail.",
            (
                Case(
                    (
                        (_series("sandbox_db_connections_in_use", r1), _const(in_use, n)),
                        (_series("sandbox_db_pool_size", r1), _const(pool, n)),
                    ),
                    _eval_after(fd),
                    ({"instance": r1["instance"]},),
                    (in_use / pool,),
                ),
                Case(
                    (
                        (
                            _series("sandbox_db_connections_in_use", r1),
                            _const(int(pool * th.db_connections_ratio / 2), n),
                        ),
                        (_series("sandbox_db_pool_size", r1), _const(pool, n)),
                    ),
                    _eval_after(fd),
                ),
                Case(
                    (
                        (
                            _series("pg_stat_activity_count", {"job": JOB_POSTGRES, "instance": "db", "datname": "a"}),
                            _const(in_use, n),
                        ),
                        (
                            _series("pg_settings_max_connections", {"job": JOB_POSTGRES, "instance": "db"}),
                            _const(pool, n),
                        ),
                    ),
                    _eval_after(fd),
                    ({"instance": "db"},),
                    (in_use / pool,),
                ),
            ),
        )
    )

    down_for = mon.platform_down_for
    nd = _eval_after(down_for) // 60 + 2
    health = {"job": JOB_BLACKBOX_HEALTH, "instance": "http://127.0.0.1:18080/healthz"}
    # PlatformDown is the platform as users see it: the front end (HAProxy) fails its health probe.
    # A replica gone while the front end still serves is ReplicaDown, a warning; while the front end
    # is down, the replicas' own alerts are symptoms of the same outage (the rule and Alertmanager's
    # inhibit rules both keep them quiet, the webhook attaches any that get through).
    probe_down = f'probe_success{{job="{JOB_BLACKBOX_HEALTH}"}} == 0'
    r1_up = dict(r1, service=SERVICE_PLATFORM)
    out.append(
        Alert(
            "PlatformDown",
            "procops-platform",
            probe_down,
            down_for,
            "critical",
            "app-crash",
            "Platform target {{ $labels.instance }} is down",
            f"The front end {{{{ $labels.instance }}}} has failed its health check for "
            f"{prom_duration(down_for)}. Suppliers cannot reach the platform: follow the app-crash runbook; "
            "the response clocks have started (R7).",
            (
                Case(
                    ((_series("probe_success", health), _const(0, nd)), (_series("up", r1_up), _const(1, nd))),
                    _eval_after(down_for),
                    (health,),
                    (0,),
                ),
                Case(  # one replica gone, the front end still serves: not PlatformDown (ReplicaDown)
                    ((_series("probe_success", health), _const(1, nd)), (_series("up", r1_up), _const(0, nd))),
                    _eval_after(down_for),
                ),
                Case(
                    ((_series("probe_success", health), _const(1, nd)), (_series("up", r1_up), _const(1, nd))),
                    _eval_after(down_for),
                ),
            ),
        )
    )
    out.append(
        Alert(
            "ReplicaDown",
            "procops-platform",
            f'(up{{job="{JOB_PLATFORM}"}} == 0) unless on () ({probe_down})',
            down_for,
            "warning",
            "app-crash",
            "Platform replica {{ $labels.instance }} is down",
            f"Replica {{{{ $labels.instance }}}} has failed its scrapes for {prom_duration(down_for)} while the "
            "front end still serves: the platform runs without redundancy and one more failure is an outage. "
            "Restart the replica (app-crash runbook); an incident of warning severity is open.",
            (
                Case(
                    ((_series("probe_success", health), _const(1, nd)), (_series("up", r1_up), _const(0, nd))),
                    _eval_after(down_for),
                    (r1_up,),
                    (0,),
                ),
                Case(
                    ((_series("probe_success", health), _const(1, nd)), (_series("up", r1_up), _const(1, nd))),
                    _eval_after(down_for),
                ),
                Case(  # the whole platform is down: that is PlatformDown's outage, not a replica's
                    ((_series("probe_success", health), _const(0, nd)), (_series("up", r1_up), _const(0, nd))),
                    _eval_after(down_for),
                ),
            ),
            {OPENS_INCIDENT_LABEL: "true"},
        )
    )

    p95 = pol.page_load_p95
    buckets = [p95 / 2, p95, p95 * 2.5]
    hl = {
        "job": JOB_PLATFORM,
        "instance": "127.0.0.1:18081",
        "handler": "/api/announcements",
        "method": "GET",
        "code": "200",
        "version": "1.0.0",
    }
    up_l = dict(hl, handler="/api/announcements/{id}/bids", method="POST")

    def hist(counts: list[int], labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
        les = [repr(float(b)) for b in buckets] + ["+Inf"]
        return tuple(
            (_series("http_request_duration_seconds_bucket", dict(labels, le=le)), _ramp(c, n))
            for le, c in zip(les, counts)
        )

    slow_p95 = p95 + (p95 * 2.5 - p95) * (95 - 10) / (100 - 10)
    excl = promql_string(mon.page_handlers_exclude)
    page = {"job": JOB_BLACKBOX_PAGE, "instance": "http://127.0.0.1:18080/api/announcements"}
    out.append(
        Alert(
            "PageLoadSlow",
            "procops-platform",
            f"(histogram_quantile(0.95, sum by (le, handler) (rate(http_request_duration_seconds_bucket"
            f'{{job="{JOB_PLATFORM}",handler!~{excl}}}[5m]))) > {p95:g}) '
            f'or (max by (instance) (probe_duration_seconds{{job="{JOB_BLACKBOX_PAGE}"}}) > {p95:g})',
            fd,
            "warning",
            "capacity",
            'Page load p95 {{ $value | printf "%.2f" }}s on {{ $labels.handler }}{{ $labels.instance }}',
            f"The 95th percentile load time of {{{{ $labels.handler }}}}{{{{ $labels.instance }}}} has been above "
            f'{p95:g} s for {prom_duration(fd)} ({{{{ $value | printf "%.2f" }}}} s; R1 allows {p95:g} s).',
            (
                Case(
                    hist([0, 10, 100, 100], hl) + hist([0, 0, 0, 100], up_l),
                    _eval_after(fd),
                    ({"handler": "/api/announcements"},),
                    (slow_p95,),
                ),
                Case(hist([100, 100, 100, 100], hl) + hist([0, 0, 0, 100], up_l), _eval_after(fd)),
                Case(
                    ((_series("probe_duration_seconds", page), _const(p95 * 2, nd)),),
                    _eval_after(fd),
                    ({"instance": page["instance"]},),
                    (p95 * 2,),
                ),
            ),
        )
    )

    ul = {"job": JOB_PLATFORM, "instance": "127.0.0.1:18081", "version": "1.0.0"}
    out.append(
        Alert(
            "UploadFailures",
            "procops-platform",
            f'sum by (version) (increase(sandbox_uploads_total{{job="{JOB_PLATFORM}",result="failure"}}[5m])) > 0',
            0,
            "critical",
            "app-crash",
            "Bid file uploads are failing (version {{ $labels.version }})",
            '{{ $value | printf "%.0f" }} bid file upload(s) failed in the last 5 minutes on version '
            "{{ $labels.version }}. R1 requires every upload to succeed: suppliers may miss the bid deadline.",
            (
                Case(
                    (
                        (_series("sandbox_uploads_total", dict(ul, result="failure")), "0 0 0 1 2"),
                        (_series("sandbox_uploads_total", dict(ul, result="success")), "0 5 10 15 20"),
                    ),
                    240,
                    ({"version": "1.0.0"},),
                    (2,),
                ),
                Case(
                    (
                        (_series("sandbox_uploads_total", dict(ul, result="failure")), "0 0 0 0 0"),
                        (_series("sandbox_uploads_total", dict(ul, result="success")), "0 5 10 15 20"),
                    ),
                    240,
                ),
            ),
        )
    )

    er = th.error_ratio
    if er >= 1.0:
        raise BadInput(_("policy.thresholds.error_ratio of 1.0 can never be exceeded; use a value below 1"))
    bad = min(1000, max(1, int(math.floor(1000 * er * 2))))
    if bad / 1000 <= er:
        bad = min(1000, int(1000 * er) + 1)
    ok_bad = int(math.floor(1000 * er / 2))
    el = {
        "job": JOB_PLATFORM,
        "instance": "127.0.0.1:18081",
        "handler": "/api/announcements",
        "method": "GET",
        "version": "1.0.0",
    }
    out.append(
        Alert(
            "ErrorRatioHigh",
            "procops-platform",
            f'sum by (version) (rate(http_request_duration_seconds_count{{job="{JOB_PLATFORM}",code=~"5.."}}[5m])) '
            f'/ sum by (version) (rate(http_request_duration_seconds_count{{job="{JOB_PLATFORM}"}}[5m])) > {er:g}',
            fd,
            "critical",
            "bad-release",
            "{{ $value | humanizePercentage }} of requests fail (version {{ $labels.version }})",
            f"More than {er:.1%} of the requests to version {{{{ $labels.version }}}} have answered 5xx for "
            f"{prom_duration(fd)} ({{{{ $value | humanizePercentage }}}}). A new release is the usual cause.",
            (
                Case(
                    (
                        (_series("http_request_duration_seconds_count", dict(el, code="500")), _ramp(bad, n)),
                        (_series("http_request_duration_seconds_count", dict(el, code="200")), _ramp(1000 - bad, n)),
                    ),
                    _eval_after(fd),
                    ({"version": "1.0.0"},),
                    (bad / 1000,),
                ),
                Case(
                    (
                        (_series("http_request_duration_seconds_count", dict(el, code="500")), _ramp(ok_bad, n)),
                        (_series("http_request_duration_seconds_count", dict(el, code="200")), _ramp(1000 - ok_bad, n)),
                    ),
                    _eval_after(fd),
                ),
            ),
        )
    )

    # ---- backups and integrity (procops exporter / textfiles)
    grace = mon.staleness_grace
    e = 600  # evaluation time of the freshness cases

    def stale_cases(
        metric: str, base: dict[str, str], out_labels: dict[str, str], limit: float, other: dict[str, str] | None = None
    ) -> tuple[Case, ...]:
        old, fresh = e - (limit + 3600), e - limit / 2
        extra = ((_series(metric, other), _const(old, 10)),) if other else ()
        return (
            Case(((_series(metric, base), _const(old, 10)),) + extra, e, (out_labels,), (limit + 3600,)),
            Case(((_series(metric, base), _const(fresh, 10)),) + extra, e),
        )

    repo = {"job": JOB_PROCOPS, "instance": "127.0.0.1:19200", "repository": "local", "offsite": "false"}
    off = dict(repo, repository="offsite", offsite="true")
    t_local = pol.backup_interval + grace
    out.append(
        Alert(
            "BackupStale",
            "procops-backup",
            f'time() - max by (repository) (procops_backup_last_success_timestamp_seconds{{offsite!="true"}}) '
            f"> {t_local:g}",
            0,
            "critical",
            "backup-failure",
            "No successful backup to {{ $labels.repository }} for {{ $value | humanizeDuration }}",
            f"The last successful backup to repository {{{{ $labels.repository }}}} is {{{{ $value | humanizeDuration }}}} "
            f"old; the policy wants one every {human_days(pol.backup_interval)} (R4). Data written since then "
            "would be lost.",
            stale_cases("procops_backup_last_success_timestamp_seconds", repo, {"repository": "local"}, t_local, off),
        )
    )
    t_off = pol.offsite_backup_interval + grace
    out.append(
        Alert(
            "OffsiteBackupStale",
            "procops-backup",
            f'time() - max by (repository) (procops_backup_last_success_timestamp_seconds{{offsite="true"}}) '
            f"> {t_off:g}",
            0,
            "critical",
            "backup-failure",
            "No off-site copy in {{ $labels.repository }} for {{ $value | humanizeDuration }}",
            f"The last successful off-site backup to {{{{ $labels.repository }}}} is {{{{ $value | humanizeDuration }}}} "
            f"old; the policy wants one every {human_days(pol.offsite_backup_interval)} (R4). A site loss now "
            "would lose that much data.",
            stale_cases("procops_backup_last_success_timestamp_seconds", off, {"repository": "offsite"}, t_off, repo),
        )
    )
    t_check = pol.backup_check_interval + grace
    out.append(
        Alert(
            "BackupCheckFailed",
            "procops-backup",
            f"(min by (repository) (procops_backup_last_check_success) == 0) or "
            f"(time() - max by (repository) (procops_backup_last_check_success_timestamp_seconds) > {t_check:g})",
            0,
            "critical",
            "backup-failure",
            "Repository check of {{ $labels.repository }} failed or is overdue",
            f"The last integrity check of repository {{{{ $labels.repository }}}} failed, or none succeeded in "
            f"{human_days(pol.backup_check_interval)}. Backups in it may not be restorable: run "
            "'procops backup check' and follow the backup-failure runbook.",
            (
                Case(
                    (
                        (_series("procops_backup_last_check_success", repo), _const(0, 10)),
                        (_series("procops_backup_last_check_success_timestamp_seconds", repo), _const(e - 60, 10)),
                    ),
                    e,
                    ({"repository": "local"},),
                    (0,),
                ),
                Case(
                    (
                        (_series("procops_backup_last_check_success", repo), _const(1, 10)),
                        (
                            _series("procops_backup_last_check_success_timestamp_seconds", repo),
                            _const(e - (t_check + 3600), 10),
                        ),
                    ),
                    e,
                    ({"repository": "local"},),
                    (t_check + 3600,),
                ),
                Case(
                    (
                        (_series("procops_backup_last_check_success", repo), _const(1, 10)),
                        (_series("procops_backup_last_check_success_timestamp_seconds", repo), _const(e - 60, 10)),
                    ),
                    e,
                ),
            ),
        )
    )
    out.append(
        Alert(
            "IntegrityProblems",
            "procops-backup",
            "max by (repository) (procops_integrity_problems) > 0",
            0,
            "critical",
            "backup-failure",
            '{{ $value | printf "%.0f" }} integrity problem(s) in {{ $labels.repository }}',
            'The last integrity verification of {{ $labels.repository }} found {{ $value | printf "%.0f" }} '
            "missing or altered archive file(s) (R5). Restore them from an intact snapshot.",
            (
                Case(
                    ((_series("procops_integrity_problems", repo), _const(3, 10)),), e, ({"repository": "local"},), (3,)
                ),
                Case(((_series("procops_integrity_problems", repo), _const(0, 10)),), e),
            ),
        )
    )

    # ---- no data is never fine: a configured repository that never reported (or whose exporter
    # went away) has no series for the rules above to compare, so each repository gets an absent()
    # rule of the same alert name, labelled reason="no_data", that fires once the series has been
    # missing for as long as the policy allows between two successes (at least NO_DATA_MIN_FOR).
    t_verify = pol.backup_verify_interval + grace
    repos = configured_repositories(config)
    local_repos = [r for r, offsite in repos if not offsite]
    off_repos = [r for r, offsite in repos if offsite]
    last_ok = "procops_backup_last_success_timestamp_seconds"
    no_data_specs = (
        ("BackupStale", last_ok, local_repos, t_local, "a successful backup", False),
        ("OffsiteBackupStale", last_ok, off_repos, t_off, "a successful off-site backup", False),
        (
            "BackupCheckFailed",
            "procops_backup_last_check_success_timestamp_seconds",
            [r for r, _unused in repos],
            t_check,
            "a successful repository check",
            False,
        ),
        (
            "IntegrityProblems",
            "procops_integrity_problems",
            [r for r, _unused in repos],
            t_verify,
            "an integrity check",
            True,
        ),
    )
    for name, metric, names, limit, what, zero in no_data_specs:
        for rname in names:
            out.append(no_data_alert(name, metric, rname, names, limit, what, zero=zero))

    # ---- restore-and-verify cadence (R5): the weekly restore to scratch proves the backups restore
    vm = "procops_backup_last_verify_success_timestamp_seconds"
    vrepo = {"job": JOB_PROCOPS, "instance": "127.0.0.1:19200", "repository": "local"}
    out.append(
        Alert(
            "RestoreVerifyStale",
            "procops-backup",
            f"time() - max by (repository) ({vm}) > {t_verify:g}",
            0,
            "warning",
            "backup-failure",
            "No successful restore-and-verify of {{ $labels.repository }} for {{ $value | humanizeDuration }}",
            f"The last restore of {{{{ $labels.repository }}}} to scratch that verified every document is "
            f"{{{{ $value | humanizeDuration }}}} old; the policy wants one every {human_days(pol.backup_verify_interval)} "
            "(R5). Nobody knows whether its backups restore: run 'procops backup verify'.",
            stale_cases(vm, vrepo, {"repository": "local"}, t_verify),
        )
    )
    for rname, _unused in repos:
        out.append(
            no_data_alert(
                "RestoreVerifyStale",
                vm,
                rname,
                [r for r, _unused in repos],
                t_verify,
                "a successful restore-and-verify",
            )
        )

    # ---- maintenance cadence (R3, R8)
    def cadence(name: str, metric: str, interval: float, runbook: str, what: str, req: str) -> Alert:
        lab = {"job": JOB_PROCOPS, "instance": "127.0.0.1:19200"}
        if metric != "procops_scan_last_success_timestamp_seconds":
            lab["scenario"] = "peak" if "loadtest" in metric else "app-crash"
        return Alert(
            name,
            "procops-cadence",
            f"(time() - max({metric}) > {interval:g}) or absent({metric})",
            0,
            "warning",
            runbook,
            f"No successful {what} within {human_days(interval)}",
            f"The last successful {what} is older than {human_days(interval)}, or none was ever recorded "
            f"({req}). Schedule one.",
            (
                Case(((_series(metric, lab), _const(e - (interval + 3600), 10)),), e, ({},), (None,)),
                Case(((_series(metric, lab), _const(e - interval / 2, 10)),), e),
                Case(
                    ((_series("up", {"job": JOB_PROCOPS, "instance": "127.0.0.1:19200"}), _const(1, 10)),),
                    e,
                    ({},),
                    (None,),
                ),
            ),
        )

    out.append(
        cadence(
            "DrillOverdue",
            "procops_drill_last_success_timestamp_seconds",
            pol.drill_interval,
            "drill-guide",
            "emergency drill",
            "R8: at least once a quarter",
        )
    )
    out.append(
        cadence(
            "LoadTestOverdue",
            "procops_loadtest_last_pass_timestamp_seconds",
            pol.loadtest_interval,
            "capacity",
            "performance stress test",
            "R3: monthly",
        )
    )
    out.append(
        cadence(
            "ScanOverdue",
            "procops_scan_last_success_timestamp_seconds",
            pol.scan_interval,
            "security",
            "vulnerability scan",
            "R3: weekly",
        )
    )

    # ---- incident response clocks (R7, R11)
    lead = pol.escalation_lead
    il = {"job": JOB_PROCOPS, "instance": "127.0.0.1:19200", "incident": "INC-1", "milestone": "classify"}
    m = "procops_incident_deadline_remaining_seconds"
    out.append(
        Alert(
            "IncidentDeadlineNear",
            "procops-incident",
            f"{m} > 0 and {m} <= {lead:g}",
            0,
            "warning",
            "incident-response",
            "Incident {{ $labels.incident }}: {{ $labels.milestone }} due in {{ $value | humanizeDuration }}",
            "The {{ $labels.milestone }} milestone of incident {{ $labels.incident }} is due in "
            "{{ $value | humanizeDuration }} (R7). Escalate now if nobody is on it (R11).",
            (
                Case(
                    ((_series(m, il), _const(lead / 2, 10)),),
                    e,
                    ({"incident": "INC-1", "milestone": "classify", "job": JOB_PROCOPS, "instance": il["instance"]},),
                    (lead / 2,),
                ),
                Case(((_series(m, il), _const(lead * 3, 10)),), e),
                Case(((_series(m, il), _const(-60, 10)),), e),
            ),
        )
    )
    out.append(
        Alert(
            "IncidentDeadlineMissed",
            "procops-incident",
            f"{m} <= 0",
            0,
            "critical",
            "incident-response",
            "Incident {{ $labels.incident }}: {{ $labels.milestone }} deadline missed",
            "The {{ $labels.milestone }} milestone of incident {{ $labels.incident }} is overdue by "
            "{{ $value | humanizeDuration }} (R7); it is escalated to the responsible leader (R11).",
            (
                Case(
                    ((_series(m, il), _const(-120, 10)),),
                    e,
                    ({"incident": "INC-1", "milestone": "classify", "job": JOB_PROCOPS, "instance": il["instance"]},),
                    (-120,),
                ),
                Case(((_series(m, il), _const(lead / 2, 10)),), e),
            ),
        )
    )

    # ---- the monitoring itself
    out.append(
        Alert(
            "MonitoringTargetDown",
            "procops-monitoring",
            f'up{{job!="{JOB_PLATFORM}"}} == 0',
            60,
            "warning",
            "incident-response",
            "Monitoring target {{ $labels.job }} ({{ $labels.instance }}) is down",
            "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}: the alerts that depend on it "
            "are blind. Run 'procops monitor status'.",
            (
                Case(
                    ((_series("up", {"job": JOB_NODE, "instance": "127.0.0.1:19100"}), _const(0, 10)),),
                    e,
                    ({"job": JOB_NODE, "instance": "127.0.0.1:19100"},),
                    (0,),
                ),
                Case(
                    (
                        (_series("up", {"job": JOB_NODE, "instance": "127.0.0.1:19100"}), _const(1, 10)),
                        (_series("up", r1), _const(0, 10)),
                    ),
                    e,
                ),
            ),
        )
    )

    # a scheduled job (schedule run-job) that exited non-zero: its own textfile says so
    jm = "procops_job_last_exit_code"
    jl = {"job": JOB_PROCOPS, "instance": "127.0.0.1:19200", "scheduled_job": "backup-run"}
    out.append(
        Alert(
            "ScheduledJobFailed",
            "procops-monitoring",
            f"max by (scheduled_job) ({jm}) != 0",
            0,
            "warning",
            "incident-response",
            'Scheduled job {{ $labels.scheduled_job }} failed (exit code {{ $value | printf "%.0f" }})',
            'The last run of the scheduled job {{ $labels.scheduled_job }} exited with code {{ $value | printf "%.0f" }} '
            "(1: verdict failed, 2: bad input, 3: environment, 124: timed out, 130: interrupted). "
            "See 'procops schedule show' and the journal's schedule.job events.",
            (
                Case(((_series(jm, jl), _const(3, 10)),), e, ({"scheduled_job": "backup-run"},), (3,)),
                Case(((_series(jm, jl), _const(0, 10)),), e),
            ),
        )
    )
    # the dead man's switch: always firing, so an external receiver notices when notifications stop
    out.append(
        Alert(
            WATCHDOG,
            "procops-monitoring",
            "vector(1)",
            0,
            "none",
            "incident-response",
            "Watchdog: the alerting pipeline is alive",
            "Always firing. Alertmanager sends it to the watchdog receiver every "
            "monitoring.watchdog_repeat_interval; the receiver (monitoring.watchdog_url, a dead man's switch) "
            "raises the alarm when it stops arriving: Prometheus, its rules or Alertmanager are down. "
            "It never opens an incident.",
            (
                Case(
                    ((_series("up", {"job": JOB_PROCOPS, "instance": "127.0.0.1:19200"}), _const(1, 10)),),
                    e,
                    ({},),
                    (1,),
                ),
            ),
        )
    )

    for a in out:
        if a.group == "procops-platform":  # one service: the webhook groups its alerts, inhibition is per service
            a.labels.setdefault(SERVICE_LABEL, SERVICE_PLATFORM)
        if a.name in mon.severity_overrides:
            object.__setattr__(a, "severity", mon.severity_overrides[a.name])
    unknown = set(mon.severity_overrides) - {a.name for a in out}
    if unknown:
        raise BadInput(
            _("monitoring.severity_overrides names unknown alerts: {unknown}").format(
                unknown=", ".join(sorted(unknown))
            )
        )
    return out


ALERT_NAMES = (
    "HostCpuHigh",
    "HostMemoryHigh",
    "HostDiskFull",
    "DatabaseConnectionsHigh",
    "PlatformDown",
    "ReplicaDown",
    "PageLoadSlow",
    "UploadFailures",
    "ErrorRatioHigh",
    "BackupStale",
    "OffsiteBackupStale",
    "BackupCheckFailed",
    "IntegrityProblems",
    "RestoreVerifyStale",
    "DrillOverdue",
    "LoadTestOverdue",
    "ScanOverdue",
    "IncidentDeadlineNear",
    "IncidentDeadlineMissed",
    "MonitoringTargetDown",
    "ScheduledJobFailed",
    WATCHDOG,
)


# --------------------------------------------------------------------------- rendering


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10_000)


def render_rules(alert_list: list[Alert], runbook_base: str) -> str:
    groups: dict[str, list[dict]] = {}
    for a in alert_list:
        groups.setdefault(a.group, []).append(a.rule(runbook_base))
    body = {"groups": [{"name": g, "rules": rules} for g, rules in groups.items()]}
    return "# generated by 'procops monitor rules' from the policy; do not edit\n" + _dump(body)


def render_tests(
    alert_list: list[Alert], runbook_base: str, rules_file: str = RULES_FILE, *, hourly: bool = False
) -> str:
    """The promtool test file: the minute-step cases, or (``hourly``) the hour-step ones (no-data cases).

    promtool evaluates every rule at the file's ``evaluation_interval``; a no-data rule waits
    for a whole policy interval (a week for the restore-verify), so its cases get their own
    file evaluated hourly, which keeps the run to seconds.
    """
    tests = []
    for a in alert_list:
        rule = a.rule(runbook_base)
        for case in a.cases:
            if (case.interval >= HOURLY) != hourly:
                continue
            exp = []
            for labels, value in zip(case.fires, case.values or (None,) * len(case.fires)):
                lab = dict(labels)
                lab.update(a.labels)
                lab["severity"] = a.severity
                ann = {k: render_annotation(v, lab, value) for k, v in rule["annotations"].items()}
                exp.append({"exp_labels": dict(sorted(lab.items())), "exp_annotations": ann})
            tests.append(
                {
                    "interval": prom_duration(case.interval),
                    "input_series": [{"series": s, "values": v} for s, v in case.series],
                    "alert_rule_test": [
                        {"eval_time": prom_duration(case.eval_time), "alertname": a.name, "exp_alerts": exp}
                    ],
                }
            )
    body = {"rule_files": [rules_file], "evaluation_interval": "1h" if hourly else "1m", "tests": tests}
    return "# generated by 'procops monitor rules': a firing and a quiet case for every alert\n" + _dump(body)


@dataclass(frozen=True)
class RenderedRules:
    rules: str
    tests: str
    alerts: tuple[Alert, ...]
    hourly_tests: str = ""


def render(config: Config) -> RenderedRules:
    base = config.monitoring.runbook_base_url or default_runbook_base()
    al = alerts(config)
    return RenderedRules(render_rules(al, base), render_tests(al, base), tuple(al), render_tests(al, base, hourly=True))


# --------------------------------------------------------------------------- files and promtool


@dataclass
class RulesResult:
    rules_path: str
    tests_path: str
    alerts: list[str]
    test_cases: int
    check_ok: bool
    test_ok: bool
    output: str

    @property
    def ok(self) -> bool:
        return self.check_ok and self.test_ok

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "rules": self.rules_path,
            "tests": self.tests_path,
            "alerts": self.alerts,
            "test_cases": self.test_cases,
            "check_ok": self.check_ok,
            "test_ok": self.test_ok,
            "output": self.output,
        }


def default_dir():
    from procops.home import area_dir

    return area_dir("monitoring") / "rules"


def write_and_test(config: Config, out_dir=None, *, journal: bool = True) -> RulesResult:
    """Write the rule file and its tests to ``out_dir``, run ``promtool check rules`` and ``test rules``."""
    from pathlib import Path

    from procops import execute
    from procops.home import atomic_write
    from procops.monitoring import tools

    out = Path(out_dir) if out_dir else default_dir()
    rendered = render(config)
    rules_path, tests_path, hourly_path = out / RULES_FILE, out / TESTS_FILE, out / HOURLY_TESTS_FILE
    atomic_write(rules_path, rendered.rules)
    atomic_write(tests_path, rendered.tests)
    atomic_write(hourly_path, rendered.hourly_tests)
    check = execute.run(execute.PROMTOOL, tools.promtool_check_rules(rules_path), check=False)
    test = (
        execute.run(execute.PROMTOOL, tools.promtool_test_rules(tests_path, hourly_path), cwd=out, check=False)
        if check.ok
        else None
    )
    output = check.tail(30) + ("\n" + test.tail(60) if test else "")
    res = RulesResult(
        str(rules_path),
        str(tests_path),
        list(dict.fromkeys(a.name for a in rendered.alerts)),
        sum(len(a.cases) for a in rendered.alerts),
        check.ok,
        bool(test and test.ok),
        output.strip(),
    )
    if journal:
        from procops.events import Kind, MonitorRules, Status, verdict_word
        from procops.journal import record

        status = Status.of(res.ok)
        record(
            Kind.MONITOR_RULES,
            str(rules_path),
            MonitorRules(
                status=status,
                verdict=verdict_word(status),
                alerts=len(res.alerts),
                test_cases=res.test_cases,
                check_ok=res.check_ok,
                test_ok=res.test_ok,
            ),
        )
    return res
