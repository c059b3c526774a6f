"""Every child process of procops, in one place (in the manner of borgmatic's ``execute.py``).

* A :class:`Tool` describes one program: its binary (missing: :class:`ToolMissing`,
  exit 3, "X is not installed (run scripts/bootstrap)"), a map from its exit codes
  to the project's (:class:`procops.errors.ExitCode`) with a problem kind, the
  flags and environment variables whose values are secret, a default timeout, and
  the signal that stops it properly (restic: SIGINT, so it saves nothing and
  releases its lock; the others SIGTERM) with a grace period before SIGKILL.
  :data:`TOOLS` is the table of the programs procops drives; the argv builders stay
  pure functions in their areas.
* The child's environment is exact: :func:`child_env` keeps only :data:`ALLOWED_ENV`
  (PATH, HOME, LANG, LC_*, TZ, TMPDIR ...) of ours, plus the names the tool itself
  needs (``Tool.inherit``, never a secret), plus what the caller passes. A
  ``RESTIC_PASSWORD`` or ``PGPASSWORD`` in procops' own environment never reaches a
  child unless the caller passes it.
* :func:`run` (captured output, timeout, check, input), :func:`popen` (a streamed
  child), :func:`pipeline` (a producer's stdout into a consumer's stdin, e.g.
  ``pg_dump | restic backup --stdin``: when the producer fails, the consumer gets its
  stop signal and is waited for *before* its input is closed, so it never sees a
  clean end of input; the result names the side that failed, with its tail).
* argv and environment are logged masked on the ``procops.execute`` logger at DEBUG
  (``--password x``, ``--password=x``, secret variables, passwords inside URLs);
  errors (:class:`ToolFailed`, a :class:`procops.errors.ProcopsError`) carry the
  masked argv, the exit code, the problem kind and the last lines of the output.
* Foreground children (started by :func:`run`, :func:`popen`, :func:`pipeline`) are
  kept in a registry; :func:`stop_children` stops them all. It is meant to be called
  from a SIGINT/SIGTERM handler: it takes no lock (the registry is a dict read with
  one atomic copy), never calls a blocking ``Popen.wait`` (whose lock the interrupted
  code may hold: it polls with ``waitid(WNOWAIT)``, leaving the reaping to the
  owner), and only signals a child that has not been reaped, so its pid is still ours.
* Detached long-running children (the sandbox, the monitoring stack) are started by
  :func:`spawn` in their own session and recorded as :class:`Proc` (pid and start
  time); :func:`terminate` signals a pid only while its start time still matches, so
  a reused pid is never signalled. :class:`ProcessGroup` is the lifecycle both
  share: spawn members one by one (the caller persists them after each), stop
  everything started when the start fails, stop in order on ``down``.

Heavy modules (psutil, httpx) are imported inside the functions that need them:
``procops --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from procops.errors import BadInput, EnvironmentFailure, ExitCode, ProcopsError, VerdictFailed
from procops.masking import MASK, mask_text  # noqa: F401 - re-exported: the one masking function

from procops.i18n import _

log = logging.getLogger("procops.execute")

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT
TAIL_LINES = 15

# --------------------------------------------------------------------------- masking (pure)

_SECRET_FLAG = re.compile(r"^--?(password|pass|passwd|token|secret|key)([-_a-z]*)$", re.IGNORECASE)
_SECRET_ENV = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|KEY|PWD|CREDENTIAL)", re.IGNORECASE)
_NOT_SECRET_SUFFIX = ("-file", "_file", "-hint")


def _secret_flag(flag: str, extra: Iterable[str]) -> bool:
    if flag in extra:
        return True
    return bool(_SECRET_FLAG.match(flag)) and not flag.endswith(_NOT_SECRET_SUFFIX)


def mask_argv(argv: Sequence[str], flags: Iterable[str] = ()) -> list[str]:
    """Mask ``--password value``, ``--password=value`` (and the tool's own secret ``flags``) and URL passwords."""
    extra = frozenset(flags)
    out: list[str] = []
    hide_next = False
    for a in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        if a.startswith("-") and "=" in a:
            flag, _unused, _v = a.partition("=")
            if _secret_flag(flag, extra):
                out.append(f"{flag}={MASK}")
                continue
        elif a.startswith("-") and _secret_flag(a, extra):
            out.append(a)
            hide_next = True
            continue
        out.append(mask_text(a))
    return out


def mask_env(env: Mapping[str, str], names: Iterable[str] = ()) -> dict[str, str]:
    """Secret variables (by name, or the tool's ``names``) masked; paths to secret files are kept."""
    extra = frozenset(names)
    out = {}
    for k, v in env.items():
        if k in extra or (_SECRET_ENV.search(k) and not k.endswith("_FILE")):
            out[k] = MASK
        else:
            out[k] = mask_text(v)
    return out


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last non-empty lines of a program's output, URL passwords masked."""
    keep = [ln for ln in text.strip().splitlines() if ln.strip()]
    return mask_text("\n".join(keep[-lines:]))


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a log file (empty when it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- tools

Outcome = tuple[ExitCode, str]  # (the project's exit code, the problem kind)


@dataclass(frozen=True)
class Tool:
    """One program procops drives, and how to run and stop it."""

    name: str
    binary: str
    exits: Mapping[int, Outcome] = field(default_factory=dict, hash=False)
    failure: Outcome = (ExitCode.ENVIRONMENT, "failed")  # any other non-zero exit
    mask_flags: frozenset[str] = frozenset()
    mask_env: frozenset[str] = frozenset()
    timeout: float = 120.0
    stop_signal: int = signal.SIGTERM
    grace: float = 10.0
    inherit: tuple[str, ...] = ()  # more of our variables the tool needs (names, or prefixes ending in '_')
    env: Mapping[str, str] = field(default_factory=dict, hash=False)  # defaults the caller may override
    search_path: str = "/usr/bin:/usr/sbin:/usr/local/bin:/bin:/sbin"
    secret_output: bool = False  # its stdout is a secret: never in an error, a tail or a log

    def shown(self, stdout: str, stderr: str) -> str:
        """The output an error may carry."""
        return stderr if self.secret_output else stdout + stderr

    def with_binary(self, binary: str) -> Tool:
        return replace(self, binary=binary)

    def resolve(self) -> str:
        """The binary's absolute path (exit 3 when it is not installed)."""
        found = shutil.which(self.binary) or shutil.which(self.binary, path=self.search_path)
        if not found:
            raise ToolMissing(self.binary)
        return found

    def outcome(self, rc: int) -> Outcome:
        if rc == 0:
            return ExitCode.OK, "ok"
        if rc in self.exits:
            return self.exits[rc]
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            kind = "interrupted" if -rc in (signal.SIGINT, signal.SIGTERM) else "killed"
            return ExitCode.ENVIRONMENT, f"{kind} ({name})"
        return self.failure

    def mask(self, argv: Sequence[str]) -> list[str]:
        return mask_argv(argv, self.mask_flags)


ENV_ = ExitCode.ENVIRONMENT
_PY = ("PYTHONPATH", "VIRTUAL_ENV")
_DB_ENV = frozenset({"PGPASSWORD", "MYSQL_PWD"})

RESTIC = Tool(
    "restic",
    "restic",
    exits={
        1: (ENV_, "fatal"),
        3: (ENV_, "incomplete"),  # a snapshot without some unreadable source files: not a success
        10: (ENV_, "not_initialised"),
        11: (ENV_, "locked"),
        12: (ENV_, "wrong_password"),
        130: (ENV_, "interrupted"),
    },
    mask_env=frozenset({"RESTIC_PASSWORD", "RESTIC_FROM_PASSWORD", "AWS_SECRET_ACCESS_KEY", "B2_ACCOUNT_KEY"}),
    timeout=6 * 3600.0,
    stop_signal=signal.SIGINT,
    grace=30.0,
    inherit=("SSH_AUTH_SOCK",),
    env={"LC_ALL": "C.UTF-8"},
)
PROMTOOL = Tool("promtool", "promtool", exits={1: (ExitCode.VERDICT_FAILED, "rejected")}, timeout=120.0)
AMTOOL = Tool("amtool", "amtool", exits={1: (ENV_, "rejected")}, timeout=60.0)
PROMETHEUS = Tool("prometheus", "prometheus", grace=15.0)
ALERTMANAGER = Tool("alertmanager", "prometheus-alertmanager")
NODE_EXPORTER = Tool("node_exporter", "prometheus-node-exporter")
BLACKBOX_EXPORTER = Tool("blackbox_exporter", "prometheus-blackbox-exporter")
POSTGRES_EXPORTER = Tool("postgres_exporter", "prometheus-postgres-exporter", mask_env=frozenset({"DATA_SOURCE_NAME"}))
LYNIS = Tool("lynis", "lynis", timeout=1800.0)
# debsecan: the known vulnerabilities of the installed packages (Debian security tracker data)
DEBSECAN = Tool("debsecan", "debsecan", timeout=600.0, inherit=("http_proxy", "https_proxy"))
PG_DUMP = Tool("pg_dump", "pg_dump", exits={1: (ENV_, "dump_failed")}, mask_env=_DB_ENV, timeout=6 * 3600.0)
PSQL = Tool(
    "psql",
    "psql",
    exits={1: (ENV_, "fatal"), 2: (ENV_, "unreachable"), 3: (ENV_, "script_failed")},
    mask_env=_DB_ENV,
    timeout=6 * 3600.0,
)
MYSQLDUMP = Tool("mysqldump", "mysqldump", exits={2: (ENV_, "unreachable")}, mask_env=_DB_ENV, timeout=6 * 3600.0)
MYSQL = Tool("mysql", "mysql", exits={1: (ENV_, "script_failed")}, mask_env=_DB_ENV, timeout=6 * 3600.0)
SQLITE3 = Tool("sqlite3", "sqlite3", exits={1: (ENV_, "sql_error")}, timeout=600.0)
SYSTEMCTL = Tool(
    "systemctl",
    "systemctl",
    exits={1: (ENV_, "failed"), 4: (ExitCode.BAD_INPUT, "no_such_unit"), 5: (ENV_, "not_loaded")},
    timeout=60.0,
)
HAPROXY = Tool("haproxy", "haproxy", exits={1: (ENV_, "config_rejected")}, timeout=30.0)
LOCUST = Tool("locust", sys.executable, timeout=3600.0, inherit=_PY, env={"PYTHONUNBUFFERED": "1"})
UVICORN = Tool("uvicorn", sys.executable, inherit=_PY)
PROCOPS = Tool("procops", "procops", inherit=_PY, timeout=6 * 3600.0)  # procops' own commands (jobs, exporter, webhook)
# a scheduled job's ``procops <args>``: stopped like a person would (Ctrl-C), so its own operation
# stops restic or Locust cleanly and journals ``interrupted``; SIGKILL only after the grace
JOB_GRACE = 90.0
PROCOPS_JOB = Tool(
    "procops job", "procops", inherit=_PY, timeout=6 * 3600.0, stop_signal=signal.SIGINT, grace=JOB_GRACE
)
# ansible-playbook, run by ansible-runner (procops.playbook): its agent socket and ANSIBLE_* settings
ANSIBLE_PLAYBOOK = Tool(
    "ansible-playbook",
    "ansible-playbook",
    inherit=("SSH_AUTH_SOCK", "ANSIBLE_"),
    env={"LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PYTHONUNBUFFERED": "1"},
)
SECRET_COMMAND = Tool(
    "secret command",
    "",  # the configured argv names it
    timeout=30.0,
    secret_output=True,
    # what password managers need to reach their agent and store (no secret of ours)
    inherit=("GNUPGHOME", "GPG_TTY", "PASSWORD_STORE_", "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"),
)

TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        RESTIC,
        PROMTOOL,
        AMTOOL,
        PROMETHEUS,
        ALERTMANAGER,
        NODE_EXPORTER,
        BLACKBOX_EXPORTER,
        POSTGRES_EXPORTER,
        LYNIS,
        DEBSECAN,
        PG_DUMP,
        PSQL,
        MYSQLDUMP,
        MYSQL,
        SQLITE3,
        SYSTEMCTL,
        HAPROXY,
        LOCUST,
        UVICORN,
        PROCOPS,
        PROCOPS_JOB,
        ANSIBLE_PLAYBOOK,
        SECRET_COMMAND,
    )
}


