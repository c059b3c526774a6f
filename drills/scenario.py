"""Drill scenarios (演练方案): one pydantic schema, YAML files validated on load.

A scenario says what is drilled and how it is judged::

    name: app-crash                     # = the file's name
    title: ...                          # what people read
    fault_type: app-crash               # the classification the responders are expected to reach
    target: {kind: sandbox}             # or {kind: hosts, hosts: [web1], service: procurement}
    steady_state: [probes]              # checked before the fault and after the rollback
    fault: {action: kill-replica, params: {...}, duration: 120s}
    detection: {alert: ReplicaDown, within: 60s}      # or {probe: backup-check, within: ...}
    response: {steps: [...], standby: none | restore, report: true}
    rollback: {timeout: 120s, steps: [...]}           # the injector's own undo always runs first
    verification: {steady_state: true, integrity: false}
    stop_conditions: {max_error_ratio: 0.5, max_downtime: 120s}

:func:`load` reads a file and reports *every* problem with ``file:line: field ...`` (exit 2 through
:class:`ScenarioError`); :func:`load_all` reads the scenarios shipped in ``drills/scenarios`` and
those of ``drills.scenarios_dir``. Nothing here does I/O beyond reading the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from procops.errors import BadInput
from procops.i18n import _

SCENARIOS_DIR = Path(__file__).parent / "scenarios"

# Every fault action a scenario can name, with where it runs (the injectors implement them).
LOCAL_ACTIONS = (
    "kill-replica",  # app-crash: SIGKILL to one replica's process
    "db-loss",  # the sandbox database file removed (recovered from the off-site backup)
    "disk-full",  # a small tmpfs under the platform's data filled
    "backup-corruption",  # a pack corrupted in a copy of the off-site repository
    "traffic-surge",  # 3x the normal peak with Locust, bounded
    "release",  # a bad version rolled out by the gray-release controller
    "network-partition",  # the database unreachable (the sandbox knob) or the off-site host
)
REMOTE_ACTIONS = ("stop-service", "kill-service", "fill-filesystem", "block-port", "latency")
ACTIONS = LOCAL_ACTIONS + REMOTE_ACTIONS
PROBES = ("http", "error-ratio", "backup-check", "documents", "release-gates")


def _duration(value: Any) -> Any:
    from procops.timeutil import parse_duration

    if isinstance(value, bool):
        raise ValueError("a duration, e.g. 60s or 5m")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("a duration, e.g. 60s or 5m")


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(Model):
    kind: Literal["sandbox", "hosts"] = Field("sandbox", description="The sandbox platform, or inventory hosts.")
    hosts: list[str] = Field(default_factory=list, description="Inventory hosts (must be in drills.allowed_hosts).")
    service: str | None = Field(None, description="The systemd service of the platform on the hosts.")

    @model_validator(mode="after")
    def _hosts(self) -> Target:
        if self.kind == "hosts" and not self.hosts:
            raise ValueError("kind: hosts needs at least one host in hosts")
        if self.kind == "sandbox" and self.hosts:
            raise ValueError("hosts is only for kind: hosts")
        return self


class Probe(Model):
    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: Literal["http", "error-ratio", "backup-check", "documents", "release-gates"] = "http"
    path: str = Field("/healthz", description="http: the path on the platform's front end.")
    expect_status: int = Field(200, ge=100, le=599)
    max_latency: Duration = Field(2.0, description="http: a slower answer fails the probe (R1: 2 s).")
    max_ratio: float = Field(0.05, ge=0, le=1, description="error-ratio: the tolerated share of failed requests.")
    requests: int = Field(10, ge=1, le=1000, description="error-ratio: requests sent to measure it.")


class Fault(Model):
    action: Literal[
        "kill-replica",
        "db-loss",
        "disk-full",
        "backup-corruption",
        "traffic-surge",
        "release",
        "network-partition",
        "stop-service",
        "kill-service",
        "fill-filesystem",
        "block-port",
        "latency",
    ]
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    duration: Duration = Field(300.0, description="The longest the fault stays before it is rolled back.")


class Detection(Model):
    alert: str | None = Field(None, description="The alert expected to fire (drill-labelled).")
    probe: str | None = Field(None, description="Or a probe that finds the fault (e.g. backup-check).")
    within: Duration = Field(60.0, description="The fault must be detected within this time of T0.")

    @model_validator(mode="after")
    def _one(self) -> Detection:
        if bool(self.alert) == bool(self.probe):
            raise ValueError("give exactly one of alert or probe")
        if self.probe and self.probe not in PROBES:
            raise ValueError(f"unknown probe {self.probe!r} (one of {', '.join(PROBES)})")
        return self


class Step(Model):
    milestone: Literal["classify", "standby", "report", "other"] = "other"
    text: str = Field(..., min_length=1, description="What the responder does (a runbook step).")
    command: str | None = Field(None, description="The procops command of the step.")


class Response(Model):
    steps: list[Step] = Field(..., min_length=1)
    standby: Literal["none", "restore"] = Field(
        "none", description="restore: the standby is started by a real restore of the off-site backup."
    )
    runbook: str = Field(..., description="The runbook the responders follow (runbook show ID).")


class Rollback(Model):
    timeout: Duration = Field(120.0, description="How long the rollback may take.")
    steps: list[str] = Field(default_factory=list, description="What the rollback does, as people read it.")


class Verification(Model):
    steady_state: bool = True
    integrity: bool = Field(False, description="Also verify the documents against the backup (backup verify).")


class StopConditions(Model):
    max_error_ratio: float = Field(1.0, ge=0, le=1, description="Abort when the error ratio goes beyond this.")
    max_downtime: Duration = Field(600.0, description="Abort when the platform is down longer than this.")


class Scenario(Model):
    """One drill scenario (演练方案)."""

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(..., min_length=1)
    title_zh: str | None = None
    fault_type: Literal[
        "app-crash",
        "database-failure",
        "disk-full",
        "network",
        "backup-failure",
        "capacity",
        "bad-release",
        "security",
        "other",
    ]
    severity: Literal["critical", "major", "minor", "warning"] = "critical"
    requires: list[Literal["release"]] = Field(default_factory=list, description="Capabilities the drill needs.")
    target: Target = Field(default_factory=Target)
    steady_state: list[Probe] = Field(..., min_length=1)
    fault: Fault
    detection: Detection
    response: Response
    rollback: Rollback = Field(default_factory=Rollback)
    verification: Verification = Field(default_factory=Verification)
    stop_conditions: StopConditions = Field(default_factory=StopConditions)
    source: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.target.kind == "sandbox" and self.fault.action in REMOTE_ACTIONS:
            raise ValueError(f"fault.action {self.fault.action} runs on hosts: set target.kind: hosts")
        if self.target.kind == "hosts" and self.fault.action in LOCAL_ACTIONS:
            raise ValueError(f"fault.action {self.fault.action} runs on the sandbox: set target.kind: sandbox")
        names = [p.name for p in self.steady_state]
        if len(set(names)) != len(names):
            raise ValueError("steady_state probe names must be unique")
        return self

    def shown_title(self, lang: str) -> str:
        return (self.title_zh or self.title) if lang == "zh" else self.title


class ScenarioError(BadInput):
    """A scenario file that does not validate (exit 2); ``errors``: ``file:line: field F: problem``."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(
            _("invalid drill scenario:") + "\n  " + "\n  ".join(errors),
            hint=_("the scenario fields are described in docs/drills.md; list the scenarios: procops drill list"),
        )


