"""restic, in one place: pure argv builders, a version feature table, and its calls of the one runner.

* Every command line is built by a pure function returning a tuple of
  arguments (unit-tested without starting anything); the caller hands it to
  :meth:`Restic.run` (or :meth:`Restic.command` as a step of
  :func:`procops.execute.pipeline` for a streamed ``--stdin`` backup), which run
  it through :mod:`procops.execute` (masked logging, exact environment, SIGINT
  to stop it).
* Flags that only some restic versions know are gated through :data:`FEATURES`
  (Debian 12 ships 0.14.0: no ``--stdin-from-command``, no ``--retry-lock``,
  no ``check --json``, exit codes 0/1/3 only).
* Secrets reach restic only through the child's environment
  (``RESTIC_PASSWORD_FILE`` / ``RESTIC_PASSWORD_COMMAND``; the repository URL,
  which may hold credentials, through ``RESTIC_REPOSITORY``). The environment is
  exact (built from an allowlist: inherited ``RESTIC_*`` variables never reach
  restic), logged with secrets masked, and never in argv.
* Exit codes are mapped to :class:`ResticExit`; errors carry the tail of
  restic's stderr and a classification (locked, not initialised, unreachable,
  wrong password, no space) read from the exit code where the version has
  specific codes, from the message otherwise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import tempfile
import threading
import json
import logging
import re
import shlex
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Sequence

from procops import execute
from procops.errors import BadInput, EnvironmentFailure
from procops.execute import MASK, mask_argv, mask_env, mask_text  # noqa: F401 - re-exported

from procops.i18n import _

log = logging.getLogger(__name__)

Version = tuple[int, int, int]

# feature -> first restic version that has it
FEATURES: dict[str, Version] = {
    "copy_from_repo": (0, 14, 0),  # copy --from-repo (before: --repo2)
    "compression": (0, 14, 0),  # repository format v2
    "read_data_subset_size": (0, 14, 0),  # --read-data-subset 100M
    "retry_lock": (0, 16, 0),  # --retry-lock DURATION
    "stdin_from_command": (0, 17, 0),  # backup --stdin-from-command
    "specific_exit_codes": (0, 17, 0),  # 10 no repository, 11 lock failed, 12 wrong password
    "check_json": (0, 18, 0),
}


def available(feature: str, version: Version) -> bool:
    return version >= FEATURES[feature]


def parse_version(text: str) -> Version:
    """'restic 0.14.0 compiled with go1.19.8 on linux/amd64' -> (0, 14, 0)."""
    m = re.search(r"restic (\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise ValueError(f"not a restic version line: {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


class StatusWatch:
    """restic's ``--json`` output goes to a temporary file that a thread reads while restic runs,
    handing each ``status`` message to ``on_status`` (a progress line; a failing callback only stops
    the updates). :meth:`text` is the whole output afterwards, as ``Completed.stdout`` would be."""

    def __init__(self, on_status: Callable[[dict], None], interval: float = 0.5) -> None:
        self.on_status, self.interval = on_status, interval
        self.file = tempfile.TemporaryFile()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="restic-status", daemon=True)
        self._pos = 0
        self._partial = b""

    def __enter__(self) -> StatusWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):  # what restic wrote since the last look
            self._read_new()

    def _read_new(self) -> None:
        chunk = os.pread(self.file.fileno(), 1 << 20, self._pos)
        if not chunk:
            return
        self._pos += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if b'"status"' not in line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("message_type") == "status":
                self.on_status(msg)

    def _watch(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self._read_new()
        except Exception:  # noqa: BLE001 - progress never fails the backup
            log.debug("restic status watch stopped", exc_info=True)

    def text(self) -> str:
        self.file.seek(0)
        data = self.file.read()
        self.file.close()
        return data.decode("utf-8", "replace")


class ResticExit(enum.IntEnum):
    OK = 0
    FATAL = 1
    INCOMPLETE = 3  # backup: snapshot saved but some source files were unreadable
    NO_REPOSITORY = 10  # 0.17+
    LOCK_FAILED = 11  # 0.17+
    WRONG_PASSWORD = 12  # 0.17+
    INTERRUPTED = 130


class Problem(str, enum.Enum):
    LOCKED = "locked"
    NOT_INITIALISED = "not_initialised"
    UNREACHABLE = "unreachable"
    WRONG_PASSWORD = "wrong_password"
    NO_SPACE = "no_space"
    READ_ONLY = "read_only"  # the repository's file system is mounted read-only
    INCOMPLETE = "incomplete"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    OTHER = "other"


def classify(rc: int, stderr: str, version: Version = (0, 14, 0)) -> Problem:
    """Why a restic command failed, from its exit code and its messages."""
    if available("specific_exit_codes", version):
        if rc == ResticExit.NO_REPOSITORY:
            return Problem.NOT_INITIALISED
        if rc == ResticExit.LOCK_FAILED:
            return Problem.LOCKED
        if rc == ResticExit.WRONG_PASSWORD:
            return Problem.WRONG_PASSWORD
    if rc == ResticExit.INCOMPLETE:
        return Problem.INCOMPLETE
    if rc == ResticExit.INTERRUPTED or rc in (-signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL):
        return Problem.INTERRUPTED  # stopped (by us, a person or the OOM killer): no verdict on the repository
    low = stderr.lower()
    if "no space left on device" in low or "disk quota exceeded" in low:
        return Problem.NO_SPACE
    if "read-only file system" in low:  # before the lock phrases: restic first fails to write its lock
        return Problem.READ_ONLY
    if "repository is already locked" in low or "unable to create lock" in low:
        return Problem.LOCKED
    if "wrong password" in low or "no key found" in low:
        return Problem.WRONG_PASSWORD
    if "is there a repository at the following location" in low:
        # phrases of the transport, not bare words: the repository's own path is in the message
        # (a folder named ".../timeout-test/..." is not a timeout)
        if any(
            s in low
            for s in (
                "permission denied",
                "connection refused",
                "connection reset",
                "connection closed",
                "no route to host",
                "i/o timeout",
                "timed out",
                "ssh command exited",
                "unable to start the sftp session",
                "transport endpoint",
            )
        ):
            return Problem.UNREACHABLE
        return Problem.NOT_INITIALISED
    if any(
        s in low
        for s in (
            "permission denied",
            "connection refused",
            "no route to host",
            "i/o timeout",
            "connection reset",
            "ssh command exited",
            "unable to start the sftp session",
            "no such host",
            "network is unreachable",
            "transport endpoint",
        )
    ):
        return Problem.UNREACHABLE
    return Problem.OTHER


# --------------------------------------------------------------------------- repositories

BACKENDS = ("local", "sftp", "rest", "s3", "swift", "b2", "azure", "gs", "rclone")


def backend_of(url: str) -> str:
    """restic's backend of a repository URL: '/srv/repo' -> local, 'sftp:u@h:/p' -> sftp."""
    head, sep, _unused = url.partition(":")
    if sep and head in BACKENDS:
        return head
    return "local"


