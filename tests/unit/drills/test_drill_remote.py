"""The Fabric injectors' commands (pure argv builders) and how tc says netem is missing."""

from __future__ import annotations

from procops.drills import remote


def test_service_commands():
    assert remote.stop_service_args("procurement") == ("systemctl", "stop", "procurement")
    assert remote.kill_service_args("procurement") == ("systemctl", "kill", "--signal=KILL", "procurement")
    assert remote.start_service_args("procurement") == ("systemctl", "start", "procurement")


def test_the_port_rule_is_tagged_and_removed_exactly():
    add = remote.block_port_args(5432, "db-loss-1")
    delete = remote.unblock_port_args(5432, "db-loss-1")
    assert add[:5] == ("iptables", "-w", "5", "-I", "INPUT") and delete[:5] == ("iptables", "-w", "5", "-D", "INPUT")
    assert add[5:] == delete[5:] and "procops-drill:db-loss-1" in add and add[-2:] == ("-j", "DROP")


def test_latency_and_filler_commands():
    assert remote.latency_args("eth0", 250) == ("tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "250ms")
    assert remote.unlatency_args("eth0") == ("tc", "qdisc", "del", "dev", "eth0", "root")
    assert remote.fill_args("/srv/data/filler", 1 << 20) == ("fallocate", "-l", "1048576", "/srv/data/filler")
    assert remote.unfill_args("/srv/data/filler") == ("rm", "-f", "/srv/data/filler")


def test_a_kernel_without_netem_is_recognised():
    assert remote.netem_missing("Error: Specified qdisc kind is unknown.\n")
    assert remote.netem_missing('Unknown qdisc "netem", hence option "delay" is unparsable')
    assert not remote.netem_missing("Error: Exclusivity flag on, cannot modify.")
