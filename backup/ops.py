"""Repository operations shared by run, check, verify, restore and status.

A backup *run* makes its snapshots in a repository, tagged ``procops`` and
``run=<id>``: the database dump (``--stdin``, tag ``database``) and the files
(the documents store, the manifest, extra paths; tag ``files``), made side by
side, then, once both are saved and the dump restic stored is exactly what the
producer wrote, a small third one: the run's *confirmation* (``--stdin``,
``procops/confirmation.json``, tags ``confirmation``, ``confirmed``,
``dump-sha256=``, ``dump-size=``), naming the other two. A run counts (for RPO,
status, the off-site copy, restore and verify defaults, retention, the audit)
only when all three exist; whatever a killed or failed run left is ignored by
every reader here (:func:`run_sets`) and forgotten by the next run.
Runs of earlier versions, whose database and files snapshots were re-tagged
``confirmed`` in place, count too. ``restic copy`` keeps the tags, so a run is
the same run in every repository even though snapshot ids differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from collections.abc import Callable

from procops.backup.restic import Problem, Repo, Restic, ResticError, unlock_args
from procops.errors import BadInput, EnvironmentFailure

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

T = TypeVar("T")
TAG = "procops"
TAG_DB = "database"
TAG_FILES = "files"
TAG_PENDING = "pending"  # earlier versions: made by a run that had not confirmed it (yet, or ever: killed)
TAG_CONFIRMED = "confirmed"  # the confirmation snapshot (earlier versions: the re-tagged database and files)
TAG_CONFIRMATION = "confirmation"  # the run's third snapshot: both halves saved and complete
CONFIRMATION_FILE = "procops/confirmation.json"


def make_restic(config: Config) -> Restic:
    from procops.backup.sources import backup_dir

    cache = backup_dir() / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    return Restic(binary=config.backup.restic_binary, cache_dir=cache, timeout=config.backup.command_timeout)


class LiveLock(EnvironmentFailure):
    pass


def with_stale_unlock(restic: Restic, repo: Repo, fn: Callable[[], T]) -> T:
    """Run ``fn``; when the repository is locked, `restic unlock` (stale locks only) and retry once.

    A lock that is still there after the unlock is live: exit 3 naming it.
    """
    try:
        return fn()
    except ResticError as e:
        if e.problem is not Problem.LOCKED:
            raise
        restic.run(repo, unlock_args(), check=False, timeout=300)
        try:
            return fn()
        except ResticError as e2:
            if e2.problem is Problem.LOCKED:
                raise LiveLock(
                    _("repository '{repo}' is locked by a live restic process: {detail}").format(
                        repo=repo.name, detail=e2.tail
                    ),
                    hint=_("wait for it to finish; a lock of a dead process is removed automatically"),
                ) from None
            raise


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    hostname: str

    @property
    def run_id(self) -> str | None:
        for t in self.tags:
            if t.startswith("run="):
                return t[4:]
        return None

    @property
    def confirmed(self) -> bool:
        return TAG_CONFIRMED in self.tags

    def tag_value(self, key: str) -> str | None:
        for t in self.tags:
            if t.startswith(key + "="):
                return t[len(key) + 1 :]
        return None

    @property
    def kind(self) -> str | None:
        for k in (TAG_CONFIRMATION, TAG_DB, TAG_FILES):
            if k in self.tags:
                return k
        return None

    @classmethod
    def from_json(cls, d: dict) -> Snapshot:
        return cls(
            d["id"],
            d.get("short_id", d["id"][:8]),
            d["time"],
            tuple(d.get("paths") or ()),
            tuple(d.get("tags") or ()),
            d.get("hostname", ""),
        )


@dataclass(frozen=True)
class RunSet:
    """The snapshots of one complete, confirmed backup run in one repository."""

    run_id: str
    files: Snapshot
    database: Snapshot | None
    confirmation: Snapshot | None = None  # None: a run of an earlier version, confirmed by re-tagging

    @property
    def time(self) -> str:
        return self.files.time

    @property
    def snapshots(self) -> tuple[Snapshot, ...]:
        return tuple(s for s in (self.database, self.files, self.confirmation) if s is not None)

    @property
    def dump_sha256(self) -> str | None:
        """The sha256 of the dump as the producer wrote it (recorded when the run was confirmed)."""
        for s in (self.confirmation, self.database):
            if s is not None and s.tag_value("dump-sha256"):
                return s.tag_value("dump-sha256")
        return None

    @property
    def journal_anchor(self) -> tuple[int, str] | None:
        """The evidence journal's rows and head hash when the run was confirmed (``journal-rows``/``-head``)."""
        c = self.confirmation
        rows, head = (c.tag_value("journal-rows"), c.tag_value("journal-head")) if c else (None, None)
        if rows is None or head is None or not rows.isdigit():
            return None
        return int(rows), head

    def as_dict(self) -> dict:
        return {
            "run": self.run_id,
            "time": self.time,
            "files_snapshot": self.files.short_id,
            "database_snapshot": self.database.short_id if self.database else None,
        }


def snapshots(restic: Restic, repo: Repo) -> list[Snapshot]:
    from procops.backup.restic import snapshots_args

    c = with_stale_unlock(
        restic, repo, lambda: restic.run(repo, snapshots_args(tags=[TAG]), json_output=True, no_lock=True, timeout=600)
    )
    return sorted((Snapshot.from_json(d) for d in (c.json() or [])), key=lambda s: s.time)


def run_sets(snaps: list[Snapshot]) -> list[RunSet]:
    """Complete, confirmed runs, oldest first: the files and the database snapshot of a run with its
    confirmation snapshot (or, from earlier versions, both halves tagged ``confirmed``). Anything else
    (a killed or failed run, a copy that stopped half-way) never counts."""
    by_run: dict[str, dict[str, Snapshot]] = {}
    for s in snaps:
        if s.run_id and s.kind:
            by_run.setdefault(s.run_id, {})[s.kind] = s
    out = []
    for run, parts in by_run.items():
        files, db, conf = parts.get(TAG_FILES), parts.get(TAG_DB), parts.get(TAG_CONFIRMATION)
        if files is None or db is None:
            continue
        if conf is not None and conf.confirmed:
            out.append(RunSet(run, files, db, conf))
        elif files.confirmed and db.confirmed:
            out.append(RunSet(run, files, db))
    return sorted(out, key=lambda r: r.time)


def unconfirmed(snaps: list[Snapshot]) -> list[Snapshot]:
    """The procops snapshots that belong to no complete, confirmed run (see :func:`run_sets`)."""
    counted = {s.id for r in run_sets(snaps) for s in r.snapshots}
    return [s for s in snaps if s.id not in counted]


def resolve(sets: list[RunSet], spec: str, repo: str) -> RunSet:
    """'latest', a run id, or a (short) snapshot id of either snapshot of a run."""
    if not sets:
        raise EnvironmentFailure(
            _("repository '{repo}' has no complete backup yet (run: procops backup run)").format(repo=repo)
        )
    if spec == "latest":
        return sets[-1]
    for r in sets:
        ids = [r.files.id, *([r.database.id] if r.database else [])]
        if spec == r.run_id or any(i.startswith(spec) for i in ids):
            return r
    raise BadInput(_("no backup run or snapshot {spec!r} in repository '{repo}'").format(spec=spec, repo=repo))