@dataclass(frozen=True)
class Repo:
    """A repository as restic is told about it (the password stays where it is)."""

    name: str
    url: str
    password_file: Path | None = None
    password_command: tuple[str, ...] | None = None
    offsite: bool = False
    options: tuple[tuple[str, str], ...] = ()
    append_only: bool = False  # served append-only: never forget or prune from this host

    def __post_init__(self) -> None:
        if (self.password_file is None) == (self.password_command is None):
            raise BadInput(
                _("repository {name}: give exactly one of a password file or a password command").format(name=self.name)
            )

    @property
    def backend(self) -> str:
        return backend_of(self.url)

    @property
    def local_path(self) -> Path | None:
        if self.backend != "local":
            return None
        return Path(self.url[len("local:") :] if self.url.startswith("local:") else self.url)

    def check_password_source(self) -> None:
        """A password file must exist and be private (exit 2 otherwise)."""
        from procops.home import check_secret_file

        if self.password_file is not None:
            check_secret_file(self.password_file)

    def env(self, prefix: str = "RESTIC_") -> dict[str, str]:
        """The variables that tell restic about this repository (``RESTIC_FROM_`` for a copy's source)."""
        e = {f"{prefix}REPOSITORY": self.url}
        if self.password_file is not None:
            e[f"{prefix}PASSWORD_FILE"] = str(self.password_file)
        else:
            e[f"{prefix}PASSWORD_COMMAND"] = shlex.join(self.password_command or ())
        return e


