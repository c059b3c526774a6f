"""backup-corruption: a pack of the off-site repository is corrupted in a COPY of the repository
(the real one is never touched); the detection probe is ``restic check --read-data`` of the copy,
which must name the damaged pack. The rollback deletes the copy."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from procops.drills.injectors import Injector, PlannedAction
from procops.errors import BadInput, EnvironmentFailure
from procops.i18n import _


def pick_pack(repo: Path) -> Path:
    """The largest pack file of a repository folder (``data/xx/<id>``): the one surely holding data."""
    packs = [p for p in (repo / "data").glob("*/*") if p.is_file()]
    if not packs:
        raise EnvironmentFailure(
            _("the repository {repo} has no pack to corrupt: run a backup first").format(repo=repo),
            hint=_("run: procops backup run"),
        )
    return max(packs, key=lambda p: (p.stat().st_size, p.name))


def corrupt(path: Path, nbytes: int) -> int:
    """Flip ``nbytes`` bytes in the middle of ``path`` (its content no longer matches its hash); the offset."""
    size = path.stat().st_size
    n = max(1, min(nbytes, size))
    off = max(0, size // 2 - n // 2)
    path.chmod(0o600)
    with open(path, "r+b") as f:
        f.seek(off)
        data = f.read(n)
        f.seek(off)
        f.write(bytes(b ^ 0xFF for b in data))
    return off


class BackupCorruption(Injector):
    def _bytes(self) -> int:
        try:
            n = int(self.params.get("bytes", 64))
        except (TypeError, ValueError):
            raise BadInput(_("fault.params.bytes must be a number of bytes")) from None
        if not 1 <= n <= 1 << 20:
            raise BadInput(_("fault.params.bytes must be between 1 and 1048576"))
        return n

    def _source(self) -> tuple[str, Path]:
        from procops.backup import api as backup

        repo = self.params.get("repository")
        name = None if repo in (None, "offsite") else str(repo)
        rname, path = backup.offsite_repository_path(self.config, name)
        if path is None:
            raise EnvironmentFailure(
                _("repository {name} is not a local folder: copy it by hand to drill backup-corruption").format(
                    name=rname
                )
            )
        if not (path / "config").is_file():
            raise EnvironmentFailure(
                _("repository {name} ({path}) is not initialised").format(name=rname, path=path),
                hint=_("run: procops backup init && procops backup run"),
            )
        return rname, path

    @property
    def copy(self) -> Path:
        return self.workdir / "repository-copy"

    def plan(self) -> list[PlannedAction]:
        return [
            PlannedAction(
                _("copy the off-site repository to {copy} and flip {n} bytes of one pack in the copy").format(
                    copy=self.copy, n=self._bytes()
                ),
                _("delete the copy (the real repository is never written)"),
            ),
            PlannedAction(
                _("detect: restic check --read-data of the copy must name the damaged pack"), _("nothing to undo")
            ),
        ]

    def preflight(self) -> None:
        self._bytes()
        pick_pack(self._source()[1])

    def inject(self) -> dict[str, Any]:
        rname, src = self._source()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.injected = True
        shutil.rmtree(self.copy, ignore_errors=True)
        shutil.copytree(src, self.copy)
        pack = pick_pack(self.copy)
        off = corrupt(pack, self._bytes())
        self.evidence = {"repository": rname, "pack": pack.name, "offset": off}
        return {"repository": rname, "copy": str(self.copy), "pack": pack.name, "offset": off}

    def detect(self) -> bool:
        """The probe: restic check --read-data of the copy names the damaged pack."""
        from procops.backup import api as backup

        res = backup.check_copy(self.config, str(self.evidence["repository"]), self.copy)
        self.evidence["check"] = {"ok": res.ok, "packs": res.packs, "errors": res.errors[:5]}
        pack = str(self.evidence.get("pack"))
        return (not res.ok) and any(pack.startswith(p) or p.startswith(pack[:8]) for p in res.packs)

    def rollback(self) -> dict[str, Any]:
        shutil.rmtree(self.copy, ignore_errors=True)
        return {"copy": "deleted", "check": self.evidence.get("check")}
