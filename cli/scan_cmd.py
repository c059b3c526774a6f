"""procops scan: the weekly host security scan (R3)."""

from procops.cli.common import not_yet


def scan() -> None:
    """Weekly host security scan with lynis (R3)."""
    not_yet("scan")
