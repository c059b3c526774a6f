"""The embedded monitoring stack on loopback: Prometheus, Alertmanager, exporters, our exporter and webhook.

``up`` renders every config under ``$PROCOPS_HOME/monitoring`` (pure functions
below), tests the rules with promtool, validates the configs with ``promtool
check config`` and ``amtool check-config``, checks the ports, then starts each
component, recording its pid and start time in ``state.json`` before waiting
for it to be healthy; if one does not come up, what was started is stopped
again. Prometheus and Alertmanager require basic auth (:mod:`procops.monitoring.webauth`:
``web.yml``, a bcrypt hash; every procops client and Prometheus's own scrapes and
alerting send the credentials). ``up`` on a running stack re-renders the scrape targets (a sandbox
restarted since) and reloads Prometheus. ``down`` stops only the processes
recorded there whose start time still matches.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from procops.errors import BadInput, EnvironmentFailure
from procops.monitoring import rules as R
from procops.monitoring import tools
from procops.monitoring import webauth
from procops.monitoring.webauth import WebAuth
from procops import execute
from procops.execute import ProcessGroup, Proc, http_ok, log_tail, port_free
from procops.timeutil import iso, utcnow

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config, MonitoringConfig

HEALTH_TIMEOUT = 40.0
COMPONENTS = (
    "exporter",
    "webhook",
    "node_exporter",
    "blackbox_exporter",
    "postgres_exporter",
    "alertmanager",
    "prometheus",
)


# --------------------------------------------------------------------------- paths and targets


@dataclass(frozen=True)
class StackPaths:
    base: Path

    @classmethod
    def of(cls) -> StackPaths:
        from procops.home import area_dir

        return cls(area_dir("monitoring"))

    def _dir(self, name: str) -> Path:
        d = self.base / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def run(self) -> Path:
        return self._dir("run")

    @property
    def logs(self) -> Path:
        return self._dir("logs")

    @property
    def rules_dir(self) -> Path:
        return self._dir("rules")

    @property
    def state_file(self) -> Path:
        return self.run / "state.json"

    @property
    def prometheus_yml(self) -> Path:
        return self.base / "prometheus.yml"

    @property
    def alertmanager_yml(self) -> Path:
        return self.base / "alertmanager.yml"

    @property
    def web_yml(self) -> Path:
        """The ``--web.config.file`` of Prometheus and Alertmanager (basic auth, bcrypt hash; 0600)."""
        return self.base / "web.yml"

    @property
    def blackbox_yml(self) -> Path:
        return self.base / "blackbox.yml"

    @property
    def platform_targets(self) -> Path:
        return self.base / "platform-targets.json"

    @property
    def prometheus_data(self) -> Path:
        return self._dir("prometheus-data")

    @property
    def alertmanager_data(self) -> Path:
        return self._dir("alertmanager-data")


@dataclass(frozen=True)
class Target:
    """What the stack watches."""

    url: str  # platform base URL (HAProxy frontend or the configured platform)
    replicas: tuple[str, ...]  # host:port of each replica's /metrics
    postgres_dsn: str | None = None  # libpq URL when the platform DB is PostgreSQL

    @property
    def health_url(self) -> str:
        return self.url.rstrip("/") + "/healthz"

    @property
    def page_url(self) -> str:
        return self.url.rstrip("/") + "/api/announcements?page=1&size=20"


def _postgres_dsn(database_url: str | None) -> str | None:
    if not database_url:
        return None
    try:
        from sqlalchemy.engine import make_url

        u = make_url(database_url)
    except Exception:  # noqa: BLE001 - not a URL we can read: no postgres_exporter
        return None
    if u.get_backend_name() != "postgresql":
        return None
    u = u.set(drivername="postgresql")
    if "sslmode" not in u.query and (u.host or "localhost") in ("localhost", "127.0.0.1", "::1"):
        # postgres_exporter's driver defaults to sslmode=require, libpq to prefer: on loopback say disable
        u = u.update_query_dict({"sslmode": "disable"})
    return u.render_as_string(hide_password=False)


def discover_target(config: Config) -> Target:
    """The platform to watch: the configured URL, or the running sandbox (its replicas' ports)."""
    if config.platform.url:
        from urllib.parse import urlsplit

        u = urlsplit(config.platform.url)
        return Target(config.platform.url, (u.netloc,), _postgres_dsn(config.platform.database_url))
    from procops.sandbox import api as sandbox

    state = sandbox.running()
    if state is None:
        port = config.sandbox.port
        from procops.sandbox.api import replica_ports

        return Target(
            f"http://127.0.0.1:{port}",
            tuple(f"127.0.0.1:{p}" for p in replica_ports(port, config.sandbox.replicas)),
            _postgres_dsn(config.sandbox.database_url),
        )
    return Target(state.url, tuple(f"127.0.0.1:{r.port}" for r in state.replicas), _postgres_dsn(state.database_url))


# --------------------------------------------------------------------------- configs (pure)


def _d(seconds: float) -> str:
    return R.prom_duration(seconds)


def drill_relabel(mark: dict | None) -> list[dict]:
    """The ``alert_relabel_configs`` of a running drill: its alerts (``alertnames``) leave Prometheus
    with ``drill=<label>``, so the webhook opens a drill incident for them, never a real one."""
    if not mark or not mark.get("label") or not mark.get("alertnames"):
        return []
    names = "|".join(re.escape(str(n)) for n in mark["alertnames"])
    return [
        {
            "source_labels": ["alertname"],
            "regex": f"({names})",
            "target_label": R.DRILL_LABEL,
            "replacement": str(mark["label"]),
            "action": "replace",
        }
    ]


def prometheus_config(
    mon: MonitoringConfig,
    paths: StackPaths,
    target: Target,
    rules_file: Path,
    auth: WebAuth | None = None,
    drill: dict | None = None,
) -> str:
    """``auth``: the credentials Prometheus sends to itself and to Alertmanager (a ``password_file``);
    ``drill``: the mark of a running drill (:func:`drill_relabel`)."""
    basic = {"basic_auth": auth.prometheus_basic_auth()} if auth is not None else {}

    def static(job: str, port: int, **extra: Any) -> dict:
        return {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}], **extra}

    def probe(job: str, url: str) -> dict:
        return {
            "job_name": job,
            "metrics_path": "/probe",
            "params": {"module": ["http_2xx"]},
            "static_configs": [{"targets": [url]}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": f"127.0.0.1:{mon.blackbox_exporter_port}"},
            ],
        }

    scrape = [
        {
            "job_name": R.JOB_PLATFORM,
            "file_sd_configs": [{"files": [str(paths.platform_targets)], "refresh_interval": "5s"}],
        },
        static(R.JOB_NODE, mon.node_exporter_port),
        static(R.JOB_PROCOPS, mon.exporter_port),
        static("procops-webhook", mon.webhook_port),  # procops_webhook_rejected_total
        probe(R.JOB_BLACKBOX_HEALTH, target.health_url),
        probe(R.JOB_BLACKBOX_PAGE, target.page_url),
        static("prometheus", mon.prometheus_port, **basic),
        static("alertmanager", mon.alertmanager_port, **basic),
    ]
    if target.postgres_dsn:
        scrape.append(static(R.JOB_POSTGRES, mon.postgres_exporter_port))
    scrape_timeout = min(mon.scrape_interval, 10.0)
    cfg = {
        "global": {
            "scrape_interval": _d(mon.scrape_interval),
            "scrape_timeout": _d(scrape_timeout),
            "evaluation_interval": _d(mon.evaluation_interval),
            "external_labels": {"monitor": "procops"},
        },
        "rule_files": [str(rules_file)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{mon.alertmanager_port}"]}], **basic}],
            **({"alert_relabel_configs": relabel} if (relabel := drill_relabel(drill)) else {}),
        },
        "scrape_configs": scrape,
    }
    return "# generated by 'procops monitor up'; do not edit\n" + yaml.safe_dump(cfg, sort_keys=False)


