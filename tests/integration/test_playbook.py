"""procops.playbook.run_playbook against the real ansible-runner and ansible-playbook.

Hosts are this machine (``connection: local``) and, for the unreachable case, an ssh host on
127.0.0.1 at a port nothing listens on.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from procops.playbook import PlaybookStatus, TaskStatus, run_playbook

PY = sys.executable

PLAYBOOK = """---
- name: Small
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the marker
      ansible.builtin.copy:
        dest: "{{ marker }}"
        content: "{{ greeting }}\\n"
        mode: "0600"
    - name: Echo the environment
      ansible.builtin.set_stats:
        data:
          greeting: "{{ greeting }}"
          restic_password: "{{ lookup('env', 'RESTIC_PASSWORD') }}"
          deploy_id: "{{ lookup('env', 'DEPLOY_ID') }}"
        per_host: false
        aggregate: false
    - name: Fail when asked
      ansible.builtin.command: sh -c 'echo "release 7 is broken" >&2; exit 3'
      when: fail_on | default('') == inventory_hostname
      changed_when: false
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("PROCOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RESTIC_PASSWORD", "never-in-a-playbook")
    pb = tmp_path / "small.yml"
    pb.write_text(PLAYBOOK)
    inv = tmp_path / "inv.ini"
    inv.write_text(
        f"[stage]\nweb1 ansible_connection=local ansible_python_interpreter={PY}\n"
        f"web2 ansible_connection=local ansible_python_interpreter={PY}\n"
    )
    return pb, inv, tmp_path


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_good_run_is_ok_per_host_with_the_reported_values_and_an_exact_environment(project):
    pb, inv, tmp = project
    marker = tmp / "marker"
    seen: list[str] = []
    r = run_playbook(
        pb,
        inv,
        extra_vars={"marker": str(marker), "greeting": "hello 'world' a=b"},
        limit="web1",
        envvars={"DEPLOY_ID": "42"},
        on_event=lambda e: seen.append(e["event"]),
        timeout=120,
    )
    assert r.status is PlaybookStatus.OK, r.to_dict()
    assert r.exit_code() == 0 and r.rc == 0
    assert set(r.hosts) == {"web1"}  # the limit
    assert r.hosts["web1"].changed == 1 and r.hosts["web1"].skipped == 1 and r.hosts["web1"].failed == 0
    assert marker.read_text() == "hello 'world' a=b\n"
    assert r.reported == {"greeting": "hello 'world' a=b", "restic_password": "", "deploy_id": "42"}
    assert [t.status for t in r.tasks] == [TaskStatus.CHANGED, TaskStatus.OK, TaskStatus.SKIPPED]
    assert "playbook_on_stats" in seen
    # extra vars went through a file, never on the command line; the private data dir is gone
    assert "-e" in r.command
    at = r.command[r.command.index("-e") + 1]
    assert at.startswith("@") and at.endswith("/env/extravars")
    assert not any("hello" in a for a in r.command)
    assert Path(at[1:]).parent.parent.parent == tmp / "home" / "tmp"
    assert not Path(at[1:]).exists() and list((tmp / "home" / "tmp").iterdir()) == []


def test_a_failing_task_names_host_task_and_message(project):
    pb, inv, tmp = project
    r = run_playbook(pb, inv, extra_vars={"marker": str(tmp / "m"), "greeting": "x", "fail_on": "web2"}, timeout=120)
    assert r.status is PlaybookStatus.FAILED, r.to_dict()
    assert r.hosts["web1"].failed == 0 and r.hosts["web2"].failed == 1
    assert [(f.host, f.task) for f in r.failures] == [("web2", "Fail when asked")]
    assert "release 7 is broken" in r.failures[0].message
    assert r.exit_code(on_failure=1) == 1 and r.exit_code() == 3
    assert r.output_tail  # the tail of ansible's output, for people


def test_check_mode_changes_nothing(project):
    pb, inv, tmp = project
    marker = tmp / "marker"
    r = run_playbook(pb, inv, extra_vars={"marker": str(marker), "greeting": "x"}, check=True, timeout=120)
    assert r.status is PlaybookStatus.OK and r.check, r.to_dict()
    assert "--check" in r.command
    assert r.hosts["web1"].changed == 1  # it would change ...
    assert not marker.exists()  # ... and did not


def test_a_syntax_error_is_bad_input(project):
    _, inv, tmp = project
    bad = tmp / "bad.yml"
    bad.write_text("- hosts: all\n  tasks:\n    - name: x\n      ansible.builtin.debug: {msg: x\n")
    r = run_playbook(bad, inv, extra_vars={}, timeout=120)
    assert r.status is PlaybookStatus.BAD_INPUT and r.exit_code() == 2, r.to_dict()
    assert "YAML" in r.error or "Syntax" in r.error


def test_a_missing_playbook_or_inventory_or_a_limit_matching_nothing_is_bad_input(project):
    pb, inv, tmp = project
    assert run_playbook(tmp / "nope.yml", inv, extra_vars={}).exit_code() == 2
    assert run_playbook(pb, tmp / "nope.ini", extra_vars={}).exit_code() == 2
    r = run_playbook(pb, inv, extra_vars={"marker": "/dev/null", "greeting": "x"}, limit="db*", timeout=120)
    assert r.status is PlaybookStatus.BAD_INPUT and r.exit_code() == 2, r.to_dict()


def test_an_unreachable_host_is_exit_3(project):
    pb, _, tmp = project
    inv = (
        f"[stage]\ngone ansible_host=127.0.0.1 ansible_port={_closed_port()} ansible_user=root "
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5'\n"
    )
    r = run_playbook(pb, inv, extra_vars={"marker": str(tmp / "m"), "greeting": "x"}, timeout=120)
    assert r.status is PlaybookStatus.UNREACHABLE and r.exit_code() == 3, r.to_dict()
    assert r.hosts["gone"].unreachable == 1
    assert r.failures[0].host == "gone" and r.failures[0].unreachable
    assert "Connection refused" in r.failures[0].message


def test_a_timeout_stops_the_run_and_leaves_no_process(project):
    import psutil

    _, inv, tmp = project
    slow = tmp / "slow.yml"
    slow.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Wait\n      ansible.builtin.command: sleep 47.5\n"
    )
    r = run_playbook(slow, inv, extra_vars={}, limit="web1", timeout=3)
    assert r.status is PlaybookStatus.TIMEOUT and r.exit_code() == 3, r.to_dict()
    left = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "47.5"]]
    assert left == []
