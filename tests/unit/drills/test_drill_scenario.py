"""Drill scenarios: one schema, every shipped file valid, errors with file, line and field (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from procops.drills import scenario as sc
from procops.errors import BadInput, ExitCode

SHIPPED = {
    "app-crash",
    "db-loss",
    "disk-full",
    "backup-corruption",
    "traffic-surge",
    "bad-release",
    "network-partition",
}

GOOD = """\
name: {name}
title: A drill
fault_type: app-crash
steady_state:
  - {{name: health, kind: http, path: /healthz}}
fault: {{action: kill-replica, params: {{replica: 0}}}}
detection: {{alert: ReplicaDown, within: 60s}}
response:
  runbook: app-crash
  steps: [{{milestone: classify, text: classify it}}]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    return p


def test_the_seven_shipped_scenarios_load_and_each_declares_every_part():
    got = {s.name: s for s in sc.load_all()}
    assert set(got) == SHIPPED
    for s in got.values():
        assert s.steady_state and s.response.steps and s.rollback.steps
        assert s.detection.within > 0 and (s.detection.alert or s.detection.probe)
        assert s.target.kind == "sandbox"
    assert got["db-loss"].response.standby == "restore"
    assert got["backup-corruption"].detection.probe == "backup-check"
    assert got["bad-release"].requires == ["release"]


def test_a_valid_file_loads(tmp_path):
    s = sc.load(_write(tmp_path, "x", GOOD.format(name="x")))
    assert s.name == "x" and s.detection.within == 60.0 and s.fault.params == {"replica": 0}


def test_every_error_names_the_file_the_line_and_the_field(tmp_path):
    text = (
        GOOD.format(name="x")
        .replace("within: 60s", "within: soon")
        .replace("path: /healthz}", "path: /healthz, colour: red}")
    )
    p = _write(tmp_path, "x", text)
    with pytest.raises(sc.ScenarioError) as e:
        sc.load(p)
    assert e.value.exit_code == ExitCode.BAD_INPUT
    errs = e.value.errors
    assert any(x.startswith(f"{p}:5: field steady_state.0.colour") for x in errs), errs
    assert any(x.startswith(f"{p}:7: field detection.within") for x in errs), errs


def test_a_yaml_syntax_error_is_bad_input_with_its_line(tmp_path):
    p = _write(tmp_path, "x", "name: x\ntitle: [unclosed\n")
    with pytest.raises(sc.ScenarioError) as e:
        sc.load(p)
    assert str(p) in e.value.errors[0] and "YAML" in e.value.errors[0]


def test_the_name_must_be_the_file_name(tmp_path):
    p = _write(tmp_path, "y", GOOD.format(name="x"))
    with pytest.raises(sc.ScenarioError) as e:
        sc.load(p)
    assert "field name" in e.value.errors[0] and "'y'" in e.value.errors[0]


def test_detection_needs_exactly_one_of_alert_or_probe(tmp_path):
    p = _write(tmp_path, "x", GOOD.format(name="x").replace("alert: ReplicaDown", "alert: A, probe: backup-check"))
    with pytest.raises(sc.ScenarioError) as e:
        sc.load(p)
    assert "field detection" in e.value.errors[0] and "exactly one" in e.value.errors[0]


def test_a_host_fault_on_the_sandbox_is_refused(tmp_path):
    p = _write(tmp_path, "x", GOOD.format(name="x").replace("action: kill-replica", "action: block-port"))
    with pytest.raises(sc.ScenarioError) as e:
        sc.load(p)
    assert "target.kind: hosts" in e.value.errors[0]


def test_a_target_outside_the_allowlist_is_refused(tmp_path):
    text = GOOD.format(name="x").replace("action: kill-replica", "action: stop-service")
    text += "target: {kind: hosts, hosts: [web1, db9], service: procurement}\n"
    s = sc.load(_write(tmp_path, "x", text))
    sc.check_target(s, ["web1", "db9"])
    with pytest.raises(BadInput) as e:
        sc.check_target(s, ["web1"])
    assert "db9" in e.value.message and "allowed_hosts" in e.value.message


def test_an_unknown_scenario_names_the_known_ones():
    with pytest.raises(BadInput) as e:
        sc.get("no-such")
    assert "app-crash" in e.value.message


def test_scenarios_dir_adds_and_overrides(tmp_path):
    _write(tmp_path, "extra", GOOD.format(name="extra"))
    files = sc.scenario_files(tmp_path)
    assert "extra" in files and SHIPPED <= set(files)


def test_every_response_step_names_a_real_command_with_real_options():
    import shlex

    import typer

    from procops.cli.app import app
    from procops.cli.help import tidy

    root = typer.main.get_command(app)
    tidy(root)
    for s in sc.load_all():
        for step in s.response.steps:
            if not step.command:
                continue
            words = shlex.split(step.command)
            assert words[0] == "procops", step.command
            node, rest = root, words[1:]
            while rest and rest[0] in (getattr(node, "commands", None) or {}):
                node, rest = node.commands[rest[0]], rest[1:]
            assert node is not root and not getattr(node, "commands", None), f"{s.name}: {step.command}"
            known = {o for p in node.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
            unknown = [w for w in rest if w.startswith("-") and w not in known]
            assert not unknown, f"{s.name}: {step.command}: {unknown}"
