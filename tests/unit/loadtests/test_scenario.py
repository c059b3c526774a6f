"""Stages, capacity multiples, upload sizes, argv builders, CPU verdict input (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from procops.loadtests import locustproc as lp
from procops.loadtests import scenario as sc


def test_peak_stage_ramps_then_holds():
    [st] = sc.peak_stages(50, 10, 60)
    assert (st.users, st.spawn_rate, st.duration) == (50, 10, 65.0)


def test_capacity_multiples_default_ladder():
    assert sc.capacity_multiples(3, 5) == [1.0, 1.5, 2.0, 3.0, 4.0, 5.0]
    assert sc.capacity_multiples(2, 2) == [1.0, 1.5, 2.0]
    assert sc.capacity_multiples(3.5, 4) == [1.0, 1.5, 2.0, 3.0, 3.5, 4.0]
    assert sc.capacity_multiples(1, 1.2) == [1.0, 1.2]


def test_capacity_stages_round_users_up():
    stages = sc.capacity_stages(3, [1.0, 1.5, 2.0], 5, 10)
    assert [s.users for s in stages] == [3, 5, 6]
    assert [s.label for s in stages] == ["1x", "1.5x", "2x"]
    assert sc.total_duration(stages) == 30


def test_stages_json_round_trip():
    stages = sc.capacity_stages(2, [1.0, 2.0], 1, 5)
    assert sc.stages_from_json(sc.stages_to_json(stages)) == stages


def test_upload_size_distributions_stay_in_range():
    lo, hi = 512 * 1024, 5 * 1024 * 1024
    for dist in ("uniform", "loguniform"):
        sizes = [sc.upload_size(u / 100, lo, hi, dist) for u in range(100)]
        assert min(sizes) == lo and max(sizes) < hi
    # log-uniform: the median file is smaller than the uniform one
    assert sc.upload_size(0.5, lo, hi, "loguniform") < sc.upload_size(0.5, lo, hi, "uniform")
    assert sc.upload_size(0.3, 100, 100, "uniform") == 100


def test_multipart_body_is_parseable():
    from email.parser import BytesParser

    body, ctype = sc.multipart_body("bid.pdf", b"\x00abc", "XyZ")
    msg = BytesParser().parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
    [part] = msg.get_payload()
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_payload(decode=True) == b"\x00abc"


def test_scenario_from_config_and_env_round_trip():
    from procops.config import Config

    cfg = Config.model_validate(
        {"loadtest": {"upload_size_min": "50KB", "upload_size_max": "200KB", "supplier_tasks": {"bid": 5}}}
    )
    s = sc.Scenario.from_config(cfg.loadtest, suppliers=7, announcements=30, search=True)
    assert s.upload_size_min == 50 * 1024 and s.supplier_tasks["bid"] == 5 and s.suppliers == 7
    assert sc.Scenario.from_env({sc.ENV_SCENARIO: s.to_json()}) == s
    assert sc.Scenario.from_env({}) == sc.Scenario()


def test_config_rejects_inverted_ranges():
    from pydantic import ValidationError

    from procops.config import Config

    with pytest.raises(ValidationError):
        Config.model_validate({"loadtest": {"upload_size_min": "5MB", "upload_size_max": "1MB"}})
    with pytest.raises(ValidationError):
        Config.model_validate({"loadtest": {"think_time_min": "5s", "think_time_max": "1s"}})
    with pytest.raises(ValidationError):
        Config.model_validate({"loadtest": {"supplier_weight": 0, "regulator_weight": 0}})


def test_locust_argv_local_master_worker():
    rd = Path("/r")
    files = (Path("/l/locustfile.py"), Path("/l/shape.py"))
    local = lp.locust_argv("py", lp.Role("local"), host="http://h:1", report_dir=rd, locustfiles=files)
    assert local[:5] == ["py", "-m", "locust", "-f", "/l/locustfile.py,/l/shape.py"]
    assert "--headless" in local and local[local.index("--host") + 1] == "http://h:1"
    assert local[local.index("--csv") + 1] == "/r/locust" and "--master" not in local
    assert local[local.index("--exit-code-on-error") + 1] == "0"
    master = lp.locust_argv(
        "py", lp.Role("master", "0.0.0.0", 6000, 2), host="http://h:1", report_dir=rd, locustfiles=files
    )
    assert master[master.index("--master-bind-port") + 1] == "6000"
    assert master[master.index("--expect-workers") + 1] == "2"
    worker = lp.locust_argv(
        "py", lp.Role("worker", "10.0.0.1", 6000), host="http://h:1", report_dir=rd, locustfiles=files, index=2
    )
    assert "--worker" in worker and "--headless" not in worker and "--csv" not in worker
    assert worker[worker.index("--master-host") + 1] == "10.0.0.1"
    assert worker[worker.index("--logfile") + 1] == "/r/locust-worker-2.log"


def test_parse_bind():
    assert lp.parse_bind("0.0.0.0:5557") == ("0.0.0.0", 5557)
    assert lp.parse_bind("[::1]:6000") == ("::1", 6000)
    for bad in ("5557", "host:", "host:99999", ":1"):
        with pytest.raises(ValueError):
            lp.parse_bind(bad)


def test_generator_cpu_uses_moving_average_in_window():
    S = lp.CpuSample
    samples = [S(t, 1, "local", r) for t, r in enumerate([1.0, 0.2, 0.3, 0.95, 0.95, 0.95, 0.1])]
    samples += [S(t, 2, "worker-1", 0.5) for t in range(7)]
    # the 1.0 at t=0 is startup, outside the window
    got = lp.generator_cpu(samples, 1, 6)
    assert got["max_ratio"] == 0.95 and got["busiest"] == "local"
    got = lp.generator_cpu(samples, 1, 2)
    assert got["max_ratio"] == 0.5 and got["busiest"] == "worker-1"
    assert lp.generator_cpu([], 0, 1)["max_ratio"] == 0.0


@pytest.mark.parametrize("seeded,upper", [(5, 50), (50, 50), (0, 10), (1, 1), (7, 8), (3, 0)])
def test_seeded_logins_binary_search(seeded, upper):
    from procops.loadtests.runner import seeded_logins

    tried = []

    def ok(i):
        tried.append(i)
        return i <= seeded

    assert seeded_logins(ok, upper) == min(seeded, upper)
    assert len(tried) <= 8
