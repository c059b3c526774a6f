"""The configuration file: one typed schema (pydantic), discovery, errors with file:line.

Discovery order: ``--config PATH``, ``$PROCOPS_CONFIG``, ``./procops.yaml``,
``/etc/procops/procops.yaml``; with none, the embedded default (every command
targets the local sandbox with the policy numbers of REQUIREMENTS.md).

Every section forbids unknown keys: a typo is an error (exit 2), not a setting
silently ignored. Durations are written ``90s``, ``15m``, ``1h``, ``7d`` (or a
number of seconds) and sizes ``200KB``, ``5MB`` (or a number of bytes).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from procops.errors import BadInput, EnvironmentFailure
from procops.timeutil import format_duration, parse_duration, parse_size

from procops.i18n import _

ENV_CONFIG = "PROCOPS_CONFIG"
SEARCH_PATHS = (Path("procops.yaml"), Path("/etc/procops/procops.yaml"))

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|min|h|d|w)?$"},
                {"type": "number", "minimum": 0},
            ],
            "examples": ["15m"],
        }
    ),
]


def _format_size(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


Size = Annotated[
    int,
    BeforeValidator(parse_size),
    PlainSerializer(_format_size, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^\d+(\.\d+)?\s*[a-zA-Z]*$"}, {"type": "integer", "minimum": 0}],
            "examples": ["200KB"],
        }
    ),
]
PositiveDuration = Annotated[Duration, Field(gt=0)]

# A page time above this, written as a bare number, is someone thinking in milliseconds.
LATENCY_BARE_MAX = 60.0


def _plausible_latency(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    bare = value if isinstance(value, (int, float)) else None
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        bare = float(value)
    if bare is not None and bare > LATENCY_BARE_MAX:
        raise ValueError(
            f"{value:g} seconds is not a plausible page time; did you mean {value:g}ms? "
            f"(a bare number is seconds: write '{value:g}ms' or '{float(bare) / 1000:g}s')"
            if isinstance(value, (int, float))
            else f"{value} seconds is not a plausible page time; did you mean {value}ms?"
        )
    return value


Latency = Annotated[PositiveDuration, BeforeValidator(_plausible_latency)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# --------------------------------------------------------------------------- secrets


class SecretRef(Section):
    """Where a secret comes from: a file (mode 0600) or a command printing it."""

    file: Path | None = Field(None, description="File holding the secret (must be mode 0600).")
    command: list[str] | None = Field(None, description="argv of a command that prints the secret.")

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.file is None) == (self.command is None):
            raise ValueError("give exactly one of 'file' or 'command'")
        return self

    def reveal(self) -> str:
        from procops.home import read_secret

        if self.file is not None:
            return read_secret(self.file.expanduser())
        from procops import execute
        from procops.errors import ProcopsError

        assert self.command is not None  # _one_source: a file or a command

        try:
            out = execute.run(execute.SECRET_COMMAND, self.command, timeout=30)
        except execute.ToolMissing:
            raise EnvironmentFailure(
                _("secret command {value!r} failed: not installed").format(value=self.command[0])
            ) from None
        except execute.ToolFailed as e:
            raise EnvironmentFailure(
                _("secret command {value!r} failed: {problem}, exit {rc}").format(
                    value=self.command[0], problem=e.problem, rc=e.rc
                )
            ) from None
        except ProcopsError as e:
            raise EnvironmentFailure(
                _("secret command {value!r} failed: {message}").format(value=self.command[0], message=e.message)
            ) from None
        return out.stdout.strip()


# --------------------------------------------------------------------------- sections


class PlatformConfig(Section):
    """The platform procops looks after."""

    name: str = Field("procurement platform (sandbox)", description="Name shown in reports.")
    url: str | None = Field(
        None,
        description="Base URL of the platform; empty means the local sandbox.",
        examples=["https://bid.example.gov.cn"],
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the platform's database "
        "(empty: the sandbox's). May hold a password: masked in 'config show'.",
    )
    documents_dir: Path | None = Field(None, description="The platform's documents store (empty: the sandbox's).")


class Thresholds(Section):
    """Warning thresholds of the 7x24 monitoring (R2)."""

    cpu_ratio: Ratio = Field(0.85, description="Host CPU busy ratio that raises HostCpuHigh.")
    memory_ratio: Ratio = Field(0.90, description="Host memory used ratio that raises HostMemoryHigh.")
    disk_ratio: Ratio = Field(0.90, description="Filesystem used ratio that raises HostDiskFull.")
    db_connections_ratio: Ratio = Field(0.80, description="Database connections in use / pool size.")
    error_ratio: Ratio = Field(0.01, description="Share of 5xx responses that raises ErrorRatioHigh.")
    for_duration: Duration = Field(60.0, description="How long a condition must hold before alerting.")


class PolicyConfig(Section):
    """The operators' policy; defaults are the study's numbers (REQUIREMENTS.md)."""

    page_load_p95: Latency = Field(2.0, description="R1: p95 page load of every page endpoint.")
    upload_success_ratio: Ratio = Field(1.0, description="R1: share of bid uploads that must succeed.")
    max_server_errors: int = Field(0, ge=0, description="R1: 5xx responses tolerated in a load test.")
    capacity_multiple: float = Field(3.0, gt=0, description="R1: capacity as a multiple of the normal peak.")
    backup_interval: PositiveDuration = Field(3600.0, description="R4: a backup at least this often (RPO).")
    offsite_backup_interval: PositiveDuration = Field(3600.0, description="R4: off-site copy at least this often.")
    backup_check_interval: PositiveDuration = Field(86400.0, description="Repository check cadence.")
    backup_verify_interval: PositiveDuration = Field(604800.0, description="R5: restore-and-verify cadence.")
    restore_time_target: PositiveDuration = Field(
        3600.0, description="R5: a measured restore of a backup run takes at most this long (the standby's 1 h clock)."
    )
    prune_interval: PositiveDuration = Field(86400.0, description="Prune cadence (takes an exclusive lock).")
    classify_deadline: PositiveDuration = Field(900.0, description="R7: fault type confirmed within T0 + this.")
    standby_deadline: PositiveDuration = Field(3600.0, description="R7: standby system started within T0 + this.")
    report_deadline: PositiveDuration = Field(86400.0, description="R7: fault analysis report within T0 + this.")
    escalation_lead: Duration = Field(300.0, description="R11: warn this long before a deadline.")
    drill_interval: PositiveDuration = Field(92 * 86400.0, description="R8: a drill at least once a quarter.")
    scan_interval: PositiveDuration = Field(7 * 86400.0, description="R3: weekly vulnerability scan.")
    loadtest_interval: PositiveDuration = Field(31 * 86400.0, description="R3: monthly stress test.")
    thresholds: Thresholds = Field(default_factory=Thresholds)


class SeedConfig(Section):
    """Deterministic seed data of the sandbox."""

    announcements: int = Field(200, ge=0, description="Tender announcements.")
    suppliers: int = Field(50, ge=0, description="Registered suppliers.")
    documents: int = Field(100, ge=0, description="Archived tender documents.")
    document_size: Size = Field(200 * 1024, description="Size of each seeded document.")
    seed: int = Field(42, description="Random seed: the same seed gives the same data.")


class SandboxConfig(Section):
    """The reference procurement platform (uvicorn replicas behind HAProxy, on loopback)."""

    port: Port = Field(18080, description="HAProxy frontend port; replicas use the next ports.")
    replicas: int = Field(2, ge=1, le=16, description="uvicorn replicas behind HAProxy.")
    version: Literal["1.0.0", "1.1.0", "1.1.1-bad"] = Field("1.0.0", description="Platform version to run.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; empty: SQLite (WAL) in $PROCOPS_HOME.",
        examples=["postgresql+psycopg://postgres@127.0.0.1:5432/procurement"],
    )
    max_upload_size: Size = Field(20 * 1024 * 1024, description="Largest accepted bid file.")
    bind_address: str = Field(
        "127.0.0.1",
        description="Address the replicas and the HAProxy frontend listen on. "
        "Keep loopback; a standby that another host's load balancer reaches "
        "(playbooks/failover.yml) binds that host's address.",
        examples=["10.0.0.12"],
    )
    seed: SeedConfig = Field(default_factory=SeedConfig)


class SupplierTasks(Section):
    """Relative weights of the supplier persona's tasks."""

    browse: int = Field(4, ge=0, description="Open a page of the announcements list.")
    detail: int = Field(3, ge=0, description="Open an announcement with its tender documents.")
    search: int = Field(2, ge=0, description="Search announcements (only on versions that have search).")
    download: int = Field(2, ge=0, description="Download a tender document.")
    bid: int = Field(2, ge=0, description="Read an announcement, download its document, upload a bid file.")
    registration: int = Field(1, ge=0, description="A new supplier registers.")


