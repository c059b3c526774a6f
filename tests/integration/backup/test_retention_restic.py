"""procops keeps the same runs that restic's own `forget` would keep (procops.backup.retention).

Snapshots are made with real restic at chosen times (`--time`, in Asia/Shanghai), one per run, and
`restic forget --dry-run --json` under several policies is compared with procops' decision.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from procops.backup.retention import Policy, keep

TIMES = [
    "2024-06-01 09:00:00",
    "2025-01-15 09:00:00",
    "2025-12-31 23:59:00",
    "2026-01-01 00:01:00",
    "2026-09-30 12:00:00",
    "2026-10-31 12:00:00",
    "2026-11-22 08:00:00",  # a Sunday (ISO week 47)
    "2026-11-23 08:00:00",  # the Monday after
    "2026-11-29 22:00:00",
    "2026-11-30 00:30:00",
    "2026-11-30 09:10:00",
    "2026-11-30 09:50:00",
    "2026-11-30 10:05:00",
    "2026-11-30 11:00:00",
    "2026-11-30 11:59:00",
]

POLICIES = [
    Policy(keep_last=2, keep_hourly=3),
    Policy(keep_daily=3, keep_weekly=2),
    Policy(keep_monthly=3, keep_yearly=3),
    Policy(keep_hourly=24, keep_daily=7, keep_weekly=4, keep_monthly=12),
    Policy(keep_within="1m2d"),
    Policy(keep_within="10h", keep_yearly=2),
]


def _flags(p: Policy) -> list[str]:
    out = []
    for flag, n in (
        ("--keep-last", p.keep_last),
        ("--keep-hourly", p.keep_hourly),
        ("--keep-daily", p.keep_daily),
        ("--keep-weekly", p.keep_weekly),
        ("--keep-monthly", p.keep_monthly),
        ("--keep-yearly", p.keep_yearly),
    ):
        if n:
            out += [flag, str(n)]
    if p.keep_within:
        out += ["--keep-within", p.keep_within]
    return out


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("retention")
    (d / "pw").write_text("retention-test\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(RESTIC_REPOSITORY=str(d / "repo"), RESTIC_PASSWORD_FILE=str(d / "pw"), TZ="Asia/Shanghai")

    def restic(*args: str, input: bytes | None = None) -> str:
        p = subprocess.run(["restic", *args], input=input, capture_output=True, env=env, timeout=120)
        assert p.returncode == 0, p.stderr.decode()
        return p.stdout.decode()

    restic("init", "--quiet")
    for i, t in enumerate(TIMES):
        restic("backup", "--quiet", "--stdin", "--stdin-filename", "x", "--time", t, "--tag", f"run=r{i}", input=b"x")
    return restic


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: " ".join(_flags(p)))
def test_procops_keeps_the_runs_restic_forget_keeps(repo, policy):
    groups = json.loads(repo("forget", "--dry-run", "--json", "--no-lock", *_flags(policy)))
    assert len(groups) == 1
    theirs = {t[4:] for s in groups[0]["keep"] for t in s["tags"] if t.startswith("run=")}
    snaps = json.loads(repo("snapshots", "--json", "--no-lock"))
    runs = [(next(t[4:] for t in s["tags"] if t.startswith("run=")), s["time"]) for s in snaps]
    assert keep(runs, policy) == theirs
