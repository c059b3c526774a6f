"""Locust as child processes: argv builders (pure), the process group, and the CPU sampler.

Every Locust process is ``<python> -m locust ...`` started here through
:func:`procops.execute.popen` (exact environment, registered so an interrupted
operation stops it), its output in the report folder, and a hard timeout. The
generator's CPU is sampled with psutil per Locust process (each is one gevent
loop, so its share of one core is what saturates: a process near 100% delays
its own timers and inflates the response times it measures).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from procops import execute
from procops.errors import EnvironmentFailure

from procops.i18n import _

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "locustfile.py"
SHAPEFILE = HERE / "shape.py"
PLUGINFILE = HERE / "plugin.py"
CSV_PREFIX = "locust"


@dataclass(frozen=True)
class Role:
    kind: str  # "local", "master" or "worker"
    master_host: str = "127.0.0.1"
    master_port: int = 5557
    expect_workers: int = 0
    wait: int = 60  # how long a master waits for its workers


def locust_argv(
    python: str,
    role: Role,
    *,
    host: str,
    report_dir: Path,
    locustfiles: tuple[Path, ...],
    index: int = 0,
    loglevel: str = "INFO",
) -> list[str]:
    """argv of one Locust process (pure)."""
    files = ",".join(str(p) for p in locustfiles)
    argv = [python, "-m", "locust", "-f", files]
    if role.kind == "worker":
        return argv + [
            "--worker",
            "--master-host",
            role.master_host,
            "--master-port",
            str(role.master_port),
            "--logfile",
            str(report_dir / f"locust-worker-{index}.log"),
            "--loglevel",
            loglevel,
        ]
    argv += [
        "--headless",
        "--host",
        host,
        "--csv",
        str(report_dir / CSV_PREFIX),
        "--html",
        str(report_dir / "locust-report.html"),
        "--exit-code-on-error",
        "0",
        "--only-summary",
        "--logfile",
        str(report_dir / f"locust-{role.kind}.log"),
        "--loglevel",
        loglevel,
    ]
    if role.kind == "master":
        argv += [
            "--master",
            "--master-bind-host",
            role.master_host,
            "--master-bind-port",
            str(role.master_port),
            "--expect-workers",
            str(role.expect_workers),
            "--expect-workers-max-wait",
            str(role.wait),
        ]
    return argv


def parse_bind(text: str) -> tuple[str, int]:
    """``HOST:PORT`` of ``--master-bind`` (ValueError when malformed)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CpuSample:
    time: float
    pid: int
    name: str
    ratio: float  # share of one core since the previous sample
    wait: float | None = None  # share of the time spent runnable but waiting for a core (Linux schedstat)


