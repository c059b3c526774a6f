"""The active site: which instance's data users reach (``main``, or ``standby`` after a failover).

After ``incident standby --execute`` the main HAProxy sends users to the standby's replicas, so the
standby's database and documents are the live ones. The failover and the failback record the
switch here (``$PROCOPS_HOME/sandbox/active-site.json``, written atomically, and a ``sandbox.site``
journal event); backup sources, ``backup verify --live``, ``status``, ``sandbox status``,
``sandbox fault`` and the load tests' default target read it through ``procops.sandbox.api``.

No file means ``main``: a platform that never failed over.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from procops.errors import BadInput

from procops.i18n import _

SITES = ("main", "standby")
FILE_NAME = "active-site.json"


@dataclass(frozen=True)
class ActiveSite:
    site: str  # main | standby: the sandbox instance whose data is live
    since: str | None = None  # UTC ISO time of the switch (None: never switched)
    incident: str | None = None
    operation: str | None = None  # failover | failback
    actor: str | None = None
    url: str | None = None  # where users reach it (the main HAProxy when it was switched)
    data_cutoff: str | None = None  # failover: the restored snapshot's time

    @property
    def failed_over(self) -> bool:
        return self.site != "main"

    def as_dict(self) -> dict:
        return asdict(self)


def site_file() -> Path:
    from procops.home import area_dir

    return area_dir("sandbox") / FILE_NAME


def read() -> ActiveSite:
    """The recorded active site; ``main`` when none was recorded (or the file is unreadable)."""
    path = site_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return ActiveSite("main")
    except (OSError, ValueError):
        return ActiveSite("main")
    if not isinstance(data, dict) or data.get("site") not in SITES:
        return ActiveSite("main")
    fields = set(ActiveSite.__dataclass_fields__)
    return ActiveSite(**{k: v for k, v in data.items() if k in fields})


def write(
    site: str,
    *,
    incident: str | None = None,
    operation: str | None = None,
    url: str | None = None,
    data_cutoff: str | None = None,
    actor: str | None = None,
) -> ActiveSite:
    """Record ``site`` as active (atomically) and journal it as ``sandbox.site``."""
    from procops.events import Kind, SandboxSite
    from procops.home import atomic_write
    from procops.journal import record
    from procops.timeutil import iso, utcnow

    if site not in SITES:
        raise BadInput(_("unknown site {site!r}: use {sites}").format(site=site, sites=" or ".join(SITES)))
    previous = read().site
    new = ActiveSite(
        site=site,
        since=iso(utcnow()),
        incident=incident,
        operation=operation,
        actor=actor,
        url=url,
        data_cutoff=data_cutoff,
    )
    atomic_write(site_file(), json.dumps(new.as_dict(), indent=2) + "\n", mode=0o600)
    record(
        Kind.SANDBOX_SITE,
        site,
        SandboxSite(
            site=site,
            previous=previous,
            url=url,
            incident=incident,
            operation=operation,
            data_cutoff=data_cutoff,
        ),
    )
    return new