class RegulatorTasks(Section):
    """Relative weights of the regulator/purchaser persona's tasks."""

    dashboard: int = Field(3, ge=0, description="Read the supervision dashboard.")
    archive: int = Field(2, ge=0, description="Page through the historical archive.")


class LoadtestConfig(Section):
    """Peak-load and capacity tests (R1)."""

    normal_peak_users: int = Field(50, ge=1, description="Concurrent users at a normal announcement peak.")
    spawn_rate: float = Field(10.0, gt=0, description="Users started per second.")
    hold: PositiveDuration = Field(60.0, description="How long a peak test holds its users.")
    step_duration: PositiveDuration = Field(30.0, description="Length of each capacity step.")
    max_multiple: float = Field(5.0, gt=0, description="Capacity steps stop at this multiple.")
    upload_size_min: Size = Field(512 * 1024, description="Smallest bid file uploaded.")
    upload_size_max: Size = Field(5 * 1024 * 1024, description="Largest bid file uploaded.")
    upload_size_distribution: Literal["uniform", "loguniform"] = Field(
        "loguniform",
        description="How bid file sizes spread between min and max (loguniform: most files "
        "small, a few large, as real bids).",
    )
    supplier_weight: int = Field(10, ge=0, description="Weight of the supplier persona.")
    regulator_weight: int = Field(1, ge=0, description="Weight of the regulator/purchaser persona.")
    supplier_tasks: SupplierTasks = Field(default_factory=SupplierTasks)
    regulator_tasks: RegulatorTasks = Field(default_factory=RegulatorTasks)
    think_time_min: Duration = Field(1.0, description="Shortest pause of a user between two tasks.")
    think_time_max: Duration = Field(5.0, description="Longest pause of a user between two tasks.")
    page_endpoints: list[str] = Field(
        default_factory=lambda: [
            "announcements.list",
            "announcements.detail",
            "announcements.search",
            "suppliers.login",
            "suppliers.register",
            "archive.list",
            "dashboard",
        ],
        description="Endpoints held to the page-load p95 SLO (downloads and uploads are judged by "
        "success, not by a page time).",
    )
    request_timeout: PositiveDuration = Field(60.0, description="A request taking longer than this fails.")
    max_generator_cpu: Ratio = Field(
        0.90, description="Above this CPU share of one core in any load generator process the run is invalid."
    )
    workers: int = Field(0, ge=0, le=64, description="Local Locust worker processes (0: one process).")
    abort_on_fail: bool = Field(
        False,
        description="Stop a load test early when a stop condition fires (the abort_* settings), like k6's "
        "abortOnFail; the run's verdict is then fail. --abort-on-fail/--no-abort-on-fail override it; the "
        "scheduled monthly stress test always runs with it on.",
        examples=[True],
    )
    abort_error_ratio: Ratio = Field(
        0.2, description="Stop condition: failed share of the requests over the last abort_window.", examples=[0.2]
    )
    abort_p95: Duration = Field(
        5.0,
        description="Stop condition: p95 response time of the requests over the last abort_window.",
        examples=["5s"],
    )
    abort_hold: Duration = Field(
        30.0, description="A stop condition fires once it has stayed over its limit this long.", examples=["30s"]
    )
    abort_delay: Duration = Field(
        30.0,
        description="No stop condition is judged before this long into the test (k6's delayAbortEval).",
        examples=["30s"],
    )
    abort_window: Duration = Field(
        10.0, description="The sliding window the stop conditions are computed over.", examples=["10s"]
    )

    @model_validator(mode="after")
    def _ranges(self) -> LoadtestConfig:
        if self.abort_window <= 0 or self.abort_p95 <= 0:
            raise ValueError("abort_window and abort_p95 must be above 0")
        if self.abort_error_ratio <= 0:
            raise ValueError("abort_error_ratio must be above 0 (a single failed request would stop the test)")
        if self.upload_size_min > self.upload_size_max:
            raise ValueError("upload_size_min is larger than upload_size_max")
        if self.upload_size_min < 1:
            raise ValueError("upload_size_min must be at least 1 byte")
        if self.think_time_min > self.think_time_max:
            raise ValueError("think_time_min is larger than think_time_max")
        if self.supplier_weight + self.regulator_weight == 0:
            raise ValueError("supplier_weight and regulator_weight are both 0")
        return self