# --------------------------------------------------------------------------- environment

ALLOWED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP")
ALLOWED_ENV_PREFIXES = ("LC_",)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


def child_env(
    tool: Tool, extra: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The exact environment of a child: the allowlist of ours (from ``base``, default
    ``os.environ``), the tool's own needs, then ``extra``."""
    names = tuple(n for n in tool.inherit if not n.endswith("_"))
    prefixes = ALLOWED_ENV_PREFIXES + tuple(n for n in tool.inherit if n.endswith("_"))
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k in ALLOWED_ENV or k in names or k.startswith(prefixes)}
    env.setdefault("PATH", DEFAULT_PATH)
    for k, v in tool.env.items():
        env.setdefault(k, v)
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------- errors and results


class ToolMissing(EnvironmentFailure):
    def __init__(self, binary: str) -> None:
        super().__init__(_("{binary} is not installed (run scripts/bootstrap)").format(binary=binary))
        self.binary = binary


class ToolFailed(ProcopsError):
    """A program exited badly, timed out or was stopped. ``exit_code`` comes from the tool's map."""

    def __init__(
        self,
        tool: Tool,
        argv: Sequence[str],
        rc: int | None,
        output: str,
        *,
        outcome: Outcome | None = None,
        message: str | None = None,
    ) -> None:
        self.tool = tool
        self.argv = list(argv)  # masked
        self.rc = rc
        code, self.problem = outcome or tool.outcome(rc if rc is not None else -signal.SIGKILL)
        self.exit_code = code if code != ExitCode.OK else ExitCode.ENVIRONMENT
        self.tail = tail(output)
        head = message or _("{tool} failed ({problem}, exit {rc})").format(tool=tool.name, problem=self.problem, rc=rc)
        super().__init__(f"{head}: {' '.join(self.argv)}" + (f"\n{self.tail}" if self.tail else ""))


