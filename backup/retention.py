"""Which backup runs a retention policy keeps: restic's ``forget`` policy, applied to whole runs.

restic applies ``--keep-*`` per group of snapshots (host and paths), so the database, files and
confirmation snapshots of one run would be kept or forgotten each on its own, and a snapshot of a
killed run could take a keep slot from a good one. procops decides per *confirmed run* (its time is
its files snapshot's time) with restic's own rules, then forgets every snapshot of the runs not
kept, together with what unconfirmed runs left behind.

restic's rules (``restic/internal/restic/snapshot_policy.go``), reproduced exactly: runs are taken
newest first; a run is kept when it lies within ``keep_within`` of the newest run, or when, for any
rule with slots left, its bucket (the run itself for ``keep_last``; its hour, day, ISO week, month or
year in the time zone it was recorded in) differs from the bucket of the last run that rule kept:
that rule then spends one slot. Pure functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_WITHIN = re.compile(r"([0-9]+)([ymdh])")


@dataclass(frozen=True)
class Policy:
    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: str | None = None

    def empty(self) -> bool:
        return not (
            self.keep_last
            or self.keep_hourly
            or self.keep_daily
            or self.keep_weekly
            or self.keep_monthly
            or self.keep_yearly
            or self.keep_within
        )


def within_cutoff(newest: dt.datetime, within: str) -> dt.datetime:
    """restic's ``--keep-within``: the newest time minus years, months, days and hours (calendar arithmetic
    as Go's ``AddDate``: the day overflows into the next month, as in Go)."""
    years = months = days = hours = 0
    if not re.fullmatch(r"([0-9]+[ymdh])+", within):
        raise ValueError(f"not a keep_within duration: {within!r} (e.g. 15y, 1y6m, 7d)")
    for n, unit in _WITHIN.findall(within):
        if unit == "y":
            years += int(n)
        elif unit == "m":
            months += int(n)
        elif unit == "d":
            days += int(n)
        else:
            hours += int(n)
    total_months = newest.year * 12 + (newest.month - 1) - years * 12 - months
    y, m = divmod(total_months, 12)
    base = dt.datetime(y, m + 1, 1, newest.hour, newest.minute, newest.second, newest.microsecond, newest.tzinfo)
    base += dt.timedelta(days=newest.day - 1)  # Go normalises an overflowing day into the next month
    return base - dt.timedelta(days=days, hours=hours)


def _buckets(policy: Policy) -> list[tuple[int, Callable[[dt.datetime, int], object]]]:
    return [
        (policy.keep_last, lambda t, i: i),
        (policy.keep_hourly, lambda t, i: (t.year, t.month, t.day, t.hour)),
        (policy.keep_daily, lambda t, i: (t.year, t.month, t.day)),
        (policy.keep_weekly, lambda t, i: t.isocalendar()[:2]),
        (policy.keep_monthly, lambda t, i: (t.year, t.month)),
        (policy.keep_yearly, lambda t, i: t.year),
    ]


def parse_time(text: str) -> dt.datetime:
    """A restic snapshot time (RFC 3339 with nanoseconds and the recording host's offset)."""
    t = text.strip().replace("Z", "+00:00")
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", t)
    if m:  # Python takes at most 6 fractional digits
        frac = (m.group(2) or "")[:7]
        t = m.group(1) + frac + m.group(3)
    return dt.datetime.fromisoformat(t)


def keep(runs: Sequence[tuple[str, str]], policy: Policy) -> set[str]:
    """The ids of the runs ``policy`` keeps, of ``runs`` given as ``(run id, restic time)``."""
    if policy.empty():
        raise ValueError("a retention that keeps nothing would forget every run")
    ordered = sorted(((parse_time(t), r) for r, t in runs), key=lambda x: x[0], reverse=True)
    if not ordered:
        return set()
    cutoff = within_cutoff(ordered[0][0], policy.keep_within) if policy.keep_within else None
    rules = _buckets(policy)
    left = [n for n, _ in rules]
    last: list[object] = [None] * len(rules)
    kept: set[str] = set()
    for i, (t, run) in enumerate(ordered):
        keep_it = cutoff is not None and t > cutoff
        for k, (_, bucket) in enumerate(rules):
            if left[k] == 0:
                continue
            value = bucket(t, i)
            if value != last[k]:
                keep_it = True
                last[k] = value
                left[k] -= 1
        if keep_it:
            kept.add(run)
    return kept
