from __future__ import annotations

from pathlib import Path

import pytest

from procops import config
from procops.errors import BadInput, ExitCode


def parse(text: str) -> config.Config:
    return config.parse(text, Path("procops.yaml"))


def errors_of(text: str) -> list[str]:
    with pytest.raises(config.ConfigError) as e:
        parse(text)
    assert e.value.exit_code == ExitCode.BAD_INPUT
    return e.value.errors


def test_defaults_are_the_requirements_numbers():
    p = config.Config().policy
    assert p.page_load_p95 == 2.0
    assert p.upload_success_ratio == 1.0
    assert p.capacity_multiple == 3.0
    assert p.backup_interval == 3600
    assert (p.classify_deadline, p.standby_deadline, p.report_deadline) == (900, 3600, 86400)
    assert p.drill_interval == 92 * 86400
    assert p.scan_interval == 7 * 86400
    assert p.loadtest_interval == 31 * 86400


def test_parse_accepts_durations_and_sizes():
    c = parse("policy:\n  classify_deadline: 10m\n  page_load_p95: 1500ms\nsandbox:\n  max_upload_size: 5MB\n")
    assert c.policy.classify_deadline == 600
    assert c.policy.page_load_p95 == 1.5
    assert c.sandbox.max_upload_size == 5 * 1024 * 1024


def test_unknown_key_is_an_error_with_its_line():
    errs = errors_of("policy:\n  page_load_p95: 2s\n  page_lod: 3\n")
    assert errs == ["procops.yaml:3: field policy.page_lod: unknown key (not a setting of this section)"]


def test_all_errors_are_reported_together_with_lines():
    errs = errors_of("sandbox:\n  replicas: 0\n  port: 99999\nloadtest:\n  hold: soon\n")
    assert len(errs) == 3
    assert errs[0].startswith("procops.yaml:2: field sandbox.replicas:")
    assert errs[1].startswith("procops.yaml:3: field sandbox.port:")
    assert errs[2].startswith("procops.yaml:5: field loadtest.hold:") and "not a duration" in errs[2]


def test_nested_list_item_error_names_index_and_line():
    errs = errors_of(
        "backup:\n  repositories:\n    - name: local\n      url: /srv/a\n    - name: Bad Name\n      url: /srv/b\n"
    )
    assert len(errs) == 1 and errs[0].startswith("procops.yaml:5: field backup.repositories.1.name:")


def test_duplicate_key_is_an_error():
    errs = errors_of("sandbox:\n  port: 1000\n  port: 2000\n")
    assert errs == ["procops.yaml:3: field sandbox.port: duplicate key"]


def test_yaml_syntax_error_names_the_line():
    errs = errors_of("policy:\n  a: [1, 2\nsandbox: {}\n")
    assert errs[0].startswith("procops.yaml:3: YAML syntax error")


def test_a_file_that_is_not_a_mapping_is_rejected():
    assert "must be a mapping" in errors_of("- 1\n- 2\n")[0]


def test_empty_file_is_the_default():
    assert parse("") == config.Config()


def test_secret_ref_needs_exactly_one_source():
    errs = errors_of("monitoring:\n  webhook_token: {file: /a, command: [cat, /a]}\n")
    assert "exactly one of 'file' or 'command'" in errs[0]


def test_masked_hides_secrets_and_url_passwords():
    c = parse(
        "sandbox:\n  database_url: postgresql+psycopg://app:s3cret@db:5432/p\n"
        "monitoring:\n  webhook_token: {command: [pass, show, vaultpass]}\n"
        "notifications:\n  escalation_receivers:\n    - {name: leader, url: 'https://h/x', token: {file: /t}}\n"
    )
    m = config.masked(c)
    text = repr(m)
    assert "s3cret" not in text and "vaultpass" not in text
    assert m["sandbox"]["database_url"] == "postgresql+psycopg://app:********@db:5432/p"
    assert m["monitoring"]["webhook_token"] == {"command": "********"}
    assert m["notifications"]["escalation_receivers"][0]["token"] == {"file": "/t"}


def test_sample_config_parses_back_to_the_defaults():
    assert parse(config.sample_yaml()) == config.Config()


def test_schema_forbids_unknown_keys_and_has_descriptions():
    s = config.schema()
    assert s["additionalProperties"] is False
    policy = s["$defs"]["PolicyConfig"]
    assert policy["additionalProperties"] is False
    assert "R1" in policy["properties"]["page_load_p95"]["description"]


def test_discovery_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.ENV_CONFIG, raising=False)
    monkeypatch.setattr(config, "SEARCH_PATHS", (Path("procops.yaml"),))
    assert config.discover() is None
    (tmp_path / "procops.yaml").write_text("{}\n")
    assert config.discover() == Path("procops.yaml")
    env_file = tmp_path / "env.yaml"
    env_file.write_text("{}\n")
    monkeypatch.setenv(config.ENV_CONFIG, str(env_file))
    assert config.discover() == env_file
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("{}\n")
    assert config.discover(explicit) == explicit


def test_missing_explicit_config_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        config.discover(tmp_path / "nope.yaml")


def test_a_rest_url_password_is_masked_in_config_show():
    c = parse("backup:\n  repositories:\n    - name: r\n      url: rest:http://u:Pw9@h:8000/repo\n")
    shown = str(config.masked(c))
    assert "Pw9" not in shown and "rest:http://u:********@h:8000/repo" in shown


@pytest.mark.parametrize(
    "text, words",
    [
        ("monitoring:\n  escalation_every: 0\n", "procops.yaml:2: field monitoring.escalation_every"),
        ("monitoring:\n  webhook_max_body: 0\n", "procops.yaml:2: field monitoring.webhook_max_body"),
        ("policy:\n  standby_deadline: 0\n", "procops.yaml:2: field policy.standby_deadline"),
        ("monitoring:\n  webhook_port: 19200\n", "port 19200 is used by both"),
        ("sandbox:\n  port: 19089\n  replicas: 2\n", "monitoring.prometheus_port"),
        ("policy:\n  page_load_p95: 2000\n", "did you mean 2000ms?"),
        ("a: !!python/name:os.system x\n", "procops.yaml:1: YAML tag"),
        ("a: &x [1, *x]\n", "procops.yaml:1: recursive YAML alias"),
    ],
)
def test_values_that_break_the_runtime_are_refused_with_the_line(text, words):
    errs = errors_of(text)
    assert any(words in e for e in errs), errs


def test_an_alias_bomb_is_refused_before_it_expands():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]" for i in range(8)]
    errs = errors_of("\n".join(lines) + "\n")
    assert any("alias bomb" in e for e in errs), errs


def test_a_small_alias_and_a_page_time_in_ms_are_fine():
    c = parse("policy:\n  page_load_p95: 1500ms\n  classify_deadline: &t 10m\n  standby_deadline: *t\n")
    assert c.policy.page_load_p95 == 1.5 and c.policy.standby_deadline == 600
