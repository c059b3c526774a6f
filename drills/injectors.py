"""Local fault injectors for the sandbox platform, each with its guaranteed rollback.

An injector is built from a scenario's ``fault`` (:func:`for_scenario`) and has four parts:

* :meth:`Injector.plan` -- every action and its rollback, as people read them (``drill plan``); pure;
* :meth:`Injector.preflight` -- what it needs is there (root for a loop filesystem, a running
  sandbox, no release in progress ...); exit 3 naming what is missing; injects nothing;
* :meth:`Injector.inject` -- the fault, for real; returns its evidence (pids, paths, ...);
* :meth:`Injector.rollback` -- undoes it. Idempotent and safe to call when ``inject`` never ran
  or stopped half-way: the drill calls it whatever happened (a failed step, a stop condition,
  Ctrl-C), and the operation calls it again as its last resort.

Injectors over SSH for real hosts are in :mod:`procops.drills.remote`.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops import execute
from procops.errors import BadInput, EnvironmentFailure
from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config
    from procops.drills.scenario import Scenario

MOUNT = execute.Tool("mount", "mount", timeout=30.0)
UMOUNT = execute.Tool("umount", "umount", timeout=30.0)
MKFS = execute.Tool("mkfs.ext4", "mkfs.ext4", timeout=60.0)


@dataclass(frozen=True)
class PlannedAction:
    """One action of a drill and its rollback, as ``drill plan`` shows them."""

    action: str
    rollback: str

    def as_dict(self) -> dict:
        return {"action": self.action, "rollback": self.rollback}


def parse_size(value: Any) -> int:
    """``16MB`` / ``64KB`` / ``1048576`` -> bytes (BadInput otherwise)."""
    if isinstance(value, bool):
        raise BadInput(_("a size, e.g. 16MB, not {value!r}").format(value=value))
    if isinstance(value, int):
        return value
    text = str(value).strip().upper()
    for unit, mult in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)):
        if text.endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * mult)
            except ValueError:
                break
    try:
        return int(text)
    except ValueError:
        raise BadInput(_("a size, e.g. 16MB, not {value!r}").format(value=value)) from None


@dataclass
class Injector:
    config: Config
    params: dict[str, Any]
    workdir: Path
    injected: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)

    def plan(self) -> list[PlannedAction]:
        raise NotImplementedError

    def preflight(self) -> None:
        """Exit 3 naming what is missing; nothing is changed."""

    def inject(self) -> dict[str, Any]:
        raise NotImplementedError

    def rollback(self) -> dict[str, Any]:
        raise NotImplementedError


def _sandbox_running(config: Config) -> Any:
    from procops.sandbox import api as sandbox

    r = sandbox.running("main")
    if r is None or not r.haproxy_alive:
        raise EnvironmentFailure(_("the sandbox platform is not running"), hint=_("start it first: procops sandbox up"))
    return r


def _restart_sandbox(config: Config, running: Any) -> dict[str, Any]:
    """``sandbox up`` with the ports and version it runs with: what died is started again."""
    from procops.sandbox import api as sandbox

    version = next((rep.version for rep in running.replicas if rep.version), None)
    opts = sandbox.up_options(config, port=running.port, replicas=len(running.replicas), version=version)
    _unused, started = sandbox.up(opts, "main")
    return {"restarted": bool(started)}


class KillReplica(Injector):
    """app-crash: SIGKILL to one replica's process; the rollback starts it again (``sandbox up``)."""

    def _index(self) -> int:
        try:
            return int(self.params.get("replica", 0))
        except (TypeError, ValueError):
            raise BadInput(_("fault.params.replica must be a replica number (0 = the first)")) from None

    def plan(self) -> list[PlannedAction]:
        i = self._index()
        return [
            PlannedAction(
                _("kill -9 the process of sandbox replica r{n}").format(n=i + 1),
                _("start the replica again (procops sandbox up)"),
            )
        ]

    def preflight(self) -> None:
        r = _sandbox_running(self.config)
        i = self._index()
        if not 0 <= i < len(r.replicas):
            raise BadInput(
                _("fault.params.replica {i} does not exist: the sandbox runs {n} replica(s)").format(
                    i=i, n=len(r.replicas)
                )
            )
        if not r.replicas[i].alive:
            raise EnvironmentFailure(
                _("sandbox replica r{n} is already down").format(n=i + 1), hint=_("restart it: procops sandbox up")
            )

    def inject(self) -> dict[str, Any]:
        import psutil

        r = _sandbox_running(self.config)
        self.evidence = {"running": r}
        rep = r.replicas[self._index()]
        self.injected = True
        try:
            proc = psutil.Process(rep.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        except psutil.NoSuchProcess:
            pass
        return {"replica": rep.name, "pid": rep.pid, "port": rep.port}

    def rollback(self) -> dict[str, Any]:
        from procops.sandbox import api as sandbox

        running = self.evidence.get("running") or sandbox.running("main")
        if running is None:
            return {"restarted": False, "detail": "no sandbox state"}
        return _restart_sandbox(self.config, running)


class DatabaseDown(Injector):
    """network-partition: the platform loses its database (the sandbox's database knob, ``db=down``:
    every database access and ``/healthz`` fail as with an unreachable server)."""

    def plan(self) -> list[PlannedAction]:
        return [
            PlannedAction(
                _("make the database unreachable for every replica (procops sandbox fault set db=down)"),
                _("restore the database path (procops sandbox fault clear)"),
            )
        ]

    def preflight(self) -> None:
        _sandbox_running(self.config)

    def inject(self) -> dict[str, Any]:
        from procops.sandbox import api as sandbox

        self.injected = True
        sandbox.set_fault(["db=down"], None)
        return {"fault": "db=down"}

    def rollback(self) -> dict[str, Any]:
        from procops.sandbox import api as sandbox

        sandbox.clear_fault()
        return {"fault": "cleared"}


class DatabaseLoss(Injector):
    """db-loss: the sandbox's SQLite database file is removed (a consistent copy is kept in the drill's
    folder first) and the database knob is set down (open connections would otherwise go on serving the
    removed file). The standby is started from the off-site backup by the response; the rollback puts
    the file back only when nothing else (a failback) did, and restarts the platform on it."""

    def _db(self) -> Path:
        r = _sandbox_running(self.config)
        url = str(r.database_url)
        if not url.startswith("sqlite:///"):
            raise EnvironmentFailure(
                _("db-loss on the sandbox needs its SQLite database (this one is {kind})").format(
                    kind=url.split(":", 1)[0]
                ),
                hint=_("drill db-loss on the embedded sandbox, or stop the database server by hand"),
            )
        return Path(url[len("sqlite:///") :])

    def plan(self) -> list[PlannedAction]:
        return [
            PlannedAction(
                _("keep a consistent copy of the sandbox database in the drill's folder, then remove the file"),
                _("put the copy back unless the failback restored the database, then restart the platform"),
            ),
            PlannedAction(
                _("set the database knob down (procops sandbox fault set db=down)"),
                _("clear it (procops sandbox fault clear)"),
            ),
        ]

    def preflight(self) -> None:
        db = self._db()
        if not db.is_file():
            raise EnvironmentFailure(_("the sandbox database {path} does not exist").format(path=db))

    def inject(self) -> dict[str, Any]:
        import sqlite3

        from procops.sandbox import api as sandbox

        db = self._db()
        running = _sandbox_running(self.config)
        keep = self.workdir / "platform.db.before-drill"
        self.workdir.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        dst = sqlite3.connect(keep)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        self.evidence = {"database": db, "copy": keep, "running": running}
        self.injected = True
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        sandbox.set_fault(["db=down"], None)
        return {"removed": str(db), "copy": str(keep)}

    def rollback(self) -> dict[str, Any]:
        from procops.sandbox import api as sandbox

        out: dict[str, Any] = {}
        db = self.evidence.get("database")
        keep = self.evidence.get("copy")
        try:
            sandbox.clear_fault()
            out["fault"] = "cleared"
        except Exception as e:  # the replicas may be restarted below anyway
            out["fault"] = f"not cleared: {e}"
        if db is None:
            return out
        if not Path(db).exists():
            if keep is None or not Path(keep).exists():
                raise EnvironmentFailure(_("the database copy of the drill is missing: restore from the backup"))
            shutil.copy2(keep, db)
            out["database"] = "restored from the copy taken before the fault"
        else:
            out["database"] = "present (restored by the response)"
        running = sandbox.running("main")
        if running is not None and sandbox.active_site().site == "main":
            sandbox.down("main", journal=False)
            out.update(_restart_sandbox(self.config, running))
        return out


class DiskFull(Injector):
    """disk-full: a small ext4 filesystem (a loop device) mounted under the platform's data and filled."""

    def _paths(self) -> tuple[Path, Path, Path]:
        from procops.sandbox import api as sandbox

        base = sandbox.paths("main").base
        mnt = base / "drill-disk"
        return self.workdir / "disk.img", mnt, mnt / "filler"

    def _size(self) -> int:
        size = parse_size(self.params.get("size", "16MB"))
        if not (4 << 20) <= size <= (1 << 30):
            raise BadInput(_("fault.params.size must be between 4MB and 1GB"))
        return size

    def _ratio(self) -> float:
        try:
            ratio = float(self.params.get("fill_ratio", 0.97))
        except (TypeError, ValueError):
            raise BadInput(_("fault.params.fill_ratio must be a number between 0.5 and 1")) from None
        if not 0.5 <= ratio <= 1.0:
            raise BadInput(_("fault.params.fill_ratio must be a number between 0.5 and 1"))
        return ratio

    def plan(self) -> list[PlannedAction]:
        img, mnt, _filler = self._paths()
        return [
            PlannedAction(
                _("make a {size} ext4 filesystem in {img} and mount it (loop) on {mnt}").format(
                    size=self.params.get("size", "16MB"), img=img, mnt=mnt
                ),
                _("unmount it and delete the image"),
            ),
            PlannedAction(
                _("fill it to {pct:.0%} with a filler file").format(pct=self._ratio()),
                _("delete the filler file"),
            ),
        ]

    def preflight(self) -> None:
        self._size()
        self._ratio()
        if os.geteuid() != 0:
            raise EnvironmentFailure(
                _("disk-full mounts a loop filesystem: it needs root"), hint=_("run the drill as root")
            )
        for tool in (MOUNT, UMOUNT, MKFS):
            if shutil.which(tool.binary, path=tool.search_path) is None:
                raise execute.ToolMissing(tool.binary)

    def inject(self) -> dict[str, Any]:
        img, mnt, filler = self._paths()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.injected = True
        with open(img, "wb") as f:
            f.truncate(self._size())
        execute.run(MKFS, ["mkfs.ext4", "-q", "-F", "-m", "0", str(img)])
        mnt.mkdir(parents=True, exist_ok=True)
        execute.run(MOUNT, ["mount", "-o", "loop", str(img), str(mnt)])
        self.evidence["mounted"] = True
        st = os.statvfs(mnt)
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        want = max(0, int(total * self._ratio()) - (total - free))
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, max(want, 1))
        finally:
            os.close(fd)
        st = os.statvfs(mnt)
        used = 1 - (st.f_bavail / st.f_blocks if st.f_blocks else 0)
        return {"mount": str(mnt), "size": total, "used_ratio": round(used, 4)}

    def rollback(self) -> dict[str, Any]:
        img, mnt, filler = self._paths()
        out: dict[str, Any] = {}
        filler.unlink(missing_ok=True)
        if os.path.ismount(mnt):
            r = execute.run(UMOUNT, ["umount", str(mnt)], check=False)
            if not r.ok:
                execute.run(UMOUNT, ["umount", "-l", str(mnt)])
            out["unmounted"] = str(mnt)
        if mnt.is_dir() and not os.path.ismount(mnt):
            try:
                mnt.rmdir()
            except OSError:
                pass
        img.unlink(missing_ok=True)
        return out


