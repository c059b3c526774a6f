"""Progress of a backup run and a verify, from real restic's --json status and the hashing."""

from __future__ import annotations

from procops import config as cfgmod
from procops.backup import api


def test_a_backup_run_reports_restic_status_and_a_verify_reports_hashing(platform):
    config = cfgmod.load(platform.config).config
    api.init(config)
    seen: list[tuple[str, dict]] = []
    res = api.backup(config, "local", progress=lambda repo, m: seen.append((repo, m)))
    assert res.ok
    assert seen and {r for r, _unused in seen} == {"local"}
    assert all(m["message_type"] == "status" for _unused, m in seen)
    assert any(m.get("total_bytes", 0) > 0 for _unused, m in seen)
    assert res.repositories[0].files_snapshot  # the summary still read from restic's output

    hashed: list[tuple[int, int, int]] = []
    (live,) = [api.verify_live(config, progress=lambda *a: hashed.append(a))]
    assert live.ok
    assert hashed[-1][0] == hashed[-1][1] == 20 and hashed[-1][2] == 20 * 4096
