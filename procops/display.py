"""Times and durations for people: in the operator's zone, to the second, in their language.

Evidence stays in UTC (the journal, ``--json``, stored records: :mod:`procops.timeutil`);
everything a person reads goes through here:

* :func:`when` -- ``2026-12-01 10:00:00 +08:00``: the display zone (``display.timezone``,
  default the host's zone, else UTC), to the second, with its offset (``UTC`` for UTC);
* :func:`duration` -- ``14分55秒``, ``15分钟``, ``1小时``, ``24小时`` / ``14 min 55 s``,
  ``15 min``, ``1 h``: the two largest units, in the current language;
* :func:`parse` -- a time typed by a person: with a zone (``Z``, ``+08:00``) as written,
  without one in the display zone; :func:`echo` shows it back with its UTC equivalent, so a
  wrong guess is seen at once (``2026-12-01 10:00:00 +08:00 (UTC 2026-12-01T02:00:00Z)``).

The CLI calls :func:`configure` with the config once it is loaded.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

_zone_name: str | None = None  # display.timezone; None: the host's zone


def configure(config: Config) -> None:
    """Use the config's ``display.timezone`` (None: the host's zone)."""
    global _zone_name
    _zone_name = config.display.timezone


@contextmanager
def using(config: Config) -> Iterator[None]:
    """Inside the block, the zone of ``config`` (a report rendered for a config of its own)."""
    global _zone_name
    before, _zone_name = _zone_name, config.display.timezone or _zone_name
    try:
        yield
    finally:
        _zone_name = before


def host_zone_name() -> str:
    """The host's zone: ``$TZ``, else the target of /etc/localtime, else /etc/timezone, else UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and _known(tz):
        return tz
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            name = target.split("zoneinfo/", 1)[1]
            if _known(name):
                return name
    except OSError:
        pass
    try:
        name = Path("/etc/timezone").read_text().strip()
        if name and _known(name):
            return name
    except OSError:
        pass
    return "UTC"


def _known(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def zone_name() -> str:
    return _zone_name or host_zone_name()


def zone() -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    name = zone_name()
    return dt.UTC if name in ("UTC", "Etc/UTC") else ZoneInfo(name)


def _as_datetime(t: dt.datetime | str) -> dt.datetime:
    if isinstance(t, str):
        from procops.timeutil import parse_iso

        return parse_iso(t)
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t


def when(t: dt.datetime | str | None, *, tz: dt.tzinfo | None = None) -> str:
    """``2026-12-01 10:00:00 +08:00`` (``... UTC`` in UTC); ``-`` for no time."""
    if t is None or t == "":
        return "-"
    local = _as_datetime(t).astimezone(tz or zone())
    offset = local.utcoffset() or dt.timedelta(0)
    if offset == dt.timedelta(0) and (tz or zone()) in (dt.UTC,):
        label = "UTC"
    else:
        total = int(offset.total_seconds())
        sign = "+" if total >= 0 else "-"
        label = f"{sign}{abs(total) // 3600:02d}:{abs(total) % 3600 // 60:02d}"
    return f"{local:%Y-%m-%d %H:%M:%S} {label}"


def zone_label() -> str:
    """The display zone for a report's header: ``Asia/Shanghai (UTC+08:00)``."""
    if zone() is dt.UTC:
        return "UTC"
    now = dt.datetime.now(zone())
    off = int((now.utcoffset() or dt.timedelta(0)).total_seconds())
    sign = "+" if off >= 0 else "-"
    return f"{zone_name()} (UTC{sign}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d})"


def duration(seconds: float | None) -> str:
    """A duration in words of the current language, its two largest units: 14分55秒, 15分钟, 1小时."""
    if seconds is None:
        return "-"
    neg = seconds < 0
    s = abs(seconds)
    if 0 < s < 1:
        text = _("{ms} ms").format(ms=f"{s * 1000:.0f}")
    else:
        n = int(round(s))
        d, rest = divmod(n, 86400) if n >= 2 * 86400 else (0, n)  # 24小时, 36小时; 3天
        h, rest = divmod(rest, 3600)
        m, sec = divmod(rest, 60)
        if d:
            text = _("{d} d {h} h").format(d=d, h=h) if h else _("{d} d").format(d=d)
        elif h:
            text = _("{h} h {m} min").format(h=h, m=m) if m else _("{h} h").format(h=h)
        elif m:
            text = _("{m} min {s} s").format(m=m, s=sec) if sec else _("{m} min").format(m=m)
        else:
            text = _("{s} s").format(s=sec)
    return "-" + text if neg else text


def parse(text: str) -> dt.datetime:
    """A time typed by a person, in UTC: ``2026-12-01T02:00:00Z`` and ``2026-12-01 10:00+08:00`` as
    written; ``2026-12-01 10:00`` (no zone) in the display zone. ``ValueError`` when it is not a time."""
    raw = text.strip()
    t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=zone())
    return t.astimezone(dt.UTC)


def echo(t: dt.datetime) -> str:
    """A parsed time shown back: ``2026-12-01 10:00:00 +08:00 (UTC 2026-12-01T02:00:00Z)``."""
    from procops.timeutil import iso

    utc = iso(t.astimezone(dt.UTC).replace(microsecond=0))
    return _("{local} (UTC {utc})").format(local=when(t), utc=utc)