class MonitoringConfig(Section):
    """The monitoring stack on loopback (R2)."""

    prometheus_port: Port = Field(19090, description="Prometheus (rules, queries, its web UI).")
    alertmanager_port: Port = Field(19093, description="Alertmanager (routes alerts to the webhook).")
    node_exporter_port: Port = Field(19100, description="node_exporter (host CPU, memory, disk).")
    blackbox_exporter_port: Port = Field(19115, description="blackbox_exporter (synthetic probes of the platform).")
    postgres_exporter_port: Port = Field(19187, description="postgres_exporter (only when the database is PostgreSQL).")
    exporter_port: Port = Field(19200, description="procops exporter (procops_* metrics).")
    webhook_port: Port = Field(19201, description="Alert webhook that opens incidents.")
    scrape_interval: PositiveDuration = Field(5.0, description="Prometheus scrape interval.")
    evaluation_interval: PositiveDuration = Field(5.0, description="Prometheus rule evaluation interval.")
    group_wait: Duration = Field(
        2.0,
        description="Alertmanager group_wait: how long the first notification "
        "of a new alert group waits for more alerts.",
    )
    group_interval: PositiveDuration = Field(
        30.0, description="Alertmanager group_interval between updates of a group."
    )
    repeat_interval: PositiveDuration = Field(
        3600.0, description="Alertmanager repeat_interval of a still-firing alert."
    )
    textfile_dir: Path | None = Field(
        None,
        description="node_exporter textfile directory the batch jobs write their procops_*.prom files to "
        "(empty: $PROCOPS_HOME/textfile, which the procops exporter reads). On real hosts give the same "
        "directory to playbooks/monitoring.yml (-e textfile_dir=...), which points node_exporter's "
        "--collector.textfile.directory at it.",
        examples=["/var/lib/procops/textfile"],
    )
    watchdog_url: str | None = Field(
        None,
        description="Dead man's switch: Alertmanager posts the always-firing Watchdog alert to this URL every "
        "watchdog_repeat_interval; the receiver raises the alarm when it stops arriving (empty: Watchdog "
        "goes to a receiver with no destination).",
        examples=["https://deadman.example.gov.cn/ping/procops-prod"],
    )
    watchdog_repeat_interval: PositiveDuration = Field(
        300.0, description="How often Alertmanager re-sends the Watchdog alert to watchdog_url."
    )
    platform_down_for: Duration = Field(
        15.0, description="How long the platform (or a replica) must fail its probes before PlatformDown fires."
    )
    staleness_grace: Duration = Field(
        600.0,
        description="Slack added to backup/check intervals before "
        "BackupStale, OffsiteBackupStale and BackupCheckFailed fire (a job that "
        "runs every hour takes a few minutes).",
    )
    page_handlers_exclude: str = Field(
        "/healthz|/metrics|/_admin.*|other|.*/bids",
        description="Regex of the handler labels that are not pages (excluded "
        "from PageLoadSlow; uploads have their own alert).",
    )
    runbook_base_url: str | None = Field(
        None,
        description="Base URL of the runbooks in alert runbook_url "
        "(empty: file:// URLs of runbooks/en/ in this installation).",
        examples=["https://git.example.gov.cn/ops/procops/-/blob/main/runbooks/en/"],
    )
    severity_overrides: dict[str, Literal["critical", "warning"]] = Field(
        default_factory=dict,
        description="Change the severity of an alert by name (critical alerts open incidents).",
        examples=[{"PageLoadSlow": "critical"}],
    )
    webhook_token: SecretRef | None = Field(None, description="Bearer token of the webhook (empty: generated).")
    webhook_max_body: Size = Field(
        1024 * 1024, ge=4096, description="Largest accepted webhook payload (at least 4KB: one alert is ~1KB)."
    )
    web_user: str = Field(
        "procops",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="User name of the basic auth that Prometheus and Alertmanager require "
        "(their generated --web.config.file); procops' own clients and Prometheus's scrapes use it.",
        examples=["procops"],
    )
    web_password: SecretRef | None = Field(
        None,
        description="Password of that user (empty: generated 0600 file in $PROCOPS_HOME/secrets). "
        "The web config holds only its bcrypt hash.",
        examples=[{"file": "/etc/procops/monitoring-web-password"}],
    )
    escalation_every: PositiveDuration = Field(
        30.0, description="How often the webhook service runs the escalation loop (R11)."
    )


class RepositoryConfig(Section):
    """A restic repository."""

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Short name used on the command line.")
    url: str = Field(..., description="restic repository: a path, sftp:user@host:/path, s3:..., rest:...")
    password: SecretRef | None = Field(None, description="Repository password (empty: generated 0600 file).")
    offsite: bool = Field(False, description="True when the repository is on another site.")
    append_only: bool = Field(
        False,
        description="The repository is served append-only (e.g. `rclone serve restic --append-only` on the "
        "off-site host): this host never forgets or prunes there; the off-site host prunes its own copy "
        "(`procops backup prune` there).",
        examples=[True],
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description="restic extended options (-o key=value), e.g. sftp.command or s3.storage-class.",
        examples=[{"sftp.command": "ssh -i /etc/procops/offsite_key backup@dr-host -s sftp"}],
    )


