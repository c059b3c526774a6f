"""procops.playbook's pure half: ansible-runner job events -> PlaybookResult, the exit codes, the child env.

data/playbook_events.json was recorded from a real run (trimmed to the fields the parser reads) of a
two-play playbook on hosts a, b (connection local) and u (ssh to a closed port): a debug task, a changed
task, a skipped one, an ignored failure, a set_stats, a task failing on b only, then a ping play.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from procops.errors import ExitCode
from procops.playbook import (
    HostStats,
    PlaybookResult,
    PlaybookStatus,
    TaskFailure,
    TaskStatus,
    child_environment,
    result_from_events,
)

EVENTS = json.loads((Path(__file__).parent / "data" / "playbook_events.json").read_text())


def _stats(**per_host) -> dict:
    """A playbook_on_stats event: _stats(h1={"ok": 2, "failures": 1}, ...)."""
    data: dict = {k: {} for k in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored", "processed")}
    for host, counts in per_host.items():
        data["processed"][host] = 1
        for k, v in counts.items():
            data[k][host] = v
    return {"event": "playbook_on_stats", "event_data": data}


def _ev(kind: str, host: str, task: str, **res) -> dict:
    return {"event": kind, "event_data": {"host": host, "task": task, "task_action": "command", "res": res}}


def test_recorded_events_give_each_hosts_recap():
    r = result_from_events(EVENTS, rc=4)
    assert r.hosts == {
        "a": HostStats(ok=5, changed=2, failed=0, unreachable=0, skipped=2, rescued=0, ignored=1),
        "b": HostStats(ok=4, changed=2, failed=1, unreachable=0, skipped=1, rescued=0, ignored=1),
        "u": HostStats(ok=1, changed=0, failed=0, unreachable=1, skipped=0, rescued=0, ignored=0),
    }


def test_recorded_events_name_each_failure_with_host_task_and_message_but_not_ignored_ones():
    r = result_from_events(EVENTS, rc=4)
    assert r.failures == (
        TaskFailure(
            "u",
            "change",
            "Task failed: Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 1: "
            "Connection refused",
            unreachable=True,
        ),
        TaskFailure("b", "boom", "non-zero return code; bad"),
    )


def test_recorded_events_give_per_task_results_in_order():
    r = result_from_events(EVENTS, rc=4)
    by = {(t.host, t.task): t.status for t in r.tasks}
    assert by[("a", "change")] is TaskStatus.CHANGED
    assert by[("a", "say")] is TaskStatus.OK
    assert by[("a", "skip me")] is TaskStatus.SKIPPED
    assert by[("b", "ignored")] is TaskStatus.IGNORED
    assert by[("b", "boom")] is TaskStatus.FAILED
    assert by[("u", "change")] is TaskStatus.UNREACHABLE
    assert ("b", "after") not in by  # b failed: the next play skips it


def test_set_stats_values_are_the_reported_values():
    assert result_from_events(EVENTS, rc=4).reported == {"served": "a b=c"}


def test_an_unreachable_host_wins_over_a_failed_task_and_is_exit_3():
    r = result_from_events(EVENTS, rc=4)
    assert r.status is PlaybookStatus.UNREACHABLE and not r.ok
    assert r.exit_code() == ExitCode.ENVIRONMENT
    assert r.exit_code(on_failure=ExitCode.VERDICT_FAILED) == ExitCode.ENVIRONMENT
    assert r.error.startswith("u: change: ")
    assert r.hosts_where(lambda s: s.unreachable) == ["u"]


def test_a_failed_task_is_the_callers_exit_code():
    events = [_ev("runner_on_failed", "h1", "migrate", msg="non-zero return code", rc=2), _stats(h1={"failures": 1})]
    r = result_from_events(events, rc=2)
    assert r.status is PlaybookStatus.FAILED
    assert r.exit_code(on_failure=ExitCode.VERDICT_FAILED) == 1
    assert r.exit_code(on_failure=ExitCode.ENVIRONMENT) == 3
    assert r.error == "h1: migrate: non-zero return code"


def test_ok_needs_rc_0_a_host_and_no_failure():
    events = [_ev("runner_on_ok", "h1", "deploy", changed=True), _stats(h1={"ok": 1, "changed": 1})]
    r = result_from_events(events, rc=0)
    assert r.ok and r.exit_code() == 0 and r.error is None and r.output_tail == ()
    assert result_from_events(events, rc=1).status is PlaybookStatus.ERROR


def test_stats_without_hosts_is_no_hosts_and_bad_input():
    r = result_from_events([_stats()], rc=0)
    assert r.status is PlaybookStatus.NO_HOSTS and r.exit_code() == ExitCode.BAD_INPUT


@pytest.mark.parametrize("rc", [1, 2, 4, 5])
def test_a_run_that_never_reached_its_stats_with_a_load_error_is_bad_input(rc):
    output = (
        "[ERROR]: YAML parsing failed: While parsing a flow mapping did not find expected ',' or '}'.\n"
        "Origin: /srv/pb.yml:5:1\n\n(source not shown)\n"
    )
    r = result_from_events([{"event": "verbose", "stdout": "x"}], rc=rc, output=output)
    assert r.status is PlaybookStatus.BAD_INPUT and r.exit_code() == ExitCode.BAD_INPUT
    assert r.error.startswith("[ERROR]: YAML parsing failed") and "Origin: /srv/pb.yml:5:1" in r.error
    assert r.output_tail[-1] == "(source not shown)"


def test_an_unexplained_exit_before_any_play_is_an_environment_failure():
    r = result_from_events([], rc=250)
    assert r.status is PlaybookStatus.ERROR and r.exit_code() == ExitCode.ENVIRONMENT


def test_timeout_and_interrupt():
    t = result_from_events([_ev("runner_on_ok", "h1", "x")], rc=254, runner_status="timeout")
    assert t.status is PlaybookStatus.TIMEOUT and t.exit_code() == 3
    c = result_from_events([], rc=254, runner_status="canceled")
    assert c.status is PlaybookStatus.INTERRUPTED and c.exit_code() == 130


def test_a_failed_loop_names_its_failed_items():
    res = {"msg": "", "results": [{"failed": False}, {"failed": True, "msg": "port 18181 refused"}]}
    events = [{"event": "runner_on_failed", "event_data": {"host": "s1", "task": "health", "res": res}}]
    r = result_from_events([*events, _stats(s1={"failures": 1})], rc=2)
    assert r.failures == (TaskFailure("s1", "health", "port 18181 refused"),)


def test_the_result_is_frozen_and_json_ready():
    r = result_from_events(EVENTS, rc=4, check=True, command=["ansible-playbook", "pb.yml"])
    with pytest.raises(AttributeError):
        r.status = PlaybookStatus.OK  # type: ignore[misc]
    d = json.loads(json.dumps(r.to_dict()))
    assert d["status"] == "unreachable" and d["check"] is True
    assert d["hosts"]["b"]["failed"] == 1 and d["failures"][1]["task"] == "boom"
    assert d["tasks"][0]["status"] == "ok" and d["command"] == ["ansible-playbook", "pb.yml"]
    assert isinstance(PlaybookResult(PlaybookStatus.OK, 0).hosts, dict)


def test_the_child_environment_keeps_no_secret_of_procops():
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/root",
        "RESTIC_PASSWORD": "s3cret",
        "PROCOPS_WEBHOOK_TOKEN": "t",
        "AWS_SECRET_ACCESS_KEY": "k",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
        "SSH_AUTH_SOCK": "/run/agent",
    }
    env = child_environment({"DEPLOY_ID": "42"}, base=base)
    assert "RESTIC_PASSWORD" not in env and "PROCOPS_WEBHOOK_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["ANSIBLE_SSH_ARGS"] == "-o ControlMaster=no" and env["SSH_AUTH_SOCK"] == "/run/agent"
    assert env["DEPLOY_ID"] == "42" and env["HOME"] == "/root" and env["ANSIBLE_NOCOLOR"] == "1"
    assert env["PATH"].endswith("/usr/bin:/bin")
