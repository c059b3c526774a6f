"""The one place that runs Ansible playbooks: ansible-runner, structured events, a typed result.

Pipeline (the parsing half is pure and tested on recorded events)::

    run_playbook(playbook, inventory, extra_vars=..., limit=..., check=...)
      -> a fresh private data dir (mode 0700, under $PROCOPS_HOME/tmp), removed afterwards
      -> ansible_runner: extra vars in env/extravars (``-e @file``, never their values on argv),
         an exact child environment (never procops' own: no RESTIC_PASSWORD, no tokens), quiet
      -> the runner's job events (runner_on_ok / _failed / _unreachable / _skipped, playbook_on_stats)
      -> result_from_events(events, rc=, runner_status=) -> PlaybookResult (frozen)

What the result says:

* ``status``: a closed set (:class:`PlaybookStatus`). ``ok`` needs exit 0, at least one host and
  no host failed or unreachable. A run that never reached ``playbook_on_stats`` and exited 1, 4
  or 5 could not load its playbook, inventory or options: ``bad_input``. A run with stats but no
  host is ``no_hosts`` (the inventory or the limit names nothing).
* ``hosts``: the PLAY RECAP per host as :class:`HostStats`, from ``playbook_on_stats``.
* ``failures``: every failed or unreachable task (not the ``ignore_errors`` ones) with its host,
  task name and message (``msg``, else the tail of stderr/stdout).
* ``reported``: what the playbook reports with ``ansible.builtin.set_stats`` (``per_host: false``),
  the way a playbook hands values back to procops (never a line of its text output).
* :meth:`PlaybookResult.exit_code`: an unreachable host, a timeout or an unexplained error is 3,
  bad input (and no hosts) is 2, interrupted is 130; a failed task is the caller's to decide
  (``on_failure``: 1 when the playbook is a verdict, 3 when it is an environment the caller needed).

``ansible_runner`` is imported inside :func:`run_playbook` only (``procops --help`` stays fast).
"""

from __future__ import annotations

import enum
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from procops.errors import EnvironmentFailure, ExitCode

from procops.i18n import _

INTERRUPTED_EXIT = 130
TAIL_LINES = 30
MESSAGE_CHARS = 500
# ansible-playbook's exit codes for a playbook, inventory or option it could not load (AnsibleError,
# argparse's usage error, AnsibleParserError, AnsibleOptionsError), when no play ran
_LOAD_ERROR_RCS = frozenset({1, 2, 4, 5})
_RUN_MARK = "PROCOPS_PLAYBOOK_RUN"  # in the child's environment: which processes belong to a run
# what ansible-runner itself sets and the child needs (its event callback, its fact cache)
_RUNNER_KEYS = (
    "ANSIBLE_STDOUT_CALLBACK",
    "ANSIBLE_CALLBACK_PLUGINS",
    "ANSIBLE_RETRY_FILES_ENABLED",
    "ANSIBLE_HOST_KEY_CHECKING",
    "ANSIBLE_CACHE_PLUGIN",
    "ANSIBLE_CACHE_PLUGIN_CONNECTION",
    "AWX_ISOLATED_DATA_DIR",
)


class PlaybookStatus(str, enum.Enum):
    OK = "ok"
    FAILED = "failed"  # a task failed on some host
    UNREACHABLE = "unreachable"  # some host could not be reached
    NO_HOSTS = "no_hosts"  # the inventory (or the limit) matched no host
    BAD_INPUT = "bad_input"  # playbook, inventory or options could not be loaded
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    ERROR = "error"  # ansible-playbook failed without saying why in its events


