"""procops sandbox: the reference procurement platform (replicas behind HAProxy)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

app = typer.Typer(
    help="The reference procurement platform: replicas behind HAProxy, seeded data, fault knob.", no_args_is_help=True
)
fault_app = typer.Typer(help="Inject faults into the running sandbox (tests and drills).", no_args_is_help=True)
app.add_typer(fault_app, name="fault")

InstanceOpt = Annotated[str, typer.Option("--instance", help="Sandbox instance (main, or e.g. standby).")]
ServingOpt = Annotated[
    Optional[str],
    typer.Option(
        "--instance", help="Sandbox instance (main, or e.g. standby); default: the one serving the site (active site)."
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
        raise BadInput(f"--document-size: {e}") from None


@app.command()
def up(
    replicas: Annotated[Optional[int], typer.Option(min=1, max=16, help="uvicorn replicas.")] = None,
    version: Annotated[Optional[str], typer.Option(help="Platform version: 1.0.0, 1.1.0, 1.1.1-bad.")] = None,
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="HAProxy port.")] = None,
    database_url: Annotated[
        Optional[str], typer.Option("--database-url", help="SQLAlchemy URL (default SQLite).")
    ] = None,
    seed_announcements: Annotated[Optional[int], typer.Option(min=0)] = None,
    seed_suppliers: Annotated[Optional[int], typer.Option(min=0)] = None,
    seed_documents: Annotated[Optional[int], typer.Option(min=0, help="Archived documents to seed.")] = None,
    document_size: Annotated[Optional[str], typer.Option(help="Size of each seeded document, e.g. 200KB.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed of the data.")] = None,
    bind_address: Annotated[
        Optional[str],
        typer.Option("--bind-address", help="Address to listen on (default: sandbox.bind_address, loopback)."),
    ] = None,
    instance: InstanceOpt = "main",
    json_: JsonOpt = False,
) -> None:
    """Start the platform (idempotent), wait until healthy, print its URL."""
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
            f"{'started' if started else 'already running'}: {d['url']} "
            f"({d['replicas']} replicas, version {d['version']})"
        ),
    )


@app.command()
def down(
    instance: InstanceOpt = "main",
    force: Annotated[
        bool, typer.Option("--force", help="Stop it even when it serves the site after a failover.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Stop only the processes `sandbox up` started (refused for what serves the site after a failover)."""
    from procops.sandbox import api

    stopped = api.down(instance, force=force)
    emit(
        {"stopped": stopped},
        json_,
        lambda d: say(f"stopped: {', '.join(stopped)}" if stopped else "the sandbox was not running"),
    )


@app.command()
def status(instance: ServingOpt = None, json_: JsonOpt = False) -> None:
    """The active site, then URL, replicas, pids, versions, health and data paths of the instance."""
    from procops.sandbox import api

    st = api.status(instance)

    def human(d: dict) -> None:
        site = d["active_site"]
        if site["since"]:
            say(
                f"active site: {site['site']} since {site['since']}"
                + (f" ({site['operation']} of {site['incident']})" if site.get("incident") else "")
                + (f"; data cutoff {site['data_cutoff']}" if site.get("data_cutoff") and site["site"] != "main" else "")
            )
        else:
            say("active site: main")
        name = d["instance"]
        if not d["running"]:
            say(f"sandbox '{name}': not running (documents: {d['documents_dir']})")
            return
        say(
            f"sandbox '{name}': {d['url']}  {'healthy' if d['healthy'] else 'UNHEALTHY'}  since {d['started_at']}"
            + (
                "  (serving the site" + (f" through {d['frontend']})" if d.get("frontend") else ")")
                if d["serving"]
                else "  (idle)"
            )
        )
        say(
            f"  haproxy   pid {d['haproxy']['pid']}  {'up' if d['haproxy']['alive'] else 'DOWN'}  "
            f"runtime API {d['haproxy']['runtime_api']}"
        )
        for r in d["replicas"]:
            say(
                f"  {r['name']:<9} pid {r['pid']}  port {r['port']}  version {r['version']}  "
                f"{'healthy' if r['healthy'] else 'UNHEALTHY'}"
            )
        say(f"  database  {d['database']}")
        say(f"  documents {d['documents_dir']}")

    emit(st, json_, human)


@fault_app.command("set")
def fault_set(
    specs: Annotated[list[str], typer.Argument(help="latency=2500ms, errors=0.1, db=down")],
    endpoint: Annotated[
        Optional[str],
        typer.Option(help="Only this endpoint (e.g. announcements.list, bids.upload); default every page endpoint."),
    ] = None,
    instance: ServingOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Set a fault on every replica of the instance serving the site, or of --instance (health and metrics
    endpoints are never affected)."""
    from procops.sandbox import api

    name = instance or api.serving_instance()
    res = api.set_fault(specs, endpoint, name)
    emit(
        res,
        json_,
        lambda d: say(
            f"fault set on sandbox '{name}' {', '.join(d)}: {' '.join(specs)}"
            + (f" (endpoint {endpoint})" if endpoint else "")
        ),
    )


@fault_app.command("clear")
def fault_clear(instance: ServingOpt = None, json_: JsonOpt = False) -> None:
    """Clear every fault (of the instance serving the site, or of --instance)."""
    from procops.sandbox import api

    name = instance or api.serving_instance()
    res = api.clear_fault(name)
    emit(res, json_, lambda d: say(f"faults cleared on sandbox '{name}' {', '.join(d)}"))
