"""The operation lifecycle: start before side effects, steps closed, rollbacks, status and exit code."""

from __future__ import annotations

import os
import signal

import pytest

from procops.errors import EnvironmentFailure, VerdictFailed
from procops.journal import open_journal
from procops.operation import EXIT_CODES, Interrupted, Operation, Status, signals_raise


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PROCOPS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _ends() -> list[dict]:
    with open_journal() as j:
        return [e.data for e in j.events("operation.end")]


def test_the_start_is_journaled_before_the_block_runs():
    with Operation("backup.run", "all") as op:
        with open_journal() as j:
            starts = j.events("operation.start")
        assert [e.data["id"] for e in starts] == [op.id]
        assert starts[0].data["procops"]
        assert "@" in starts[0].data["actor"]


def test_a_block_that_ends_normally_is_ok_with_exit_0_and_its_steps_closed():
    with Operation("backup.run", "all") as op:
        with op.step("dump"):
            pass
    assert op.status is Status.OK and op.exit_code == 0
    end = _ends()[-1]
    assert end["status"] == "ok"
    assert end["steps"][0]["name"] == "dump" and end["steps"][0]["status"] == "ok"
    assert end["steps"][0]["ended_at"] >= end["steps"][0]["started_at"]


def test_a_step_that_raises_is_closed_with_error_and_the_rollbacks_run_last_first():
    done: list[str] = []
    with pytest.raises(EnvironmentFailure):
        with Operation("release.start", "1.1.0") as op:
            op.add_rollback("first", lambda: done.append("first"))
            op.add_rollback("second", lambda: done.append("second"))
            with op.step("deploy"):
                raise EnvironmentFailure("host unreachable")
    assert done == ["second", "first"]
    assert op.status is Status.ERROR and op.exit_code == 3
    end = _ends()[-1]
    assert end["steps"][0]["status"] == "error" and end["steps"][0]["detail"] == "host unreachable"
    assert [r["status"] for r in end["rollbacks"]] == ["ok", "ok"]


def test_a_failed_verdict_is_status_failed_and_exit_1():
    with pytest.raises(VerdictFailed):
        with Operation("loadtest.peak", "url") as op:
            raise VerdictFailed("p95 over 2 s")
    assert op.status is Status.FAILED and op.exit_code == 1


def test_rollbacks_do_not_run_on_success_unless_always():
    done: list[str] = []
    with Operation("drill.run", "app-crash") as op:
        op.add_rollback("only on failure", lambda: done.append("failure"))
        op.add_rollback("always", lambda: done.append("always"), always=True)
    assert done == ["always"]


def test_a_failing_rollback_does_not_stop_the_others():
    done: list[str] = []

    def boom() -> None:
        raise RuntimeError("cannot restore")

    with pytest.raises(EnvironmentFailure):
        with Operation("release.start", "1.1.0") as op:
            op.add_rollback("restore weights", lambda: done.append("weights"))
            op.add_rollback("rollback playbook", boom)
            raise EnvironmentFailure("gate query failed")
    assert done == ["weights"]
    assert [(r.name, r.status) for r in op.rollbacks] == [
        ("rollback playbook", Status.ERROR),
        ("restore weights", Status.OK),
    ]


def test_a_hard_abort_skips_the_rollbacks():
    done: list[str] = []
    with pytest.raises(EnvironmentFailure):
        with Operation("release.abort", "1.1.0") as op:
            op.add_rollback("weights", lambda: done.append("weights"))
            op.hard_abort()
            raise EnvironmentFailure("stop here")
    assert done == []
    assert op.rollbacks[0].detail == "skipped: hard abort"


def test_finish_sets_the_verdict_of_a_block_without_exception():
    with Operation("backup.run", "all") as op:
        op.finish(Status.FAILED, "2 documents altered")
    assert op.status is Status.FAILED and op.exit_code == EXIT_CODES[Status.FAILED] == 1
    assert _ends()[-1]["detail"] == "2 documents altered"