class TaskStatus(str, enum.Enum):
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    IGNORED = "ignored"  # failed, with ignore_errors
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class HostStats:
    """One host's line of the PLAY RECAP."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class TaskFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass(frozen=True)
class TaskResult:
    """One task on one host, in the order the events came."""

    host: str
    task: str
    action: str
    status: TaskStatus


@dataclass(frozen=True)
class PlaybookResult:
    status: PlaybookStatus
    rc: int | None
    hosts: dict[str, HostStats] = field(default_factory=dict)
    failures: tuple[TaskFailure, ...] = ()
    tasks: tuple[TaskResult, ...] = ()
    reported: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    check: bool = False
    seconds: float = 0.0
    command: tuple[str, ...] = ()
    output_tail: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is PlaybookStatus.OK

    def exit_code(self, on_failure: ExitCode = ExitCode.ENVIRONMENT) -> int:
        """The project's exit code; a failed task is ``on_failure`` (1 for a verdict, 3 for a dependency)."""
        return {
            PlaybookStatus.OK: ExitCode.OK,
            PlaybookStatus.FAILED: on_failure,
            PlaybookStatus.UNREACHABLE: ExitCode.ENVIRONMENT,
            PlaybookStatus.NO_HOSTS: ExitCode.BAD_INPUT,
            PlaybookStatus.BAD_INPUT: ExitCode.BAD_INPUT,
            PlaybookStatus.TIMEOUT: ExitCode.ENVIRONMENT,
            PlaybookStatus.INTERRUPTED: INTERRUPTED_EXIT,
            PlaybookStatus.ERROR: ExitCode.ENVIRONMENT,
        }[self.status]

    def hosts_where(self, pred: Callable[[HostStats], bool]) -> list[str]:
        return sorted(h for h, s in self.hosts.items() if pred(s))

    def summary(self) -> str:
        """One line for people and journals: the status and why."""
        if self.error:
            return f"{self.status.value}: {self.error}"
        return self.status.value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready evidence (the journal's and ``--json``'s)."""
        d = asdict(self)
        d["status"] = self.status.value
        d["tasks"] = [{**asdict(t), "status": t.status.value} for t in self.tasks]
        return d


# --------------------------------------------------------------------------- events -> result (pure)


def _message(res: Mapping[str, Any]) -> str:
    """What a failed task said: its msg, else the tail of stderr/stdout, else its rc."""
    parts = []
    msg = res.get("msg")
    if msg:
        parts.append(str(msg))
    for key in ("stderr", "stdout"):
        text = str(res.get(key) or "").strip()
        if text and (not parts or key == "stderr"):
            parts.append(text.splitlines()[-1] if len(text) > MESSAGE_CHARS else text)
            break
    if not parts:
        if res.get("results"):  # a loop: the failed items' messages
            parts = [_message(r) for r in res["results"] if isinstance(r, Mapping) and r.get("failed")]
        elif res.get("rc") is not None:
            parts.append(f"rc={res['rc']}")
    text = "; ".join(p for p in parts if p) or "failed"
    return text[:MESSAGE_CHARS]


def _task_name(data: Mapping[str, Any]) -> str:
    return str(data.get("task") or data.get("task_action") or "?").strip()


def _host_stats(stats: Mapping[str, Any]) -> dict[str, HostStats]:
    keys = {
        "ok": "ok",
        "changed": "changed",
        "failures": "failed",
        "dark": "unreachable",
        "skipped": "skipped",
        "rescued": "rescued",
        "ignored": "ignored",
    }
    names: set[str] = set(stats.get("processed") or {})
    for k in keys:
        names |= set(stats.get(k) or {})
    return {
        h: HostStats(**{ours: int((stats.get(theirs) or {}).get(h, 0)) for theirs, ours in keys.items()})
        for h in sorted(names)
    }


def result_from_events(
    events: Iterable[Mapping[str, Any]],
    *,
    rc: int | None,
    runner_status: str = "",
    check: bool = False,
    seconds: float = 0.0,
    command: Iterable[str] = (),
    output: str = "",
) -> PlaybookResult:
    """The typed result of a run from ansible-runner's job events (dicts as ``runner.events`` yields)."""
    failures: list[TaskFailure] = []
    tasks: list[TaskResult] = []
    stats: Mapping[str, Any] | None = None
    error_events: list[str] = []
    for ev in events:
        kind = ev.get("event", "")
        data = ev.get("event_data") or {}
        host = str(data.get("host") or "")
        res = data.get("res") or {}
        if not isinstance(res, Mapping):
            res = {"msg": str(res)}
        if kind == "runner_on_ok":
            task_status = TaskStatus.CHANGED if res.get("changed") else TaskStatus.OK
        elif kind == "runner_on_failed":
            if data.get("ignore_errors"):
                task_status = TaskStatus.IGNORED
            else:
                task_status = TaskStatus.FAILED
                failures.append(TaskFailure(host, _task_name(data), _message(res)))
        elif kind == "runner_on_unreachable":
            task_status = TaskStatus.UNREACHABLE
            failures.append(TaskFailure(host, _task_name(data), _message(res), unreachable=True))
        elif kind == "runner_on_skipped":
            task_status = TaskStatus.SKIPPED
        elif kind == "playbook_on_stats":
            stats = data
            continue
        elif kind == "error":
            error_events.append(str(ev.get("stdout") or "").strip())
            continue
        else:
            continue
        tasks.append(TaskResult(host, _task_name(data), str(data.get("task_action") or ""), task_status))

    hosts = _host_stats(stats) if stats is not None else {}
    reported = dict((stats or {}).get("artifact_data") or {})
    tail = tuple(ln.rstrip() for ln in output.splitlines() if ln.strip())[-TAIL_LINES:]
    error: str | None = None
    if runner_status == "timeout":
        status, error = PlaybookStatus.TIMEOUT, "the playbook did not finish in time"
    elif runner_status == "canceled":
        status, error = PlaybookStatus.INTERRUPTED, "the playbook was interrupted"
    elif stats is None:
        why = _load_error(output) or next((e for e in reversed(error_events) if e), None)
        if rc in _LOAD_ERROR_RCS:
            status = PlaybookStatus.BAD_INPUT
            error = why or f"ansible-playbook could not load the playbook (exit {rc})"
        else:
            status = PlaybookStatus.ERROR
            error = why or f"ansible-playbook exited {rc} before any play ran"
    elif any(s.unreachable for s in hosts.values()):
        status = PlaybookStatus.UNREACHABLE
        error = _failures_text(f for f in failures if f.unreachable) or "unreachable: " + ", ".join(
            h for h, s in hosts.items() if s.unreachable
        )
    elif any(s.failed for s in hosts.values()):
        status = PlaybookStatus.FAILED
        error = _failures_text(f for f in failures if not f.unreachable) or "failed: " + ", ".join(
            h for h, s in hosts.items() if s.failed
        )
    elif not hosts:
        status, error = PlaybookStatus.NO_HOSTS, "no host of the inventory matched the playbook's hosts or the limit"
    elif rc != 0:
        status = PlaybookStatus.ERROR
        error = _load_error(output) or f"ansible-playbook exited {rc}"
    else:
        status = PlaybookStatus.OK
    return PlaybookResult(
        status=status,
        rc=rc,
        hosts=hosts,
        failures=tuple(failures),
        tasks=tuple(tasks),
        reported=reported,
        error=error,
        check=check,
        seconds=round(seconds, 3),
        command=tuple(command),
        output_tail=tail if status is not PlaybookStatus.OK else (),
    )


