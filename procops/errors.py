"""Exit codes and the exceptions that carry them (the CLI contract)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0  # done, the verdict holds
    VERDICT_FAILED = 1  # done, the verdict failed
    BAD_INPUT = 2  # usage, config, unknown name
    ENVIRONMENT = 3  # binary missing, service unreachable, lock held


class ProcopsError(Exception):
    """An error the CLI turns into a message on stderr and an exit code."""

    exit_code: ExitCode = ExitCode.ENVIRONMENT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class BadInput(ProcopsError):
    exit_code = ExitCode.BAD_INPUT


class EnvironmentFailure(ProcopsError):
    exit_code = ExitCode.ENVIRONMENT


class VerdictFailed(ProcopsError):
    exit_code = ExitCode.VERDICT_FAILED


class NotYetAvailable(BadInput):
    """A command whose capability has not landed yet (exit 2)."""

    def __init__(self, command: str) -> None:
        super().__init__(f"'procops {command}' is not yet available in this version")