class RetentionConfig(Section):
    """How many snapshots `restic forget` keeps (per host and set of paths)."""

    keep_last: int = Field(0, ge=0, description="Also keep this many latest snapshots, whatever their time.")
    keep_hourly: int = Field(24, ge=0, description="Keep the last snapshot of each of this many hours.")
    keep_daily: int = Field(7, ge=0, description="Keep the last snapshot of each of this many days.")
    keep_weekly: int = Field(4, ge=0, description="Keep the last snapshot of each of this many weeks.")
    keep_monthly: int = Field(12, ge=0, description="Keep the last snapshot of each of this many months.")
    keep_yearly: int = Field(
        0,
        ge=0,
        description="Keep the last snapshot of each of this many years (procurement files: 15, "
        "Government Procurement Law art. 42).",
        examples=[15],
    )
    keep_within: str | None = Field(
        None,
        pattern=r"^([0-9]+[ymdh])+$",
        description="Keep every snapshot newer than this duration before the latest one (restic's "
        "--keep-within: years y, months m, days d, hours h).",
        examples=["15y", "1y6m"],
    )

    @model_validator(mode="after")
    def _keeps_something(self) -> RetentionConfig:
        if not (
            self.keep_last
            or self.keep_hourly
            or self.keep_daily
            or self.keep_weekly
            or self.keep_monthly
            or self.keep_yearly
            or self.keep_within
        ):
            raise ValueError("a retention that keeps nothing would forget every snapshot")
        return self


class BackupConfig(Section):
    """Hourly local + off-site restic backups (R3, R4, R5)."""

    repositories: list[RepositoryConfig] = Field(
        default_factory=list,
        description="restic repositories; empty: 'local' and 'offsite' under $PROCOPS_HOME "
        "(the second a stand-in for a remote host).",
    )
    database: str | None = Field(
        None,
        description="Database to dump: a SQLite file path or an SQLAlchemy URL "
        "(postgresql://..., mysql+pymysql://...); empty: the platform's (the running "
        "sandbox's). May hold a password: masked in 'config show'.",
        examples=["postgresql://backup@127.0.0.1:5432/procurement"],
    )
    documents_dir: Path | None = Field(
        None, description="The documents store to back up (empty: the platform's / the sandbox's)."
    )
    paths: list[Path] = Field(default_factory=list, description="Extra file paths (the documents store is included).")
    excludes: list[str] = Field(default_factory=list, description="restic --exclude patterns.")
    key_tables: list[str] = Field(
        default_factory=lambda: ["announcements", "suppliers", "sessions", "archive_documents", "bids"],
        description="Tables whose row counts go into the manifest and are compared after a restore.",
    )
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    check_subsets: int = Field(
        8,
        ge=1,
        le=256,
        description="`backup check` reads subset n/t of the packs, "
        "rotating: t consecutive checks read every pack. Must divide 256.",
    )
    command_timeout: PositiveDuration = Field(
        6 * 3600.0, description="Longest a single restic or dump command may run."
    )
    hash_workers: int = Field(0, ge=0, description="Parallel hashing threads of verify (0: one per CPU).")
    restic_binary: str = Field("restic", description="The restic program.")
    restore_keep_modes: bool = Field(
        False,
        description="Keep the file modes recorded in the snapshot on restore (default: restored "
        "files are made private, 0600 files and 0700 folders).",
    )

    @model_validator(mode="after")
    def _check(self) -> BackupConfig:
        if 256 % self.check_subsets:
            raise ValueError(f"check_subsets must divide 256 (1, 2, 4, ... 256), not {self.check_subsets}")
        names = [r.name for r in self.repositories]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"repository names must be unique: {', '.join(sorted(dup))}")
        return self


class ReleaseHostConfig(Section):
    """One host of the release inventory: an Ansible host and its HAProxy server."""

    name: str = Field(
        ..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Inventory host name.", examples=["web1"]
    )
    server: str = Field(
        ...,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Its server name in the HAProxy backend.",
        examples=["web1"],
    )
    address: str | None = Field(
        None, description="Where Ansible and Fabric reach it over SSH (ansible_host).", examples=["10.0.0.21"]
    )
    user: str | None = Field(None, description="SSH user (empty: the current one).", examples=["deploy"])
    health_url: str | None = Field(
        None,
        description='URL answering the deployed version as JSON {"version": ...} (empty: http://ADDRESS:8000/healthz).',
        examples=["http://10.0.0.21:8000/healthz"],
    )
    vars: dict[str, str] = Field(
        default_factory=dict,
        description="Extra inventory variables of this host (e.g. release_root, service_name).",
        examples=[{"release_root": "/srv/platform", "service_name": "platform"}],
    )


class ReleaseStageConfig(Section):
    """One stage of a rollout: how many hosts run the new version and what share of traffic they get."""

    hosts: str = Field(
        ...,
        pattern=r"^([1-9][0-9]*|[1-9][0-9]?%|100%|half|all)$",
        description="Hosts on the new version at this stage: a count (1), a share of the inventory (50%), "
        "'half' or 'all'.",
        examples=["1", "half", "all"],
    )
    traffic: int = Field(..., ge=1, le=100, description="Percent of the traffic sent to them.", examples=[10])
    analysis: PositiveDuration = Field(120.0, description="Analysis window of the stage's gates.")
    manual_gate: bool = Field(
        True, description="Pause after the gates pass until `procops release promote` (unless --auto)."
    )


def _default_stages() -> list[ReleaseStageConfig]:
    return [
        ReleaseStageConfig(hosts="1", traffic=10, analysis=120.0),
        ReleaseStageConfig(hosts="half", traffic=50, analysis=300.0),
        ReleaseStageConfig(hosts="all", traffic=100, analysis=120.0, manual_gate=False),
    ]


