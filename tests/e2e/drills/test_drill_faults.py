"""Emergency drills on the real sandbox with the real monitoring stack: disk-full on a loop filesystem and
backup-corruption in a copy of the off-site repository."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from drill_testing import incidents


def test_disk_full_on_a_small_loop_filesystem_is_detected_and_unmounted(cli, stack, procops_home):
    env = stack["env"]
    r = cli("drill", "run", "disk-full", "--auto", "--json", env=env, timeout=600)
    assert r.code == 0, r.err
    res = r.json()
    assert res["fault"]["used_ratio"] > 0.9 and res["rolled_back"] is True
    assert not os.path.ismount(res["fault"]["mount"]) and not Path(res["fault"]["mount"]).exists()
    (inc,) = incidents(cli, env)
    assert inc["drill"] is True and inc["source"]["alertname"] == "HostDiskFull"
    assert inc["source"]["labels"]["mountpoint"] == res["fault"]["mount"]


def test_backup_corruption_finds_the_damaged_pack_in_a_copy_and_leaves_the_repository_intact(
    cli, port_block, tmp_path, procops_home
):
    port = port_block(3)
    path = tmp_path / "procops.yaml"
    path.write_text(
        yaml.safe_dump(
            {"sandbox": {"port": port, "replicas": 1, "seed": {"announcements": 5, "suppliers": 2, "documents": 3}}}
        )
    )
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", env=env, check=0)
        cli("backup", "init", env=env, timeout=120, check=0)
        cli("backup", "run", env=env, timeout=300, check=0)
        r = cli("drill", "run", "backup-corruption", "--auto", "--json", env=env, timeout=600)
        assert r.code == 0, r.err
        res = r.json()
        pack = res["fault"]["pack"]
        assert pack in res["rollback"]["check"]["packs"] and res["rollback"]["check"]["ok"] is False
        assert not Path(res["fault"]["copy"]).exists()
        (inc,) = incidents(cli, env)
        assert inc["drill"] is True and inc["fault_type"] == "backup-failure"
        # the real off-site repository was never touched: its full check still passes
        assert cli("backup", "check", "--repo", "offsite", "--read-data-subset", "all", env=env, timeout=300).code == 0
    finally:
        cli("sandbox", "down", "--force", env=env)
