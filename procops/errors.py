"""Exit codes and the exceptions that carry them (the CLI contract)."""

from __future__ import annotations

import contextlib
import enum
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from procops.i18n import _


class ExitCode(enum.IntEnum):
    OK = 0  # done, the verdict holds
    VERDICT_FAILED = 1  # done, the verdict failed
    BAD_INPUT = 2  # usage, config, unknown name
    ENVIRONMENT = 3  # binary missing, service unreachable, lock held
    INTERRUPTED = 130  # SIGINT or SIGTERM: children stopped, the operation journaled as interrupted


class ProcopsError(Exception):
    """An error the CLI turns into a message on stderr and an exit code.

    ``message`` says what is wrong and ``hint`` what to do next (the command or the runbook
    that helps); both are read by people, so both are written with ``_()``. With ``--json``
    the CLI prints them as ``{"error": {"exit_code", "kind", "message", "hint"}}``.
    """

    exit_code: ExitCode = ExitCode.ENVIRONMENT
    kind: str = "environment"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class BadInput(ProcopsError):
    exit_code = ExitCode.BAD_INPUT
    kind = "bad_input"


class EnvironmentFailure(ProcopsError):
    exit_code = ExitCode.ENVIRONMENT


class VerdictFailed(ProcopsError):
    exit_code = ExitCode.VERDICT_FAILED
    kind = "verdict_failed"


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (exit 130). A BaseException, so ``except Exception`` cannot swallow it.

    Not a KeyboardInterrupt either: Click would turn that into "Aborted!" and exit 1.
    """

    def __init__(self, signum: int = signal.SIGINT, message: str = "") -> None:
        self.signum = signum
        self.message = message or _("interrupted ({signal})").format(signal=signal.Signals(signum).name)
        super().__init__(self.message)


def raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise(handler: Callable[[int, Any], None] = raise_interrupted) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` inside the block; the previous handlers come back after.

    Outside the main thread signal handlers cannot be set: the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
