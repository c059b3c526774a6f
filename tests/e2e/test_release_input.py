"""Bad input to `procops release` is exit 2 with the reason, before anything is touched."""

from __future__ import annotations

import yaml


def _write(tmp_path, release: dict) -> dict:
    path = tmp_path / "procops.yaml"
    path.write_text(yaml.safe_dump({"release": release}))
    return {"PROCOPS_CONFIG": str(path)}


def test_an_unknown_version_is_exit_2_naming_the_known_ones(cli):
    r = cli("release", "start", "9.9.9", "--auto", check=2)
    assert "unknown platform version '9.9.9'" in r.err and "1.1.0" in r.err


def test_stage_weights_that_do_not_add_up_are_exit_2(cli, tmp_path):
    env = _write(tmp_path, {"stages": [{"hosts": "1", "traffic": 60}, {"hosts": "all", "traffic": 40}]})
    r = cli("release", "start", "1.1.0", env=env, check=2)
    assert "traffic must grow" in r.err
    env = _write(tmp_path, {"stages": [{"hosts": "1", "traffic": 10}, {"hosts": "2", "traffic": 50}]})
    r = cli("release", "plan", "1.1.0", env=env, check=2)
    assert "100%" in r.err


def test_an_empty_inventory_is_exit_2(cli, tmp_path):
    env = _write(tmp_path, {"inventory": []})
    r = cli("release", "start", "1.1.0", env=env, check=2)
    assert "release.inventory is empty" in r.err


def test_a_version_without_a_change_notice_is_exit_2(cli, tmp_path):
    arts = tmp_path / "artifacts"
    arts.mkdir()
    (arts / "platform-2.0.0.tar.gz").write_bytes(b"not really an archive")
    env = _write(
        tmp_path,
        {
            "inventory": [{"name": "web1", "server": "web1", "address": "192.0.2.10"}],
            "haproxy_socket": str(tmp_path / "haproxy.sock"),
            "artifacts_dir": str(arts),
        },
    )
    r = cli("release", "start", "2.0.0", env=env, check=2)
    assert "has no change notice" in r.err and "release/notices/2.0.0.yaml" in r.err
    r = cli("release", "start", "2.0.1", env=env, check=2)
    assert "no release artifact for version 2.0.1" in r.err


def test_on_real_hosts_the_probe_needs_a_test_tender_before_anything_is_touched(cli, tmp_path):
    arts = tmp_path / "artifacts"
    arts.mkdir()
    (arts / "platform-1.1.0.tar.gz").write_bytes(b"not really an archive")
    release = {
        "inventory": [{"name": "web1", "server": "web1", "address": "192.0.2.10"}],
        "haproxy_socket": str(tmp_path / "haproxy.sock"),
        "artifacts_dir": str(arts),
    }
    r = cli("release", "start", "1.1.0", env=_write(tmp_path, release), check=2)
    assert "the probe (gates.probe)" in r.err and "release.gates.probe_announcement" in r.err
    # page views only and no probe: nothing would bid, the release goes on to the hosts (unreachable here)
    quiet = {**release, "gates": {"probe": False}, "load": {"upload_share": 0}}
    r = cli("release", "start", "1.1.0", env=_write(tmp_path, quiet), timeout=120)
    assert r.code != 2 and "probe_announcement" not in r.err


def test_an_analysis_window_that_is_not_a_duration_is_exit_2(cli):
    r = cli("release", "start", "1.1.0", "--analysis", "soon", check=2)
    assert "--analysis" in r.err


def test_feedback_and_promote_without_a_release_are_exit_2(cli):
    r = cli("release", "feedback", "add", "--unit", "unit-0001", "the form is slow", check=2)
    assert "no release" in r.err
    assert cli("release", "status", "--json", check=0).json() == {"release": None}
    assert cli("release", "history", "--json", check=0).json() == []
