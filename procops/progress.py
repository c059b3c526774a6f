"""Progress on long work, for people: a live line on a terminal, nothing when not a terminal.

One small helper for every long job (backup runs, verify hashing, restores, load tests,
readiness steps, release stages, drill phases)::

    from procops.progress import progress

    with progress(_("Backing up")) as p:          # a spinner, or a bar once a total is known
        for done, total in work():
            p.update(done, total, _("{n} files").format(n=done))
        p.note(_("local repository done"))        # a line that stays, above the live one

* Shown on **stderr**, so ``--json`` on stdout stays clean, and only when stderr is a
  terminal (cron, systemd and CI logs get no control characters): otherwise every call is a
  no-op. ``PROCOPS_PROGRESS=0`` turns it off, ``=1`` forces it (tests, screenshots).
* Text goes through ``_()`` at the caller, as every line a person reads.
* ``update(done, total)`` with ``total`` None keeps a spinner; ``unit="bytes"`` shows sizes and
  speed. The live line is cleared when the block ends (``transient``), notes stay.
* rich is imported only when a terminal is there: ``procops --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def enabled(stream: Any = None) -> bool:
    """Whether progress is shown: ``$PROCOPS_PROGRESS`` (0/1), else whether stderr is a terminal."""
    forced = os.environ.get("PROCOPS_PROGRESS", "")
    if forced in ("0", "1"):
        return forced == "1"
    s = stream or sys.stderr
    return bool(getattr(s, "isatty", lambda: False)())


class Progress:
    """The handle a ``with progress(...)`` block gets; every method is safe to call when quiet."""

    def __init__(self, bar: Any = None, task: Any = None, console: Any = None) -> None:
        self._bar, self._task, self._console = bar, task, console

    @property
    def live(self) -> bool:
        return self._bar is not None

    def update(self, done: float | None = None, total: float | None = None, text: str | None = None) -> None:
        if self._bar is None:
            return
        kw: dict[str, Any] = {}
        if done is not None:
            kw["completed"] = done
        if total is not None:
            kw["total"] = total or None
        if text is not None:
            kw["status"] = text
        self._bar.update(self._task, **kw)

    def describe(self, description: str) -> None:
        """Change what the live line says it is doing (the next step, stage or phase)."""
        if self._bar is not None:
            self._bar.update(self._task, description=description)

    def note(self, line: str) -> None:
        """A line that stays on the terminal above the live one."""
        if self._console is not None:
            self._console.print(line, markup=False, highlight=False)


@contextmanager
def progress(
    description: str, *, total: float | None = None, unit: str = "items", stream: Any = None
) -> Iterator[Progress]:
    """A live progress line on stderr while the block runs (quiet when stderr is not a terminal)."""
    if not enabled(stream):
        yield Progress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as RichProgress

    console = Console(file=stream or sys.stderr, highlight=False)
    counts = [DownloadColumn(), TransferSpeedColumn()] if unit == "bytes" else [MofNCompleteColumn()]
    bar = RichProgress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        *counts,
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total, status="")
        yield Progress(bar, task, console)
