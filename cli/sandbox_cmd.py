"""procops sandbox: the reference procurement platform (replicas behind HAProxy)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

from procops.display import when
from procops.i18n import _

app = typer.Typer(
    help=_("The reference procurement platform: replicas behind HAProxy, seeded data, fault knob."),
    no_args_is_help=True,
)
fault_app = typer.Typer(help=_("Inject faults into the running sandbox (tests and drills)."), no_args_is_help=True)
app.add_typer(fault_app, name="fault")

InstanceOpt = Annotated[str, typer.Option("--instance", help=_("Sandbox instance (main, or e.g. standby)."))]
ServingOpt = Annotated[
    Optional[str],
    typer.Option(
        "--instance",
        help=_("Sandbox instance (main, or e.g. standby); default: the one serving the site (active site)."),
    ),
]


def _size(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    from procops.errors import BadInput
    from procops.timeutil import parse_size

    try:
        return parse_size(value)
    except ValueError as e:
        raise BadInput(_("--document-size: {e}").format(e=e)) from None


@app.command(help=_("Start the platform (idempotent), wait until healthy, print its URL."))
def up(
    replicas: Annotated[Optional[int], typer.Option(min=1, max=16, help=_("uvicorn replicas."))] = None,
    version: Annotated[Optional[str], typer.Option(help=_("Platform version: 1.0.0, 1.1.0, 1.1.1-bad."))] = None,
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help=_("HAProxy port."))] = None,
    database_url: Annotated[
        Optional[str], typer.Option("--database-url", help=_("SQLAlchemy URL (default SQLite)."))
    ] = None,
    seed_announcements: Annotated[
        Optional[int],
        typer.Option(min=0, help=_("Tender announcements to seed (default: sandbox.seed.announcements).")),
    ] = None,
    seed_suppliers: Annotated[
        Optional[int], typer.Option(min=0, help=_("Suppliers to seed (default: sandbox.seed.suppliers)."))
    ] = None,
    seed_documents: Annotated[Optional[int], typer.Option(min=0, help=_("Archived documents to seed."))] = None,
    document_size: Annotated[Optional[str], typer.Option(help=_("Size of each seeded document, e.g. 200KB."))] = None,
    seed: Annotated[Optional[int], typer.Option(help=_("Random seed of the data."))] = None,
    bind_address: Annotated[
        Optional[str],
        typer.Option("--bind-address", help=_("Address to listen on (default: sandbox.bind_address, loopback).")),
    ] = None,
    instance: InstanceOpt = "main",
    json_: JsonOpt = False,
) -> None:
    from procops.sandbox import api

    opts = api.up_options(
        STATE.config,
        replicas=replicas,
        version=version,
        port=port,
        database_url=database_url,
        seed_announcements=seed_announcements,
        seed_suppliers=seed_suppliers,
        seed_documents=seed_documents,
        document_size=_size(document_size),
        seed=seed,
        bind_address=bind_address,
    )
    state, started = api.up(opts, instance)
    data = {
        "url": state.url,
        "started": started,
        "replicas": len(state.replicas),
        "version": state.replicas[0].version if state.replicas else None,
    }
    emit(
        data,
        json_,
        lambda d: say(
            _("{value}: {url} ({replicas} replicas, version {version})").format(
                value=_("started") if started else _("already running"),
                url=d["url"],
                replicas=d["replicas"],
                version=d["version"],
            )
        ),
    )


@app.command(
    help=_("Stop only the processes `sandbox up` started (refused for what serves the site after a failover).")
)
def down(
    instance: InstanceOpt = "main",
    force: Annotated[
        bool, typer.Option("--force", help=_("Stop it even when it serves the site after a failover."))
    ] = False,
    json_: JsonOpt = False,
) -> None:
    from procops.sandbox import api

    stopped = api.down(instance, force=force)
    emit(
        {"stopped": stopped},
        json_,
        lambda d: say(
            _("stopped: {stopped}").format(stopped=", ".join(stopped)) if stopped else _("the sandbox was not running")
        ),
    )


@app.command(
    help=_(
        "Restart one replica on another platform version (what deploy.yml runs on the sandbox inventory; "
        "drain it in HAProxy first)."
    )
)
def switch(
    replica: Annotated[str, typer.Argument(help=_("Replica name, e.g. r1."))],
    version: Annotated[str, typer.Option("--version", help=_("Platform version: 1.0.0, 1.1.0, 1.1.1-bad."))],
    instance: InstanceOpt = "main",
    json_: JsonOpt = False,
) -> None:
    from procops.sandbox import api

    res = api.switch_version(replica, version, instance)
    emit(
        res,
        json_,
        lambda d: say(
            (_("{replica} now runs {version}") if d["changed"] else _("{replica} already runs {version}")).format(
                replica=d["replica"], version=d["version"]
            )
        ),
    )


@app.command(
    help=_("Reload HAProxy (a new process takes over), keeping the runtime weights and states (server-state-file).")
)
def reload(instance: InstanceOpt = "main", json_: JsonOpt = False) -> None:
    from procops.sandbox import api

    res = api.reload_haproxy(instance)
    emit(
        res,
        json_,
        lambda d: say(
            _("HAProxy reloaded (pid {pid}): {servers}").format(
                pid=d["pid"], servers=", ".join(f"{k}={v['weight']} {v['status']}" for k, v in d["servers"].items())
            )
        ),
    )


@app.command(help=_("The active site, then URL, replicas, pids, versions, health and data paths of the instance."))
def status(instance: ServingOpt = None, json_: JsonOpt = False) -> None:
    from procops.sandbox import api

    st = api.status(instance)

    def human(d: dict) -> None:
        site = d["active_site"]
        if site["since"]:
            say(
                _("active site: {site} since {since}").format(site=site["site"], since=when(site["since"]))
                + (
                    _(" ({operation} of {incident})").format(operation=site["operation"], incident=site["incident"])
                    if site.get("incident")
                    else ""
                )
                + (
                    _("; data cutoff {data_cutoff}").format(data_cutoff=site["data_cutoff"])
                    if site.get("data_cutoff") and site["site"] != "main"
                    else ""
                )
            )
        else:
            say(_("active site: main"))
        name = d["instance"]
        if not d["running"]:
            say(
                _("sandbox '{name}': not running (documents: {documents_dir})").format(
                    name=name, documents_dir=d["documents_dir"]
                )
            )
            return
        say(
            _("sandbox '{name}': {url}  {value}  since {started_at}").format(
                name=name,
                url=d["url"],
                value=_("healthy") if d["healthy"] else _("UNHEALTHY"),
                started_at=when(d["started_at"]),
            )
            + (
                _("  (serving the site")
                + (_(" through {frontend})").format(frontend=d["frontend"]) if d.get("frontend") else ")")
                if d["serving"]
                else _("  (idle)")
            )
        )
        say(
            _("  haproxy   pid {pid}  {value}  runtime API {runtime_api}").format(
                pid=d["haproxy"]["pid"],
                value=_("up") if d["haproxy"]["alive"] else _("DOWN"),
                runtime_api=d["haproxy"]["runtime_api"],
            )
        )
        for r in d["replicas"]:
            say(
                _("  {name:<9} pid {pid}  port {port}  version {version}  {value}").format(
                    name=r["name"],
                    pid=r["pid"],
                    port=r["port"],
                    version=r["version"],
                    value=_("healthy") if r["healthy"] else _("UNHEALTHY"),
                )
            )
        say(_("  database  {database}").format(database=d["database"]))
        say(_("  documents {documents_dir}").format(documents_dir=d["documents_dir"]))

    emit(st, json_, human)


@fault_app.command(
    "set",
    help=_(
        "Set a fault on every replica of the instance serving the site, or of --instance (health and metrics endpoints are never affected)."
    ),
)
def fault_set(
    specs: Annotated[list[str], typer.Argument(help=_("latency=2500ms, errors=0.1, db=down"))],
    endpoint: Annotated[
        Optional[str],
        typer.Option(help=_("Only this endpoint (e.g. announcements.list, bids.upload); default every page endpoint.")),
    ] = None,
    instance: ServingOpt = None,
    json_: JsonOpt = False,
) -> None:
    from procops.sandbox import api

    name = instance or api.serving_instance()
    res = api.set_fault(specs, endpoint, name)
    emit(
        res,
        json_,
        lambda d: say(
            _("fault set on sandbox '{name}' {d}: {specs}").format(name=name, d=", ".join(d), specs=" ".join(specs))
            + (_(" (endpoint {endpoint})").format(endpoint=endpoint) if endpoint else "")
        ),
    )


@fault_app.command("clear", help=_("Clear every fault (of the instance serving the site, or of --instance)."))
def fault_clear(instance: ServingOpt = None, json_: JsonOpt = False) -> None:
    from procops.sandbox import api

    name = instance or api.serving_instance()
    res = api.clear_fault(name)
    emit(res, json_, lambda d: say(_("faults cleared on sandbox '{name}' {d}").format(name=name, d=", ".join(d))))