# --------------------------------------------------------------------------- argv builders (pure)

Argv = tuple[str, ...]


def global_args(
    *,
    cache_dir: Path | None = None,
    json_output: bool = False,
    no_lock: bool = False,
    retry_lock: str | None = None,
    version: Version = (0, 14, 0),
    options: Iterable[tuple[str, str]] = (),
) -> Argv:
    a: list[str] = []
    for k, v in options:
        a += ["-o", f"{k}={v}"]
    if cache_dir is not None:
        a += ["--cache-dir", str(cache_dir)]
    if json_output:
        a.append("--json")
    if no_lock:
        a.append("--no-lock")
    if retry_lock and available("retry_lock", version):
        a += ["--retry-lock", retry_lock]
    return tuple(a)


def tag_args(tags: Iterable[str]) -> Argv:
    out: list[str] = []
    for t in tags:
        if "," in t:
            raise ValueError(f"a restic tag cannot contain a comma: {t!r}")
        out += ["--tag", t]
    return tuple(out)


def init_args(*, copy_chunker_params: bool = False) -> Argv:
    return ("init", "--copy-chunker-params") if copy_chunker_params else ("init",)


def backup_args(
    paths: Sequence[str | Path], *, tags: Iterable[str] = (), excludes: Iterable[str] = (), host: str | None = None
) -> Argv:
    if not paths:
        raise ValueError("a file backup needs at least one path")
    a = ["backup"]
    for x in excludes:
        a += ["--exclude", str(x)]
    if host:
        a += ["--host", host]
    return (*a, *tag_args(tags), "--", *map(str, paths))


def backup_stdin_args(filename: str, *, tags: Iterable[str] = (), host: str | None = None) -> Argv:
    if not filename or filename.startswith("-"):
        raise ValueError(f"bad --stdin-filename {filename!r}")
    a = ["backup", "--stdin", "--stdin-filename", filename]
    if host:
        a += ["--host", host]
    return (*a, *tag_args(tags))


def snapshots_args(*, tags: Iterable[str] = ()) -> Argv:
    return ("snapshots", *tag_args(tags))


def forget_args(
    *,
    keep_hourly: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    keep_last: int = 0,
    keep_yearly: int = 0,
    keep_within: str | None = None,
    tags: Iterable[str] = (),
    group_by: str = "host,paths",
    prune: bool = False,
    snapshot_ids: Sequence[str] = (),
) -> Argv:
    if snapshot_ids:
        return ("forget", *snapshot_ids)
    a = ["forget", "--group-by", group_by]
    for flag, n in (
        ("--keep-last", keep_last),
        ("--keep-hourly", keep_hourly),
        ("--keep-daily", keep_daily),
        ("--keep-weekly", keep_weekly),
        ("--keep-monthly", keep_monthly),
        ("--keep-yearly", keep_yearly),
    ):
        if n:
            a += [flag, str(n)]
    if keep_within:  # restic >= 0.7 (0.14 has it): no feature gate
        a += ["--keep-within", keep_within]
    if len(a) == 3:
        raise ValueError("a retention policy that keeps nothing would forget every snapshot")
    if prune:
        a.append("--prune")
    return (*a, *tag_args(tags))


def prune_args() -> Argv:
    return ("prune",)