class TrafficSurge(Injector):
    """traffic-surge: ``procops loadtest peak`` at ``multiple`` x ``loadtest.normal_peak_users`` for
    ``run_time`` (bounded: at most 10 minutes), as a child process; the rollback stops it (SIGINT,
    then the runner's grace) if it still runs."""

    child: Any = None

    def _users(self) -> int:
        try:
            multiple = float(self.params.get("multiple", 3))
        except (TypeError, ValueError):
            raise BadInput(_("fault.params.multiple must be a number (3 = three times the normal peak)")) from None
        if not 0 < multiple <= 10:
            raise BadInput(_("fault.params.multiple must be between 0 and 10"))
        return max(1, int(round(self.config.loadtest.normal_peak_users * multiple)))

    def _run_time(self) -> float:
        from procops.timeutil import parse_duration

        try:
            t = parse_duration(str(self.params.get("run_time", "2m")))
        except ValueError as e:
            raise BadInput(_("fault.params.run_time: {error}").format(error=e)) from None
        if not 0 < t <= 600:
            raise BadInput(_("fault.params.run_time must be at most 10m"))
        return t

    def argv(self) -> list[str]:
        import sys

        return [
            sys.executable,
            "-m",
            "procops.cli.main",
            "loadtest",
            "peak",
            "--users",
            str(self._users()),
            "--duration",
            f"{int(self._run_time())}s",
            "--no-abort-on-fail",
        ]

    def plan(self) -> list[PlannedAction]:
        return [
            PlannedAction(
                _(
                    "{users} Locust users ({multiple}x the normal peak) for {seconds:g} s (procops loadtest peak)"
                ).format(users=self._users(), multiple=self.params.get("multiple", 3), seconds=self._run_time()),
                _("stop the load generator"),
            )
        ]

    def preflight(self) -> None:
        self._users()
        self._run_time()
        _sandbox_running(self.config)

    def inject(self) -> dict[str, Any]:
        import os as _os

        from procops.home import state_home

        env = {"PROCOPS_HOME": str(state_home())}
        if _os.environ.get("PROCOPS_CONFIG"):
            env["PROCOPS_CONFIG"] = _os.environ["PROCOPS_CONFIG"]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.injected = True
        self.child = execute.popen(execute.LOCUST, self.argv(), env=env, stdout=execute.DEVNULL, stderr=execute.DEVNULL)
        return {"users": self._users(), "seconds": self._run_time(), "pid": self.child.pid}

    def rollback(self) -> dict[str, Any]:
        if self.child is None:
            return {"stopped": False}
        if self.child.poll() is None:
            self.child.signal(signal.SIGINT)
            if self.child.wait(60) is None:
                self.child.stop(10)
        else:
            self.child.wait(1)
        return {"stopped": True, "exit": self.child.returncode}