def platform_targets(target: Target) -> str:
    return json.dumps([{"targets": list(target.replicas), "labels": {R.SERVICE_LABEL: R.SERVICE_PLATFORM}}], indent=2)


# While the platform is down as users see it, its replicas' and pages' alerts are symptoms of the same
# outage: Alertmanager holds them back. ``equal`` keeps it per service, and a drill's alert never
# silences a real one (nor a real one a drill's).
# A repository that reports nothing fires the no-data rule of each of its alerts (reason="no_data"):
# the backup's one pages, the check's, integrity's and restore-verify's of the same repository wait.
INHIBIT_RULES = (
    {
        "source_matchers": ['alertname="PlatformDown"'],
        "target_matchers": ['alertname=~"ReplicaDown|PageLoadSlow|ErrorRatioHigh|UploadFailures"'],
        "equal": [R.SERVICE_LABEL, R.DRILL_LABEL],
    },
    {
        "source_matchers": ['alertname=~"BackupStale|OffsiteBackupStale"', f'{R.NO_DATA_LABEL}="{R.NO_DATA}"'],
        "target_matchers": [
            'alertname=~"BackupCheckFailed|IntegrityProblems|RestoreVerifyStale"',
            f'{R.NO_DATA_LABEL}="{R.NO_DATA}"',
        ],
        "equal": ["repository"],
    },
)


