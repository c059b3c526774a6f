"""`procops backup check`: `restic check` per repository, reading a rotating subset of the packs.

By default each check reads subset ``n/t`` (t = ``backup.check_subsets``, a
divisor of 256) and the next check of that repository reads ``n+1/t``, so t
consecutive checks read every pack; the last subset is kept in the state
file. ``--read-data-subset`` overrides it for one run ('all' reads every pack).
`check` takes restic's exclusive lock; stale locks are removed first.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from procops.backup import state
from procops.backup.ops import LiveLock, make_restic, with_stale_unlock
from procops.backup.restic import ResticError, check_args, next_subset, parse_subset_option, subset_spec, tail
from procops.backup.sources import select
from procops.home import exclusive_lock
from procops.timeutil import iso, utcnow

if TYPE_CHECKING:
    from procops.config import Config

_PACK = re.compile(r"\bpack ([0-9a-f]{8,64})\b", re.IGNORECASE)
_PACK2 = re.compile(r"\b(?:Pack ID does not match|pack file|ID)\b[^\n]*?\b([0-9a-f]{64})\b")


@dataclass
class CheckResult:
    repository: str
    ok: bool
    read: str  # "structure only", "3/8", "all", ...
    seconds: float
    errors: list[str] = field(default_factory=list)
    packs: list[str] = field(default_factory=list)
    problem: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def bad_packs(output: str) -> list[str]:
    """Pack ids named in restic check's error output."""
    found: list[str] = []
    for rx in (_PACK, _PACK2):
        for m in rx.finditer(output):
            if m.group(1) not in found:
                found.append(m.group(1))
    return found


def error_lines(output: str) -> list[str]:
    keep = []
    for ln in output.splitlines():
        s = ln.strip()
        if not s or s.startswith(
            (
                "using temporary cache",
                "create exclusive lock",
                "load indexes",
                "check all packs",
                "check snapshots, trees and blobs",
                "read ",
                "[",
                "no errors were found",
                "load snapshots",
                "using cache",
            )
        ):
            continue
        keep.append(s)
    return keep[:40]


def check(config: Config, *, repo: str | None = None, read_data_subset: str | None = None) -> list[CheckResult]:
    with exclusive_lock("backup"):
        restic = make_restic(config)
        t = config.backup.check_subsets
        out = []
        for r in select(config, repo):
            st = state.repo_state(r.name).get("check") or {}
            if read_data_subset is not None:
                subset, read_all = parse_subset_option(read_data_subset)
                n = None
            else:
                n = next_subset(st.get("subset"), t)
                subset, read_all = subset_spec(n, t), False
            label = "all" if read_all else subset or "structure only"
            t0 = time.monotonic()
            try:
                with_stale_unlock(
                    restic,
                    r,
                    functools.partial(
                        restic.run, r, check_args(subset, read_all=read_all), timeout=config.backup.command_timeout
                    ),
                )
                res = CheckResult(r.name, True, label, 0.0)
            except LiveLock as e:
                res = CheckResult(r.name, False, label, 0.0, [e.message], problem="live_lock")
            except ResticError as e:
                text = e.tail if e.problem.value != "other" else ""
                res = CheckResult(r.name, False, label, 0.0, problem=e.problem.value)
                full = getattr(e, "output", "") or ""
                res.errors = error_lines(full) or [e.message]
                res.packs = bad_packs(full)
                if text and not res.errors:
                    res.errors = [text]
            res.seconds = round(time.monotonic() - t0, 3)
            now = iso(utcnow())
            values: dict[str, Any] = {
                "time": now,
                "ok": res.ok,
                "read": label,
                "errors": res.errors[:10],
                "packs": res.packs[:20],
            }
            if n is not None:
                values["subset"] = n if res.ok else st.get("subset")
            else:
                values["subset"] = st.get("subset")
            values["last_success"] = now if res.ok else st.get("last_success")
            if res.problem != "interrupted":  # a stopped check is no verdict: the last one stands
                state.update(r.name, check=values)
            out.append(res)
        repos = select(config, None)
        state.write_metrics(
            [x.name for x in repos], {x.name: x.offsite for x in repos}, rpo_seconds=config.policy.backup_interval
        )
        from procops.events import BackupCheck, BackupCheckRepo, Kind, Status
        from procops.journal import record

        ok = all(c.ok for c in out)
        interrupted = any(c.problem == "interrupted" for c in out)
        record(
            Kind.BACKUP_CHECK,
            repo or "all",
            BackupCheck(
                status=Status.INTERRUPTED if interrupted and not ok else Status.of(ok),
                ok=ok,
                repositories={c.repository: BackupCheckRepo(**c.as_dict()) for c in out},
            ),
        )
        return out


__all__ = ["CheckResult", "bad_packs", "check", "error_lines", "tail"]