class ToolEnvironmentFailure(ToolFailed, EnvironmentFailure):
    pass


class ToolVerdictFailed(ToolFailed, VerdictFailed):
    pass


class ToolBadInput(ToolFailed, BadInput):
    pass


def tool_failed(tool: Tool, argv: Sequence[str], rc: int | None, output: str, **kw: Any) -> ToolFailed:
    """The error of a failed run, of the class its exit code says (so ``except EnvironmentFailure`` still holds)."""
    outcome = kw.get("outcome") or tool.outcome(rc if rc is not None else -signal.SIGKILL)
    cls = {ExitCode.VERDICT_FAILED: ToolVerdictFailed, ExitCode.BAD_INPUT: ToolBadInput}.get(
        outcome[0], ToolEnvironmentFailure
    )
    return cls(tool, argv, rc, output, **kw)


@dataclass(frozen=True)
class Completed:
    tool: Tool
    argv: list[str]  # masked
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def output(self) -> str:
        """stdout and stderr (stderr only for a tool whose stdout is a secret)."""
        return self.tool.shown(self.stdout or "", self.stderr or "")

    @property
    def outcome(self) -> Outcome:
        return self.tool.outcome(self.rc)

    def tail(self, lines: int = TAIL_LINES) -> str:
        return tail(self.output, lines)

    def error(self) -> ToolFailed:
        return tool_failed(self.tool, self.argv, self.rc, self.output)

    def check(self) -> Completed:
        if not self.ok:
            raise self.error()
        return self


