"""The one runner, with real small processes (sh, cat, sleep, python)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from procops import execute
from procops.errors import EnvironmentFailure, ExitCode, VerdictFailed

SH = execute.Tool("sh", "/bin/sh", exits={5: (ExitCode.VERDICT_FAILED, "verdict")}, timeout=30, grace=2)
# a consumer stopped the way restic is: SIGINT, then a grace period (a long one: on a loaded machine python
# can take seconds to run its handler, and SIGKILL after a short grace would leave no marker; an exited
# child is not waited for longer)
INT_TOOL = execute.Tool("consumer", sys.executable, stop_signal=signal.SIGINT, grace=30, timeout=60)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_for(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    return ""


# a python child that records what ended it: SIGINT ("INT") or the end of its input ("EOF")
CONSUMER = """
import os, select, signal, sys
marker = sys.argv[1]
def on_int(*_):
    open(marker, "w").write("INT")
    sys.exit(130)
signal.signal(signal.SIGINT, on_int)
# no blocking read without a wake-up: a SIGINT that lands between two bytecodes, just before a read
# of a pipe that stays open, would otherwise run its handler only once that read returns (never)
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
open(marker + ".ready", "w").write("1")
n = 0
while True:
    if r in select.select([0, r], [], [])[0]:
        os.read(r, 64)  # the handler runs at the next bytecode
        continue
    b = os.read(0, 65536)
    if not b:
        break
    n += len(b)
open(marker, "w").write(f"EOF {n}")
sys.stdout.write(f"read {n}\\n")
"""


SLEEPER = """
import signal, sys, time
def on_int(*_):
    open(sys.argv[1], "w").write("INT")
    sys.exit(130)
