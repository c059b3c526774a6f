"""procops status: one page of where things stand."""

from __future__ import annotations

from procops.cli.common import JsonOpt, emit, say

from procops.display import when
from procops.i18n import _


def status(json_: JsonOpt = False) -> None:
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
        from procops.report import status_word

        sb, site = d["sandbox"], d["active_site"]
        site_name = _("standby system") if site["site"] != "main" else _("main platform")
        if site.get("incident"):
            say(
                _("serving site: {site} ({name}), since {since} ({operation} of {incident})").format(
                    site=site_name,
                    name=site["site"],
                    since=when(site["since"]),
                    operation=site["operation"],
                    incident=site["incident"],
                )
            )
        else:
            say(_("serving site: {site} ({name})").format(site=site_name, name=site["site"]))
        if not sb["running"]:
            say(_("sandbox '{instance}': not running (start it: procops sandbox up)").format(instance=sb["instance"]))
        elif sb["healthy"]:
            say(_("sandbox '{instance}': {url}, healthy").format(instance=sb["instance"], url=sb["url"]))
        else:
            say(
                _("sandbox '{instance}': {url}, NOT HEALTHY (see: procops sandbox status)").format(
                    instance=sb["instance"], url=sb["url"]
                )
            )
        if sb.get("frontend"):
            say(_("  through {frontend}").format(frontend=sb["frontend"]))
        say(_("journal: {journal}").format(journal=d["journal"]))
        if not d["latest_events"]:
            say(_("nothing recorded yet: start with procops backup status, then procops readiness"))
            return
        say(_("latest of each kind of event:"))
        for kind, ev in sorted(d["latest_events"].items()):
            say(
                f"  {kind:<24} {when(ev['time'])}  {status_word(ev['status']) if ev['status'] else '':<8} {ev['subject']}"
            )

    emit(data, json_, human)
