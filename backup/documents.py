"""Archived documents one by one: the changed-documents check of a backup run, and restoring one document.

* :func:`check_changed`: before a run backs the documents store up, every
  document the platform records (the run's manifest: id, storage path, size,
  sha256) is looked at; those whose file changed since the last run (its
  mtime or size differ from what the last run saw, or the last run did not see
  it good) are hashed and compared with the recorded sha256. A missing,
  altered or unreadable file is *damage*: the run still backs the store up
  (the evidence is kept) but its verdict fails and its journal record names
  the documents. What a run saw good is kept in ``$PROCOPS_HOME/backup/documents-seen.json``;
  a damaged document is never recorded there, so every run names it again
  until it is repaired. A change that keeps both mtime and size is found by
  the daily ``backup verify --live`` (which hashes everything), not here.
* :func:`restore_document`: ``procops backup restore --document ID`` puts one
  document back in place from the newest backup run that holds it with the
  recorded sha256 (older runs are tried when a newer one holds a damaged copy),
  checking the restored bytes before they replace anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from procops.errors import BadInput

from procops.i18n import _

if TYPE_CHECKING:
    from procops.backup.restic import Repo, Restic
    from procops.config import Config

INCOMING = ".incoming"


@dataclass(frozen=True)
class DamagedDocument:
    id: int
    storage_path: str
    problem: str  # missing | altered | unreadable
    detail: str

    def as_dict(self) -> dict:
        return {"id": self.id, "storage_path": self.storage_path, "problem": self.problem, "detail": self.detail}


@dataclass
class ChangedCheck:
    documents: int = 0
    hashed: int = 0
    damaged: list[DamagedDocument] | None = None
    seen: dict[str, list] | None = None  # storage path -> [mtime_ns, size, sha256] of the files seen good

    def as_dict(self) -> dict:
        return {"documents": self.documents, "hashed": self.hashed}


def seen_path() -> Path:
    from procops.backup.sources import backup_dir

    return backup_dir() / "documents-seen.json"


def load_seen(root: Path) -> dict[str, list]:
    """What the last run saw good in this documents store (empty for another store or an unreadable file)."""
    try:
        d = json.loads(seen_path().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(d, dict) or d.get("documents_dir") != str(root) or not isinstance(d.get("files"), dict):
        return {}
    return d["files"]


def save_seen(root: Path, seen: dict[str, list]) -> None:
    from procops.home import atomic_write

    atomic_write(seen_path(), json.dumps({"documents_dir": str(root), "files": seen}, sort_keys=True))


def check_changed(root: Path, documents: list[dict], seen: dict[str, list], workers: int = 0) -> ChangedCheck:
    """The documents whose file changed since ``seen`` against their recorded size and sha256."""
    from procops.backup.verify import hash_many

    damaged: list[DamagedDocument] = []
    new_seen: dict[str, list] = {}
    to_hash: dict[Path, tuple[dict, os.stat_result]] = {}
    for d in documents:
        sp = d["storage_path"]
        p = root / sp
        try:
            st = p.stat()
        except FileNotFoundError:
            damaged.append(DamagedDocument(d["id"], sp, "missing", "the file is not in the documents store"))
            continue
        except OSError as e:
            damaged.append(DamagedDocument(d["id"], sp, "unreadable", str(e)))
            continue
        if seen.get(sp) == [st.st_mtime_ns, st.st_size, d["sha256"]]:
            new_seen[sp] = seen[sp]
        else:
            to_hash[p] = (d, st)
    hashes = hash_many(list(to_hash), workers) if to_hash else {}
    for p, (d, st) in to_hash.items():
        sp = d["storage_path"]
        got = hashes[p]
        if isinstance(got, Exception):
            damaged.append(DamagedDocument(d["id"], sp, "unreadable", str(got)))
            continue
        sha, size = got
        if sha != d["sha256"] or size != d["size"]:
            damaged.append(
                DamagedDocument(
                    d["id"],
                    sp,
                    "altered",
                    f"recorded size {d['size']} sha256 {d['sha256'][:12]}..., found size {size} sha256 {sha[:12]}...",
                )
            )
            continue
        new_seen[sp] = [st.st_mtime_ns, st.st_size, d["sha256"]]
    damaged.sort(key=lambda x: x.id)
    return ChangedCheck(len(documents), len(to_hash), damaged, new_seen)


def changed_documents(config: Config, root: Path, documents: list[dict]) -> ChangedCheck:
    """:func:`check_changed` against what the last run saw; records what this run saw good."""
    res = check_changed(root, documents, load_seen(root), config.backup.hash_workers)
    save_seen(root, res.seen or {})
    return res


# --------------------------------------------------------------------------- restore one document


def document_record(config: Config, doc_id: int) -> dict:
    """The platform's record of one archived document (BadInput, exit 2, for an unknown id)."""
    from procops.backup import dumps
    from procops.backup.sources import sources

    db = sources(config).database
    sql = f"SELECT id, storage_path, size, sha256 FROM archive_documents WHERE id = {int(doc_id)}"
    if db.kind == "sqlite":
        from procops.errors import EnvironmentFailure

        if not db.path or not db.path.is_file():
            raise EnvironmentFailure(_("the SQLite database {path} does not exist").format(path=db.path))
        with dumps.sqlite_query(db.path) as q:
            rows = q(sql)
    else:
        with dumps.sqlalchemy_query(db) as (q, _unused):
            rows = q(sql)
    if not rows:
        raise BadInput(
            _("no archived document with id {doc_id} in the platform's archive_documents").format(doc_id=doc_id)
        )
    r = rows[0]
    return {"id": int(r[0]), "storage_path": str(r[1]), "size": int(r[2]), "sha256": str(r[3]).strip().lower()}