def alertmanager_config(mon: MonitoringConfig, webhook_token_file: Path, escalation: list[dict]) -> str:
    """Routes: IncidentDeadline* to the escalation receiver(s); critical (and the rest) to the incident webhook.

    ``escalation`` lists extra receivers: ``{"name", "url", "credentials_file" or None}``.
    :data:`INHIBIT_RULES`: PlatformDown holds back the other platform alerts of the same service; a
    repository's no-data BackupStale holds back its other no-data alerts. Watchdog goes to
    ``procops-watchdog`` (``monitoring.watchdog_url``, or nowhere), never to the incident webhook.
    """
    auth = {"authorization": {"type": "Bearer", "credentials_file": str(webhook_token_file)}}
    hook = f"http://127.0.0.1:{mon.webhook_port}"
    esc_configs = [{"url": f"{hook}/escalation", "send_resolved": True, "http_config": auth}]
    for r in escalation:
        c: dict[str, Any] = {"url": r["url"], "send_resolved": False}
        if r.get("credentials_file"):
            c["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": r["credentials_file"]}}
        esc_configs.append(c)
    timing = {
        "group_wait": _d(mon.group_wait),
        "group_interval": _d(mon.group_interval),
        "repeat_interval": _d(mon.repeat_interval),
    }
    watchdog: dict[str, Any] = {"name": "procops-watchdog"}  # no destination unless watchdog_url is set
    if mon.watchdog_url:
        watchdog["webhook_configs"] = [{"url": mon.watchdog_url, "send_resolved": False}]
    cfg = {
        "route": {
            "receiver": "procops-webhook",
            "group_by": ["..."],
            **timing,
            "routes": [
                {"receiver": "procops-escalation", "matchers": ['alertname=~"IncidentDeadline.*"'], "continue": False},
                {"receiver": "procops-webhook", "matchers": ['severity="critical"']},
                {  # the dead man's switch: never the incident webhook, re-sent often (matches no route above)
                    "receiver": "procops-watchdog",
                    "matchers": [f'alertname="{R.WATCHDOG}"'],
                    "group_wait": "0s",
                    "repeat_interval": _d(mon.watchdog_repeat_interval),
                    "continue": False,
                },
            ],
        },
        "receivers": [
            {
                "name": "procops-webhook",
                "webhook_configs": [{"url": f"{hook}/alerts", "send_resolved": True, "http_config": auth}],
            },
            {"name": "procops-escalation", "webhook_configs": esc_configs},
            watchdog,
        ],
        "inhibit_rules": [dict(r) for r in INHIBIT_RULES],
    }
    return "# generated by 'procops monitor up'; do not edit\n" + yaml.safe_dump(cfg, sort_keys=False)


def blackbox_config() -> str:
    cfg = {
        "modules": {
            "http_2xx": {
                "prober": "http",
                "timeout": "5s",
                "http": {"preferred_ip_protocol": "ip4", "follow_redirects": False},
            }
        }
    }
    return "# generated by 'procops monitor up'; do not edit\n" + yaml.safe_dump(cfg, sort_keys=False)


def _listen(port: int) -> str:
    return f"127.0.0.1:{port}"


