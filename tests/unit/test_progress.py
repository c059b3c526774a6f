"""Progress on long work: a live line on a terminal, nothing at all otherwise."""

from __future__ import annotations

import io

from procops import progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_written_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv("PROCOPS_PROGRESS", raising=False)
    out = io.StringIO()
    with progress.progress("Backing up", total=3, stream=out) as p:
        assert not p.live
        p.update(1, 3, "1 of 3")
        p.note("a line")
        p.describe("next")
    assert out.getvalue() == ""


def test_on_a_terminal_notes_stay_and_procops_progress_0_silences_it(monkeypatch):
    monkeypatch.delenv("PROCOPS_PROGRESS", raising=False)
    out = Tty()
    with progress.progress("Readiness", total=2, stream=out) as p:
        assert p.live
        p.note("[通过] 配置有效")
        p.update(1)
    assert "[通过] 配置有效" in out.getvalue()
    monkeypatch.setenv("PROCOPS_PROGRESS", "0")
    assert not progress.enabled(Tty())
    monkeypatch.setenv("PROCOPS_PROGRESS", "1")
    assert progress.enabled(io.StringIO())
