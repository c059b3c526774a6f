"""The backup's public API: the only module other areas and ``cli/`` import.

A thin facade over ``run``, ``restore``, ``check``, ``verify`` and ``status`` (imported inside
the functions: ``procops --help`` stays fast). Results are the areas' typed records
(:class:`procops.backup.run.RunResult`, ``check.CheckResult``, ``verify.VerifyResult``).

Exit codes, one rule for every command (:func:`exit_code`): 0 when everything holds; 3 when
every failure is the environment's (a repository or service unreachable, not initialised,
a live lock held): ``backup run`` says so after it has written the repositories it could
reach; 1 when a verdict failed (a damaged pack, an integrity problem, a failed dump, a
missed RPO); an unknown repository or snapshot is bad input, 2 (raised as ``BadInput``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from procops.errors import ExitCode

if TYPE_CHECKING:
    from pathlib import Path

    from procops.backup.check import CheckResult
    from procops.backup.restore import Progress
    from procops.backup.run import RunResult
    from procops.backup.verify import VerifyResult
    from procops.readiness import Step
    from procops.schedule import Job
    from procops.config import Config, LoadedConfig

# problems that say the environment failed, not the backup's verdict
ENVIRONMENT_PROBLEMS = frozenset(
    {"unreachable", "not_initialised", "live_lock", "locked", "environment", "read_only", "no_space", "interrupted"}
)


def exit_code(problems: Iterable[str | None]) -> ExitCode:
    """The exit code of a command whose failed parts have these problems (none: 0)."""
    bad = list(problems)
    if not bad:
        return ExitCode.OK
    return ExitCode.ENVIRONMENT if all(p in ENVIRONMENT_PROBLEMS for p in bad) else ExitCode.VERDICT_FAILED


def init(config: Config, repo: str | None = None) -> dict:
    """Initialise every (or one) repository; ``{"ok", "repositories": {name: {status, url, error}}}``."""
    from procops.backup import run

    return run.init(config, repo)


def init_exit_code(res: dict) -> ExitCode:
    return ExitCode.OK if res["ok"] else ExitCode.ENVIRONMENT


def backup(
    config: Config,
    repo: str | None = None,
    *,
    loaded: LoadedConfig | None = None,
    progress: Callable[[str, dict], None] | None = None,
) -> RunResult:
    """One backup run to every (or one) repository; a repository that fails never stops the others.

    Runs as an operation (``backup.run``): interrupted, restic gets SIGINT and is waited for, and
    the snapshots this run saved are forgotten in every repository it reached unless its
    ``backup.run`` event was journaled. ``loaded`` (the LoadedConfig) gives the provenance;
    ``progress(repository, status)`` gets restic's status messages of the files backup as it runs."""
    from procops.backup import run
    from procops.events import Kind
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.BACKUP_RUN,
        repo or "all",
        lambda op: run.backup(config, repo, op, progress),
        loaded=loaded,
        exit_code=run_exit_code,
    )


def run_exit_code(res: RunResult) -> ExitCode:
    if res.ok:
        return ExitCode.OK
    if res.damaged:
        return ExitCode.VERDICT_FAILED  # missing or altered archive files: the verdict fails, whatever else
    return exit_code(r.problem for r in res.repositories if r.status != "ok") or ExitCode.VERDICT_FAILED


def check(
    config: Config, repo: str | None = None, read_data_subset: str | None = None, *, loaded: LoadedConfig | None = None
) -> list[CheckResult]:
    """`restic check` of every (or one) repository, as an operation (``backup.check``)."""
    from procops.backup import check as c
    from procops.events import Kind
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.BACKUP_CHECK,
        repo or "all",
        lambda _op: c.check(config, repo=repo, read_data_subset=read_data_subset),
        loaded=loaded,
        exit_code=check_exit_code,
    )


def check_exit_code(results: list[CheckResult]) -> ExitCode:
    return exit_code(r.problem for r in results if not r.ok)


def offsite_repository_path(config: Config, repo: str | None = None) -> tuple[str, Path | None]:
    """The name of the off-site repository (or ``repo``) and its folder when it is a local path
    (None for sftp:, rest:, s3: ...): what a drill copies before corrupting the copy."""
    from pathlib import Path

    from procops.backup.sources import select
    from procops.errors import BadInput
    from procops.i18n import _

    repos = select(config, repo)
    chosen = repos[0] if repo else next((r for r in repos if r.offsite), None)
    if chosen is None:
        raise BadInput(_("no off-site repository is configured (backup.repositories with offsite: true)"))
    url = chosen.url
    if ":" in url.split("/", 1)[0] and not url.startswith("/"):
        return chosen.name, None
    return chosen.name, Path(url.removeprefix("local:")).expanduser()