class ReleaseGatesConfig(Section):
    """Canary analysis: canary against baseline (the stable servers in the same window) and absolute."""

    error_ratio_margin: Ratio = Field(
        0.01, description="The canary's 5xx ratio may exceed the baseline's by at most this (0.01: one point)."
    )
    p95_ratio: float = Field(1.2, ge=1.0, description="The canary's p95 latency at most this times the baseline's.")
    p95_max: Latency = Field(2.0, description="And at most this (the page-load SLO).")
    p95_tolerance: Latency = Field(
        0.05,
        description="Differences of p95 below this are noise of the histogram's buckets: the canary passes when "
        "within p95_ratio x baseline or baseline + this.",
    )
    upload_success: Ratio = Field(1.0, description="Share of bid uploads that must succeed on the canary (R1: 100%).")
    min_requests: int = Field(
        20, ge=1, description="Fewer canary requests in the window than this is a failed check, not a pass."
    )
    min_uploads: int = Field(1, ge=1, description="Fewer canary uploads in the window than this is a failed check.")
    min_pilot_requests: int = Field(
        10,
        ge=1,
        description="While the pilot units' requests go to the canary: fewer of them in the window than this is a "
        "failed check (their requests are judged against the stable servers' requests to the same pages).",
    )
    on_no_data: Literal["fail", "pause"] = Field(
        "fail", description="A check without data (empty, NaN, too few requests): fail it (roll back) or pause."
    )
    probe: bool = Field(
        True, description="Upload a bid file through the canary and download it back with the same sha256."
    )
    probe_uploads: int = Field(5, ge=1, le=500, description="Files the synthetic probe uploads per analysis.")
    probe_user: str = Field(
        "supplier-1@example.test",
        description="Supplier account of the probe and the background load (the sandbox's seeded supplier 1).",
    )
    probe_password: SecretRef | None = Field(
        None, description="Its password (empty: the sandbox seed's password of supplier 1)."
    )
    traffic_timeout: PositiveDuration = Field(
        60.0, description="Wait this long for the canary's first requests before the analysis starts."
    )
    probe_announcement: int | None = Field(
        None,
        ge=1,
        description="The announcement (a test tender kept for this) the probe and the background load's uploads "
        "bid on. Empty: any open announcement, on the sandbox only; on real hosts (release.inventory) the probe "
        "and uploads need it, so that no real tender receives test bids.",
    )


class ReleaseLoadConfig(Section):
    """A small background load through the front end during analysis (quiet hours still give data)."""

    enabled: bool = Field(True, description="Run it during every analysis window.")
    rate: float = Field(8.0, gt=0, le=200, description="Requests per second (pages and bid uploads).")
    upload_share: Ratio = Field(0.3, description="Share of those requests that upload a bid file.")
    pilot_share: Ratio = Field(
        0.25,
        description="Share of those requests sent as one of the pilot units (header X-Purchasing-Unit) while their "
        "requests go to the canary, so the pilot gates have data in quiet hours.",
    )


class FreezeWindowConfig(Section):
    """A configured freeze window: no release starts and no stage advances inside it."""

    name: str = Field(..., description="What it is.", examples=["year-end settlement"])
    start: dt.datetime = Field(
        ..., description="Start (ISO 8601, with a zone).", examples=["2026-12-28T00:00:00+08:00"]
    )
    end: dt.datetime = Field(..., description="End (ISO 8601, with a zone).", examples=["2027-01-02T00:00:00+08:00"])

    @model_validator(mode="after")
    def _ordered(self) -> FreezeWindowConfig:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("give freeze window times with a zone (e.g. +08:00 or Z)")
        if self.end <= self.start:
            raise ValueError("a freeze window must end after it starts")
        return self


class ReleaseFreezeConfig(Section):
    """The procurement calendar: never change the platform under a bid deadline or opening."""

    before_deadline: Duration = Field(
        7200.0,
        ge=0,
        description="No start and no promotion within this time before an announcement's bid deadline "
        "(the platform's deadline_at); 0 turns it off.",
    )
    windows: list[FreezeWindowConfig] = Field(default_factory=list, description="Configured freeze windows.")


class ChangeNoticeConfig(Section):
    """What changes for users in a version (shown by `plan`, required by `start`)."""

    zh: str = Field(..., min_length=1, description="In Chinese.")
    en: str = Field(..., min_length=1, description="In English.")
    workflows: list[str] = Field(default_factory=list, description="Workflows that change.")


