"""Several processes opening the same alert's incident at once get one incident (real SQLite, real processes)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
from procops.incidents.incident import IncidentStore
with IncidentStore() as s:
    inc, created = s.open("storm", dedupe_key="fp-storm", source={"kind": "alert", "fingerprint": "fp-storm"})
    s.add_timeline(inc.id, "alert.repeat", {"n": sys.argv[1]})
print(json.dumps({"id": inc.id, "created": created}))
"""


def test_concurrent_processes_share_one_open_incident(procops_home):
    procs = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, str(i)], stdout=subprocess.PIPE, text=True) for i in range(6)
    ]
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        results.append(json.loads(out))
    assert len({r["id"] for r in results}) == 1
    assert sum(r["created"] for r in results) == 1
    from procops.incidents.incident import IncidentStore

    with IncidentStore() as s:
        [inc] = s.list()
        assert [t.kind for t in inc.timeline].count("alert.repeat") == 6
