"""UTC times and durations, one way everywhere."""

from __future__ import annotations

import datetime as dt
import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|min|m|h|d|w)\s*)+$|^\s*\d+(?:\.\d+)?\s*$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)?")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime) -> str:
    """ISO 8601 in UTC with a trailing Z, microseconds kept."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)


def parse_duration(value: str | int | float) -> float:
    """'15m' -> 900.0; '1h' -> 3600.0; '2500ms' -> 2.5; a bare number is seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '15m'")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not _DURATION.match(str(value)):
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 1h, 7d)")
    return sum(float(n) * _UNITS[u or "s"] for n, u in _PART.findall(str(value)))


def format_duration(seconds: float) -> str:
    """900 -> '15m'; 3600 -> '1h'; 5400 -> '1h30m'; 0.25 -> '250ms'."""
    if abs(seconds) < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    neg = seconds < 0
    s = int(round(abs(seconds)))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    text = "".join(parts) or "0s"
    return f"-{text}" if neg else text


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: str | int) -> int:
    """'200KB' -> 204800; '5MB' -> 5242880; a bare number is bytes."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string like '200KB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    m = _SIZE.match(str(value))
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {value!r} (use e.g. 200KB, 5MB)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
