"""postgres_exporter joins the stack when the platform's database is PostgreSQL (127.0.0.1:5432)."""

from __future__ import annotations

import time

import httpx
import pytest

from procops.config import Config
from procops.monitoring import stack, webauth

pytestmark = pytest.mark.postgres


def _pg_available() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _pg_available(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_postgres_exporter_is_started_and_scraped(procops_home, port_block):
    mon = port_block(8)
    cfg = Config.model_validate(
        {
            "platform": {
                "url": f"http://127.0.0.1:{mon + 7}",
                "database_url": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
            },
            "monitoring": {
                "prometheus_port": mon,
                "alertmanager_port": mon + 1,
                "node_exporter_port": mon + 2,
                "blackbox_exporter_port": mon + 3,
                "postgres_exporter_port": mon + 4,
                "exporter_port": mon + 5,
                "webhook_port": mon + 6,
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
                "platform_down_for": "10m",
            },
        }
    )
    try:
        state, started = stack.up(cfg, journal=False)
        assert started
        names = [c.name for c in state.components]
        assert "postgres_exporter" in names
        text = httpx.get(f"http://127.0.0.1:{mon + 4}/metrics", timeout=10).text
        assert "\npg_up 1" in text
        # the DSN reached the exporter through its environment, never its command line
        import psutil

        pg = next(c for c in state.components if c.name == "postgres_exporter")
        assert not any("postgres@" in a for a in psutil.Process(pg.pid).cmdline())
        auth = webauth.of(cfg).httpx()
        deadline = time.monotonic() + 20
        health = None
        while time.monotonic() < deadline and health != "up":
            targets = httpx.get(f"http://127.0.0.1:{mon}/api/v1/targets", timeout=5, auth=auth).json()["data"][
                "activeTargets"
            ]
            health = next((t["health"] for t in targets if t["labels"]["job"] == "postgres"), None)
            time.sleep(0.5)
        assert health == "up"
    finally:
        stack.down(journal=False)
