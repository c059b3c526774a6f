from pathlib import Path

from procops.scan import lynis_argv, parse_report

REPORT = """# Lynis Report
lynis_version=3.0.8
warning[]=SSH-7408|Root can log in with password|-|-|
suggestion[]=AUTH-9230|Configure password hashing rounds in /etc/login.defs|-|-|
suggestion[]=DEB-0880|Install fail2ban|-|-|
hardening_index=61
tests_executed=SSH-7402|AUTH-9408|CORE-1000|
"""


def test_parse_report():
    r = parse_report(REPORT)
    assert r.lynis_version == "3.0.8" and r.hardening_index == 61 and r.tests_executed == 3
    assert [(w.test, w.text) for w in r.warnings] == [("SSH-7408", "Root can log in with password")]
    assert [s.test for s in r.suggestions] == ["AUTH-9230", "DEB-0880"]


def test_lynis_argv_is_quick_and_noninteractive():
    argv = lynis_argv(Path("/r.dat"), Path("/l.log"), ["ssh", "authentication"])
    assert argv[:3] == ["lynis", "audit", "system"]
    assert {"--quick", "--no-colors", "--cronjob"} <= set(argv)
    assert argv[argv.index("--tests-from-group") + 1] == "ssh authentication"
    assert "--tests-from-group" not in lynis_argv(Path("/r"), Path("/l"))


def test_no_hardening_index_is_a_failure_not_a_pass():
    from procops.scan import Changes, verdict

    data = {"hardening_index": None, "warnings": []}
    assert any("no hardening index" in p for p in verdict(data, Changes(), 10, 0))
    assert verdict({"hardening_index": 60, "warnings": []}, Changes(), 10, 50) == []
    assert verdict({"hardening_index": 40, "warnings": []}, Changes(), 10, 50)


def test_parse_debsecan_summary():
    from procops.scan import parse_debsecan

    v = parse_debsecan(
        "CVE-2024-1 openssl (fixed, remotely exploitable, high urgency)\n"
        "CVE-2024-2 bash (low urgency)\n"
        "TEMP-0000001-ABCDEF libc6\n"
        "garbage\n"
    )
    assert [(x.cve, x.package, x.urgency, x.remote, x.fixed) for x in v] == [
        ("CVE-2024-1", "openssl", "high", True, True),
        ("CVE-2024-2", "bash", "low", False, False),
        ("TEMP-0000001-ABCDEF", "libc6", "", False, False),
    ]
    assert [x.high for x in v] == [True, False, False]


def test_compare_with_the_previous_scan():
    from procops.scan import compare

    def summary(warnings, vulns):
        return {
            "warnings": [{"test": t, "text": ""} for t in warnings],
            "vulnerabilities": [{"cve": c, "package": p, "urgency": u} for c, p, u in vulns],
        }

    prev = summary(["SSH-7408"], [("CVE-1", "bash", "high"), ("CVE-2", "zlib", "low")])
    cur = summary(["AUTH-9230"], [("CVE-1", "bash", "high"), ("CVE-3", "curl", "high")])
    c = compare(cur, prev, "/r/scan-1")
    assert c.previous == "/r/scan-1"
    assert c.new_warnings == ["AUTH-9230"] and c.resolved_warnings == ["SSH-7408"]
    assert c.new_vulnerabilities == ["CVE-3 curl"] and c.fixed_vulnerabilities == ["CVE-2 zlib"]
    assert c.new_high == ["CVE-3 curl"]
    first = compare(cur, None)
    assert first.new_high == ["CVE-1 bash", "CVE-3 curl"] and first.new_warnings == []


def test_inventory_hosts_and_debsecan_argv(tmp_path):
    from procops.errors import BadInput
    from procops.scan import debsecan_argv, inventory_hosts, os_codename, source_url

    inv = tmp_path / "inv.ini"
    inv.write_text(
        "# hosts\n[platform]\nweb1 ansible_host=10.0.0.2 ansible_user=ops ansible_port=2222 "
        "ansible_ssh_private_key_file='/k/id ed'\ndb1\n[platform:vars]\nx=1\n[all:children]\nplatform\n"
    )
    hosts = inventory_hosts(inv)
    assert set(hosts) == {"web1", "db1"}
    w = hosts["web1"]
    assert (w.address, w.user, w.port, w.key_file) == ("10.0.0.2", "ops", 2222, "/k/id ed")
    assert (hosts["db1"].address, hosts["db1"].user, hosts["db1"].port) == ("db1", "root", 22)
    (tmp_path / "bad.ini").write_text("web1 ansible_port=ssh\n")
    import pytest

    with pytest.raises(BadInput):
        inventory_hosts(tmp_path / "bad.ini")
    assert source_url("/srv/debsecan") == "file:///srv/debsecan/"
    assert source_url("http://m/debsecan/release/1/") == "http://m/debsecan/release/1/"
    argv = debsecan_argv("bookworm", "/srv/d", Path("/tmp/status"))
    assert argv[:3] == ["debsecan", "--format", "summary"]
    assert argv[argv.index("--source") + 1] == "file:///srv/d/" and argv[argv.index("--status") + 1] == "/tmp/status"
    assert os_codename('PRETTY_NAME="Debian 12"\nVERSION_CODENAME=bookworm\n') == "bookworm"