def check_copy(config: Config, repo: str, copy: Path, *, timeout: float = 600.0) -> CheckResult:
    """``restic check --read-data`` of a copy of repository ``repo`` (same password) at ``copy``: the
    packs it finds damaged are in ``packs``. Journals nothing and touches no state: the copy is a drill's."""
    import dataclasses
    import time

    from procops.backup.check import CheckResult as _Check
    from procops.backup.check import bad_packs, error_lines
    from procops.backup.ops import make_restic
    from procops.backup.restic import ResticError, check_args
    from procops.backup.sources import select

    r = dataclasses.replace(select(config, repo)[0], url=str(copy), append_only=False)
    restic = make_restic(config)
    t0 = time.monotonic()
    try:
        restic.run(r, check_args(None, read_all=True), timeout=timeout)
        return _Check(r.name, True, "all", round(time.monotonic() - t0, 3))
    except ResticError as e:
        full = getattr(e, "output", "") or ""
        res = _Check(r.name, False, "all", round(time.monotonic() - t0, 3), problem=e.problem.value)
        res.errors = error_lines(full) or [e.message]
        res.packs = bad_packs(full)
        return res


def verify_snapshot(
    config: Config,
    *,
    repo: str | None = None,
    snapshot: str = "latest",
    loaded: LoadedConfig | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> list[VerifyResult]:
    """Restore a run to scratch and verify it in each repository, as an operation (``backup.verify``).
    A snapshot found in no reachable repository is bad input (2). ``progress(files done, files,
    bytes hashed)`` hears how the hashing goes."""
    from procops.backup.verify import HASH_PROGRESS
    from procops.events import Kind
    from procops.operation import run_as_operation

    token = HASH_PROGRESS.set(progress)
    try:
        return run_as_operation(
            Kind.BACKUP_VERIFY,
            repo or "all",
            lambda _op: _verify_snapshot(config, repo=repo, snapshot=snapshot),
            loaded=loaded,
            exit_code=verify_exit_code,
        )
    finally:
        HASH_PROGRESS.reset(token)


def _verify_snapshot(config: Config, *, repo: str | None, snapshot: str) -> list[VerifyResult]:
    from procops.backup import verify as v

    if snapshot != "latest":
        from procops.backup.ops import make_restic
        from procops.backup.restore import find_run
        from procops.backup.sources import select

        from procops.errors import EnvironmentFailure

        try:
            find_run(make_restic(config), select(config, repo), snapshot)  # BadInput: no repository has it
        except EnvironmentFailure:
            pass  # a repository is unreachable: each one then reports what it can
    return v.verify_snapshot(config, repo=repo, snapshot=snapshot)


def verify_live(
    config: Config, *, loaded: LoadedConfig | None = None, progress: Callable[[int, int, int], None] | None = None
) -> VerifyResult:
    """The live platform (database against the documents store), as an operation (``backup.verify``)."""
    from procops.backup import verify as v
    from procops.events import Kind
    from procops.operation import run_as_operation

    token = v.HASH_PROGRESS.set(progress)
    try:
        return run_as_operation(
            Kind.BACKUP_VERIFY,
            "live",
            lambda _op: v.verify_live(config),
            loaded=loaded,
            exit_code=lambda r: verify_exit_code([r]),
        )
    finally:
        v.HASH_PROGRESS.reset(token)


def verify_exit_code(results: list[VerifyResult]) -> ExitCode:
    """0 every verify clean; 3 when what failed is only unreachable repositories; else 1."""
    return exit_code(p.kind for r in results if not r.ok for p in r.problems)


def restore_to_dir(
    config: Config,
    target: str | Path,
    *,
    repo: str | None = None,
    snapshot: str = "latest",
    progress: Progress | None = None,
    loaded: LoadedConfig | None = None,
) -> Any:
    """Restore a run into a new or empty folder, as an operation (``backup.restore``)."""
    from procops.backup import restore as r
    from procops.events import Kind
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.BACKUP_RESTORE,
        str(target),
        lambda _op: r.restore_to_dir(config, target, repo=repo, snapshot=snapshot, progress=progress),
        loaded=loaded,
    )


def restore_to_sandbox(
    config: Config,
    *,
    repo: str | None = None,
    snapshot: str = "latest",
    instance: str = "standby",
    progress: Progress | None = None,
    bind_address: str | None = None,
    loaded: LoadedConfig | None = None,
) -> dict:
    """Restore a run into a sandbox instance and start it serving (the standby system), as an
    operation (``backup.restore``)."""
    from procops.backup import restore as r
    from procops.events import Kind
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.BACKUP_RESTORE,
        f"sandbox:{instance}",
        lambda _op: r.restore_to_sandbox(
            config, repo=repo, snapshot=snapshot, instance=instance, progress=progress, bind_address=bind_address
        ),
        loaded=loaded,
    )


def prune(config: Config, repo: str | None = None, *, loaded: LoadedConfig | None = None) -> dict:
    """`forget --prune` per retention now on every (or one) repository this host may prune, as an operation
    (``backup.prune``). Append-only repositories are skipped (named: exit 2); their own host prunes them."""
    from procops.backup import run
    from procops.events import Kind
    from procops.operation import run_as_operation

    return run_as_operation(
        Kind.BACKUP_PRUNE, repo or "all", lambda _op: run.prune(config, repo), loaded=loaded, exit_code=prune_exit_code
    )