# --------------------------------------------------------------------------- foreground children

_LIVE: dict[int, Child] = {}  # id(child) -> child; plain dict operations only (see stop_children)


class Child:
    """A foreground child started by :func:`popen` (registered until it has been waited for)."""

    def __init__(self, tool: Tool, argv: Sequence[str], proc: subprocess.Popen) -> None:
        self.tool = tool
        self.argv = tool.mask(argv)
        self.proc = proc
        self.started = time.monotonic()
        _LIVE[id(self)] = self

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdin(self) -> IO[bytes] | None:
        return self.proc.stdin

    @property
    def stdout(self) -> IO[bytes] | None:
        return self.proc.stdout

    @property
    def stderr(self) -> IO[bytes] | None:
        return self.proc.stderr

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def _done(self) -> int:
        _LIVE.pop(id(self), None)
        return self.proc.returncode

    def poll(self) -> int | None:
        return self._done() if self.proc.poll() is not None else None

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None when it is still running after ``timeout`` seconds."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self._done()

    def signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, OSError):
                self.proc.send_signal(sig)

    def stop(self, grace: float | None = None) -> int:
        """The tool's stop signal, up to ``grace`` seconds (the tool's), then SIGKILL. Returns the exit code."""
        self.signal(self.tool.stop_signal)
        if self.wait(self.tool.grace if grace is None else grace) is None:
            self.signal(signal.SIGKILL)
            self.proc.wait()
        return self._done()

    def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Feed ``input``, read what is piped; on timeout stop it (stop signal, grace, SIGKILL) and raise."""
        t = self.tool.timeout if timeout is None else timeout
        try:
            out, err = self.proc.communicate(input=input, timeout=t)
        except subprocess.TimeoutExpired:
            out, err = self._stop_reading()
            raise tool_failed(
                self.tool,
                self.argv,
                self.proc.returncode,
                self.tool.shown(_decode(out), _decode(err)),
                outcome=(ExitCode.ENVIRONMENT, "timeout"),
                message=f"{self.tool.name} did not finish within {t:g}s (stopped)",
            ) from None
        except BaseException:
            self._stop_reading()
            raise
        self._done()
        return out or b"", err or b""

    def _stop_reading(self) -> tuple[bytes, bytes]:
        self.signal(self.tool.stop_signal)
        try:
            out, err = self.proc.communicate(timeout=self.tool.grace)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            out, err = self.proc.communicate()
        except ValueError:  # the streams are read elsewhere
            if self.wait(self.tool.grace) is None:
                self.signal(signal.SIGKILL)
                self.proc.wait()
            out, err = b"", b""
        self._done()
        return out or b"", err or b""


def _decode(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode(errors="replace")


def _exited(p: subprocess.Popen) -> bool:
    """Whether the child has exited, without reaping it and without Popen's lock (signal-handler safe)."""
    if p.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped by someone else
        return True


