"""One exit-code rule for the backup commands (procops.backup.api.exit_code)."""

from __future__ import annotations

from procops.backup import api
from procops.backup.run import RepoResult, RunResult
from procops.errors import ExitCode


def _run(*repos: RepoResult) -> RunResult:
    return RunResult("r1", "2026-01-01T00:00:00Z", repositories=list(repos))


def test_an_unreachable_offsite_after_a_good_local_backup_is_exit_3():
    res = _run(RepoResult("local", False, "backup", "ok"), RepoResult("offsite", True, "copy", problem="unreachable"))
    assert api.run_exit_code(res) is ExitCode.ENVIRONMENT


def test_a_live_lock_or_a_missing_repository_is_exit_3():
    assert api.run_exit_code(_run(RepoResult("local", False, "backup", problem="live_lock"))) is ExitCode.ENVIRONMENT
    assert api.exit_code(["not_initialised", "unreachable"]) is ExitCode.ENVIRONMENT


def test_a_failed_dump_or_an_incomplete_snapshot_is_exit_1_even_with_an_unreachable_repository():
    res = _run(
        RepoResult("local", False, "backup", problem="dump_failed"),
        RepoResult("offsite", True, "copy", problem="unreachable"),
    )
    assert api.run_exit_code(res) is ExitCode.VERDICT_FAILED
    assert api.exit_code(["incomplete"]) is ExitCode.VERDICT_FAILED


def test_a_run_with_no_repository_result_is_not_success_and_a_good_run_is_0():
    assert api.run_exit_code(_run()) is ExitCode.VERDICT_FAILED
    assert api.run_exit_code(_run(RepoResult("local", False, "backup", "ok"))) is ExitCode.OK


def test_a_run_with_damaged_documents_fails_its_verdict_even_when_every_repository_succeeded():
    res = _run(RepoResult("local", False, "backup", "ok"))
    res.damaged = [{"id": 3, "storage_path": "ab/ab", "problem": "altered", "detail": ""}]
    assert not res.ok and api.run_exit_code(res) is ExitCode.VERDICT_FAILED
