"""Off-site over sftp: to an sshd in a network namespace (a test host of our own), down and back up."""

from __future__ import annotations

import subprocess

import pytest
from platform_data import config_yaml
from testsupport import netns_host

pytestmark = pytest.mark.root


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def sftp_host(tmp_path):
    with netns_host(tmp_path / "sftp-host", prefix="pbk") as h:
        yield h | {"ssh": h["ssh"] + " -s sftp", "remote": tmp_path / "remote-repo"}


def test_offsite_over_sftp_down_then_caught_up(cli, procops_home, tmp_path, sftp_host, platform):
    url = f"sftp:root@{sftp_host['ip']}:{sftp_host['remote']}"
    extra = "  retention: {keep_last: 20}\n"
    text = config_yaml(str(platform.db), platform.docs, {"local": (str(tmp_path / "local-repo"), False)}, extra)
    text = text.replace(
        "  retention:",
        f"""    - name: offsite
      url: '{url}'
      offsite: true
      options: {{sftp.command: '{sftp_host["ssh"]}'}}
  retention:""",
    )
    platform.config.write_text(text)
    cli("backup", "init", check=0)
    assert (sftp_host["remote"] / "config").exists()  # written through the sshd in the namespace
    cli("backup", "run", check=0)
    sh("ip", "link", "set", sftp_host["host_if"], "down")  # the off-site host is unreachable
    try:
        r = cli("backup", "run", "--json")
        assert r.code == 3  # an unreachable repository, reported after the local backup was written
        res = r.json()["repositories"]
        assert res["local"]["status"] == "ok" and res["offsite"]["status"] == "failed"
        assert res["offsite"]["problem"] == "unreachable", res["offsite"]
    finally:
        sh("ip", "link", "set", sftp_host["host_if"], "up")
    r = cli("backup", "run", "--json", check=0).json()
    assert r["repositories"]["offsite"]["status"] == "ok"
    st = cli("backup", "status", "--json", check=0).json()["repositories"]
    assert st["offsite"]["runs"] == st["local"]["runs"] == 3 and st["offsite"]["offsite_missing_runs"] == 0
    v = cli("backup", "verify", "--repo", "offsite", "--json", check=0).json()
    assert v["results"][0]["ok"] and v["results"][0]["documents"] == 20