class BadRelease(Injector):
    """bad-release: the bad version rolled out as a gray release (``release.api.start`` with short
    analysis windows, ``--auto``) in the background; its gates are the detection (the probe
    ``release-gates``: the release ended rolled back). Rollback: wait for the release to end, abort it
    if it still runs, and check every replica is back on the version it ran before."""

    thread: Any = None
    outcome: dict[str, Any] | None = None  # set by the release's thread: outcome, message

    def _version(self) -> str:
        return str(self.params.get("version", "1.1.1-bad"))

    def plan(self) -> list[PlannedAction]:
        return [
            PlannedAction(
                _("roll out version {version} as a gray release (procops release start)").format(
                    version=self._version()
                ),
                _("abort the release: every server back on the stable version (procops release abort)"),
            )
        ]

    def preflight(self) -> None:
        from procops.release import api as release

        _sandbox_running(self.config)
        rel = release.status().get("release") or {}
        if rel.get("status") in ("running", "paused", "interrupted"):
            raise EnvironmentFailure(
                _("a release is in progress: the bad-release drill needs the platform on its stable version"),
                hint=_("finish or abort it first: procops release status"),
            )

    def inject(self) -> dict[str, Any]:
        import threading

        from procops.release import api as release

        self.preflight()
        before = release.current_version(self.config)
        cfg = release.short_stages(self.config, float(self.params.get("analysis", 15.0)))
        rel = cfg.release
        load = rel.load.model_copy(update={"enabled": True, "rate": max(rel.load.rate, 25.0)})
        cfg = cfg.model_copy(update={"release": rel.model_copy(update={"load": load})})
        self.evidence["version_before"] = before
        outcome: dict[str, Any] = {}
        self.outcome = outcome

        def run() -> None:
            try:
                res = release.start(cfg, self._version(), auto=True)
                outcome.update(outcome=res.outcome, message=res.message)
            except Exception as e:  # noqa: BLE001 - the drill reads it as a failed detection and rolls back
                outcome.update(outcome="error", message=getattr(e, "message", str(e)))

        self.injected = True
        self.thread = threading.Thread(target=run, name="drill-bad-release", daemon=True)
        self.thread.start()
        return {"version": self._version(), "from_version": before}

    def detect(self) -> bool:
        """The gates found the bad version: the release ended rolled back."""
        return (self.outcome or {}).get("outcome") == "rolled_back"

    def rollback(self) -> dict[str, Any]:
        from procops.release import api as release

        out: dict[str, Any] = {}
        if self.thread is not None:
            self.thread.join(float(self.params.get("wait", 300.0)))
            if self.thread.is_alive():
                res = release.abort(self.config, reason="bad-release drill rollback")
                out["aborted"] = res.outcome
                self.thread.join(60)
        out["release"] = dict(self.outcome or {})
        now = release.current_version(self.config)
        out["version_after"] = now
        before = self.evidence.get("version_before")
        if before and now != before:
            raise EnvironmentFailure(
                _("after the bad-release drill the platform runs {now}, not {before}").format(now=now, before=before),
                hint=_("roll it back: procops release abort"),
            )
        return out