def live_children() -> list[Child]:
    return [c for c in _LIVE.copy().values() if not _exited(c.proc)]


def stop_children(grace: float = 10.0) -> list[str]:
    """Stop every live foreground child: its tool's stop signal, up to ``grace`` seconds, then SIGKILL.

    Returns what it stopped ("restic (pid 123)"). Safe in a signal handler: no lock,
    no blocking wait (the children are left for their owners to reap). The children
    started last are signalled first, so a pipeline's consumer (restic) gets SIGINT
    while its input is still open.
    """
    children = sorted(live_children(), key=lambda c: c.started, reverse=True)
    for c in children:
        with contextlib.suppress(ProcessLookupError, OSError):
            os.kill(c.pid, c.tool.stop_signal)
    deadline = time.monotonic() + grace
    pending = list(children)
    while pending and time.monotonic() < deadline:
        time.sleep(0.02)
        pending = [c for c in pending if not _exited(c.proc)]
    for c in pending:
        with contextlib.suppress(ProcessLookupError, OSError):
            os.kill(c.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pending and time.monotonic() < deadline:
        time.sleep(0.01)
        pending = [c for c in pending if not _exited(c.proc)]
    stopped = []
    for c in children:
        with contextlib.suppress(Exception):
            c.proc.poll()  # reap it when its owner is not waiting on it (non-blocking lock inside)
        stopped.append(f"{c.tool.name} (pid {c.pid})")
    return stopped


# --------------------------------------------------------------------------- run, popen


def _start(
    tool: Tool,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    cwd: Path | None,
    stdin: Any,
    stdout: Any,
    stderr: Any,
    new_session: bool = False,
) -> Child:
    if not argv:
        raise BadInput(_("{name}: an empty command").format(name=tool.name))
    full_env = child_env(tool, env)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("run %s", " ".join(tool.mask(argv)))
        if env:
            log.debug("env %s", mask_env(env, tool.mask_env))
    if cwd is not None and not Path(cwd).is_dir():
        raise EnvironmentFailure(_("{name}: the working folder {cwd} does not exist").format(name=tool.name, cwd=cwd))
    try:
        proc = subprocess.Popen(
            list(argv),
            env=full_env,
            cwd=cwd,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=new_session,
            close_fds=True,
        )
    except FileNotFoundError:
        raise ToolMissing(argv[0]) from None
    except PermissionError:
        raise EnvironmentFailure(_("{value} cannot be executed (permission denied)").format(value=argv[0])) from None
    return Child(tool, argv, proc)


def run(
    tool: Tool,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: bytes | str | None = None,
    stdin: IO[Any] | int | None = None,
    stdout: IO[Any] | int | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> Completed:
    """Run a program to completion with captured output (or ``stdout`` to a file).

    A timeout stops it (stop signal, grace, SIGKILL) and raises :class:`ToolFailed`
    (problem ``timeout``, exit 3). With ``check``, a non-zero exit raises it too.
    """
    if isinstance(input, str):
        input = input.encode()
    child = _start(
        tool,
        argv,
        env=env,
        cwd=cwd,
        stdin=PIPE if input is not None else (DEVNULL if stdin is None else stdin),
        stdout=PIPE if stdout is None else stdout,
        stderr=PIPE,
    )
    out, err = child.communicate(input, timeout)
    c = Completed(tool, child.argv, child.proc.returncode, _decode(out), _decode(err), time.monotonic() - child.started)
    log.debug("%s: exit %d in %.3fs", tool.name, c.rc, c.seconds)
    if check and not c.ok:
        raise c.error()
    return c


def popen(
    tool: Tool,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: Any = DEVNULL,
    stdout: Any = PIPE,
    stderr: Any = PIPE,
    new_session: bool = False,
) -> Child:
    """Start a foreground child and return it (the caller waits for it; :func:`stop_children` can stop it)."""
    return _start(tool, argv, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr, new_session=new_session)


# --------------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class Command:
    """One program of a pipeline."""

    tool: Tool
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None


@dataclass(frozen=True)
class PipelineResult:
    producer: Completed | None  # None when the producer was a file
    consumer: Completed
    failed: str | None = None  # "producer", "consumer" or None
    timed_out: bool = False
    timeout: float = 0.0
    sha256: str = ""  # of every byte handed to the consumer
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def failed_step(self) -> Completed | None:
        return {"producer": self.producer, "consumer": self.consumer}.get(self.failed or "")

    @property
    def tail(self) -> str:
        s = self.failed_step
        return s.tail() if s is not None else ""

    def error(self) -> ToolFailed:
        s = self.failed_step
        if s is None:
            raise ValueError("the pipeline did not fail")
        if self.timed_out:
            return tool_failed(
                s.tool,
                s.argv,
                s.rc,
                s.output,
                outcome=(ExitCode.ENVIRONMENT, "timeout"),
                message=f"{s.tool.name} ({self.failed}) did not finish within {self.timeout:g}s",
            )
        return tool_failed(s.tool, s.argv, s.rc, s.output, message=f"{s.tool.name} ({self.failed}) exited {s.rc}")

    def check(self) -> PipelineResult:
        if not self.ok:
            raise self.error()
        return self


def _drain(stream: IO[bytes] | None, sink: list[bytes]) -> threading.Thread:
    def read() -> None:
        if stream is None:
            return
        for chunk in iter(lambda: stream.read(65536), b""):
            sink.append(chunk)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def _interrupt_open(c: Child) -> None:
    """Stop the consumer and wait for it to exit *before* closing its input, so it never sees a clean end."""
    if c.poll() is None:
        c.stop()
    with contextlib.suppress(OSError, ValueError):
        c.stdin.close()  # type: ignore[union-attr]


def pipeline(producer: Command | Path, consumer: Command, *, timeout: float | None = None) -> PipelineResult:
    """Stream the producer's stdout (or a file) into the consumer's stdin; watch both.

    The consumer's input is closed only after the producer exited 0. When the
    producer fails (or the time is up), the consumer gets its stop signal (restic:
    SIGINT, so no snapshot is saved and its lock is released) and is waited for
    while its input is still open. A consumer that dies first stops the producer.
    On an exception (Ctrl-C) both are stopped the same way and it propagates.
    """
    limit = timeout if timeout is not None else consumer.tool.timeout
    prod: Child | None = None
    prod_err: list[bytes] = []
    t_prod_err: threading.Thread | None = None
    src: IO[bytes]
    if isinstance(producer, Command):
        prod = _start(
            producer.tool, producer.argv, env=producer.env, cwd=producer.cwd, stdin=DEVNULL, stdout=PIPE, stderr=PIPE
        )
        t_prod_err = _drain(prod.stderr, prod_err)
        src = prod.stdout  # type: ignore[assignment]
    else:
        src = open(producer, "rb")
    try:
        cons = _start(
            consumer.tool, consumer.argv, env=consumer.env, cwd=consumer.cwd, stdin=PIPE, stdout=PIPE, stderr=PIPE
        )
    except BaseException:
        if prod is not None:
            prod.stop()
        src.close()
        raise
    out: list[bytes] = []
    err: list[bytes] = []
    t_out, t_err = _drain(cons.stdout, out), _drain(cons.stderr, err)
    timed_out = threading.Event()
    producer_was_running = [False]

    def on_timeout() -> None:
        producer_was_running[0] = prod is not None and prod.proc.poll() is None
        timed_out.set()
        if prod is not None:
            prod.signal(signal.SIGKILL)
        cons.signal(cons.tool.stop_signal)

    timer = threading.Timer(limit, on_timeout)
    timer.daemon = True
    timer.start()
    broken = False
    failed: str | None = None
    prod_rc: int | None = None
    digest = hashlib.sha256()
    written = 0
    try:
        fd_in = cons.stdin.fileno()  # type: ignore[union-attr]
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)  # what the consumer is given, hashed as it passes (hashlib releases the GIL)
            written += len(chunk)
            try:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd_in, view) :]
            except OSError:  # BrokenPipeError: the consumer is gone
                broken = True
                break
        if prod is not None:
            if broken:
                prod.signal(signal.SIGKILL)
            prod_rc = prod.wait(max(1.0, limit))
            if prod_rc is None:
                prod.signal(signal.SIGKILL)
                prod_rc = prod.wait()
            if t_prod_err is not None:
                t_prod_err.join(10)
        if timed_out.is_set():
            failed = "producer" if producer_was_running[0] else "consumer"
        elif broken:
            failed = "consumer"
        elif prod_rc:
            failed = "producer"
        if failed == "producer" or timed_out.is_set():
            _interrupt_open(cons)
        else:
            with contextlib.suppress(OSError):
                cons.stdin.close()  # type: ignore[union-attr]
            cons.wait()
            if cons.returncode != 0:
                failed = "consumer"
        t_out.join(10)
        t_err.join(10)
    except BaseException:
        if prod is not None and prod.poll() is None:
            prod.stop()
        _interrupt_open(cons)
        raise
    finally:
        timer.cancel()
        if prod is None:
            src.close()
    now = time.monotonic()
    p_done = None
    if prod is not None:
        p_done = Completed(
            producer.tool,  # type: ignore[union-attr]
            prod.argv,
            prod.returncode if prod.returncode is not None else -signal.SIGKILL,
            "",
            _decode(b"".join(prod_err)),
            now - prod.started,
        )
    c_done = Completed(
        consumer.tool,
        cons.argv,
        cons.returncode if cons.returncode is not None else -signal.SIGKILL,
        _decode(b"".join(out)),
        _decode(b"".join(err)),
        now - cons.started,
    )
    log.debug("pipeline %s | %s: %s", p_done and p_done.tool.name, consumer.tool.name, failed or "ok")
    return PipelineResult(p_done, c_done, failed, timed_out.is_set(), limit, digest.hexdigest(), written)