class ReleaseConfig(Section):
    """Gray releases (R6): staged canary rollouts with HAProxy weights and Prometheus gates."""

    inventory: list[ReleaseHostConfig] = Field(
        default_factory=list,
        description="The hosts, in rollout order (empty: the running sandbox's replicas, deployed with a "
        "local connection).",
    )
    backend: str = Field("replicas", description="HAProxy backend of the hosts' servers.")
    haproxy_socket: Path | None = Field(
        None, description="HAProxy runtime API socket (level admin; empty: the sandbox's)."
    )
    prometheus_url: str | None = Field(
        None, description="Prometheus of the gates (empty: the monitoring stack's on loopback)."
    )
    alertmanager_url: str | None = Field(
        None, description="Alertmanager for the silences of planned restarts (empty: the monitoring stack's)."
    )
    job: str = Field("platform", description="The Prometheus job label of the hosts' metrics.")
    stages: list[ReleaseStageConfig] = Field(
        default_factory=_default_stages,
        description="Stages in order; traffic grows and the last sends 100% to all hosts.",
    )
    progress_deadline: PositiveDuration = Field(
        600.0, description="A stage not decided within this time is rolled back (Argo and Flagger: 600 s)."
    )
    max_auto_rollbacks: int = Field(
        3, ge=1, description="Consecutive automatic rollbacks after which `start` refuses until --acknowledge."
    )
    gates: ReleaseGatesConfig = Field(default_factory=ReleaseGatesConfig)
    load: ReleaseLoadConfig = Field(default_factory=ReleaseLoadConfig)
    freeze: ReleaseFreezeConfig = Field(default_factory=ReleaseFreezeConfig)
    pilot_units: list[str] = Field(
        default_factory=list,
        description="Purchasing units whose requests go to the canary (cookie or header set at login).",
        examples=[["unit-0001"]],
    )
    pilot_share_window: PositiveDuration = Field(
        7 * 86400.0,
        description="`release plan` says what share of the platform's requests the pilot units made over this "
        "past window (from the platform's sandbox_unit_requests_total in Prometheus).",
    )
    pilot_map: Path | None = Field(
        None,
        description="The HAProxy map file of the pilot units as the load balancer's config names it "
        "(unit -> server; empty: the sandbox's run/pilot.map). Requests with the cookie procops_unit "
        "or the header X-Purchasing-Unit of a listed unit go to the canary.",
        examples=["/etc/haproxy/pilot.map"],
    )
    notices: dict[str, ChangeNoticeConfig] = Field(
        default_factory=dict,
        description="Change notices by version (beside those shipped in release/notices/*.yaml).",
    )
    notices_dir: Path | None = Field(None, description="More change notices, one VERSION.yaml each.")
    artifacts_dir: Path | None = Field(
        None,
        description="Where the releases of real hosts are (platform-VERSION.tar.gz); the sandbox's versions need none.",
    )
    deploy_timeout: PositiveDuration = Field(300.0, description="Longest a deploy or rollback playbook may run.")

    @model_validator(mode="after")
    def _check(self) -> ReleaseConfig:
        if not self.stages:
            raise ValueError("release.stages is empty: give at least one stage")
        traffic = [s.traffic for s in self.stages]
        if any(b <= a for a, b in zip(traffic, traffic[1:])):
            raise ValueError(f"release.stages traffic must grow from stage to stage, not {traffic}")
        if traffic[-1] != 100 or self.stages[-1].hosts not in ("all", "100%"):
            raise ValueError("the last release stage must send 100% of the traffic to all hosts (hosts: all)")
        names = [h.name for h in self.inventory]
        servers = [h.server for h in self.inventory]
        for what, xs in (("names", names), ("servers", servers)):
            dup = {n for n in xs if xs.count(n) > 1}
            if dup:
                raise ValueError(f"release.inventory host {what} must be unique: {', '.join(sorted(dup))}")
        return self


class ContactConfig(Section):
    role: str = Field(..., description="e.g. incident commander, responsible leader.")
    name: str
    phone: str | None = None
    email: str | None = None


class ReceiverConfig(Section):
    name: str
    url: str = Field(..., description="Webhook URL that receives escalation notifications.")
    token: SecretRef | None = Field(None, description="Bearer token sent to the receiver.")


class NotificationsConfig(Section):
    """Whom to call and where escalations go (R7, R11)."""

    contacts: list[ContactConfig] = Field(default_factory=list, description="Contacts table of the runbooks.")
    escalation_receivers: list[ReceiverConfig] = Field(
        default_factory=list, description="Escalation webhooks (empty: the local recording receiver)."
    )


class DrillHost(Section):
    """A host drills may inject faults into over SSH (Fabric)."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Inventory name of the host.")
    address: str = Field(..., description="Address or name sshd listens on.")
    port: Port = Field(22, description="sshd port.")
    user: str = Field("root", description="SSH user (root, or one allowed to run systemctl, iptables, tc).")
    key_file: Path | None = Field(None, description="Private key file (empty: the SSH agent and ~/.ssh).")
    known_hosts: Path | None = Field(
        None,
        description="known_hosts file of this host's key, read before ssh.known_hosts (and written with "
        "ssh.unknown_host_keys: accept-new).",
    )


class DrillsConfig(Section):
    """Quarterly emergency drills (R8)."""

    scenarios_dir: Path | None = Field(None, description="Extra drill scenarios (YAML).")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="The only inventory hosts a drill may inject faults into (a scenario naming another is refused).",
        examples=[["web1", "db1"]],
    )
    hosts: list[DrillHost] = Field(default_factory=list, description="How to reach the allowed hosts over SSH.")
    participants: list[ContactConfig] = Field(
        default_factory=list,
        description="The drill's participants: drill escalations name them, never the responsible leaders.",
    )
    rectification_owner: str = Field(
        "operations", description="Owner of the rectification items a drill's findings become (R12)."
    )
    rectification_due: PositiveDuration = Field(30 * 86400.0, description="Due date of those items after the drill.")
    poll_interval: PositiveDuration = Field(1.0, description="How often a running drill looks for the detection.")
    failover_inventory: Path | None = Field(
        None,
        description="Ansible inventory for playbooks/failover.yml "
        "(groups 'standby' and 'lb'); used by `incident standby --execute` "
        "when platform.url is set.",
    )
    failover_extra_vars: dict[str, str] = Field(
        default_factory=dict,
        description="Variables for playbooks/failover.yml (through a file in a private 0700 directory, "
        "not on the command line).",
        examples=[{"failover_backend": "replicas", "standby_address": "10.0.0.12"}],
    )


class ScanConfig(Section):
    """The weekly host security scan with lynis (R3)."""

    groups: list[str] = Field(
        default_factory=list,
        description="lynis test groups to run (empty: all).",
        examples=[["authentication", "ssh", "firewalls"]],
    )
    max_warnings: int = Field(0, ge=0, description="Warnings tolerated before the scan fails.")
    min_hardening_index: int = Field(50, ge=0, le=100, description="Lowest acceptable lynis hardening index.")
    vulnerabilities: bool = Field(
        True, description="Also list the known vulnerabilities of the installed packages (debsecan)."
    )
    vulnerability_source: str | None = Field(
        None,
        description="Where debsecan reads its vulnerability data: the tracker's URL, a mirror's URL, or a "
        "folder holding one file per Debian suite (empty: the public Debian security tracker).",
        examples=["http://mirror.example.org/debsecan/release/1/", "/srv/debsecan"],
    )
    suite: str | None = Field(None, description="Debian suite of the scanned hosts (empty: each host's own).")
    inventory: Path | None = Field(
        None,
        description="Ansible inventory (INI) of the hosts `procops scan --host NAME` reaches over SSH "
        "(ansible_host, ansible_user, ansible_port, ansible_ssh_private_key_file).",
    )


def _valid_timezone(value: Any) -> Any:
    if value in (None, ""):
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai or UTC)") from None
    return str(value)


class DisplayConfig(Section):
    """How people see times: the CLI, reports and charts (the journal and --json keep UTC)."""

    timezone: Annotated[str | None, BeforeValidator(_valid_timezone)] = Field(
        None,
        description="IANA time zone of the times shown to people, and of times typed without a zone "
        '(e.g. --t0 "2026-12-01 10:00"). Empty: the host\'s zone ($TZ, /etc/localtime), else UTC.',
        examples=["Asia/Shanghai"],
    )


class SshConfig(Section):
    """SSH to the platform's hosts (drills, releases, scans): host keys checked as OpenSSH does."""

    known_hosts: Path | None = Field(
        None,
        description="known_hosts file of the hosts' keys (empty: ~/.ssh/known_hosts; /etc/ssh/ssh_known_hosts "
        "is read too).",
    )
    unknown_host_keys: Literal["reject", "accept-new"] = Field(
        "reject",
        description="A host whose key is not known: refuse it (reject, as StrictHostKeyChecking=yes) or record "
        "its key on first use (accept-new). A key that changed is always refused.",
    )


