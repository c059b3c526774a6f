"""Repository operations shared by run, check, verify, restore and status.

A backup *run* makes two snapshots in a repository, tagged ``procops`` and
``run=<id>``: the database dump (``--stdin``, tag ``database``) and the files
(the documents store, the manifest, extra paths; tag ``files``), made side by
side. A run is complete when both exist (a failed half makes the run forget the
other). ``restic copy`` keeps the tags, so a run is the same run in every
repository even though snapshot ids differ.
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
TAG_PENDING = "pending"  # made by a run that has not confirmed it (yet, or ever: killed)
TAG_CONFIRMED = "confirmed"  # the run checked its snapshots complete; only these count


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

    @property
    def pending(self) -> bool:
        return TAG_PENDING in self.tags and not self.confirmed

    def tag_value(self, key: str) -> str | None:
        for t in self.tags:
            if t.startswith(key + "="):
                return t[len(key) + 1 :]
        return None

    @property
    def kind(self) -> str | None:
        return TAG_DB if TAG_DB in self.tags else TAG_FILES if TAG_FILES in self.tags else None

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
    """The snapshots of one backup run in one repository."""

    run_id: str
    files: Snapshot
    database: Snapshot | None

    @property
    def time(self) -> str:
        return self.files.time

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
    """Complete, confirmed runs (a files snapshot and the database snapshot of the same run, both tagged
    ``confirmed``), oldest first: an unconfirmed snapshot (a killed or failed run) never counts."""
    db = {s.run_id: s for s in snaps if s.kind == TAG_DB and s.run_id and s.confirmed}
    out = [RunSet(s.run_id, s, db[s.run_id]) for s in snaps if s.kind == TAG_FILES and s.confirmed and s.run_id in db]
    return sorted(out, key=lambda r: r.time)


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
