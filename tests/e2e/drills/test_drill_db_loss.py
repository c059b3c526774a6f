"""Emergency drills on the real sandbox with the real monitoring stack: db-loss --auto: the standby
restored from the off-site backup, then failback."""

from __future__ import annotations


from drill_testing import incidents, serves_data


def test_db_loss_auto_restores_the_standby_from_the_offsite_backup_and_fails_back(cli, stack, procops_home):
    env = stack["env"]
    cli("backup", "init", env=env, timeout=120, check=0)
    cli("backup", "run", env=env, timeout=300, check=0)
    r = cli("drill", "run", "db-loss", "--auto", "--json", env=env, timeout=900)
    assert r.code == 0, r.err
    res = r.json()
    assert res["status"] == "ok" and res["rolled_back"] is True
    assert res["milestones"]["standby"]["reached_at"] is not None  # reached by a real restore
    assert res["clocks"] == {"15m": True, "1h": True, "24h": True}
    incs = incidents(cli, env)
    assert len(incs) == 1 and incs[0]["drill"] is True  # the outage opened no real incident
    shown = cli("incident", "show", incs[0]["id"], "--json", env=env, check=0).json()
    assert shown["standby"] and shown["standby"].get("snapshot")
    st = cli("sandbox", "status", "--json", env=env, check=0).json()
    assert st["active_site"]["site"] == "main" and all(x["alive"] for x in st["replicas"])
    serves_data(stack["url"])
    from procops.journal import Journal

    with Journal(procops_home / "journal.db") as j:
        assert [e.data["status"] for e in j.events("backup.restore")][-1:] == ["ok"]