def check_args(read_data_subset: str | None = None, *, read_all: bool = False) -> Argv:
    if read_all:
        return ("check", "--read-data")
    if read_data_subset:
        return ("check", "--read-data-subset", read_data_subset)
    return ("check",)


def restore_args(snapshot: str, target: Path, *, includes: Iterable[str] = ()) -> Argv:
    a = ["restore", snapshot, "--target", str(target)]
    for i in includes:
        a += ["--include", i]
    return tuple(a)


def dump_args(snapshot: str, path: str) -> Argv:
    return ("dump", snapshot, path)


def copy_args(*, tags: Iterable[str] = (), snapshot_ids: Sequence[str] = ()) -> Argv:
    return ("copy", *tag_args(tags), *snapshot_ids)


def ls_args(snapshot: str, *paths: str) -> Argv:
    return ("ls", snapshot, *paths)


def unlock_args() -> Argv:
    # never --remove-all: restic removes only stale locks (older than 30 min, or of a dead pid on this host)
    return ("unlock",)


def cat_config_args() -> Argv:
    return ("cat", "config")


# --------------------------------------------------------------------------- subset rotation (pure)


def valid_subset_count(t: int) -> bool:
    return 1 <= t <= 256 and 256 % t == 0


def subset_spec(n: int, t: int) -> str:
    """'n/t' of the rotating check; n is 1-based."""
    if not valid_subset_count(t):
        raise ValueError(f"the number of check subsets must divide 256, not {t}")
    if not 1 <= n <= t:
        raise ValueError(f"subset {n} is not in 1..{t}")
    return f"{n}/{t}"


def next_subset(last: int | None, t: int) -> int:
    """The subset after ``last`` (1..t, wrapping); the first run reads subset 1."""
    if last is None or not 1 <= last <= t:
        return 1
    return last % t + 1


def parse_subset_option(text: str) -> tuple[str | None, bool]:
    """``--read-data-subset``: 'all' / '100%' -> full read; 'n/t', 'x%', '500M' as restic takes them."""
    t = text.strip()
    if t.lower() in ("all", "100%"):
        return None, True
    if re.fullmatch(r"\d+/\d+", t):
        n, d = map(int, t.split("/"))
        if not (d >= 1 and 1 <= n <= d):
            raise BadInput(_("--read-data-subset {text}: n/t needs 1 <= n <= t").format(text=text))
        return t, False
    if re.fullmatch(r"\d+(\.\d+)?%", t):
        p = float(t[:-1])
        if not 0 < p <= 100:
            raise BadInput(_("--read-data-subset {text}: a percentage is in (0, 100]").format(text=text))
        return t, False
    if re.fullmatch(r"\d+[KMGT]", t, re.IGNORECASE):
        return t.upper(), False
    raise BadInput(_("--read-data-subset {text}: use n/t, a percentage, a size like 500M, or 'all'").format(text=text))


# --------------------------------------------------------------------------- runner


@dataclass
class Completed:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None

    def json_lines(self) -> list[dict]:
        out = []
        for line in self.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


class ResticError(EnvironmentFailure):
    """A restic command failed (exit 3 of procops unless the caller decides otherwise)."""

    def __init__(self, repo: str, command: str, rc: int, stderr: str, problem: Problem, *, output: str = "") -> None:
        self.repo, self.command, self.rc, self.problem = repo, command, rc, problem
        self.output = mask_text(output or stderr)
        self.tail = tail(stderr)
        super().__init__(
            _("restic {command} on repository '{repo}' failed ({problem}, exit {rc})").format(
                command=command, repo=repo, problem=problem.value, rc=rc
            )
            + (f": {self.tail}" if self.tail else ""),
            hint=_("see the runbook: procops runbook show backup-failure"),
        )


# a Go stack frame of restic's error output: "pkg.Func" lines and their tab-indented "file.go:N"
_GO_TRACE = re.compile(
    r"^(goroutine \d+ |\t|\s+\S+\.(go|s):\d+|(main|runtime|github\.com|golang\.org)[./]\S*$|created by )"
)