# --------------------------------------------------------------------------- detached children


@dataclass
class Proc:
    """A detached long-running child: pid and start time, so a reused pid is never signalled."""

    name: str
    pid: int
    create_time: float
    port: int | None = None
    version: str | None = None
    stop_signal: int = int(signal.SIGTERM)

    def alive(self) -> bool:
        import psutil

        try:
            p = psutil.Process(self.pid)
            return abs(p.create_time() - self.create_time) < 0.5 and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def spawn(
    tool: Tool,
    argv: Sequence[str],
    log_file: Path,
    name: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    **extra: Any,
) -> Proc:
    """Start a detached child (own session), stdout and stderr appended to ``log_file``; returns its record."""
    import psutil

    if log.isEnabledFor(logging.DEBUG):
        log.debug("spawn %s: %s", name, " ".join(tool.mask(argv)))
    with open(log_file, "ab") as out:
        try:
            p = subprocess.Popen(
                list(argv),
                env=child_env(tool, env),
                stdin=DEVNULL,
                stdout=out,
                stderr=STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd=cwd,
            )
        except FileNotFoundError:
            raise ToolMissing(argv[0]) from None
    try:
        created = psutil.Process(p.pid).create_time()
    except psutil.Error:  # it died at once: a record that is never alive
        created = 0.0
    return Proc(name=name, pid=p.pid, create_time=created, stop_signal=int(tool.stop_signal), **extra)


