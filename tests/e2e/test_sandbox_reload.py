"""HAProxy reloaded in the middle of a release keeps the weights and the drained state it was given
over the runtime API (server-state-file), so no traffic goes to a drained canary."""

from __future__ import annotations

import httpx
import yaml

from procops.haproxy import RuntimeAPI


def test_a_reload_keeps_runtime_weights_and_drained_states(cli, port_block, tmp_path):
    port = port_block(4)
    path = tmp_path / "procops.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "sandbox": {
                    "port": port,
                    "replicas": 3,
                    "seed": {"announcements": 5, "suppliers": 2, "documents": 2, "document_size": "10KB"},
                }
            }
        )
    )
    env = {"PROCOPS_CONFIG": str(path)}
    try:
        cli("sandbox", "up", env=env, check=0)
        st = cli("sandbox", "status", "--json", env=env, check=0).json()
        api = RuntimeAPI(st["haproxy"]["runtime_api"])
        api.set_weight("replicas", "r1", 22)
        api.set_state("replicas", "r2", "drain")
        before = st["haproxy"]["pid"]
        r = cli("sandbox", "reload", "--json", env=env, check=0).json()
        assert r["pid"] != before
        servers = {s.server: s for s in api.servers("replicas")}
        assert servers["r1"].weight == 22
        assert servers["r2"].status == "DRAIN"
        assert servers["r3"].weight == 100 and servers["r3"].status == "UP"
        assert cli("sandbox", "status", "--json", env=env, check=0).json()["haproxy"]["pid"] == r["pid"]
        # the drained server gets no new requests through the reloaded front end
        seen = {
            httpx.get(f"http://127.0.0.1:{port}/api/announcements", timeout=5).headers["x-platform-replica"]
            for _ in range(30)
        }
        assert "r2" not in seen and seen
    finally:
        cli("sandbox", "down", env=env)