def component_argv(name: str, mon: MonitoringConfig, paths: StackPaths) -> list[str]:
    """argv of one component (pure apart from locating the binary)."""
    procops = [sys.executable, "-m", "procops.cli.main", "monitor"]
    if name == "exporter":
        return procops + ["exporter", "--port", str(mon.exporter_port)]
    if name == "webhook":
        return procops + ["webhook", "--port", str(mon.webhook_port)]
    if name == "node_exporter":
        return [
            tools.binary("node_exporter"),
            f"--web.listen-address={_listen(mon.node_exporter_port)}",
            "--no-collector.textfile",
            "--no-collector.systemd",
        ]
    if name == "blackbox_exporter":
        return [
            tools.binary("blackbox_exporter"),
            f"--config.file={paths.blackbox_yml}",
            f"--web.listen-address={_listen(mon.blackbox_exporter_port)}",
        ]
    if name == "postgres_exporter":
        return [tools.binary("postgres_exporter"), f"--web.listen-address={_listen(mon.postgres_exporter_port)}"]
    if name == "alertmanager":
        return [
            tools.binary("alertmanager"),
            f"--config.file={paths.alertmanager_yml}",
            f"--storage.path={paths.alertmanager_data}",
            f"--web.listen-address={_listen(mon.alertmanager_port)}",
            f"--web.config.file={paths.web_yml}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
    if name == "prometheus":
        return [
            tools.binary("prometheus"),
            f"--config.file={paths.prometheus_yml}",
            f"--storage.tsdb.path={paths.prometheus_data}",
            f"--web.listen-address={_listen(mon.prometheus_port)}",
            f"--web.config.file={paths.web_yml}",
            "--storage.tsdb.retention.time=15d",
            "--rules.alert.resend-delay=10s",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]
    raise BadInput(_("unknown monitoring component {name!r}").format(name=name))


def component_port(name: str, mon: MonitoringConfig) -> int:
    return {
        "exporter": mon.exporter_port,
        "webhook": mon.webhook_port,
        "node_exporter": mon.node_exporter_port,
        "blackbox_exporter": mon.blackbox_exporter_port,
        "postgres_exporter": mon.postgres_exporter_port,
        "alertmanager": mon.alertmanager_port,
        "prometheus": mon.prometheus_port,
    }[name]


def health_url(name: str, port: int) -> str:
    path = {"prometheus": "/-/ready", "alertmanager": "/-/ready", "webhook": "/healthz"}.get(name, "/metrics")
    return f"http://127.0.0.1:{port}{path}"


# --------------------------------------------------------------------------- state


@dataclass
class StackState:
    started_at: str
    target: dict
    components: list[Proc] = field(default_factory=list)
    auth: dict = field(default_factory=dict)  # WebAuth.as_dict(): the user and the password *file*

    def as_dict(self) -> dict:
        return {
            "started_at": self.started_at,
            "target": self.target,
            "components": [asdict(c) for c in self.components],
            "auth": self.auth,
        }

    @classmethod
    def from_dict(cls, d: dict) -> StackState:
        return cls(
            d["started_at"], d.get("target", {}), [Proc(**c) for c in d.get("components", [])], d.get("auth") or {}
        )


def load_state(paths: StackPaths) -> StackState | None:
    try:
        return StackState.from_dict(json.loads(paths.state_file.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as e:
        raise EnvironmentFailure(
            _("monitoring state {state_file} is unreadable: {e}").format(state_file=paths.state_file, e=e)
        ) from None


def save_state(paths: StackPaths, state: StackState) -> None:
    from procops.home import atomic_write

    atomic_write(paths.state_file, json.dumps(state.as_dict(), indent=2))


# --------------------------------------------------------------------------- render + validate


def _escalation_receivers(config: Config, paths: StackPaths) -> list[dict]:
    from procops.home import atomic_write

    out = []
    for r in config.notifications.escalation_receivers:
        if not r.url.startswith(("http://", "https://")):
            continue  # e.g. "local:", the incident area's recording receiver: not an Alertmanager webhook
        cred = None
        if r.token is not None:
            if r.token.file is not None:
                cred = str(r.token.file.expanduser())
            else:
                p = paths.run / f"receiver-{r.name}.token"
                atomic_write(p, r.token.reveal() + "\n", mode=0o600)
                cred = str(p)
        out.append({"name": r.name, "url": r.url, "credentials_file": cred})
    return out


def render_all(config: Config, paths: StackPaths, target: Target) -> dict[str, Path]:
    """Write every config file of the stack (and the tested rules). Raises VerdictFailed if rules fail."""
    from procops.errors import VerdictFailed
    from procops.home import atomic_write
    from procops.monitoring.webhook import token_file

    res = R.write_and_test(config, paths.rules_dir, journal=False)
    if not res.ok:
        raise VerdictFailed(_("the alert rules failed promtool:\n") + res.output)
    mon = config.monitoring
    rules_file = Path(res.rules_path)
    auth = webauth.of(config)
    webauth.write_web_config(paths.web_yml, auth)
    atomic_write(paths.platform_targets, platform_targets(target))
    atomic_write(paths.prometheus_yml, prometheus_config(mon, paths, target, rules_file, auth, load_drill_mark(paths)))
    atomic_write(
        paths.alertmanager_yml, alertmanager_config(mon, token_file(config), _escalation_receivers(config, paths))
    )
    atomic_write(paths.blackbox_yml, blackbox_config())
    return {
        "prometheus": paths.prometheus_yml,
        "alertmanager": paths.alertmanager_yml,
        "blackbox": paths.blackbox_yml,
        "web": paths.web_yml,
        "rules": rules_file,
    }


def drill_mark_file(paths: StackPaths) -> Path:
    return paths.run / "drill-mark.json"


def load_drill_mark(paths: StackPaths) -> dict | None:
    try:
        data = json.loads(drill_mark_file(paths).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def set_drill_mark(config: Config, mark: dict | None) -> bool:
    """Mark (``mark``: ``{"label", "alertnames"}``) or unmark (None) a drill's alerts in the running
    stack: the Prometheus config is rendered again and reloaded. False when the stack is not running
    (nothing to mark); EnvironmentFailure when Prometheus does not take the new config."""
    import httpx

    from procops.home import atomic_write, exclusive_lock

    paths = StackPaths.of()
    mon = config.monitoring
    auth = webauth.of(config)
    with exclusive_lock("monitoring", wait=True):
        current = load_state(paths)
        if current is None or not ProcessGroup("monitoring", paths.logs, current.components).all_alive():
            return False
        if mark:
            atomic_write(drill_mark_file(paths), json.dumps(mark))
        else:
            drill_mark_file(paths).unlink(missing_ok=True)
        rules_file = paths.rules_dir / R.RULES_FILE
        target = discover_target(config)
        atomic_write(paths.prometheus_yml, prometheus_config(mon, paths, target, rules_file, auth, mark))
        try:
            r = httpx.post(f"http://127.0.0.1:{mon.prometheus_port}/-/reload", timeout=30, auth=auth.httpx())
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise EnvironmentFailure(
                _("Prometheus did not reload its config for the drill: {e}").format(e=e),
                hint=_("check the stack: procops monitor status"),
            ) from None
    return True


def validate(paths: StackPaths) -> None:
    for tool, argv, what in (
        (execute.PROMTOOL, tools.promtool_check_config(paths.prometheus_yml), "promtool check config"),
        (execute.AMTOOL, tools.amtool_check_config(paths.alertmanager_yml), "amtool check-config"),
        (execute.PROMTOOL, tools.promtool_check_web_config(paths.web_yml), "promtool check web-config"),
    ):
        out = execute.run(tool, argv, timeout=60, check=False)
        if not out.ok:
            raise EnvironmentFailure(
                _("{what} rejected the generated config:\n{tail}").format(what=what, tail=out.tail())
            )


# --------------------------------------------------------------------------- API


def effective_config_file(config: Config, paths: StackPaths) -> Path:
    """The exact config the stack runs with, for its procops children (0600: it may name secret sources)."""
    from procops.home import atomic_write

    path = paths.run / "procops.yaml"
    atomic_write(
        path,
        "# the effective config of 'procops monitor up'\n"
        + yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False),
        mode=0o600,
    )
    return path


def _env(config_file: Path) -> dict[str, str]:
    """What the components are told beyond the runner's exact environment (no inherited DSN or config)."""
    import os

    from procops.home import state_home

    env = {k: os.environ[k] for k in ("PROCOPS_LANG", "PROCOPS_LOG_LEVEL") if k in os.environ}
    env["PROCOPS_HOME"] = str(state_home())
    env["PROCOPS_CONFIG"] = str(config_file)
    return env


def component_tool(name: str) -> execute.Tool:
    """The runner's entry of a component: procops itself for the exporter and the webhook."""
    return execute.PROCOPS if name in ("exporter", "webhook") else tools.tool(name)


def _reload_prometheus(port: int, auth: WebAuth) -> None:
    import httpx

    try:
        httpx.post(f"http://127.0.0.1:{port}/-/reload", timeout=10, auth=auth.httpx())
    except httpx.HTTPError:
        pass


def _auth_for(name: str, auth: WebAuth | None) -> tuple[str, str] | None:
    """The credentials a component's health check sends (Prometheus and Alertmanager require them)."""
    return auth.httpx() if auth is not None and name in ("prometheus", "alertmanager") else None


def up(config: Config, config_source: Path | None = None, *, journal: bool = True) -> tuple[StackState, bool]:
    """Start the stack (idempotent). Returns (state, started).

    The procops children (exporter, webhook) run with the effective ``config`` written to a file, so they
    see what the caller sees (``config_source`` is only recorded).
    """
    from procops.home import exclusive_lock

    paths = StackPaths.of()
    mon = config.monitoring
    auth = webauth.of(config)
    with exclusive_lock("monitoring", wait=True):
        target = discover_target(config)
        current = load_state(paths)
        if current is not None and ProcessGroup("monitoring", paths.logs, current.components).all_alive():
            render_all(config, paths, target)
            validate(paths)
            _reload_prometheus(mon.prometheus_port, auth)
            current.target = {"url": target.url, "replicas": list(target.replicas)}
            current.auth = auth.as_dict()
            save_state(paths, current)
            return current, False
        if current is not None:
            ProcessGroup("monitoring", paths.logs, current.components).stop()
            paths.state_file.unlink(missing_ok=True)
        render_all(config, paths, target)
        validate(paths)
        names = [n for n in COMPONENTS if n != "postgres_exporter" or target.postgres_dsn]
        for n in names:
            p = component_port(n, mon)
            if not port_free(p):
                raise EnvironmentFailure(
                    _(
                        "port {p} on 127.0.0.1 ({n}) is already in use; set another in the monitoring section of the config or stop what uses it"
                    ).format(p=p, n=n)
                )
        env = _env(effective_config_file(config, paths))
        state = StackState(
            iso(utcnow()),
            {
                "url": target.url,
                "replicas": list(target.replicas),
                "config": str(config_source) if config_source else None,
            },
            auth=auth.as_dict(),
        )
        group = ProcessGroup("monitoring", paths.logs, on_change=lambda _g: save_state(paths, state))
        state.components = group.members
        with group.starting(cleanup=lambda: paths.state_file.unlink(missing_ok=True)):
            for n in names:
                e = dict(env)
                if n == "postgres_exporter":
                    e["DATA_SOURCE_NAME"] = target.postgres_dsn or ""
                group.spawn(
                    component_tool(n),
                    component_argv(n, mon, paths),
                    n,
                    env=e,
                    cwd=paths.base,
                    port=component_port(n, mon),
                )
            _wait_healthy(state, paths, auth)
            _wait_first_scrapes(mon, auth)
    if journal:
        from procops.events import Kind, MonitorUp
        from procops.journal import record

        record(
            Kind.MONITOR_UP,
            "stack",
            MonitorUp(components=[c.name for c in state.components], target=state.target.get("url")),
        )
    return state, True


def _wait_healthy(state: StackState, paths: StackPaths, auth: WebAuth) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    pending = {c.name: c for c in state.components}
    while time.monotonic() < deadline:
        for name, c in list(pending.items()):
            if not c.alive():
                raise EnvironmentFailure(
                    _("{name} exited during start:\n").format(name=name) + log_tail(paths.logs / f"{name}.log")
                )
            if http_ok(health_url(name, c.port or 0), timeout=1.0, auth=_auth_for(name, auth))[0]:
                del pending[name]
        if not pending:
            return
        time.sleep(0.2)
    raise EnvironmentFailure(
        _(
            "the monitoring stack did not become healthy within {health_timeout:.0f}s (still waiting for: {pending}); logs in {logs}"
        ).format(health_timeout=HEALTH_TIMEOUT, pending=", ".join(pending), logs=paths.logs)
    )


def _wait_first_scrapes(mon: MonitoringConfig, auth: WebAuth) -> None:
    """Wait until Prometheus has scraped every target once, so a fault right after ``up`` is seen as a change."""
    import httpx

    deadline = time.monotonic() + 3 * mon.scrape_interval + 15
    while time.monotonic() < deadline:
        try:
            targets = httpx.get(
                f"http://127.0.0.1:{mon.prometheus_port}/api/v1/targets",
                timeout=5,
                params={"state": "active"},
                auth=auth.httpx(),
            ).json()["data"]["activeTargets"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            targets = []
        if targets and all(t.get("health") in ("up", "down") for t in targets):
            return
        time.sleep(0.5)
    # not fatal: a slow target only delays its own alerts


def down(*, journal: bool = True) -> list[str]:
    from procops.home import exclusive_lock

    paths = StackPaths.of()
    with exclusive_lock("monitoring", wait=True):
        state = load_state(paths)
        if state is None:
            return []
        # stop Prometheus first so no alert is sent to a webhook that is going away
        stopped = ProcessGroup("monitoring", paths.logs, state.components).stop(reverse=True)
        paths.state_file.unlink(missing_ok=True)
    if journal:
        from procops.events import Kind, MonitorDown
        from procops.journal import record

        record(Kind.MONITOR_DOWN, "stack", MonitorDown(stopped=stopped))
    return stopped


def status() -> dict:
    paths = StackPaths.of()
    state = load_state(paths)
    if state is None:
        return {"running": False, "healthy": False, "components": [], "config_dir": str(paths.base)}
    auth = webauth.from_state(state.auth)
    comps = []
    for c in state.components:
        alive = c.alive()
        url = health_url(c.name, c.port or 0)
        ok = alive and http_ok(url, timeout=2.0, auth=_auth_for(c.name, auth))[0]
        comps.append(
            {
                "name": c.name,
                "pid": c.pid,
                "port": c.port,
                "url": f"http://127.0.0.1:{c.port}/",
                "alive": alive,
                "healthy": ok,
                "log": str(paths.logs / f"{c.name}.log"),
            }
        )
    return {
        "running": True,
        "healthy": all(c["healthy"] for c in comps),
        "started_at": state.started_at,
        "target": state.target,
        "components": comps,
        "config_dir": str(paths.base),
    }


# --------------------------------------------------------------------------- check


@dataclass
class CheckResult:
    prometheus: list[dict]
    alertmanager: list[dict] | None
    alertmanager_error: str | None = None
    silences: list[dict] = field(default_factory=list)  # active silences that cover critical alerts

    @property
    def critical(self) -> list[dict]:
        return [a for a in self.prometheus if a["state"] == "firing" and a["severity"] == "critical"]

    def as_dict(self) -> dict:
        return {
            "ok": not self.critical,
            "critical": len(self.critical),
            "firing": [a for a in self.prometheus if a["state"] == "firing"],
            "pending": [a for a in self.prometheus if a["state"] == "pending"],
            "alertmanager": self.alertmanager,
            "alertmanager_error": self.alertmanager_error,
            "silences_covering_critical": self.silences,
        }


def check(config: Config) -> CheckResult:
    """What Prometheus says is firing (and pending), and what Alertmanager holds. Prometheus down: exit 3."""
    import httpx

    mon = config.monitoring
    auth = webauth.of(config).httpx()
    try:
        r = httpx.get(f"http://127.0.0.1:{mon.prometheus_port}/api/v1/alerts", timeout=10, auth=auth)
        r.raise_for_status()
        raw = r.json()["data"]["alerts"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
        raise EnvironmentFailure(
            _("Prometheus on 127.0.0.1:{prometheus_port} is unreachable: {e}").format(
                prometheus_port=mon.prometheus_port, e=e
            ),
            hint=_("start the stack with: procops monitor up"),
        ) from None
    prom = sorted(
        (
            {
                "alertname": a["labels"].get("alertname", ""),
                "severity": a["labels"].get("severity", ""),
                "state": a.get("state", ""),
                "since": a.get("activeAt"),
                "value": a.get("value"),
                "labels": a["labels"],
                "summary": a.get("annotations", {}).get("summary", ""),
            }
            for a in raw
        ),
        key=lambda a: (a["state"] != "firing", a["severity"] != "critical", a["alertname"]),
    )
    am, am_err = None, None
    try:
        r = httpx.get(
            f"http://127.0.0.1:{mon.alertmanager_port}/api/v2/alerts",
            timeout=10,
            params={"active": "true", "silenced": "false", "inhibited": "false"},
            auth=auth,
        )
        r.raise_for_status()
        am = [
            {
                "alertname": a["labels"].get("alertname", ""),
                "severity": a["labels"].get("severity", ""),
                "fingerprint": a.get("fingerprint"),
                "state": a.get("status", {}).get("state"),
                "receivers": [x.get("name") for x in a.get("receivers", [])],
                "starts_at": a.get("startsAt"),
            }
            for a in r.json()
        ]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
        am_err = f"Alertmanager unreachable: {e}"
    silences: list[dict] = []
    if am_err is None:
        try:
            r = httpx.get(f"http://127.0.0.1:{mon.alertmanager_port}/api/v2/silences", timeout=10, auth=auth)
            r.raise_for_status()
            silences = critical_silences(r.json(), prom, _critical_rules(config))
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as e:
            am_err = f"Alertmanager silences unreadable: {e}"
    return CheckResult(prom, am, am_err, silences)


def _critical_rules(config: Config) -> list[dict[str, str]]:
    """The label sets a critical rule's alerts are known to carry (alertname, severity, static labels)."""
    return [
        {"alertname": a.name, "severity": a.severity, **a.labels} for a in R.alerts(config) if a.severity == "critical"
    ]


def _matches(matcher: dict, labels: dict[str, str], *, partial: bool) -> bool:
    """Alertmanager's matcher semantics; ``partial``: a label the set does not know may match anything."""
    import re

    name = str(matcher.get("name", ""))
    if partial and name not in labels:
        return True
    value = labels.get(name, "")
    want = str(matcher.get("value", ""))
    if matcher.get("isRegex"):
        try:
            hit = re.fullmatch(want, value) is not None
        except re.error:
            return False
    else:
        hit = value == want
    return hit if matcher.get("isEqual", True) else not hit


def critical_silences(silences: list[dict], prom_alerts: list[dict], critical_rules: list[dict]) -> list[dict]:
    """The active silences that hold back a critical alert: one firing or pending now, or any alert of a
    critical rule (labels a rule leaves open, such as ``instance``, are taken as matching). Pure."""
    live = [a["labels"] for a in prom_alerts if a.get("severity") == "critical"]
    out = []
    for sil in silences:
        if (sil.get("status") or {}).get("state") != "active":
            continue
        ms = sil.get("matchers") or []
        covers = {
            labels.get("alertname", "")
            for labels, partial in [(x, False) for x in live] + [(x, True) for x in critical_rules]
            if ms and all(_matches(m, labels, partial=partial) for m in ms)
        }
        if covers:
            out.append(
                {
                    "id": sil.get("id"),
                    "matchers": ",".join(
                        f"{m.get('name')}{'' if m.get('isEqual', True) else '!'}{'=~' if m.get('isRegex') else '='}"
                        f"{json.dumps(str(m.get('value', '')))}".replace("!=~", "!~")
                        for m in ms
                    ),
                    "created_by": sil.get("createdBy"),
                    "comment": sil.get("comment"),
                    "ends_at": sil.get("endsAt"),
                    "covers": sorted(covers),
                }
            )
    return out


# --------------------------------------------------------------------------- end-to-end delivery test


def deliver_synthetic(config: Config, timeout: float = 30.0) -> dict:
    """Send one synthetic critical alert into Alertmanager and wait until the webhook has journaled it.

    The alert carries the ``procops_synthetic`` label, so the webhook records the delivery and opens
    no incident. Raises VerdictFailed when it does not arrive within ``timeout``.
    """
    import uuid

    import httpx

    from procops.errors import VerdictFailed
    from procops.journal import open_journal
    from procops.monitoring.webhook import SYNTHETIC_LABEL

    mon = config.monitoring
    auth = webauth.of(config).httpx()
    tag = uuid.uuid4().hex[:12]
    labels = {"alertname": "ProcopsSyntheticAlert", "severity": "critical", SYNTHETIC_LABEL: tag}
    with open_journal() as j:
        last = j.last("monitor.webhook")
    since = last.id if last else 0
    now = utcnow()
    t0 = time.monotonic()
    body = [
        {
            "labels": labels,
            "annotations": {"summary": "synthetic alert: delivery test of procops readiness"},
            "startsAt": iso(now),
        }
    ]
    try:
        r = httpx.post(f"http://127.0.0.1:{mon.alertmanager_port}/api/v2/alerts", json=body, timeout=10, auth=auth)
        r.raise_for_status()
    except httpx.HTTPError as e:
        raise EnvironmentFailure(
            _("Alertmanager on 127.0.0.1:{alertmanager_port} refused the alert: {e}").format(
                alertmanager_port=mon.alertmanager_port, e=e
            )
        ) from None
    found = None
    while time.monotonic() - t0 < timeout and found is None:
        with open_journal() as j:
            for ev in j.events("monitor.webhook", since_id=since):
                if tag in (ev.data.get("synthetic") or []):
                    found = ev
                    break
        if found is None:
            time.sleep(0.25)
    latency = time.monotonic() - t0
    # resolve it again so Alertmanager does not keep repeating it
    body[0]["endsAt"] = iso(utcnow())
    try:
        httpx.post(f"http://127.0.0.1:{mon.alertmanager_port}/api/v2/alerts", json=body, timeout=10, auth=auth)
    except httpx.HTTPError:
        pass
    if found is None:
        raise VerdictFailed(
            _("the synthetic alert {tag} did not reach the webhook within {timeout:g}s").format(
                tag=tag, timeout=timeout
            )
        )
    return {"tag": tag, "seconds": round(latency, 3), "journal_event": found.id}
