"""`incident failback`: bring the platform back to main with the data written on the standby.

After ``incident standby --execute`` the standby instance serves the site (the active site is
``standby``) and every bid uploaded since lives only there. With ``--execute``, in this order,
each step on the incident's timeline:

1. ``failback.backup``: ``backup run`` (its sources follow the active site: the standby), so
   the standby's data is in the repositories before anything is overwritten; a failed run stops
   the failback with nothing changed (exit 3).
2. ``failback.copy``: main is stopped (the site is down from here: a short planned outage), the
   standby's database (SQLite: the online backup API; PostgreSQL and MariaDB: dumped with
   pg_dump/mysqldump and loaded into main's database, dropped and created anew) and documents are
   copied over main's.
3. main is started again on its usual port (its HAProxy points at its own replicas again), and
   checked: it answers, and lists exactly the standby's archive (ids and sha256), the newest
   documents' files intact. A failed check points main's HAProxy back at the standby, leaves the
   active site ``standby`` and is exit 3.
4. the active site is recorded ``main`` (``sandbox.site`` in the journal), then the standby is
   stopped and its folder removed (and its server database dropped), unless ``--keep-standby``.

Without ``--execute`` it only says what it would do (the plan), and changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.errors import BadInput, EnvironmentFailure, ProcopsError

from procops.incidents.incident import IncidentStore

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

CHECK_NEWEST = 5  # the newest documents whose files are checked on main


def plan(site: Any, standby: Any, main: Any, *, keep_standby: bool) -> list[str]:
    """The steps of a failback, as a person reads them."""
    steps = [
        _("back up the '{site}' instance ({url}) to the repositories").format(
            site=site.site, url=standby.url if standby else _("not running")
        ),
        _("stop main ({url}): the site is down until main is back").format(url=main.url if main else _("not running")),
        _("copy the '{site}' instance's database and documents over main's").format(site=site.site),
        _("start main on its port and check it serves the standby's archive (ids, sha256)"),
        _("record the active site: main"),
    ]
    if not keep_standby:
        steps.append(_("stop the '{site}' instance and remove its folder").format(site=site.site))
    return steps


def _archive(instance: str) -> dict[int, dict]:
    """Every archived document of a running instance, bids included (read as the admin)."""
    import httpx

    from procops.sandbox import api as sandbox

    url, headers = sandbox.admin_view(instance)
    items: dict[int, dict] = {}
    with httpx.Client(base_url=url.rstrip("/"), timeout=30, headers=headers) as c:
        page = 1
        while True:
            r = c.get("/api/archive", params={"page": page, "size": 100})
            r.raise_for_status()
            body = r.json()
            for d in body.get("items", []):
                items[int(d["id"])] = d
            if not body.get("items") or len(items) >= int(body.get("total") or 0):
                return items
            page += 1


def check_main_serves(main_url: str, expected: dict[int, dict], documents_dir: Path) -> dict:
    """Main answers, lists the same archive as the standby did, and holds the newest documents intact."""
    import httpx

    from procops.incidents.response import check_serving

    deadline = time.monotonic() + 15
    while True:
        try:
            serving = check_serving(main_url)
            break
        except EnvironmentFailure:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        got = _archive("main")
    except httpx.HTTPError as e:
        raise EnvironmentFailure(
            _("main at {main_url} does not list its archive: {e}").format(main_url=main_url, e=e)
        ) from None
    missing = sorted(set(expected) - set(got))
    changed = sorted(i for i in set(expected) & set(got) if expected[i].get("sha256") != got[i].get("sha256"))
    if missing or changed:
        raise EnvironmentFailure(
            _("main at {main_url} does not serve the standby's archive: ").format(main_url=main_url)
            + (_("missing documents {value}").format(value=missing[:10]) if missing else "")
            + ("; " if missing and changed else "")
            + (_("other sha256 for {value}").format(value=changed[:10]) if changed else "")
        )
    newest = sorted(expected)[-CHECK_NEWEST:]
    for i in newest:
        d = expected[i]
        path = documents_dir / str(d.get("storage_path") or "")
        if not d.get("storage_path") or not path.is_file():
            raise EnvironmentFailure(_("main lacks the file of document {i} ({path})").format(i=i, path=path))
        if d.get("sha256") and hashlib.sha256(path.read_bytes()).hexdigest() != d["sha256"]:
            raise EnvironmentFailure(_("main's file of document {i} does not match its sha256").format(i=i))
    return {**serving, "archive_total": len(got), "checked_documents": newest}


def failback(
    config: Config,
    incident_id: str,
    *,
    execute: bool = False,
    keep_standby: bool = False,
    actor: str | None = None,
    progress: Callable[[str], None] | None = None,
    loaded: Any | None = None,
) -> dict:
    """Bring the site back to main with the standby's data (see the module's docstring)."""
    from procops.incidents.response import switch_main_haproxy
    from procops.sandbox import api as sandbox

    say = progress or (lambda _line: None)
    site = sandbox.active_site()
    with IncidentStore(policy=config.policy) as store:
        inc = store.get(incident_id)
    if not site.failed_over:
        raise BadInput(
            _("{id}: the active site is main: there is nothing to fail back").format(id=inc.id),
            hint=_("procops sandbox status shows the active site"),
        )
    if config.platform.url:
        raise BadInput(
            _("platform.url is set: failback of real hosts is not automated; follow the runbook's failback steps"),
            hint=_("procops runbook show database-failure"),
        )
    standby = sandbox.running(site.site)
    main = sandbox.running("main")
    steps = plan(site, standby, main, keep_standby=keep_standby)
    result: dict[str, Any] = {
        "incident": inc.id,
        "execute": execute,
        "from": site.site,
        "failed_over_at": site.since,
        "data_cutoff": site.data_cutoff,
        "plan": steps,
    }
    if not execute:
        return result
    if standby is None:
        raise EnvironmentFailure(
            _("{id}: the '{site}' instance is not running: its data cannot be brought back").format(
                id=inc.id, site=site.site
            ),
            hint=_("start it (procops sandbox up --instance {site}) or restore main from the latest backup").format(
                site=site.site
            ),
        )
    if main is None:
        raise EnvironmentFailure(
            _("{id}: the main sandbox is not running: failback needs its port and database").format(id=inc.id),
            hint=_("start it with procops sandbox up, then fail back"),
        )
    started = time.monotonic()

    def note(kind: str, data: dict) -> None:
        with IncidentStore(policy=config.policy) as st:
            st.add_timeline(inc.id, kind, data, actor=actor)

    note("failback.execute", {"from": site.site, "standby_url": standby.url, "main_url": main.url})
    # 1. the standby's data in the repositories first
    from procops.backup import api as backup

    say(f"{inc.id}: backing up the '{site.site}' instance to the repositories ...")
    try:
        run = backup.backup(config, loaded=loaded)
    except ProcopsError as e:
        note("failback.failed", {"step": "backup", "error": e.message})
        raise
    code = int(backup.run_exit_code(run))
    run_data = run.as_dict()
    if code != 0:
        note("failback.failed", {"step": "backup", "exit_code": code})
        raise EnvironmentFailure(
            _(
                "{id}: the backup of the '{site}' instance did not succeed (exit {code}): failback stopped, nothing changed"
            ).format(id=inc.id, site=site.site, code=code),
            hint=_("procops backup status says why; fix it and run the failback again"),
        )
    note("failback.backup", {"run": run_data.get("run") or run_data.get("run_id"), "exit_code": code})
    # 2. stop main, copy the standby's data over it
    expected = _archive(site.site)
    opts = sandbox.up_options(
        config,
        port=main.port,
        replicas=len(main.replicas) or None,
        version=(main.replicas[0].version if main.replicas else None),
        database_url=main.database_url,
        seed_announcements=0,
        seed_suppliers=0,
        seed_documents=0,
        bind_address=main.bind_address,
    )
    say(f"{inc.id}: stopping main and copying the '{site.site}' instance's data into it ...")
    server_db = not str(standby.database_url or "").startswith("sqlite")
    sandbox.down("main")
    try:
        copied = sandbox.copy_data(site.site, "main", main.database_url, database=not server_db)
        if server_db:  # PostgreSQL or MariaDB: dumped from the standby's database, loaded into main's
            copied["database"] = backup.copy_database(config, standby.database_url, main.database_url)["database"]
    except ProcopsError as e:
        note("failback.failed", {"step": "copy", "error": e.message})
        sandbox.up(opts, "main")
        switch_main_haproxy(site.site)
        raise
    note("failback.copy", {**copied, "documents_total": len(expected)})
    # 3. main back on its port, checked
    say(f"{inc.id}: starting main and checking it serves the standby's data ...")
    try:
        state, _unused = sandbox.up(opts, "main")
        check = check_main_serves(state.url, expected, Path(state.documents_dir))
    except ProcopsError as e:
        note("failback.failed", {"step": "check", "error": e.message})
        switch_main_haproxy(site.site)
        raise
    # 4. main is the active site; the standby goes
    sandbox.record_active_site("main", incident=inc.id, operation="failback", url=state.url)
    removed = None
    if not keep_standby:
        sandbox.down(site.site)
        removed = sandbox.remove_instance(site.site)
        if server_db:  # the database the standby was restored into goes with it
            removed += ", database " + backup.drop_database(standby.database_url)
    result.update(
        {
            "url": state.url,
            "backup": {"run": run_data.get("run") or run_data.get("run_id"), "exit_code": code},
            "copied": copied,
            "check": check,
            "standby_removed": removed,
            "kept_standby": standby.url if keep_standby else None,
            "failback_seconds": round(time.monotonic() - started, 3),
        }
    )
    note(
        "failback",
        {
            "url": state.url,
            "archive_total": check["archive_total"],
            "standby_removed": removed,
            "seconds": result["failback_seconds"],
        },
    )
    return result


def describe(res: dict) -> str:
    from procops.display import duration

    if not res["execute"]:
        lines = [_("{id}: failback plan (nothing changed; add --execute to run it):").format(id=res["incident"])]
        lines += [f"  {n}. {s}" for n, s in enumerate(res["plan"], start=1)]
        return "\n".join(lines)
    out = _(
        "{id}: failed back to main at {url} in {took}; main serves the standby's {n} archived documents; "
        "active site: main"
    ).format(
        id=res["incident"], url=res["url"], took=duration(res["failback_seconds"]), n=res["check"]["archive_total"]
    )
    if res.get("standby_removed"):
        out += "\n" + _("  the standby was stopped and {path} removed").format(path=res["standby_removed"])
    elif res.get("kept_standby"):
        out += "\n" + _("  the standby still runs at {url} (--keep-standby)").format(url=res["kept_standby"])
    return out
