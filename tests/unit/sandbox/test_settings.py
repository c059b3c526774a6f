from pathlib import Path

import pytest

from procops.sandbox.settings import Settings

BASE = {"PROCOPS_SANDBOX_DB_URL": "sqlite:////tmp/platform.db", "PROCOPS_SANDBOX_DOCS_DIR": "/tmp/docs"}


def test_from_env_defaults():
    s = Settings.from_env(BASE)
    assert s == Settings(db_url="sqlite:////tmp/platform.db", docs_dir=Path("/tmp/docs"))
    assert (s.version, s.max_upload, s.replica, s.pool_size, s.admin_token_file) == (
        "1.0.0",
        20 * 1024 * 1024,
        "r1",
        10,
        None,
    )
    assert not s.has_search and not s.flaky_uploads


def test_from_env_reads_every_variable():
    s = Settings.from_env(
        {
            "PROCOPS_SANDBOX_DB_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/procurement",
            "PROCOPS_SANDBOX_DOCS_DIR": "/srv/docs",
            "PROCOPS_SANDBOX_VERSION": "1.1.1-bad",
            "PROCOPS_SANDBOX_MAX_UPLOAD": "5MB",
            "PROCOPS_SANDBOX_ADMIN_TOKEN_FILE": "/run/token",
            "PROCOPS_SANDBOX_REPLICA": "r2",
            "PROCOPS_SANDBOX_POOL_SIZE": "25",
            "PROCOPS_SANDBOX_SESSION_LIFETIME": "2h",
            "PROCOPS_SANDBOX_LOGIN_MAX_FAILURES": "7",
            "PROCOPS_SANDBOX_LOGIN_WINDOW": "10m",
        }
    )
    assert s.version == "1.1.1-bad" and s.has_search and s.flaky_uploads
    assert s.max_upload == 5 * 1024 * 1024
    assert s.admin_token_file == Path("/run/token")
    assert (s.replica, s.pool_size) == ("r2", 25)
    assert (s.session_lifetime, s.login_max_failures, s.login_window) == (7200, 7, 600)
    # Key and access log default to the instance's state folder, the parent of the documents.
    assert (s.key_path, s.access_log_path) == (Path("/srv/keys/data.key"), Path("/srv/audit/access.jsonl"))
    assert Settings.from_env(s.to_env()) == s


@pytest.mark.parametrize(
    "override, variable",
    [
        ({"PROCOPS_SANDBOX_DB_URL": ""}, "PROCOPS_SANDBOX_DB_URL"),
        ({"PROCOPS_SANDBOX_DB_URL": "not a url"}, "PROCOPS_SANDBOX_DB_URL"),
        ({"PROCOPS_SANDBOX_DB_URL": "oracle://scott@db/x"}, "PROCOPS_SANDBOX_DB_URL"),
        ({"PROCOPS_SANDBOX_DB_URL": "sqlite://"}, "PROCOPS_SANDBOX_DB_URL"),
        ({"PROCOPS_SANDBOX_DOCS_DIR": " "}, "PROCOPS_SANDBOX_DOCS_DIR"),
        ({"PROCOPS_SANDBOX_VERSION": "2.0"}, "PROCOPS_SANDBOX_VERSION"),
        ({"PROCOPS_SANDBOX_MAX_UPLOAD": "lots"}, "PROCOPS_SANDBOX_MAX_UPLOAD"),
        ({"PROCOPS_SANDBOX_MAX_UPLOAD": "0"}, "PROCOPS_SANDBOX_MAX_UPLOAD"),
        ({"PROCOPS_SANDBOX_REPLICA": "r 1"}, "PROCOPS_SANDBOX_REPLICA"),
        ({"PROCOPS_SANDBOX_SESSION_LIFETIME": "0"}, "PROCOPS_SANDBOX_SESSION_LIFETIME"),
        ({"PROCOPS_SANDBOX_SESSION_LIFETIME": "soon"}, "PROCOPS_SANDBOX_SESSION_LIFETIME"),
        ({"PROCOPS_SANDBOX_LOGIN_MAX_FAILURES": "0"}, "PROCOPS_SANDBOX_LOGIN_MAX_FAILURES"),
        ({"PROCOPS_SANDBOX_LOGIN_WINDOW": "0s"}, "PROCOPS_SANDBOX_LOGIN_WINDOW"),
        ({"PROCOPS_SANDBOX_POOL_SIZE": "ten"}, "PROCOPS_SANDBOX_POOL_SIZE"),
        ({"PROCOPS_SANDBOX_POOL_SIZE": "0"}, "PROCOPS_SANDBOX_POOL_SIZE"),
    ],
)
def test_from_env_bad_value_names_the_variable(override, variable):
    with pytest.raises(ValueError, match=variable):
        Settings.from_env({**BASE, **override})


def test_from_env_missing_variable_names_it():
    with pytest.raises(ValueError, match="PROCOPS_SANDBOX_DOCS_DIR"):
        Settings.from_env({"PROCOPS_SANDBOX_DB_URL": BASE["PROCOPS_SANDBOX_DB_URL"]})


def test_error_never_echoes_a_password():
    with pytest.raises(ValueError) as e:
        Settings.from_env({**BASE, "PROCOPS_SANDBOX_DB_URL": "oracle://scott:tiger@db/x"})
    assert "tiger" not in str(e.value)
