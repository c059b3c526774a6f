"""procops loadtest: Peak-load and capacity tests with SLO verdicts (R1, R3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from procops.cli.common import STATE, JsonOpt, emit, say

from procops.i18n import _

app = typer.Typer(help=_("Peak-load and capacity tests with SLO verdicts (R1, R3)."), no_args_is_help=True)

HostOpt = Annotated[
    Optional[str], typer.Option("--host", help=_("Platform URL (default: platform.url, else the running sandbox)."))
]
WorkersOpt = Annotated[
    Optional[int],
    typer.Option(
        "--workers", help=_("Local Locust workers under a master (0: one process; default loadtest.workers).")
    ),
]
ReportDirOpt = Annotated[
    Optional[Path],
    typer.Option("--report-dir", help=_("Report folder (default $PROCOPS_HOME/reports/loadtest-<scenario>-<time>).")),
]
MasterBindOpt = Annotated[
    Optional[str],
    typer.Option(
        "--master-bind",
        metavar="HOST:PORT",
        help=_("Where the master listens for workers (remote workers: playbooks/loadgen.yml)."),
    ),
]
ExpectOpt = Annotated[
    Optional[int],
    typer.Option("--expect-workers", help=_("Workers to wait for, local and remote (default: --workers).")),
]
LocustfileOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--locustfile", help=_("A custom locustfile instead of the procurement personas (recorded the same way).")
    ),
]
AbortOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--abort-on-fail/--no-abort-on-fail",
        help=_(
            "Stop early when the error ratio or the p95 stays over its limit (loadtest.abort_*); "
            "the verdict is then fail, naming the condition (default loadtest.abort_on_fail)."
        ),
    ),
]
SpawnOpt = Annotated[Optional[float], typer.Option("--spawn-rate", "-r", help=_("Users started per second."))]


def _duration(name: str, value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    from procops.errors import BadInput
    from procops.timeutil import parse_duration

    try:
        return parse_duration(value)
    except ValueError as e:
        raise BadInput(f"{name}: {e}") from None


@contextmanager
def _live(title: str) -> Iterator[Callable[[dict], None] | None]:
    """A live line while Locust runs: users, requests/s, p95 and failures (nothing when not a terminal)."""
    from procops.progress import progress

    with progress(title) as bar:

        def show(s: dict) -> None:
            bar.update(
                text=_("{users} users, {rps:.1f} requests/s, p95 {p95:.0f} ms, {failures} failed").format(
                    users=s["users"], rps=s["rps"], p95=s["p95_ms"], failures=s["failures"]
                )
            )

        yield show if bar.live else None


def _finish(result) -> None:
    from procops.loadtests import api

    emit(result.summary, False, lambda d: say(api.human(d, STATE.lang)))
    if result.exit_code:
        raise typer.Exit(int(result.exit_code))


@app.command(help=_("Ramp to the peak users, hold, give an SLO verdict (exit 0 pass, 1 fail, 3 invalid/unreachable)."))
def peak(
    users: Annotated[
        Optional[int], typer.Option("--users", "-u", help=_("Users at the peak (default loadtest.normal_peak_users)."))
    ] = None,
    spawn_rate: SpawnOpt = None,
    duration: Annotated[
        Optional[str],
        typer.Option("--duration", "-t", help=_("Hold time after the ramp, e.g. 60s, 5m (default loadtest.hold).")),
    ] = None,
    host: HostOpt = None,
    workers: WorkersOpt = None,
    report_dir: ReportDirOpt = None,
    master_bind: MasterBindOpt = None,
    expect_workers: ExpectOpt = None,
    locustfile: LocustfileOpt = None,
    abort_on_fail: AbortOpt = None,
    json_: JsonOpt = False,
) -> None:
    from procops.loadtests import api

    if json_:
        STATE.json = True
    opts = api.peak_options(
        users=users,
        spawn_rate=spawn_rate,
        duration=_duration("--duration", duration),
        host=host,
        workers=workers,
        report_dir=report_dir,
        master_bind=master_bind,
        expect_workers=expect_workers,
        locustfile=locustfile,
        abort_on_fail=abort_on_fail,
    )
    with _live(_("Peak load test")) as opts.progress:
        result = api.run_peak(STATE.config, opts, loaded=STATE.loaded())
    _finish(result)


@app.command(help=_("Step load upward (1x, 1.5x, 2x, 3x ...); report the highest step that held every SLO."))
def capacity(
    baseline_users: Annotated[
        Optional[int],
        typer.Option("--baseline-users", help=_("Users of the normal peak (default loadtest.normal_peak_users).")),
    ] = None,
    multiple: Annotated[
        Optional[float],
        typer.Option("--multiple", help=_("Multiple the verdict needs (default policy.capacity_multiple).")),
    ] = None,
    max_multiple: Annotated[
        Optional[float], typer.Option("--max-multiple", help=_("Highest step (default loadtest.max_multiple)."))
    ] = None,
    step_duration: Annotated[
        Optional[str],
        typer.Option("--step-duration", help=_("Length of each step, e.g. 30s (default loadtest.step_duration).")),
    ] = None,
    spawn_rate: SpawnOpt = None,
    host: HostOpt = None,
    workers: WorkersOpt = None,
    report_dir: ReportDirOpt = None,
    master_bind: MasterBindOpt = None,
    expect_workers: ExpectOpt = None,
    locustfile: LocustfileOpt = None,
    abort_on_fail: AbortOpt = None,
    json_: JsonOpt = False,
) -> None:
    from procops.loadtests import api

    if json_:
        STATE.json = True
    opts = api.capacity_options(
        baseline_users=baseline_users,
        multiple=multiple,
        max_multiple=max_multiple,
        step_duration=_duration("--step-duration", step_duration),
        spawn_rate=spawn_rate,
        host=host,
        workers=workers,
        report_dir=report_dir,
        master_bind=master_bind,
        expect_workers=expect_workers,
        locustfile=locustfile,
        abort_on_fail=abort_on_fail,
    )
    with _live(_("Capacity test")) as opts.progress:
        result = api.run_capacity(STATE.config, opts, loaded=STATE.loaded())
    _finish(result)


@app.command(help=_("Print the summary of an earlier run."))
def report(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help=_("Report folder of an earlier run."))],
    json_: JsonOpt = False,
) -> None:
    from procops.loadtests import api

    data = api.load_summary(directory)
    emit(data, json_, lambda d: say(api.human(d, STATE.lang)))