def test_sigint_mid_step_gives_status_interrupted_exit_130_rollback_and_a_journal_event():
    done: list[str] = []
    with pytest.raises(Interrupted) as exc:
        with Operation("backup.run", "all") as op:
            op.add_rollback("unlock", lambda: done.append("unlock"))
            with op.step("upload"):
                os.kill(os.getpid(), signal.SIGINT)
                pytest.fail("the signal did not interrupt the step")
    assert op.status is Status.INTERRUPTED and op.exit_code == 130
    assert done == ["unlock"]
    assert "upload" in exc.value.message and "unlock" in exc.value.message
    end = _ends()[-1]
    assert end["status"] == "interrupted" and end["steps"][0]["status"] == "interrupted"


def test_sigterm_is_an_interruption_too():
    with pytest.raises(Interrupted) as exc:
        with Operation("scan", "localhost") as op:
            os.kill(os.getpid(), signal.SIGTERM)
    assert exc.value.signum == signal.SIGTERM
    assert op.status is Status.INTERRUPTED


def test_a_signal_during_the_rollbacks_is_held_until_they_are_done():
    done: list[str] = []

    def slow_rollback() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # one signal while rolling back: held
        done.append("restored")

    with pytest.raises(Interrupted):
        with Operation("release.start", "1.1.0") as op:
            op.add_rollback("weights", slow_rollback)
            raise EnvironmentFailure("gate failed")
    assert done == ["restored"]
    assert op.status is Status.INTERRUPTED


def test_the_signal_handlers_are_restored_after_the_operation():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with Operation("backup.check", "all"):
        assert signal.getsignal(signal.SIGINT) is not before[0]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_signals_raise_restores_the_previous_handlers():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted):
        with signals_raise():
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_the_config_source_and_its_hash_are_in_the_provenance(tmp_path):
    from procops import config

    cfg = tmp_path / "procops.yaml"
    cfg.write_text("platform:\n  name: district\n")
    loaded = config.load(cfg)
    with Operation("backup.run", "all", loaded=loaded):
        pass
    with open_journal() as j:
        start = j.events("operation.start")[-1].data
    assert start["config_source"] == str(cfg)
    assert len(start["config_sha256"]) == 64
    assert start["policy"]["page_load_p95"] == "2s"


def test_the_children_are_stopped_when_the_signal_arrives_not_after_the_block_unwinds():
    """A block waiting on a worker thread that waits on a child: the child is stopped at once."""
    import sys
    import threading

    from procops import execute

    tool = execute.Tool("sleeper", sys.executable, timeout=60, grace=2)
    ended: list[str] = []

    def worker() -> None:
        execute.run(tool, [sys.executable, "-c", "import time; time.sleep(60)"], check=False)
        ended.append("child ended")

    with pytest.raises(Interrupted):
        with Operation("backup.run", "all", grace=2) as op:
            t = threading.Thread(target=worker)
            t.start()
            while not execute.live_children():
                pass
            try:
                os.kill(os.getpid(), signal.SIGINT)
                t.join(50)
            finally:
                t.join(50)  # what ThreadPoolExecutor's exit does
    assert ended == ["child ended"] and not execute.live_children()
    assert op.stopped and op.stopped[0].startswith("sleeper (pid")


def test_an_interrupt_in_a_nested_operation_ends_both_interrupted():
    with pytest.raises(Interrupted):
        with Operation("readiness.run", "platform") as outer:
            with outer.step("backup"):
                with Operation("backup.run", "all") as inner:
                    os.kill(os.getpid(), signal.SIGINT)
    assert inner.status is Status.INTERRUPTED and outer.status is Status.INTERRUPTED
    assert [e["operation"] for e in _ends()] == ["backup.run", "readiness.run"]
    assert outer.steps[0].status is Status.INTERRUPTED
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_status_of_a_job_follows_its_exit_code():
    from procops.operation import run_as_operation

    assert [Status.from_exit_code(c) for c in (0, 1, 2, 3, 130)] == [
        Status.OK,
        Status.FAILED,
        Status.ERROR,
        Status.ERROR,
        Status.INTERRUPTED,
    ]
    assert run_as_operation("scan.run", "host", lambda op: 1, exit_code=lambda r: r) == 1
    assert _ends()[-1]["status"] == "failed" and _ends()[-1]["exit_code"] == 1
