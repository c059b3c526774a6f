import datetime as dt

import pytest

from procops.timeutil import format_duration, iso, parse_duration, parse_iso, parse_size


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("15m", 900),
        ("1h", 3600),
        ("24h", 86400),
        ("2500ms", 2.5),
        ("90", 90),
        (30, 30),
        ("7d", 604800),
        ("1.5s", 1.5),
        ("2w", 1209600),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-5m", "5 parsecs", True, -1])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration_round_trips():
    for s in (900, 3600, 5400, 86400, 0.25, 0):
        assert parse_duration(format_duration(s)) == s
    assert format_duration(-120) == "-2m"


@pytest.mark.parametrize(
    "text,n", [("200KB", 204800), ("5MB", 5 * 1024**2), ("1GiB", 1024**3), (512, 512), ("100", 100)]
)
def test_parse_size(text, n):
    assert parse_size(text) == n


def test_parse_size_rejects_unknown_unit():
    with pytest.raises(ValueError, match="not a size"):
        parse_size("3XB")


def test_iso_is_utc_with_z():
    t = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert iso(t) == "2026-01-01T19:04:05Z"
    assert parse_iso("2026-01-01T19:04:05Z") == t
