from pathlib import Path

import yaml

from procops.config import Config
from procops.monitoring import stack, webauth
from procops.monitoring.rules import JOB_NODE

PATHS = stack.StackPaths(Path("/h/monitoring"))
TARGET = stack.Target("http://127.0.0.1:18080", ("127.0.0.1:18081",))
AUTH = webauth.WebAuth("procops", Path("/h/secrets/monitoring-web-password"))


def test_prometheus_authenticates_its_scrapes_of_itself_and_alertmanager_and_its_alerting_by_file():
    mon = Config().monitoring
    cfg = yaml.safe_load(stack.prometheus_config(mon, PATHS, TARGET, Path("/r.yml"), AUTH))
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    want = {"username": "procops", "password_file": "/h/secrets/monitoring-web-password"}
    assert jobs["prometheus"]["basic_auth"] == want
    assert jobs["alertmanager"]["basic_auth"] == want
    assert cfg["alerting"]["alertmanagers"][0]["basic_auth"] == want
    assert "basic_auth" not in jobs[JOB_NODE]  # the exporters need none
    assert "procops-webhook" in jobs  # procops_webhook_rejected_total is scraped


def test_prometheus_and_alertmanager_get_the_web_config_file_and_no_secret_in_argv():
    mon = Config().monitoring
    for name in ("prometheus", "alertmanager"):
        argv = stack.component_argv(name, mon, PATHS)
        assert "--web.config.file=/h/monitoring/web.yml" in argv
        assert not any("password" in a for a in argv)


def test_the_web_config_holds_a_bcrypt_hash_that_matches_only_the_password():
    h = webauth.bcrypt_hash("right", cost=4)
    doc = yaml.safe_load(webauth.web_config("procops", h))
    assert doc == {"basic_auth_users": {"procops": h}}
    assert h.startswith("$2") and "right" not in h
    assert webauth.hash_matches("right", h) and not webauth.hash_matches("wrong", h)
    assert not webauth.hash_matches("right", "not-a-hash")


def test_credentials_kept_in_the_stack_state_are_a_user_and_a_file_never_the_password():
    d = AUTH.as_dict()
    assert d == {"user": "procops", "password_file": "/h/secrets/monitoring-web-password"}
    assert webauth.from_state(d) == AUTH
    assert webauth.from_state({}) is None