class Config(Section):
    """procops configuration file."""

    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    loadtest: LoadtestConfig = Field(default_factory=LoadtestConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    drills: DrillsConfig = Field(default_factory=DrillsConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    display: DisplayConfig = Field(default_factory=DisplayConfig)
    ssh: SshConfig = Field(default_factory=SshConfig)


def cross_checks(config: Config) -> list[tuple[list[tuple], str]]:
    """Settings of different sections that break each other: two services on one port.

    Returns (key paths involved, message) pairs; :func:`parse` adds the file:line of
    the one written in the file."""
    owners: dict[int, list[tuple[tuple, str]]] = {}
    sb = config.sandbox
    owners.setdefault(sb.port, []).append((("sandbox", "port"), "sandbox.port (HAProxy frontend)"))
    for i in range(sb.replicas):
        owners.setdefault(sb.port + 1 + i, []).append(
            (("sandbox", "port"), f"sandbox replica {i + 1} (sandbox.port + {i + 1})")
        )
    for name in type(config.monitoring).model_fields:
        if name.endswith("_port"):
            owners.setdefault(getattr(config.monitoring, name), []).append((("monitoring", name), f"monitoring.{name}"))
    out = []
    for port, users in sorted(owners.items()):
        if len(users) > 1:
            out.append(
                (
                    [u[0] for u in users],
                    f"port {port} is used by both {users[0][1]} and {users[-1][1]}: give each service its own",
                )
            )
    return out


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    source: Path | None  # None: the embedded default

    @property
    def source_label(self) -> str:
        return str(self.source) if self.source else "<embedded default>"


class ConfigError(BadInput):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(
            _("invalid configuration:") + "\n  " + "\n  ".join(errors),
            hint=_("every field is described in: procops config schema; a commented sample: procops config init"),
        )


def discover(explicit: str | Path | None = None) -> Path | None:
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise BadInput(_("config file {p} does not exist").format(p=p))
        return p
    env = os.environ.get(ENV_CONFIG)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise BadInput(_("config file {p} (from ${env_config}) does not exist").format(p=p, env_config=ENV_CONFIG))
        return p
    for p in SEARCH_PATHS:
        if p.is_file():
            return p
    return None


def _line_map(path: Path, text: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML; return the data and a map from key path to 1-based line."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: YAML nested too deeply"]) from None
    if node is not None:
        _refuse_unsafe_nodes(path, node)
    lines: dict[tuple, int] = {}
    dups: list[str] = []

    def walk(n: Any, prefix: tuple) -> None:
        lines.setdefault(prefix, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            seen = set()
            for k, v in n.value:
                key = k.value
                if key in seen:
                    dups.append(
                        f"{path}:{k.start_mark.line + 1}: field {'.'.join(map(str, prefix + (key,)))}: duplicate key"
                    )
                seen.add(key)
                lines[prefix + (key,)] = k.start_mark.line + 1
                walk(v, prefix + (key,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, prefix + (i,))

    if node is not None:
        walk(node, ())
    if dups:
        raise ConfigError(dups)
    try:
        data = yaml.SafeLoader(text).get_single_data() if node is not None else None
    except yaml.YAMLError as e:  # checked above; kept so a surprise is still exit 2
        raise ConfigError([f"{path}: YAML error: {e}"]) from None
    return data, lines


# A procops config has a few hundred nodes; aliases that expand past this are a bomb.
MAX_YAML_NODES = 20_000
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
)


def _refuse_unsafe_nodes(path: Path, root: Any) -> None:
    """Before anything is constructed: only plain YAML tags, no recursive alias, and a bounded
    size counting every alias at its full expansion (a "billion laughs" is refused, not expanded)."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def fail(n: Any, problem: str) -> None:
        raise ConfigError([f"{path}:{n.start_mark.line + 1}: {problem}"])

    def size(n: Any) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            fail(n, "recursive YAML alias (an anchor that contains itself)")
        if n.tag not in _PLAIN_TAGS:
            fail(n, f"YAML tag {n.tag!r} is not allowed (only plain values, lists and mappings)")
        active.add(key)
        total = 1
        if isinstance(n, yaml.MappingNode):
            children = [c for kv in n.value for c in kv]
        elif isinstance(n, yaml.SequenceNode):
            children = list(n.value)
        else:
            children = []
        for c in children:
            total += size(c)
            if total > MAX_YAML_NODES:
                fail(n, f"YAML aliases expand to more than {MAX_YAML_NODES} values (an alias bomb?)")
        active.discard(key)
        sizes[key] = total
        return total

    try:
        size(root)
    except RecursionError:
        raise ConfigError([f"{path}: YAML nested too deeply"]) from None


def located_errors(e: ValidationError, lines: dict[tuple, int], path: Path, unknown_key: str) -> list[tuple[int, str]]:
    """Each validation error as (line, "file:line: field a.b: problem"): the line of the deepest key
    of its location found in the YAML (``lines``, from the loader), 1 when none is."""
    out = []
    for err in e.errors():
        loc = tuple(err["loc"])
        line = 1
        for i in range(len(loc), -1, -1):
            if loc[:i] in lines:
                line = lines[loc[:i]]
                break
        field = ".".join(str(p) for p in loc) or "<top>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = unknown_key
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        out.append((line, f"{path}:{line}: field {field}: {msg}"))
    return out


def parse(text: str, path: Path) -> Config:
    data, lines = _line_map(path, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the file must be a mapping of sections (platform:, policy:, ...)"])
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        errors = located_errors(e, lines, path, "unknown key (not a setting of this section)")
        raise ConfigError([text for _unused, text in sorted(errors, key=lambda e: e[0])]) from None
    problems = cross_checks(config)
    if problems:
        raise ConfigError(
            [
                f"{path}:{_line_of(lines, _written(lines, locs))}: field {'.'.join(_written(lines, locs))}: {msg}"
                for locs, msg in problems
            ]
        )
    return config


def _written(lines: dict[tuple, int], locs: list[tuple]) -> tuple:
    """The last of ``locs`` set in the file (else the last one)."""
    return next((loc for loc in reversed(locs) if loc in lines), locs[-1])


def _line_of(lines: dict[tuple, int], loc: tuple) -> int:
    for i in range(len(loc), -1, -1):
        if loc[:i] in lines:
            return lines[loc[:i]]
    return 1


def load(explicit: str | Path | None = None) -> LoadedConfig:
    path = discover(explicit)
    if path is None:
        return LoadedConfig(Config(), None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(_("cannot read config file {path}: {e}").format(path=path, e=e)) from None
    return LoadedConfig(parse(text, path), path)


def _secret_refs(model: BaseModel, prefix: tuple = ()) -> Iterator[tuple[tuple, SecretRef]]:
    """Every SecretRef in the config with its key path (``("backup", "repositories", 0, "password")``)."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for i, v in items:
            path = prefix + ((name,) if i is None else (name, i))
            if isinstance(v, SecretRef):
                yield path, v
            elif isinstance(v, BaseModel):
                yield from _secret_refs(v, path)


@dataclass(frozen=True)
class FileAudit:
    """What `config validate` found about the files a config names: errors (exit 2) and warnings."""

    errors: list[str]
    warnings: list[str]


def audit_files(loaded: LoadedConfig) -> FileAudit:
    """Secret files must exist and be 0600 (as ``backup init`` demands); a config file holding
    credentials should not be readable by group or others."""
    from procops.home import check_secret_file
    from procops.masking import mask_text

    errors: list[str] = []
    warnings: list[str] = []
    lines: dict[tuple, int] = {}
    if loaded.source is not None:
        text = loaded.source.read_text(encoding="utf-8")
        _data, lines = _line_map(loaded.source, text)
        mode = loaded.source.stat().st_mode & 0o777
        if mode & 0o044 and mask_text(text) != text:
            warnings.append(
                f"{loaded.source}: holds credentials (a password in a URL) and is readable by group or "
                f"others (mode {oct(mode)}); run: chmod 600 {loaded.source}"
            )
    for path, ref in _secret_refs(loaded.config):
        if ref.file is None:
            continue
        try:
            check_secret_file(ref.file.expanduser())
        except BadInput as e:
            where = f"{loaded.source_label}:{lines.get(path + ('file',), lines.get(path, 1))}"
            errors.append(f"{where}: field {'.'.join(map(str, path))}.file: {e.message}")
    return FileAudit(errors, warnings)


# --------------------------------------------------------------------------- rendering

_MASK = "********"
_SECRET_KEYS = {"password", "token", "webhook_token"}


def _mask_url(url: str) -> str:
    """Kept for callers: the one masking function is :func:`procops.masking.mask_text`."""
    from procops.masking import mask_text

    return mask_text(url)


def masked(config: Config) -> dict:
    """The effective config as plain data, secrets masked."""

    def walk(v: Any, key: str | None = None) -> Any:
        if isinstance(v, dict):
            if key in _SECRET_KEYS and v is not None:
                # a SecretRef: show where it comes from, not the secret
                return {k: (x if k == "file" else _MASK) for k, x in v.items() if x is not None}
            return {k: walk(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            # any string: URL passwords (rest:http://u:p@h, sftp://u:p@h, ...) wherever they are
            return _mask_url(v)
        return v

    return walk(config.model_dump(mode="json"))


def schema() -> dict:
    s = Config.model_json_schema()
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["title"] = "procops configuration"
    return s


def sample_yaml() -> str:
    """A commented sample config generated from the schema and its defaults."""
    import yaml

    out = [
        "# procops configuration (sample generated from the schema; 'procops config schema'",
        "# prints the JSON Schema). Every key is optional: the defaults are the policy of",
        "# REQUIREMENTS.md and the local sandbox platform. Unknown keys are errors.",
        "",
    ]

    def emit(model: type[BaseModel], data: dict, indent: int) -> None:
        pad = "  " * indent
        for name, field in model.model_fields.items():
            value = data.get(name)
            if field.description:
                out.append(f"{pad}# {field.description}")
            ann = field.annotation
            sub = _submodel(ann)
            if sub is not None and isinstance(value, dict):
                if sub.__doc__ and indent == 0:
                    out.append(f"{pad}# {sub.__doc__.strip().splitlines()[0]}")
                out.append(f"{pad}{name}:")
                emit(sub, value, indent + 1)
            else:
                dumped = yaml.safe_dump(
                    {name: value}, default_flow_style=True, allow_unicode=True, width=10_000
                ).strip()
                if dumped.startswith("{") and dumped.endswith("}"):
                    dumped = dumped[1:-1]
                out.append(f"{pad}{dumped}")
        if indent == 0:
            out.append("")

    emit(Config, Config().model_dump(mode="json"), 0)
    return "\n".join(out) + "\n"


def _submodel(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    return None
