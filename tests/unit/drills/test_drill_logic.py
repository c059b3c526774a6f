"""Pure parts of the drills: probe verdicts, sizes, pack corruption, the alert relabelling, the quarter."""

from __future__ import annotations

import pytest

from procops.drills import backupfault, probes
from procops.drills.injectors import parse_size
from procops.drills.scenario import Probe
from procops.errors import BadInput


def test_an_http_probe_fails_on_status_latency_or_no_answer():
    p = Probe(name="h", kind="http", path="/healthz", expect_status=200, max_latency=2.0)
    assert probes.judge_http(p, 200, 0.1).ok
    assert not probes.judge_http(p, 503, 0.1).ok
    slow = probes.judge_http(p, 200, 2.5)
    assert not slow.ok and "2.50" in slow.detail
    assert not probes.judge_http(p, None, 3.0, "ConnectError").ok


def test_an_error_ratio_probe_compares_with_its_tolerance():
    p = Probe(name="e", kind="error-ratio", max_ratio=0.05, requests=20)
    assert probes.judge_ratio(p, 1, 20).ok
    bad = probes.judge_ratio(p, 2, 20)
    assert not bad.ok and bad.ratio == pytest.approx(0.1)
    assert not probes.judge_ratio(p, 0, 0).ok  # nothing measured is no pass


@pytest.mark.parametrize(("text", "want"), [("16MB", 16 << 20), ("64KB", 64 << 10), ("1GB", 1 << 30), (4096, 4096)])
def test_sizes(text, want):
    assert parse_size(text) == want


def test_a_bad_size_is_bad_input():
    with pytest.raises(BadInput):
        parse_size("lots")


def test_corrupting_a_pack_flips_bytes_in_its_middle(tmp_path):
    repo = tmp_path / "repo"
    (repo / "data" / "ab").mkdir(parents=True)
    (repo / "data" / "ab" / "small").write_bytes(b"a" * 100)
    big = repo / "data" / "ab" / "big"
    big.write_bytes(bytes(range(256)) * 8)
    assert backupfault.pick_pack(repo) == big
    before = big.read_bytes()
    off = backupfault.corrupt(big, 16)
    after = big.read_bytes()
    assert len(after) == len(before) and off == len(before) // 2 - 8
    changed = [i for i in range(len(before)) if before[i] != after[i]]
    assert changed == list(range(off, off + 16))


def test_a_repository_without_packs_cannot_be_corrupted(tmp_path):
    from procops.errors import EnvironmentFailure

    (tmp_path / "data").mkdir()
    with pytest.raises(EnvironmentFailure):
        backupfault.pick_pack(tmp_path)


def test_a_drill_mark_relabels_only_its_alerts():
    from procops.monitoring.stack import drill_relabel

    assert drill_relabel(None) == [] and drill_relabel({"label": "x", "alertnames": []}) == []
    (rule,) = drill_relabel({"label": "app-crash-1", "alertnames": ["ReplicaDown", "PlatformDown"]})
    assert rule["source_labels"] == ["alertname"] and rule["regex"] == "(ReplicaDown|PlatformDown)"
    assert rule["target_label"] == "drill" and rule["replacement"] == "app-crash-1"


def test_a_quarter_is_scheduled_on_the_first_day_of_each_quarter():
    from procops import schedule

    systemd, cron = schedule.calendar(92 * 86400, 15)
    assert systemd == "*-01,04,07,10-01 06:15:00" and cron == "15 6 1 1,4,7,10 *"


def test_the_quarterly_reminder_is_a_scheduled_job():
    from procops import schedule
    from procops.config import Config

    by = {j.name: j for j in schedule.jobs(Config())}
    assert by["drill-reminder"].args == ("drill", "status") and by["drill-reminder"].interval == 92 * 86400


def test_the_drill_participants_fill_the_incident_roles():
    from procops.config import ContactConfig
    from procops.drills.run import participant_roles

    people = [
        ContactConfig(role="应急指挥", name="王伟"),
        ContactConfig(role="operations lead", name="Li Na"),
        ContactConfig(role="scribe", name="Zhao"),
    ]
    assert participant_roles(people) == {"commander": "王伟", "operations": "Li Na", "scribe": "Zhao"}
    assert participant_roles([ContactConfig(role="on call", name="Sun")]) == {"commander": "Sun"}
    assert participant_roles([]) == {}
