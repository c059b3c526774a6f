"""Times for people in the display zone, to the second; durations in words of the language;
a time typed without a zone is read in the display zone."""

from __future__ import annotations

import datetime as dt

import pytest

from procops import display, i18n
from procops.config import Config, parse


@pytest.fixture
def shanghai():
    display.configure(Config.model_validate({"display": {"timezone": "Asia/Shanghai"}}))
    yield
    display.configure(Config())


def test_a_time_typed_without_a_zone_is_read_in_the_display_zone(shanghai):
    t = display.parse("2026-12-01 10:00")
    assert t == dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    assert display.echo(t) == "2026-12-01 10:00:00 +08:00 (UTC 2026-12-01T02:00:00Z)"


def test_a_time_typed_with_a_zone_keeps_it(shanghai):
    assert display.parse("2026-12-01T10:00:00Z") == dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    assert display.parse("2026-12-01 10:00+09:00") == dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        display.parse("yesterday")


def test_times_are_shown_in_the_display_zone_to_the_second(shanghai):
    assert display.when("2026-12-01T02:00:00.123456Z") == "2026-12-01 10:00:00 +08:00"
    assert display.when(None) == "-"
    assert display.zone_label().startswith("Asia/Shanghai (UTC+08:00)")


def test_utc_is_named_and_the_host_zone_is_the_default(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    display.configure(Config())
    assert display.when("2026-12-01T02:00:00Z") == "2026-12-01 02:00:00 UTC"
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    assert display.zone_name() == "Asia/Shanghai"


@pytest.mark.parametrize(
    "seconds, zh, en",
    [
        (895, "14分55秒", "14 min 55 s"),
        (900, "15分钟", "15 min"),
        (3600, "1小时", "1 h"),
        (86400, "24小时", "24 h"),
        (3 * 86400 + 7200, "3天2小时", "3 d 2 h"),
        (5400, "1小时30分钟", "1 h 30 min"),
        (42, "42秒", "42 s"),
        (-300, "-5分钟", "-5 min"),
    ],
)
def test_durations_read_in_words_of_the_language(seconds, zh, en):
    with i18n.speaking("zh"):
        assert display.duration(seconds) == zh
    with i18n.speaking("en"):
        assert display.duration(seconds) == en


def test_an_unknown_zone_is_a_config_error_naming_the_field(tmp_path):
    from procops.config import ConfigError

    with pytest.raises(ConfigError, match="display.timezone"):
        parse("display:\n  timezone: Mars/Olympus\n", tmp_path / "procops.yaml")