@dataclass
class CpuSampler:
    """Samples the CPU share of each Locust process (and its children) every ``interval`` seconds."""

    interval: float = 1.0
    samples: list[CpuSample] = field(default_factory=list)
    _procs: dict = field(default_factory=dict)
    _last_wait: dict = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def watch(self, pid: int, name: str) -> None:
        import psutil

        try:
            p = psutil.Process(pid)
            p.cpu_percent(None)
            self._procs[pid] = (p, name)
        except psutil.Error:
            pass

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        import psutil

        while not self._stop.wait(self.interval):
            now = time.time()
            for pid, (p, name) in list(self._procs.items()):
                try:
                    wait = self._wait_share(pid, now)
                    ratio = p.cpu_percent(None) / 100.0
                    for child in p.children(recursive=True):
                        if child.pid not in self._procs:
                            self.watch(child.pid, f"{name}/child")
                except psutil.Error:
                    self._procs.pop(pid, None)
                    continue
                self.samples.append(CpuSample(now, pid, name, ratio, wait))

    def _wait_share(self, pid: int, now: float) -> float | None:
        """Run-queue wait of the process's main thread since the last sample (None where unknown)."""
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                waited = int(f.read().split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return None
        last = self._last_wait.get(pid)
        self._last_wait[pid] = (now, waited)
        if last is None or now <= last[0]:
            return None
        return max(0.0, min(1.0, (waited - last[1]) / (now - last[0])))


def read_worker_cpu(path: Path) -> list[CpuSample]:
    """CPU shares that workers reported about themselves (``time, node, ratio`` lines)."""
    out: list[CpuSample] = []
    if not path.exists():
        return out
    ids: dict[str, int] = {}
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        try:
            t, ratio = float(parts[0]), float(parts[2])
        except ValueError:
            continue
        pid = ids.setdefault(parts[1], -(len(ids) + 1))  # not a local pid: one series per node
        out.append(CpuSample(t, pid, f"worker {parts[1]} (self-reported)", ratio))
    return out


def generator_cpu(samples: list[CpuSample], start: float, end: float, window: int = 3) -> dict:
    """Highest moving average (over ``window`` samples) of any process's own CPU share during [start, end].

    The verdict uses the process's own share (what it consumed), so other work on
    a shared machine does not make a run invalid; the run-queue wait is reported
    next to it.
    """
    by: dict[int, list[CpuSample]] = {}
    for s in samples:
        if start <= s.time <= end:
            by.setdefault(s.pid, []).append(s)
    peak, peak_name, total, count, max_wait = 0.0, None, 0.0, 0, 0.0
    per_process = {}
    for pid, rows in by.items():
        vals = [r.ratio for r in rows]
        total += sum(vals)
        count += len(vals)
        w = max(1, min(window, len(vals)))
        best = max(sum(vals[i : i + w]) / w for i in range(len(vals) - w + 1))
        waits = [r.wait for r in rows if r.wait is not None]
        per_process[rows[0].name if pid < 0 else f"{rows[0].name} (pid {pid})"] = {
            "max": round(best, 3),
            "mean": round(sum(vals) / len(vals), 3),
            "mean_wait": round(sum(waits) / len(waits), 3) if waits else None,
        }
        if waits:
            max_wait = max(max_wait, sum(waits) / len(waits))
        if best > peak:
            peak, peak_name = best, rows[0].name
    return {
        "max_ratio": round(peak, 3),
        "busiest": peak_name,
        "mean_ratio": round(total / count, 3) if count else None,
        "samples": count,
        "processes": per_process,
        # time a generator process was runnable but waited for a core (other load on the machine):
        # its timers ran late by that much, so response times may read high
        "max_mean_wait_ratio": round(max_wait, 3),
    }


@dataclass
class LocustGroup:
    """A Locust master (or single process) and its local workers, run to completion."""

    argvs: list[tuple[str, list[str]]]  # (name, argv); the first is the one that ends the test
    env: dict
    cwd: Path
    timeout: float
    procs: list[tuple[str, execute.Child]] = field(default_factory=list)

    def run(self, sampler: CpuSampler | None = None, on_tick: Callable[[], None] | None = None) -> int:
        try:
            for name, argv in self.argvs:
                with open(self.cwd / f"{name}.out", "wb") as out:
                    p = execute.popen(
                        execute.LOCUST,
                        argv,
                        cwd=self.cwd,
                        env=self.env,
                        stdout=out,
                        stderr=execute.STDOUT,
                        new_session=True,
                    )
                self.procs.append((name, p))
                if sampler:
                    sampler.watch(p.pid, name)
            if sampler:
                sampler.start()
            main = self.procs[0][1]
            if on_tick is None:
                code = main.wait(timeout=self.timeout)
            else:  # a progress line: tick about every second while the test runs
                deadline = time.monotonic() + self.timeout
                code = None
                while code is None and time.monotonic() < deadline:
                    code = main.wait(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
                    if code is None:
                        with contextlib.suppress(Exception):  # progress never fails the test
                            on_tick()
            if code is None:
                raise EnvironmentFailure(
                    _("Locust did not finish within {timeout:.0f}s; stopped it (see {cwd}/locust-*.log)").format(
                        timeout=self.timeout, cwd=self.cwd
                    )
                )
            for _unused, p in self.procs[1:]:
                p.wait(timeout=20)
            return code
        finally:
            if sampler:
                sampler.stop()
            self.terminate()

    def terminate(self) -> None:
        """The stop signal to every process still running, then SIGKILL after 10 s in all."""
        for _unused, p in self.procs:
            if p.poll() is None:
                p.signal(execute.LOCUST.stop_signal)
        deadline = time.monotonic() + 10
        for _unused, p in self.procs:
            if p.wait(timeout=max(0.1, deadline - time.monotonic())) is None:
                p.stop(grace=0)


def live_stats(report_dir: Path) -> dict | None:
    """The newest aggregated row of Locust's ``locust_stats_history.csv`` (written every few seconds
    while it runs): users, requests/s, failures/s, p95 (ms), requests and failures so far."""
    import csv

    path = report_dir / f"{CSV_PREFIX}_stats_history.csv"
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("Name") == "Aggregated"]
    except OSError:
        return None
    if not rows:
        return None
    r = rows[-1]

    def num(key: str) -> float:
        try:
            return float(r.get(key) or 0)
        except ValueError:
            return 0.0

    return {
        "users": int(num("User Count")),
        "rps": num("Requests/s"),
        "failures_per_s": num("Failures/s"),
        "p95_ms": num("95%"),
        "requests": int(num("Total Request Count")),
        "failures": int(num("Total Failure Count")),
    }


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """What Locust is told beyond the runner's exact environment (no inherited LOCUST_* settings)."""
    return {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **extra}


def python() -> str:
    return sys.executable


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
