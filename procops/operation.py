"""The lifecycle every job runs in: start recorded, steps recorded, rollbacks, one exit code.

    with Operation("backup.run", "all", loaded=loaded) as op:
        with op.step("dump"):
            ...                              # a step's record is opened before it runs
        op.add_rollback("weights", restore)  # runs when the operation does not end ok
        op.finish(Status.FAILED, "2 documents altered")   # else: ok when the block ends

The pipeline, in order:

1. ``__enter__`` installs SIGINT and SIGTERM handlers (restored on exit) and appends
   ``operation.start`` to the journal with the provenance (procops version, host,
   user, config source and its sha256, the resolved policy) *before* the caller does
   anything, so a job killed at any moment still left a trace of having started.
2. ``step(name)`` appends a :class:`StepRecord` with status ``running`` before the
   body runs and closes it in ``finally`` (ok, failed, error or interrupted), as
   Chaos Toolkit's journal does.
3. ``__exit__`` decides the status from how the block ended: normally -> what
   :meth:`Operation.finish` said (default ok); :class:`~procops.errors.VerdictFailed`
   -> failed; another :class:`~procops.errors.ProcopsError` or exception -> error;
   a signal -> interrupted. On an interrupt the children of the runner are stopped the
   right way first (``procops.execute.stop_children``: SIGINT to restic and wait,
   SIGTERM to the others, SIGKILL after the grace period). Rollbacks run (last added
   first) whenever the status is not ok, and always-rollbacks whatever the status,
   unless :meth:`Operation.hard_abort` was asked for; a signal while rolling back is
   held until the rollbacks are done (a second one aborts them). Then
   ``operation.end`` is appended with the status, the steps, the rollbacks and the
   error, and the signal handlers are restored.
4. The exit code comes from one table, :data:`EXIT_CODES` (an error keeps the exit
   code of its :class:`~procops.errors.ProcopsError`). An interrupted operation
   raises :class:`Interrupted`, which the CLI turns into exit 130 after printing
   what the operation did.

The domain evidence of a finished job (``backup.run``, ``loadtest.peak`` ...) is still
written by its area, with the operation's id in it when the area passes it on;
``operation.end`` is the record that exists whatever happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from procops.errors import ExitCode, Interrupted, ProcopsError, VerdictFailed, signals_raise
from procops.events import Kind, OperationEnd, OperationStart, Status
from procops.timeutil import iso, utcnow

if TYPE_CHECKING:
    from procops.config import LoadedConfig

EXIT_INTERRUPTED = int(ExitCode.INTERRUPTED)

T = TypeVar("T")


EXIT_CODES: dict[Status, int] = {
    Status.OK: int(ExitCode.OK),
    Status.SKIPPED: int(ExitCode.OK),
    Status.FAILED: int(ExitCode.VERDICT_FAILED),
    Status.ERROR: int(ExitCode.ENVIRONMENT),
    Status.INTERRUPTED: EXIT_INTERRUPTED,
}


def run_as_operation(
    kind: Kind | str,
    subject: str,
    fn: Callable[[Operation], T],
    *,
    loaded: LoadedConfig | None = None,
    exit_code: Callable[[T], int] | None = None,
) -> T:
    """``fn(op)`` inside an :class:`Operation`; its result's exit code (``exit_code(result)``) gives
    the operation's status. How an area's api runs a job."""
    with Operation(kind, subject, loaded=loaded) as op:
        res = fn(op)
        if exit_code is not None:
            op.finish(Status.from_exit_code(int(exit_code(res))))
    return res


@dataclass
class StepRecord:
    name: str
    status: Status | None = None  # None while running
    started_at: str = ""
    ended_at: str = ""
    duration_s: float = 0.0
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value if self.status else "running",
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": round(self.duration_s, 3),
            "detail": self.detail,
        }


@dataclass
class RollbackRecord:
    name: str
    status: Status | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value if self.status else "not run", "detail": self.detail}


@dataclass
class _Rollback:
    name: str
    fn: Callable[[], Any]
    always: bool


def provenance(loaded: LoadedConfig | None = None) -> dict[str, Any]:
    """Where and with what an operation ran: version, host, user, config source and hash, policy."""
    from procops import __version__
    from procops.journal import default_actor

    out: dict[str, Any] = {"procops": __version__, "actor": default_actor()}
    if loaded is not None:
        source = getattr(loaded, "source", None)
        out["config_source"] = str(source) if source else "<embedded default>"
        if source:
            try:
                out["config_sha256"] = hashlib.sha256(source.read_bytes()).hexdigest()
            except OSError:
                out["config_sha256"] = None
        out["policy"] = loaded.config.policy.model_dump(mode="json")
    return out


def _stop_children(grace: float) -> list[str]:
    from procops import execute

    return execute.stop_children(grace)


def _journal(kind: Kind, subject: str, evidence: OperationStart | OperationEnd) -> None:
    from procops.journal import record

    record(kind, subject, evidence)


@dataclass
class Operation:
    """One job's lifecycle (see the module docstring)."""

    kind: Kind | str  # the job's own journal kind (backup.run ...), or a name
    subject: str = ""
    loaded: LoadedConfig | None = None  # for the provenance
    grace: float = 30.0  # how long children get to stop on an interrupt
    handle_signals: bool = True
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: Status | None = None
    detail: str = ""
    error: str = ""
    exit_code: int = 0
    steps: list[StepRecord] = field(default_factory=list)
    rollbacks: list[RollbackRecord] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # children stopped on an interrupt
    started_at: str = ""
    ended_at: str = ""
    _rollbacks: list[_Rollback] = field(default_factory=list)
    _hard_abort: bool = False
    _closing: bool = False  # stopping children, rolling back, writing the end: signals are held
    _pending_signal: int | None = None
    _signals: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _outcome: Status | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Operation:
        self.started_at = iso(utcnow())
        _journal(
            Kind.OPERATION_START,
            self.subject,
            OperationStart(operation=str(self.kind), id=self.id, started_at=self.started_at, **provenance(self.loaded)),
        )
        if self.handle_signals:
            self._signals.enter_context(signals_raise(self._on_signal))
        return self

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._closing:
            if self._pending_signal is not None:  # the second one: stop rolling back
                self._hard_abort = True
                raise Interrupted(signum, "interrupted again while rolling back: rollbacks abandoned")
            self._pending_signal = signum
            return
        # Stop the children now, not when the block has unwound: a block that waits on worker
        # threads (backup's two restic processes) would otherwise wait for them to end on their own.
        self._closing = True
        try:
            self.stopped = _stop_children(self.grace)
        finally:
            self._closing = False
        raise Interrupted(signum)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> Literal[False]:
        self._closing = True
        status = self._status_from(exc)
        try:
            if status is Status.INTERRUPTED:
                self.stopped = list(dict.fromkeys([*self.stopped, *_stop_children(self.grace)]))
            self._run_rollbacks(status)
        except Interrupted:  # a second signal: the rollbacks were abandoned
            status = Status.INTERRUPTED
        finally:
            if self._pending_signal is not None:  # a signal arrived while closing: say so
                status = Status.INTERRUPTED
            self.status = status
            self.exit_code = self._exit_code(status, exc)
            self.ended_at = iso(utcnow())
            try:
                _journal(Kind.OPERATION_END, self.subject, self.evidence())
            finally:
                self._signals.close()
                self._closing = False
        if status is Status.INTERRUPTED:
            signum = exc.signum if isinstance(exc, Interrupted) else (self._pending_signal or signal.SIGINT)
            raise Interrupted(signum, self.summary()) from None
        return False  # other exceptions propagate unchanged

    def _status_from(self, exc: BaseException | None) -> Status:
        if exc is None:
            return self._outcome or Status.OK
        if isinstance(exc, (Interrupted, KeyboardInterrupt)):
            return Status.INTERRUPTED
        if isinstance(exc, VerdictFailed):
            self.error = exc.message
            return Status.FAILED
        if isinstance(exc, ProcopsError):
            self.error = exc.message
            return Status.ERROR
        self.error = f"{type(exc).__name__}: {exc}"
        self.detail = self.detail or "".join(traceback.format_exception(exc, limit=3))[-2000:]
        return Status.ERROR

    @staticmethod
    def _exit_code(status: Status, exc: BaseException | None) -> int:
        if status is Status.ERROR and isinstance(exc, ProcopsError):
            return int(exc.exit_code)
        return EXIT_CODES[status]

    # ------------------------------------------------------------------ the caller's API

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[StepRecord]:
        rec = StepRecord(name, started_at=iso(utcnow()))
        self.steps.append(rec)
        t0 = time.monotonic()
        try:
            yield rec
            rec.status = rec.status or Status.OK
        except (Interrupted, KeyboardInterrupt):
            rec.status = Status.INTERRUPTED
            raise
        except VerdictFailed as e:
            rec.status, rec.detail = Status.FAILED, e.message
            raise
        except ProcopsError as e:
            rec.status, rec.detail = Status.ERROR, e.message
            raise
        except BaseException as e:
            rec.status, rec.detail = Status.ERROR, f"{type(e).__name__}: {e}"
            raise
        finally:
            rec.duration_s = time.monotonic() - t0
            rec.ended_at = iso(utcnow())
            if rec.status is None:
                rec.status = Status.ERROR

    def add_rollback(self, name: str, fn: Callable[[], Any], *, always: bool = False) -> None:
        """Undo something when the operation does not end ok (or whatever happens, with ``always``)."""
        self._rollbacks.append(_Rollback(name, fn, always))

    def finish(self, status: Status, detail: str = "") -> None:
        """The verdict of a block that ends without an exception (ok by default)."""
        self._outcome = status
        if detail:
            self.detail = detail

    @contextlib.contextmanager
    def signals_held(self) -> Iterator[None]:
        """Hold SIGINT/SIGTERM while the block runs (a rollback the caller runs itself): the first
        signal is kept and ends the operation as interrupted afterwards; a second one stops the block."""
        was = self._closing
        self._closing = True
        try:
            yield
        finally:
            self._closing = was

    def hard_abort(self) -> None:
        """Skip the rollbacks (an operator asked to leave things as they are)."""
        self._hard_abort = True

    def _run_rollbacks(self, status: Status) -> None:
        due = [r for r in reversed(self._rollbacks) if r.always or status is not Status.OK]
        for r in due:
            rec = RollbackRecord(r.name)
            self.rollbacks.append(rec)
            if self._hard_abort:
                rec.detail = "skipped: hard abort"
                continue
            try:
                r.fn()
                rec.status = Status.OK
            except Interrupted as e:
                rec.status, rec.detail = Status.INTERRUPTED, e.message
            except Exception as e:  # a failed rollback must not hide the others
                rec.status, rec.detail = Status.ERROR, f"{type(e).__name__}: {e}"

    # ------------------------------------------------------------------ records

    def summary(self) -> str:
        """What the operation did, for the person who interrupted it."""
        parts = [f"{self.kind} interrupted"]
        done = [s.name for s in self.steps if s.status is Status.OK]
        cut = [s.name for s in self.steps if s.status is Status.INTERRUPTED]
        if done:
            parts.append("done: " + ", ".join(done))
        if cut:
            parts.append("stopped during: " + ", ".join(cut))
        if self.stopped:
            parts.append("child processes stopped: " + ", ".join(self.stopped))
        if self.rollbacks:
            parts.append(
                "rolled back: "
                + ", ".join(f"{r.name} ({r.status.value if r.status else 'not run'})" for r in self.rollbacks)
            )
        return "; ".join(parts)

    def evidence(self) -> OperationEnd:
        return OperationEnd(
            operation=str(self.kind),
            id=self.id,
            status=self.status or Status.ERROR,
            exit_code=self.exit_code,
            started_at=self.started_at,
            ended_at=self.ended_at,
            detail=self.detail,
            error=self.error,
            steps=[s.as_dict() for s in self.steps],
            rollbacks=[r.as_dict() for r in self.rollbacks],
            stopped=list(self.stopped),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": str(self.kind),
            "id": self.id,
            "status": self.status.value if self.status else "running",
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "detail": self.detail,
            "error": self.error,
            "steps": [s.as_dict() for s in self.steps],
            "rollbacks": [r.as_dict() for r in self.rollbacks],
            "stopped": self.stopped,
        }