def prune_exit_code(res: dict) -> ExitCode:
    return exit_code(res["problems"])


def restore_document(config: Config, document: int, *, loaded: LoadedConfig | None = None) -> dict:
    """Restore one archived document in place from the newest run holding it with the platform's recorded
    sha256, as an operation (``backup.restore-document``). An unknown id is bad input (2); no good copy in
    any reachable repository is a failed verdict (1, ``ok`` false)."""
    from procops.backup import documents as d
    from procops.events import Kind
    from procops.operation import run_as_operation

    def go(_op: Any) -> dict:
        res = d.restore_document(config, document)
        _record_restore_document(res)
        return res

    return run_as_operation(
        Kind.BACKUP_RESTORE_DOCUMENT, f"document:{document}", go, loaded=loaded, exit_code=restore_document_exit_code
    )


def _record_restore_document(res: dict) -> None:
    from procops.events import BackupRestoreDocument, Kind, Status
    from procops.journal import record

    record(
        Kind.BACKUP_RESTORE_DOCUMENT,
        f"document:{res['id']}",
        BackupRestoreDocument(
            status=Status.of(res["ok"]),
            document=res["id"],
            storage_path=res["storage_path"],
            sha256=res["sha256"],
            outcome=res["status"],
            repository=res["repository"],
            run=res["run"],
            snapshot=res["snapshot"],
            tried=res["tried"][:20],
        ),
    )


def restore_document_exit_code(res: dict) -> ExitCode:
    return ExitCode.OK if res["ok"] else ExitCode.VERDICT_FAILED


def copy_database(config: Config, source_url: str, target_url: str) -> dict:
    """Replace the server database ``target_url`` with a copy of ``source_url`` (PostgreSQL or MariaDB,
    through their dump programs); returns ``{"database": <masked target>, "dump_bytes"}``."""
    from procops.backup import dumps
    from procops.backup.sources import Database, backup_dir

    source, target = Database.parse(source_url), Database.parse(target_url)
    size = dumps.copy_server_database(source, target, backup_dir() / "staging", config.backup.command_timeout)
    return {"database": target.masked_url, "dump_bytes": size}


def drop_database(database_url: str) -> str:
    """Drop a server database that a standby was restored into (its instance removed); returns it masked."""
    from procops.backup import dumps
    from procops.backup.sources import Database

    db = Database.parse(database_url)
    dumps.drop_server_database(db)
    return db.masked_url


def journal_anchors(config: Config) -> dict:
    """The evidence journal's heads anchored in every repository (each confirmed run's, off-site ones
    first): ``{"anchors": [procops.journal.Anchor], "repositories": {name: {"ok", "offsite", "anchors",
    "error"}}}``. An unreachable repository is named with its error, never raised."""
    from procops.backup.ops import make_restic, run_sets
    from procops.backup.ops import snapshots as list_snapshots
    from procops.backup.sources import select
    from procops.errors import ProcopsError
    from procops.journal import Anchor

    restic = make_restic(config)
    anchors: list[Anchor] = []
    repos: dict[str, dict] = {}
    for r in sorted(select(config, None), key=lambda r: not r.offsite):
        try:
            found = [
                Anchor(a[0], a[1], s.time, r.name)
                for s in run_sets(list_snapshots(restic, r))
                if (a := s.journal_anchor) is not None
            ]
        except ProcopsError as e:
            repos[r.name] = {"ok": False, "offsite": r.offsite, "anchors": 0, "error": e.message}
            continue
        anchors += found
        repos[r.name] = {"ok": True, "offsite": r.offsite, "anchors": len(found), "error": None}
    return {"anchors": anchors, "repositories": repos}


def snapshots(config: Config, repo: str | None = None) -> dict:
    from procops.backup import status as s

    return s.list_snapshots(config, repo)


def snapshots_exit_code(res: dict) -> ExitCode:
    return ExitCode.OK if res["ok"] else ExitCode.ENVIRONMENT


def status(config: Config) -> dict:
    from procops.backup import status as s

    return s.status(config)


def status_exit_code(res: dict) -> ExitCode:
    return ExitCode.OK if res["ok"] else ExitCode.VERDICT_FAILED


def readiness_steps() -> list[Step]:
    """Backup to every repository, check them, restore-and-verify (in this order)."""
    from procops.backup import steps

    return list(steps.STEPS)


def jobs(config: Config) -> list[Job]:
    """The backup's scheduled jobs: hourly run (which prunes on its own cadence), daily check and live
    verify, weekly restore-and-verify."""
    from procops.backup import jobs as j

    return j.jobs(config)


def repositories(config: Config) -> dict[str, bool]:
    """The repositories backups go to (the embedded 'local' and 'offsite' when none is configured):
    name -> whether it is off-site."""
    from procops.backup.sources import repositories as repos

    return {r.name: r.offsite for r in repos(config)}
