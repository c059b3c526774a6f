from pathlib import Path

from procops import execute
from procops.monitoring import tools


def test_promtool_argv():
    argv = tools.promtool_test_rules(Path("/x/t.yml"))
    assert argv[0].endswith("promtool") and argv[1:] == ["test", "rules", "/x/t.yml"]
    assert tools.promtool_check_rules(Path("r.yml"))[1:] == ["check", "rules", "r.yml"]
    assert tools.amtool_check_config(Path("am.yml"))[1:] == ["check-config", "am.yml"]


def test_tool_env_is_explicit(monkeypatch):
    monkeypatch.setenv("PROCOPS_SECRET_THING", "x")
    assert "PROCOPS_SECRET_THING" not in execute.child_env(tools.tool("promtool"))


def test_every_stack_program_has_an_entry_in_the_runners_table():
    assert all(tools.tool(n).name == n for n in tools.NAMES)