def _dump_to(restic: Restic, repo: Repo, snapshot_id: str, path: str, dest: Path, timeout: float) -> bool:
    """`restic dump` of one file of a snapshot into ``dest`` (0600); False when the snapshot lacks it."""
    from procops.backup.restic import dump_args

    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        c = restic.run(repo, dump_args(snapshot_id, path), stdout=out, timeout=timeout, check=False)
    return c.rc == 0


def restore_document(config: Config, doc_id: int) -> dict:
    """Restore document ``doc_id`` in place from the newest run holding it with the recorded sha256.

    Returns ``{"ok", "id", "storage_path", "sha256", "status", "repository", "run", "snapshot", "tried"}``;
    ``status`` is ``restored``, ``intact`` (the live file already matches: nothing written) or
    ``no_good_copy`` (ok false: no reachable run holds the recorded bytes).
    """
    from procops.backup.ops import make_restic, run_sets, snapshots
    from procops.backup.sources import select, sources
    from procops.backup.verify import hash_file
    from procops.errors import ProcopsError

    rec = document_record(config, doc_id)
    root = sources(config).documents
    live = root / rec["storage_path"]
    out = {"ok": False, "id": rec["id"], "storage_path": rec["storage_path"], "sha256": rec["sha256"]}
    out |= {"status": "no_good_copy", "repository": None, "run": None, "snapshot": None, "tried": []}
    try:
        if hash_file(live) == (rec["sha256"], rec["size"]):
            return out | {"ok": True, "status": "intact"}
    except OSError:
        pass  # missing or unreadable: restore it
    restic = make_restic(config)
    staging = root / INCOMING
    staging.mkdir(parents=True, exist_ok=True)
    tmp = staging / f".restore-document-{rec['id']}-{os.getpid()}"
    tried: list[dict] = out["tried"]
    try:
        for repo in select(config, None):  # local repositories first
            try:
                sets = run_sets(snapshots(restic, repo))
            except ProcopsError as e:
                tried.append({"repository": repo.name, "error": e.message})
                continue
            for run in reversed(sets):  # newest first
                doc_dirs = [p for p in run.files.paths if not p.endswith("/manifest.json")]
                doc_dirs.sort(key=lambda p: p != str(root))  # the current store's path first
                for d in doc_dirs:
                    path = f"{d.rstrip('/')}/{rec['storage_path']}"
                    if not _dump_to(restic, repo, run.files.id, path, tmp, config.backup.command_timeout):
                        continue
                    sha, size = hash_file(tmp)
                    good = (sha, size) == (rec["sha256"], rec["size"])
                    tried.append({"repository": repo.name, "run": run.run_id, "sha256": sha, "good": good})
                    if good:
                        live.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(tmp, live)
                        return out | {
                            "ok": True,
                            "status": "restored",
                            "repository": repo.name,
                            "run": run.run_id,
                            "snapshot": run.files.short_id,
                        }
                    break
    finally:
        tmp.unlink(missing_ok=True)
    return out
