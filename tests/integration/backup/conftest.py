"""Fixtures of the backup integration tests: a small platform (SQLite + documents store) and a config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from platform_data import config_yaml, make_sqlite_platform  # noqa: E402


@dataclass
class Platform:
    base: Path
    db: Path
    docs: Path
    config: Path
    home: Path

    def repo_path(self, name: str) -> Path:
        return self.base / "repos" / name

    def restic(self, repo: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(
            RESTIC_REPOSITORY=str(self.repo_path(repo)),
            RESTIC_PASSWORD_FILE=str(self.home / "secrets" / f"restic-{repo}"),
        )
        p = subprocess.run(["restic", *args], capture_output=True, text=True, env=env, timeout=120)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def snapshots(self, repo: str) -> list[dict]:
        return json.loads(self.restic(repo, "snapshots", "--json", "--no-lock").stdout)

    def documents(self) -> list[Path]:
        return sorted(p for p in self.docs.rglob("*") if p.is_file() and ".incoming" not in p.parts)


@pytest.fixture
def platform(tmp_path, procops_home) -> Platform:
    base = tmp_path / "site"
    db, docs = make_sqlite_platform(base / "platform", n=20, size=4096)
    repos = {"local": (str(base / "repos" / "local"), False), "offsite": (str(base / "repos" / "offsite"), True)}
    cfg = tmp_path / "procops.yaml"  # cwd of the cli fixture: discovered as ./procops.yaml
    # keep_last: several runs within one hour must all stay (keep_hourly keeps one per hour)
    cfg.write_text(config_yaml(str(db), docs, repos, "  retention: {keep_last: 20}\n"))
    return Platform(base, db, docs, cfg, procops_home)
