"""The load shape procops runs: a declarative list of stages from ``$PROCOPS_LOADTEST_STAGES``.

Given to Locust next to the locustfile (``-f locustfile.py,shape.py``), so the
locustfile alone still runs with ``-u/-r/-t``. ``tick()`` returns the current
stage's ``(users, spawn_rate)`` and ``None`` after the last stage, which stops
the test. When the test starts, the shape writes its start time (epoch) and the
stages to ``stages.jsonl`` in ``$PROCOPS_LOADTEST_OUT``: procops cuts the raw
samples into steps with it (per-step percentiles, not cumulative ones).
"""

from __future__ import annotations

import json
import os
import time

from locust import LoadTestShape

from procops.loadtests.recorder import STAGES_FILE
from procops.loadtests.scenario import ENV_OUT, ENV_STAGES, stages_from_json


class StagesShape(LoadTestShape):
    use_common_options = False

    def __init__(self) -> None:
        super().__init__()
        text = os.environ.get(ENV_STAGES)
        self.stages = stages_from_json(text) if text else []
        self.out = os.environ.get(ENV_OUT)
        self.current: int | None = None

    def reset_time(self) -> None:
        super().reset_time()
        self.current = None

    def _mark(self, index: int, run_time: float) -> None:
        if index == self.current or not self.out:
            self.current = index
            return
        self.current = index
        start = time.time() - run_time
        row = {
            "event": "stage" if index < len(self.stages) else "end",
            "index": index,
            "test_start": start,
            "time": time.time(),
        }
        if index < len(self.stages):
            row["users"] = self.stages[index].users
        with open(os.path.join(self.out, STAGES_FILE), "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def tick(self):
        run_time = self.get_run_time()
        elapsed = 0.0
        for i, stage in enumerate(self.stages):
            elapsed += stage.duration
            if run_time < elapsed:
                self._mark(i, run_time)
                return stage.users, stage.spawn_rate
        self._mark(len(self.stages), run_time)
        return None
