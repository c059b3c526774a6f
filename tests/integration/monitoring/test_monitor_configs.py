"""The generated stack configs pass the real promtool and amtool."""

from procops.config import Config
from procops.monitoring import stack


def test_generated_configs_validate(procops_home):
    paths = stack.StackPaths.of()
    target = stack.Target("http://127.0.0.1:18080", ("127.0.0.1:18081",), "postgresql://u@127.0.0.1/db")
    files = stack.render_all(Config(), paths, target)
    stack.validate(paths)  # raises on rejection
    assert files["prometheus"].is_file() and files["alertmanager"].is_file()


def test_a_broken_config_is_rejected(procops_home):
    import pytest

    from procops.errors import EnvironmentFailure

    paths = stack.StackPaths.of()
    stack.render_all(Config(), paths, stack.Target("http://127.0.0.1:1", ()))
    paths.alertmanager_yml.write_text(
        paths.alertmanager_yml.read_text().replace("receiver: procops-escalation", "receiver: nobody")
    )
    with pytest.raises(EnvironmentFailure, match="amtool"):
        stack.validate(paths)