def tail(text: str, lines: int = 6) -> str:
    """The cause of a program's failure, on one line, passwords inside URLs masked: restic's
    ``Fatal:`` line (or the error above a stack trace) first, then its last lines, without Go
    stack frames."""
    all_lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    keep = [
        ln
        for ln in all_lines
        if not ln.startswith(("using temporary cache", "Using temporary cache")) and not _GO_TRACE.match(ln)
    ]
    cause = [ln for ln in keep if ln.startswith(("Fatal:", "panic:"))][:1]
    if not cause:
        first_frame = next((i for i, ln in enumerate(all_lines) if _GO_TRACE.match(ln)), None)
        if first_frame:
            cause = [all_lines[first_frame - 1]]
    rest = [ln for ln in keep if ln not in cause][-(lines - len(cause)) :]
    return mask_text(" | ".join(cause + rest))


# commands that write to the repository (a lock, data, a snapshot): a local repository is probed first
WRITING_COMMANDS = frozenset({"backup", "copy", "forget", "prune", "check", "tag", "unlock", "rebuild-index"})


def probe_local(repo: Repo) -> None:
    """For a local repository, write and remove a small file where restic puts its locks: a
    read-only or full file system is a ResticError (read_only / no_space) at once, where restic
    itself would retry for a minute before failing with a stack trace."""
    import errno
    import os

    if backend_of(repo.url) != "local":
        return
    locks = Path(repo.url) / "locks"
    if not locks.is_dir():
        return  # not initialised (or not mounted): restic says which
    probe = locks / f".procops-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"x" * 4096)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as e:
        problem = {errno.EROFS: Problem.READ_ONLY, errno.ENOSPC: Problem.NO_SPACE, errno.EDQUOT: Problem.NO_SPACE}
        if e.errno not in problem:
            return  # anything else: restic's own attempt reports it
        with contextlib.suppress(OSError):
            probe.unlink()
        raise ResticError(
            repo.name, "write probe", 1, f"{locks}: {(e.strerror or str(e)).lower()}", problem[e.errno]
        ) from None


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """restic's exact environment (see :func:`procops.execute.child_env`): never an inherited secret."""
    return execute.child_env(execute.RESTIC, extra)


