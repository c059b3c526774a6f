"""Record every request's raw timing inside the Locust processes (exact percentiles later).

Locust's own statistics round response times to about two significant digits
(above 100 ms) and keep them cumulative, so procops does not judge SLOs from
them. Instead every ``request`` event is kept as one raw sample::

    start_time (epoch s)  name  response_time (ms)  ok (0/1)  status  bytes  node

* a single process (``LocalRunner``) appends them to ``samples.tsv`` in
  ``$PROCOPS_LOADTEST_OUT``;
* a worker (``WorkerRunner``) buffers them and ships them with every stats
  report to its master (the ``report_to_master`` event: the channel Locust uses
  for its own statistics, including the final report at quit), so workers on
  other hosts need no shared disk;
* the master (``MasterRunner``) appends what its workers report to the same file.

Installed by :mod:`procops.loadtests.plugin` with :func:`install`. Only this module and the
shape write into the output folder; nothing here runs outside Locust.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, TextIO

from procops.loadtests import abort
from procops.loadtests.scenario import ENV_OUT

SAMPLES_FILE = "samples.tsv"
STAGES_FILE = "stages.jsonl"
REPORT_KEY = "procops_samples"
CPU_KEY = "procops_cpu"
WORKER_CPU_FILE = "worker_cpu.tsv"


def sample_line(
    start_time: float, name: str, response_time: float, ok: bool, status: int, length: int, node: str
) -> str:
    name = name.replace("\t", " ").replace("\n", " ")
    return f"{start_time:.6f}\t{name}\t{response_time:.3f}\t{int(ok)}\t{status}\t{length}\t{node}\n"


class Recorder:
    def __init__(self, environment: Any, out_dir: str | None) -> None:
        from locust.runners import MasterRunner, WorkerRunner

        self.env = environment
        self.runner = environment.runner
        self.is_worker = isinstance(self.runner, WorkerRunner)
        self.is_master = isinstance(self.runner, MasterRunner)
        self.node = str(getattr(self.runner, "client_id", "local")) if self.is_worker else "local"
        self.buffer: list[str] = []
        self.file: TextIO | None = None
        self.path = os.path.join(out_dir, SAMPLES_FILE) if out_dir else None
        if out_dir and not self.is_worker:
            os.makedirs(out_dir, exist_ok=True)
        if self.path and not self.is_worker and not self.is_master:
            self.file = open(self.path, "a", buffering=1 << 16, encoding="utf-8")
        ev = environment.events
        if not self.is_master:
            ev.request.add_listener(self.on_request)
        if self.is_worker:
            ev.report_to_master.add_listener(self.on_report_to_master)
        if self.is_master:
            ev.worker_report.add_listener(self.on_worker_report)
        ev.test_stop.add_listener(lambda **_: self.flush())
        ev.quitting.add_listener(lambda **_: self.close())
        self.watch: Any = None
        rule = os.environ.get(abort.ENV_ABORT)
        if rule and not self.is_worker and out_dir:
            self.watch = abort.Watch(abort.Rule.from_json(rule), time.time())
            ev.test_start.add_listener(self.on_test_start)
            import gevent

            gevent.spawn(self._watch_loop, out_dir)

    # -- the stop conditions (single process or master: every sample passes here)
    def on_test_start(self, **_: Any) -> None:
        self.watch.test_start = time.time()

    def _watch_loop(self, out_dir: str) -> None:
        import gevent

        while True:
            gevent.sleep(1.0)
            fired = self.watch.check(time.time())
            if fired is None:
                continue
            self.flush()
            tmp = os.path.join(out_dir, abort.ABORT_FILE + ".tmp")
            with open(tmp, "w") as f:
                json.dump(fired.as_dict(), f)
            os.replace(tmp, os.path.join(out_dir, abort.ABORT_FILE))
            import logging

            logging.getLogger("procops.loadtest").error("%s: stopping the test", fired.describe())
            self.runner.quit()
            return

    def _feed(self, start_time: float, response_time: float, ok: bool) -> None:
        if self.watch is not None:
            self.watch.add(start_time + response_time / 1000.0, response_time / 1000.0, ok)

    # -- every process that makes requests
    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        exception: Any = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        status = getattr(response, "status_code", 0) or 0 if response is not None else 0
        if start_time is None:
            start_time = time.time() - (response_time or 0) / 1000.0
        line = sample_line(
            start_time, name, response_time or 0.0, exception is None, int(status), int(response_length or 0), self.node
        )
        self._feed(start_time, response_time or 0.0, exception is None)
        if self.file is not None:
            if not self.file.closed:
                self.file.write(line)
        else:
            self.buffer.append(line)

    # -- worker
    def on_report_to_master(self, client_id: str, data: dict) -> None:
        data[REPORT_KEY] = "".join(self.buffer)
        self.buffer = []
        # the worker's own CPU share (Locust's monitor, psutil), for workers on other hosts
        data[CPU_KEY] = (time.time(), getattr(self.runner, "current_cpu_usage", None))

    # -- master
    def on_worker_report(self, client_id: str, data: dict) -> None:
        # opened per report (every few seconds per worker): the workers' final reports arrive
        # while the master quits, after its ``quitting`` event
        if not self.path:
            return
        text = data.get(REPORT_KEY)
        if text:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(text)
            if self.watch is not None:
                for line in text.splitlines():
                    parts = line.split("\t")
                    try:
                        self._feed(float(parts[0]), float(parts[2]), parts[3] == "1")
                    except (IndexError, ValueError):
                        pass
        cpu = data.get(CPU_KEY)
        if cpu and cpu[1] is not None:
            with open(os.path.join(os.path.dirname(self.path), WORKER_CPU_FILE), "a") as f:
                f.write(f"{cpu[0]:.3f}\t{client_id}\t{float(cpu[1]) / 100.0:.4f}\n")

    def flush(self) -> None:
        if self.file is not None and not self.file.closed:
            self.file.flush()

    def close(self) -> None:
        if self.file is not None and not self.file.closed:
            self.file.flush()
            self.file.close()


def install(environment: Any) -> Recorder | None:
    """Hook the recorder into this Locust process.

    A worker always records (its master decides what to keep); a single process
    or a master only when procops set the output folder, so a plain
    ``locust -f`` run of the same locustfile pays nothing.
    """
    from locust.runners import WorkerRunner

    if getattr(environment, "_procops_recorder", None) is not None:
        return environment._procops_recorder  # installed once per process
    out = os.environ.get(ENV_OUT)
    if not out and not isinstance(environment.runner, WorkerRunner):
        return None
    environment._procops_recorder = Recorder(environment, out)
    return environment._procops_recorder
