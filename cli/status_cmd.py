"""procops status: one page of where things stand."""

from __future__ import annotations

from procops.cli.common import JsonOpt, emit, say


def status(json_: JsonOpt = False) -> None:
    """The sandbox, and the latest journal event of each kind with its outcome."""
    from procops.events import Status
    from procops.journal import journal_path, open_journal
    from procops.sandbox import api as sandbox

    with open_journal() as j:
        newest = {e.kind: e for e in j.events()}
    latest: dict[str, dict] = {}
    for kind, e in newest.items():
        try:
            outcome = getattr(e.evidence, "status", None)  # the Status of an operation's record
        except ValueError:  # a kind the catalog does not know (an older or foreign row)
            outcome = None
        latest[kind] = {
            "time": e.time,
            "subject": e.subject,
            "id": e.id,
            "status": outcome.value if isinstance(outcome, Status) else None,
        }
    sb_status = sandbox.status()  # the instance serving the site (the standby after a failover)
    data = {
        "sandbox": sb_status,
        "active_site": sb_status["active_site"],
        "journal": str(journal_path()),
        "latest_events": latest,
    }

    def human(d: dict) -> None:
        sb, site = d["sandbox"], d["active_site"]
        say(
            f"active site: {site['site']}"
            + (f" since {site['since']} ({site['operation']} of {site['incident']})" if site.get("incident") else "")
        )
        say(
            f"sandbox '{sb['instance']}': "
            f"{sb['url'] + (' healthy' if sb['healthy'] else ' UNHEALTHY') if sb['running'] else 'not running'}"
            + (f" (through {sb['frontend']})" if sb.get("frontend") else "")
        )
        say(f"journal: {d['journal']}")
        for kind, ev in sorted(d["latest_events"].items()):
            say(f"  {kind:<24} {ev['time']}  {ev['status'] or '':<11} {ev['subject']}")

    emit(data, json_, human)