class NotBuilt(Injector):
    """A fault whose local injector is not part of this build: refused before anything is done."""

    def plan(self) -> list[PlannedAction]:
        return [PlannedAction(_("(no injector in this build)"), _("nothing to roll back"))]

    def preflight(self) -> None:
        raise EnvironmentFailure(
            _("the fault {action} has no injector in this build").format(action=self.params.get("_action", "?")),
            hint=_("drill another scenario (procops drill list)"),
        )

    def inject(self) -> dict[str, Any]:
        self.preflight()
        return {}

    def rollback(self) -> dict[str, Any]:
        return {}


LOCAL: dict[str, type[Injector]] = {
    "kill-replica": KillReplica,
    "db-loss": DatabaseLoss,
    "disk-full": DiskFull,
    "network-partition": DatabaseDown,
    "traffic-surge": TrafficSurge,
    "release": BadRelease,
}


def for_scenario(config: Config, scenario: Scenario, workdir: Path) -> Injector:
    """The injector of the scenario's fault (local ones for the sandbox, Fabric ones for hosts)."""
    action = scenario.fault.action
    params = dict(scenario.fault.params)
    if scenario.target.kind == "hosts":
        from procops.drills import remote

        return remote.for_scenario(config, scenario, workdir)
    if action == "backup-corruption":
        from procops.drills import backupfault

        return backupfault.BackupCorruption(config, params, workdir)
    cls = LOCAL.get(action)
    if cls is None:
        return NotBuilt(config, {**params, "_action": action}, workdir)
    return cls(config, params, workdir)


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether the process ``pid`` ended within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
