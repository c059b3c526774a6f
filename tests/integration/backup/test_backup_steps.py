"""The readiness steps of the backup area on a small platform with real restic."""

from __future__ import annotations

import pytest

from procops import config as cfg
from procops.backup import steps
from procops.readiness import Context, StepFailed


def test_backup_steps_pass_then_fail_on_a_missing_document(platform, tmp_path):
    ctx = Context(cfg.load(platform.config).config, "en", tmp_path)
    detail, ev = steps.backup_run(ctx)
    assert set(ev["repositories"]) == {"local", "offsite"} and ctx.facts["backup_run"]
    steps.backup_check(ctx)
    detail, ev = steps.backup_verify(ctx)
    assert [r["target"] for r in ev["results"]] == ["local", "offsite", "live"]
    platform.documents()[3].unlink()
    with pytest.raises(StepFailed) as e:
        steps.backup_verify(ctx)
    assert "live: 1 missing" in str(e.value)
