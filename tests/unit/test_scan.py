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