def _failures_text(failures: Iterable[TaskFailure]) -> str:
    return "; ".join(f"{f.host}: {f.task}: {f.message}" for f in failures)[: MESSAGE_CHARS * 2]


def _load_error(output: str) -> str | None:
    """The ``ERROR! ...`` / ``[ERROR]: ...`` paragraph ansible-playbook prints when it cannot start."""
    lines = output.splitlines()
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s.startswith(("ERROR!", "[ERROR]:")):
            para = [s]
            for more in lines[i + 1 : i + 4]:
                if not more.strip():
                    break
                para.append(more.strip())
            return " ".join(para)[:MESSAGE_CHARS]
    return None


# --------------------------------------------------------------------------- running


def child_environment(envvars: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict:
    """The exact environment of ansible-playbook (the runner's allowlist, no secret of ours, this
    venv first on PATH), then ``envvars``."""
    from procops.execute import ANSIBLE_PLAYBOOK, child_env

    env = child_env(ANSIBLE_PLAYBOOK, base=base)
    here = str(Path(sys.executable).parent)
    env["PATH"] = ":".join(dict.fromkeys([here, *env["PATH"].split(":")]))
    env.setdefault("HOME", str(Path.home()))
    env.update(ANSIBLE_PLAYBOOK.env)  # colour off whatever the caller's ANSIBLE_* say
    env.update({str(k): str(v) for k, v in (envvars or {}).items()})
    return env


def _scratch_root() -> Path:
    if os.environ.get("PROCOPS_HOME"):
        from procops.home import area_dir

        return area_dir("tmp")
    return Path(tempfile.gettempdir())


def _ansible_playbook() -> str:
    here = Path(sys.executable).parent / "ansible-playbook"
    return str(here) if here.exists() else "ansible-playbook"


def run_playbook(
    playbook: Path,
    inventory: Path | str,
    *,
    extra_vars: Mapping[str, Any],
    limit: str | None = None,
    check: bool = False,
    timeout: float | None = None,
    envvars: Mapping[str, str] | None = None,
    on_event: Callable[[dict], None] | None = None,
) -> PlaybookResult:
    """Run ``playbook`` on ``inventory`` (a :class:`Path` to a file or folder, or a ``str`` of inventory
    text) and return what happened on each host. Never raises for what the playbook did (see
    ``status``); raises :class:`EnvironmentFailure` only when ansible-runner is not installed.

    ``limit`` restricts the hosts (``--limit``); ``check`` is Ansible's check mode (nothing changes);
    ``timeout`` stops the run (status ``timeout``); ``envvars`` are added to the exact child
    environment; ``on_event`` sees every job event as it arrives (progress). Ctrl-C (or SIGTERM turned
    into KeyboardInterrupt by the caller's handler) stops ansible-playbook and is re-raised.
    """
    started = time.monotonic()
    playbook = Path(playbook).absolute()
    if not playbook.is_file():
        return PlaybookResult(PlaybookStatus.BAD_INPUT, None, error=f"playbook {playbook} does not exist", check=check)
    if isinstance(inventory, Path):
        inventory = inventory.absolute()
        if not inventory.exists():
            return PlaybookResult(
                PlaybookStatus.BAD_INPUT, None, error=f"inventory {inventory} does not exist", check=check
            )
    elif not inventory.strip():
        return PlaybookResult(PlaybookStatus.BAD_INPUT, None, error="the inventory is empty", check=check)
    try:
        import ansible_runner
    except ImportError:
        raise EnvironmentFailure(
            _("ansible-runner is not installed"), hint=_("install procops with its dependencies (ansible-runner)")
        ) from None

    root = _scratch_root()
    pdd = Path(tempfile.mkdtemp(prefix="playbook-", dir=root))  # mkdtemp: mode 0700
    events: list[dict] = []
    cancel = threading.Event()

    def handler(ev: dict) -> bool:
        events.append(ev)
        if on_event is not None:
            try:
                on_event(ev)
            except Exception:  # noqa: BLE001 - progress display never breaks the run
                pass
        return False  # nothing written under artifacts/job_events: we keep them here

    cmdline = ["--check"] if check else []
    if limit:
        cmdline += ["--limit", limit]
    # ansible-runner writes extravars/cmdline to env/ files; an empty dict would not be written
    kwargs: dict[str, Any] = {
        "private_data_dir": str(pdd),
        "project_dir": str(playbook.parent),
        "playbook": str(playbook),
        "inventory": str(inventory),
        "extravars": dict(extra_vars) or None,
        "cmdline": " ".join(_quote(a) for a in cmdline) or None,
        "quiet": True,
        "event_handler": handler,
        "cancel_callback": cancel.is_set,
        "settings": {"suppress_ansible_output": True, "pexpect_timeout": 1},
        "ident": "run",
    }
    box: dict[str, Any] = {}
    try:
        runner = ansible_runner.interface.init_runner(**{k: v for k, v in kwargs.items() if v is not None})
        cfg = runner.config
        if cfg.command and cfg.command[0] == "ansible-playbook":  # the one next to procops first
            cfg.command[0] = _ansible_playbook()
        cfg.env = {
            **child_environment(envvars),
            **{k: cfg.env[k] for k in _RUNNER_KEYS if k in cfg.env},
            "ANSIBLE_CALLBACK_PLUGINS": ansible_runner.utils.get_callback_dir(),
            "ANSIBLE_LOCAL_TEMP": str(pdd / "tmp"),
            _RUN_MARK: str(pdd),
        }
        if envvars:
            cfg.env.update({str(k): str(v) for k, v in envvars.items()})

        def work() -> None:
            try:
                runner.run()
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = e

        # The run happens in a thread: the timeout and Ctrl-C in this one stop ansible-playbook's whole
        # process tree (its workers sit in sessions of their own, which ansible-runner's kill of the
        # process group misses), then cancel the runner, so no child is left behind.
        deadline = started + timeout if timeout else None
        timed_out = False
        t = threading.Thread(target=work, name="ansible-runner", daemon=True)
        t.start()
        try:
            while t.is_alive():
                t.join(0.2)
                if deadline is not None and time.monotonic() > deadline and not timed_out:
                    timed_out = True
                    _stop_tree(pdd)
                    cancel.set()
        except BaseException:
            _stop_tree(pdd)
            cancel.set()
            t.join(30)
            raise
        if "error" in box and not timed_out:
            return PlaybookResult(
                PlaybookStatus.ERROR,
                None,
                error=f"ansible-runner failed: {type(box['error']).__name__}: {box['error']}",
                check=check,
                seconds=round(time.monotonic() - started, 3),
            )
        output = ""
        stdout = Path(cfg.artifact_dir) / "stdout"
        if stdout.exists():
            output = stdout.read_text(errors="replace")
        return result_from_events(
            events,
            rc=runner.rc,
            runner_status="timeout" if timed_out else runner.status,
            check=check,
            seconds=time.monotonic() - started,
            command=cfg.command,
            output=output,
        )
    except Exception as e:  # noqa: BLE001 - ansible-runner's configuration errors: say so, do not crash
        from ansible_runner.exceptions import ConfigurationError

        status = PlaybookStatus.BAD_INPUT if isinstance(e, ConfigurationError) else PlaybookStatus.ERROR
        return PlaybookResult(
            status,
            None,
            error=f"ansible-runner: {type(e).__name__}: {e}",
            check=check,
            seconds=round(time.monotonic() - started, 3),
        )
    finally:
        shutil.rmtree(pdd, ignore_errors=True)


def _stop_tree(pdd: Path, grace: float = 5.0) -> None:
    """SIGTERM ansible-playbook and every process of this run (marked by ``_RUN_MARK`` in their
    environment; the workers are in sessions of their own), then SIGKILL what is left after ``grace``."""
    import psutil

    mark = str(pdd)
    procs: list[psutil.Process] = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.environ().get(_RUN_MARK) == mark:
                procs += [child, *child.children(recursive=True)]
        except psutil.Error:
            continue
    procs = list({p.pid: p for p in procs}.values())
    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _unused, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