def terminate(procs: Iterable[Proc], timeout: float = 10.0) -> list[str]:
    """Each record still ours gets its stop signal, then SIGKILL after ``timeout``. Returns the names stopped."""
    import psutil

    live: list[tuple[Proc, Any]] = []
    for pr in procs:
        if pr.alive():
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pr.pid)
                p.send_signal(pr.stop_signal)
                live.append((pr, p))
    _unused, still = psutil.wait_procs([p for _unused, p in live], timeout=timeout)
    for p in still:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(still, timeout=5)
    return [pr.name for pr, _unused in live]


class ProcessGroup:
    """A named set of detached children started and stopped together (the sandbox, the monitoring stack).

    ``spawn`` adds a member and calls ``on_change`` (the caller persists the
    records there, before waiting for health); inside ``starting()`` a failure
    stops every member started so far and re-raises; ``stop`` stops them all.
    """

    def __init__(
        self,
        name: str,
        logs: Path,
        members: Iterable[Proc] = (),
        *,
        on_change: Callable[[ProcessGroup], None] | None = None,
    ) -> None:
        self.name = name
        self.logs = logs
        self.members: list[Proc] = list(members)
        self.on_change = on_change

    def log_file(self, member: str) -> Path:
        return self.logs / f"{member}.log"

    def spawn(
        self,
        tool: Tool,
        argv: Sequence[str],
        member: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        **extra: Any,
    ) -> Proc:
        p = spawn(tool, argv, self.log_file(member), member, env=env, cwd=cwd, **extra)
        self.members.append(p)
        if self.on_change is not None:
            self.on_change(self)
        return p

    def get(self, member: str) -> Proc | None:
        return next((p for p in self.members if p.name == member), None)

    def all_alive(self) -> bool:
        return bool(self.members) and all(p.alive() for p in self.members)

    def check_alive(self, what: Callable[[Proc], str] = lambda p: p.name) -> None:
        """Exit 3 naming the first member that died, with the tail of its log."""
        for p in self.members:
            if not p.alive():
                raise EnvironmentFailure(
                    _("{what} exited during start:\n").format(what=what(p)) + log_tail(self.log_file(p.name))
                )

    def stop(self, *, reverse: bool = False, timeout: float = 10.0) -> list[str]:
        return terminate(list(reversed(self.members)) if reverse else self.members, timeout=timeout)

    @contextlib.contextmanager
    def starting(self, cleanup: Callable[[], None] | None = None) -> Iterator[ProcessGroup]:
        """Stop what was started (and run ``cleanup``) when the start does not complete."""
        try:
            yield self
        except BaseException:
            self.stop()
            if cleanup is not None:
                cleanup()
            raise


# --------------------------------------------------------------------------- services (health of what we start)


def http_ok(url: str, timeout: float = 2.0, auth: tuple[str, str] | None = None) -> tuple[bool, dict | None]:
    """(answered 200, JSON body or None). ``auth``: basic-auth (user, password) for services that require it."""
    import httpx

    try:
        r = httpx.get(url, timeout=timeout, auth=auth)
    except httpx.HTTPError:
        return False, None
    try:
        body = r.json()
    except ValueError:
        body = None
    return r.status_code == 200, body


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