def parse(text: str, path: Path) -> Scenario:
    """A scenario from YAML text; every problem at once with file, line and field."""
    from procops.config import ConfigError, _line_map

    try:
        data, lines = _line_map(path, text)
    except ConfigError as e:
        raise ScenarioError(e.errors) from None
    if not isinstance(data, dict):
        raise ScenarioError([f"{path}:1: a scenario is a mapping (name:, title:, fault:, ...)"])
    errors: list[tuple[int, str]] = []
    if data.get("name") not in (None, path.stem):
        errors.append(
            (
                lines.get(("name",), 1),
                f"{path}:{lines.get(('name',), 1)}: field name: must be the file's name {path.stem!r}",
            )
        )
    try:
        scenario = Scenario.model_validate({**data, "source": str(path)})
    except ValidationError as e:
        from procops.config import located_errors

        errors += located_errors(e, lines, path, "unknown key (not a field of the scenario)")
        raise ScenarioError([t for _line, t in sorted(errors, key=lambda x: x[0])]) from None
    if errors:
        raise ScenarioError([t for _line, t in errors])
    return scenario


def load(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BadInput(
            _("cannot read the drill scenario {path}: {error}").format(path=path, error=e.strerror)
        ) from None
    return parse(text, path)


def scenario_files(extra_dir: Path | None = None) -> dict[str, Path]:
    """Scenario name -> file: the shipped ones, then ``drills.scenarios_dir`` (which may override them)."""
    out: dict[str, Path] = {}
    for d in (SCENARIOS_DIR, extra_dir):
        if d is None:
            continue
        d = Path(d).expanduser()
        if not d.is_dir():
            raise BadInput(
                _("drills.scenarios_dir {dir} is not a folder").format(dir=d),
                hint=_("fix drills.scenarios_dir in the config (procops config validate)"),
            )
        for p in sorted(d.glob("*.yaml")):
            out[p.stem] = p
    return out


def load_all(extra_dir: Path | None = None) -> list[Scenario]:
    """Every scenario; the first invalid file is exit 2 with all its problems."""
    return [load(p) for p in scenario_files(extra_dir).values()]


def get(name: str, extra_dir: Path | None = None) -> Scenario:
    files = scenario_files(extra_dir)
    if name not in files:
        raise BadInput(
            _("unknown drill scenario {name!r} (one of {names})").format(name=name, names=", ".join(sorted(files))),
            hint=_("list the scenarios: procops drill list"),
        )
    return load(files[name])


def check_target(scenario: Scenario, allowed_hosts: list[str]) -> None:
    """A scenario aimed at hosts outside ``drills.allowed_hosts`` is refused (exit 2)."""
    if scenario.target.kind != "hosts":
        return
    outside = [h for h in scenario.target.hosts if h not in allowed_hosts]
    if outside:
        raise BadInput(
            _("scenario {name}: target host(s) {hosts} are not in drills.allowed_hosts").format(
                name=scenario.name, hosts=", ".join(outside)
            ),
            hint=_("add the hosts to drills.allowed_hosts in the config if they may be drilled"),
        )
