"""The persisted state of the gray release: one current release, its history, the rollback counter.

``$PROCOPS_HOME/release/state.json`` is the current (or last) release, written atomically
(``home.atomic_write``) before and after every side effect, so a controller killed at any moment
leaves the stage, the weights it set and the decisions made; ``resume`` starts from there.
``history.jsonl`` gets one line per ended release. ``counters.json`` holds the consecutive
automatic rollbacks (``start`` refuses at the configured limit until a person acknowledges).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from procops.errors import EnvironmentFailure
from procops.home import area_dir, atomic_write
from procops.timeutil import iso, utcnow

from procops.i18n import _

# closed set of release statuses
RUNNING = "running"
PAUSED = "paused"
ROLLED_OUT = "rolled_out"
ROLLED_BACK = "rolled_back"
ABORTED = "aborted"
INTERRUPTED = "interrupted"
ACTIVE = frozenset({RUNNING, PAUSED, INTERRUPTED})
ENDED = frozenset({ROLLED_OUT, ROLLED_BACK, ABORTED})


def release_dir() -> Path:
    return area_dir("release")


@dataclass
class ReleaseState:
    id: str
    version: str
    from_version: str
    status: str = RUNNING
    stage: int = 0  # 0-based index of the stage to run (or running)
    phase: str = "planned"  # planned | deploying | weights | analysing | decided | rolling_back | done
    auto: bool = False
    analysis: float | None = None  # --analysis override of every window
    plan: list[dict[str, Any]] = field(default_factory=list)  # the stages (plan.Stage.as_dict)
    hosts: list[dict[str, Any]] = field(default_factory=list)
    original_weights: dict[str, int] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)  # last weights set on HAProxy
    deployed: dict[str, str] = field(default_factory=dict)  # host -> version it answered
    gates: list[dict[str, Any]] = field(default_factory=list)  # every measurement, with its stage
    decisions: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    silences: list[str] = field(default_factory=list)
    pilot_units: list[str] = field(default_factory=list)
    pilots: dict[str, str] = field(default_factory=dict)  # unit -> server its requests go to
    notice: dict[str, Any] = field(default_factory=dict)
    artifact_sha256: str | None = None
    reason: str = ""
    started_at: str = ""
    updated_at: str = ""
    ended_at: str = ""
    pid: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReleaseState:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def decide(self, stage: int, decision: str, reason: str = "", by: str = "controller") -> None:
        self.decisions.append(
            {"at": iso(utcnow()), "stage": stage + 1, "decision": decision, "reason": reason, "by": by}
        )

    def open_blocking_feedback(self) -> list[dict[str, Any]]:
        return [f for f in self.feedback if f.get("blocking") and not f.get("resolved")]


def state_file() -> Path:
    return release_dir() / "state.json"


def load() -> ReleaseState | None:
    p = state_file()
    try:
        return ReleaseState.from_dict(json.loads(p.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as e:
        raise EnvironmentFailure(
            _("release state {path} is unreadable: {e}").format(path=p, e=e),
            hint=_("look at the file; procops release history shows the ended releases"),
        ) from None


def save(st: ReleaseState) -> None:
    st.updated_at = iso(utcnow())
    atomic_write(state_file(), json.dumps(st.as_dict(), indent=2, ensure_ascii=False))


def append_history(st: ReleaseState) -> None:
    p = release_dir() / "history.jsonl"
    lines = p.read_text().splitlines() if p.exists() else []
    summary = {
        "id": st.id,
        "version": st.version,
        "from_version": st.from_version,
        "status": st.status,
        "stage": st.stage,
        "stages": len(st.plan),
        "auto": st.auto,
        "started_at": st.started_at,
        "ended_at": st.ended_at,
        "reason": st.reason,
    }
    lines.append(json.dumps(summary, ensure_ascii=False))
    atomic_write(p, "\n".join(lines) + "\n")


def history() -> list[dict[str, Any]]:
    p = release_dir() / "history.jsonl"
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def counters() -> dict[str, Any]:
    p = release_dir() / "counters.json"
    try:
        return dict(json.loads(p.read_text()))
    except FileNotFoundError:
        return {"consecutive_rollbacks": 0, "rollbacks_total": 0}


def save_counters(c: dict[str, Any]) -> None:
    atomic_write(release_dir() / "counters.json", json.dumps(c, indent=2))