@dataclass
class Restic:
    binary: str = "restic"
    cache_dir: Path | None = None
    timeout: float = 6 * 3600.0
    version: Version = field(default=(0, 0, 0))

    def __post_init__(self) -> None:
        if self.version == (0, 0, 0):
            self.version = detect_version(self.binary)

    @property
    def tool(self) -> execute.Tool:
        return execute.RESTIC if self.binary == execute.RESTIC.binary else execute.RESTIC.with_binary(self.binary)

    def has(self, feature: str) -> bool:
        return available(feature, self.version)

    def argv(
        self, args: Argv, *, json_output: bool = False, no_lock: bool = False, options: Iterable[tuple[str, str]] = ()
    ) -> list[str]:
        return [
            self.binary,
            *global_args(
                cache_dir=self.cache_dir,
                json_output=json_output,
                no_lock=no_lock,
                retry_lock="1m",
                version=self.version,
                options=options,
            ),
            *args,
        ]

    def env(self, repo: Repo, *, source: Repo | None = None) -> dict[str, str]:
        """The variables that tell restic about the repository (and a copy's source); the runner adds the rest."""
        repo.check_password_source()
        extra = repo.env()
        if source is not None:
            source.check_password_source()
            extra.update(source.env("RESTIC_FROM_"))
        return extra

    def command(self, repo: Repo, args: Argv, *, json_output: bool = False) -> execute.Command:
        """``args`` on ``repo`` as a step of :func:`procops.execute.pipeline`."""
        argv = self.argv(args, json_output=json_output, options=repo.options)
        return execute.Command(self.tool, argv, env=self.env(repo))

    def run(
        self,
        repo: Repo,
        args: Argv,
        *,
        json_output: bool = False,
        no_lock: bool = False,
        source: Repo | None = None,
        timeout: float | None = None,
        check: bool = True,
        input: bytes | None = None,
        cwd: Path | None = None,
        stdout: Any = None,
        on_status: Callable[[dict], None] | None = None,
    ) -> Completed:
        """Run restic ``args`` on ``repo``. ``on_status`` (with ``json_output``) gets each of restic's
        ``status`` messages while it runs (percent, files and bytes done), for a progress line."""
        if not no_lock and args and args[0] in WRITING_COMMANDS:
            probe_local(repo)  # a read-only or full disk is named in a moment, not after restic's retries
        opts = (*repo.options, *(source.options if source is not None else ()))
        argv = self.argv(args, json_output=json_output, no_lock=no_lock, options=opts)
        env = self.env(repo, source=source)
        limit = timeout or self.timeout
        log.debug("restic %s on repository %s", args[0], repo.name)
        watch = None
        if on_status is not None and json_output and stdout is None:
            env["RESTIC_PROGRESS_FPS"] = "2"  # with --json restic reports 60 times a second by default
            stdout = watch = StatusWatch(on_status)
        try:
            with watch if watch is not None else contextlib.nullcontext():
                c = execute.run(
                    self.tool,
                    argv,
                    env=env,
                    cwd=cwd,
                    input=input,
                    stdout=watch.file if watch is not None else stdout,
                    timeout=limit,
                    check=False,
                )
            if watch is not None:
                c = dataclasses.replace(c, stdout=watch.text())
        except execute.ToolFailed as e:
            if e.problem != "timeout":
                raise
            raise ResticError(
                repo.name,
                args[0],
                e.rc if e.rc is not None else -9,
                f"timed out after {limit:.0f}s; " + e.tail,
                Problem.TIMEOUT,
            ) from None
        done = Completed(c.argv, c.rc, c.stdout, c.stderr, c.seconds)
        log.info("restic %s on %s: exit %d in %.1fs", args[0], repo.name, done.rc, done.seconds)
        if check and done.rc != 0:
            raise ResticError(
                repo.name,
                args[0],
                done.rc,
                done.stderr,
                classify(done.rc, done.stderr, self.version),
                output=done.stdout + "\n" + done.stderr,
            )
        return done

    def popen(
        self,
        repo: Repo,
        args: Argv,
        *,
        json_output: bool = False,
        cwd: Path | None = None,
        stdin: Any = execute.PIPE,
        stdout: Any = execute.PIPE,
    ) -> execute.Child:
        argv = self.argv(args, json_output=json_output, options=repo.options)
        return execute.popen(self.tool, argv, env=self.env(repo), cwd=cwd, stdin=stdin, stdout=stdout)

    def error(self, repo: Repo, command: str, rc: int, stderr: str) -> ResticError:
        return ResticError(repo.name, command, rc, stderr, classify(rc, stderr, self.version))


_VERSION_CACHE: dict[str, Version] = {}


def detect_version(binary: str = "restic") -> Version:
    if binary in _VERSION_CACHE:
        return _VERSION_CACHE[binary]
    tool = execute.RESTIC.with_binary(binary)
    try:
        out = execute.run(tool, [binary, "version"], timeout=30, check=False).stdout
    except execute.ToolFailed:
        raise EnvironmentFailure(_("'{binary} version' did not answer within 30s").format(binary=binary)) from None
    try:
        v = parse_version(out)
    except ValueError:
        raise EnvironmentFailure(_("cannot read the restic version from {strip!r}").format(strip=out.strip())) from None
    if v < (0, 14, 0):
        raise EnvironmentFailure(
            _("restic {map} is too old: procops needs 0.14.0 or newer").format(map=".".join(map(str, v)))
        )
    _VERSION_CACHE[binary] = v
    return v