signal.signal(signal.SIGINT, on_int)
time.sleep(30)
"""


# --------------------------------------------------------------------------- masking


def test_masking_hides_flag_values_both_ways_and_url_passwords():
    argv = ["restic", "--password", "hunter2", "--token=abc", "--password-file", "/p", "rest:http://u:pw@h/r"]
    out = execute.mask_argv(argv)
    assert out == ["restic", "--password", execute.MASK, f"--token={execute.MASK}", "--password-file", "/p", out[-1]]
    assert "pw@" not in out[-1] and out[-1] == f"rest:http://u:{execute.MASK}@h/r"
    assert execute.mask_text("sftp://backup:s3cret@10.0.0.2/r") == f"sftp://backup:{execute.MASK}@10.0.0.2/r"


def test_a_tools_own_secret_flags_are_masked():
    tool = execute.Tool("x", "x", mask_flags=frozenset({"--dsn", "-W"}))
    assert tool.mask(["x", "--dsn", "a", "-W=b", "--name", "c"]) == [
        "x",
        "--dsn",
        execute.MASK,
        "-W=" + execute.MASK,
        "--name",
        "c",
    ]


def test_env_masking_hides_secret_values_keeps_file_paths():
    out = execute.mask_env(
        {"RESTIC_PASSWORD_FILE": "/s/p", "PGPASSWORD": "x", "DSN": "postgresql://u:pw@h/db", "OTHER": "y"},
        names={"OTHER"},
    )
    assert out == {
        "RESTIC_PASSWORD_FILE": "/s/p",
        "PGPASSWORD": execute.MASK,
        "DSN": f"postgresql://u:{execute.MASK}@h/db",
        "OTHER": execute.MASK,
    }


def test_the_argv_is_logged_masked_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="procops.execute")
    execute.run(
        SH, ["/bin/sh", "-c", "true", "--password", "hunter2", "rest:http://u:pw@h/r"], env={"PGPASSWORD": "pw2"}
    )
    text = caplog.text
    assert "--password ********" in text and "hunter2" not in text and "pw@" not in text and "pw2" not in text


def test_an_error_carries_the_masked_argv_and_the_tail_of_the_output():
    script = "for i in $(seq 1 40); do echo line$i; done; echo boom >&2; exit 1"
    with pytest.raises(execute.ToolFailed) as e:
        execute.run(SH, ["/bin/sh", "-c", script, "x", "--token", "tk1", "sftp://u:pw@h/"])
    err = e.value
    assert err.rc == 1 and err.exit_code == ExitCode.ENVIRONMENT and isinstance(err, EnvironmentFailure)
    assert "tk1" not in err.message and "pw@" not in err.message and "--token ********" in err.message
    lines = err.tail.splitlines()
    assert len(lines) == execute.TAIL_LINES and lines[-1] == "boom" and "line1" not in lines


# --------------------------------------------------------------------------- exit codes, binaries


def test_the_exit_code_map_gives_the_projects_code_and_the_problem():
    assert SH.outcome(0) == (ExitCode.OK, "ok")
    assert SH.outcome(5) == (ExitCode.VERDICT_FAILED, "verdict")
    assert SH.outcome(7) == (ExitCode.ENVIRONMENT, "failed")
    assert execute.RESTIC.outcome(11) == (ExitCode.ENVIRONMENT, "locked")
    assert execute.RESTIC.outcome(-signal.SIGINT)[1].startswith("interrupted")
    with pytest.raises(VerdictFailed) as e:
        execute.run(SH, ["/bin/sh", "-c", "exit 5"])
    assert e.value.exit_code == ExitCode.VERDICT_FAILED and e.value.problem == "verdict"


def test_check_false_returns_the_exit_code():
    c = execute.run(SH, ["/bin/sh", "-c", "echo out; echo err >&2; exit 7"], check=False)
    assert (c.rc, c.stdout, c.stderr, c.ok) == (7, "out\n", "err\n", False)


def test_input_reaches_the_child():
    assert execute.run(execute.Tool("cat", "cat"), ["cat"], input=b"hello").stdout == "hello"


def test_a_missing_binary_is_exit_3_naming_bootstrap():
    with pytest.raises(execute.ToolMissing) as e:
        execute.run(SH, ["/nonexistent/prog"])
    assert e.value.exit_code == ExitCode.ENVIRONMENT and "run scripts/bootstrap" in e.value.message
    with pytest.raises(execute.ToolMissing):
        execute.Tool("nope", "procops-no-such-program").resolve()


# --------------------------------------------------------------------------- environment


def test_the_child_environment_does_not_inherit_a_secret_of_the_parent(monkeypatch):
    monkeypatch.setenv("RESTIC_PASSWORD", "leak1")
    monkeypatch.setenv("PGPASSWORD", "leak2")
    monkeypatch.setenv("RESTIC_REPOSITORY", "/leak3")
    out = execute.run(SH, ["/bin/sh", "-c", "env"], env={"PASSED": "yes"}).stdout
    assert "leak1" not in out and "leak2" not in out and "leak3" not in out
    assert "PASSED=yes" in out and "PATH=" in out


def test_a_secret_passed_explicitly_reaches_the_child(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "inherited")
    out = execute.run(SH, ["/bin/sh", "-c", 'echo "$PGPASSWORD"'], env={"PGPASSWORD": "given"}).stdout
    assert out == "given\n"


def test_a_tool_inherits_only_what_it_names(monkeypatch):
    monkeypatch.setenv("PASSWORD_STORE_DIR", "/store")
    monkeypatch.setenv("SOME_TOKEN", "t")
    env = execute.child_env(execute.SECRET_COMMAND)
    assert env["PASSWORD_STORE_DIR"] == "/store" and "SOME_TOKEN" not in env
    assert "PASSWORD_STORE_DIR" not in execute.child_env(execute.PROMTOOL)


def test_a_secret_commands_output_is_never_in_its_error():
    with pytest.raises(execute.ToolFailed) as e:
        execute.run(execute.SECRET_COMMAND, ["/bin/sh", "-c", r"printf 'the\055secret'; echo oops >&2; exit 1"])
    assert "the-secret" not in e.value.message and "oops" in e.value.tail


# --------------------------------------------------------------------------- timeouts


def test_a_timeout_sends_the_stop_signal_then_sigkill_after_the_grace(tmp_path):
    marker = tmp_path / "term"
    pidfile = tmp_path / "pid"
    # ignores the stop signal (records it), so only SIGKILL ends it
    script = f"echo $$ > {pidfile}; trap 'echo TERM > {marker}' TERM; while true; do sleep 0.05; done"
    tool = execute.Tool("stubborn", "/bin/sh", grace=0.5)
    with pytest.raises(execute.ToolFailed) as e:
        execute.run(tool, ["/bin/sh", "-c", script], timeout=0.5)
    assert e.value.problem == "timeout" and e.value.exit_code == ExitCode.ENVIRONMENT
    assert e.value.rc == -signal.SIGKILL
    assert _wait_for(marker).strip() == "TERM"
    assert _gone(int(pidfile.read_text()))


def test_a_timeout_stops_restic_like_tools_with_sigint(tmp_path):
    marker = tmp_path / "m"
    with pytest.raises(execute.ToolFailed) as e:
        execute.run(INT_TOOL, [sys.executable, "-c", SLEEPER, str(marker)], timeout=1.5)
    assert e.value.problem == "timeout"
    assert marker.read_text() == "INT"


# --------------------------------------------------------------------------- pipeline


def test_a_failed_producer_gets_sigint_to_the_consumer_and_names_the_producer(tmp_path):
    marker = tmp_path / "m"
    # the producer fails only once the consumer has its SIGINT handler (a loaded machine starts python slowly)
    script = f"head -c 300000 /dev/zero; until [ -e '{marker}.ready' ]; do sleep 0.05; done; "
    producer = execute.Command(SH, ["/bin/sh", "-c", script + "echo 'lost connection' >&2; exit 3"])
    consumer = execute.Command(INT_TOOL, [sys.executable, "-c", CONSUMER, str(marker)])
    res = execute.pipeline(producer, consumer, timeout=60)
    assert not res.ok and res.failed == "producer" and not res.timed_out
    assert res.producer is not None and res.producer.rc == 3 and "lost connection" in res.tail
    # the consumer was stopped with SIGINT while its input was still open, and waited for
    assert marker.read_text() == "INT" and res.consumer.rc == 130
    err = res.error()
    assert "sh (producer) exited 3" in err.message and "lost connection" in err.message
    assert not execute.live_children()


def test_a_good_pipeline_feeds_everything_and_closes_the_input(tmp_path):
    marker = tmp_path / "m"
    producer = execute.Command(SH, ["/bin/sh", "-c", "head -c 3000000 /dev/zero"])
    res = execute.pipeline(producer, execute.Command(INT_TOOL, [sys.executable, "-c", CONSUMER, str(marker)]))
    assert res.ok and res.consumer.stdout == "read 3000000\n" and marker.read_text() == "EOF 3000000"


def test_a_file_can_be_the_producer(tmp_path):
    f = tmp_path / "dump"
    f.write_bytes(b"x" * 100)
    res = execute.pipeline(f, execute.Command(execute.Tool("wc", "wc"), ["wc", "-c"]))
    assert res.ok and res.producer is None and res.consumer.stdout.strip() == "100"


def test_a_failed_consumer_stops_the_producer_and_is_named(tmp_path):
    pidfile = tmp_path / "pid"
    producer = execute.Command(SH, ["/bin/sh", "-c", f"echo $$ > {pidfile}; exec cat /dev/zero"])
    consumer = execute.Command(SH, ["/bin/sh", "-c", "head -c 1000 >/dev/null; echo 'repository full' >&2; exit 1"])
    res = execute.pipeline(producer, consumer, timeout=60)
    assert res.failed == "consumer" and res.consumer.rc == 1 and "repository full" in res.tail
    assert _gone(int(pidfile.read_text()))
    assert "sh (consumer) exited 1" in res.error().message


def test_a_pipeline_that_takes_too_long_interrupts_the_consumer(tmp_path):
    marker = tmp_path / "m"
    producer = execute.Command(SH, ["/bin/sh", "-c", "head -c 1000 /dev/zero; exec sleep 120"])
    res = execute.pipeline(
        producer, execute.Command(INT_TOOL, [sys.executable, "-c", CONSUMER, str(marker)]), timeout=30
    )
    assert res.timed_out and res.failed == "producer" and marker.read_text() == "INT"
    assert res.error().problem == "timeout"


# --------------------------------------------------------------------------- the registry of foreground children


def test_stop_children_stops_a_running_child_with_its_stop_signal(tmp_path):
    marker = tmp_path / "m"
    child = execute.popen(INT_TOOL, [sys.executable, "-c", CONSUMER, str(marker)], stdin=execute.PIPE)
    assert _wait_for(Path(str(marker) + ".ready"))
    assert child in execute.live_children()
    stopped = execute.stop_children(grace=30)
    assert stopped == [f"consumer (pid {child.pid})"]
    assert marker.read_text() == "INT"
    assert child.wait(5) == 130 and not execute.live_children()


def test_stop_children_kills_what_ignores_its_stop_signal_after_the_grace(tmp_path):
    ready = tmp_path / "ready"
    tool = execute.Tool("stubborn", "/bin/sh")
    child = execute.popen(tool, ["/bin/sh", "-c", f"trap '' TERM; echo 1 > {ready}; while true; do sleep 0.05; done"])
    assert _wait_for(ready)
    assert execute.stop_children(grace=0.3) == [f"stubborn (pid {child.pid})"]
    assert child.wait(5) == -signal.SIGKILL


def test_stop_children_stops_a_child_that_run_is_waiting_for(tmp_path):
    """As from a signal handler: another thread is blocked in run(); it sees the child end."""
    pidfile = tmp_path / "pid"
    box: dict = {}

    def target() -> None:
        try:
            execute.run(SH, ["/bin/sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"])
        except execute.ToolFailed as e:
            box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    assert _wait_for(pidfile)
    time.sleep(0.1)  # the shell has exec'd sleep
    stopped = execute.stop_children(grace=30)
    t.join(10)
    assert stopped and not t.is_alive()
    assert box["error"].problem.startswith("interrupted") and _gone(int(pidfile.read_text()))


# --------------------------------------------------------------------------- detached children


def test_a_spawned_process_is_stopped_and_a_stale_record_is_never_signalled(tmp_path):
    group = execute.ProcessGroup("test", tmp_path)
    p = group.spawn(execute.Tool("sleep", "sleep"), ["sleep", "30"], "sleeper")
    assert p.alive() and group.all_alive() and p not in [c for c in execute.live_children()]
    stale = execute.Proc("other", os.getpid(), create_time=p.create_time - 1000)  # our own pid, another start time
    assert execute.terminate([stale]) == []  # not ours any more: untouched (we are still here)
    assert group.stop() == ["sleeper"] and not p.alive()


def test_a_failed_start_stops_what_the_group_started(tmp_path):
    group = execute.ProcessGroup("test", tmp_path)
    cleaned = []
    with pytest.raises(RuntimeError):
        with group.starting(cleanup=lambda: cleaned.append(True)):
            group.spawn(execute.Tool("sleep", "sleep"), ["sleep", "30"], "a")
            raise RuntimeError("health check failed")
    assert cleaned == [True] and not group.members[0].alive()


def test_a_member_that_died_during_start_is_named_with_its_log(tmp_path):
    group = execute.ProcessGroup("test", tmp_path)
    p = group.spawn(SH, ["/bin/sh", "-c", "echo cannot bind >&2; exit 1"], "web")
    deadline = time.monotonic() + 5
    while p.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(EnvironmentFailure) as e:
        group.check_alive()
    assert "web exited during start" in e.value.message and "cannot bind" in e.value.message
