"""procops schedule: the periodic jobs of the policy as systemd timers or cron lines (R3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

from procops.display import when
from procops.i18n import _

app = typer.Typer(help=_("Periodic jobs from policy as systemd timers or cron lines (R3)."), no_args_is_help=True)

TargetOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--target-dir",
        help=_(
            "Write/read the unit or cron files here instead of /etc/systemd/system or /etc/cron.d (nothing is enabled)."
        ),
    ),
]


@app.command(
    help=_(
        "Install the periodic jobs: hourly backup, daily check and live verify, weekly verify and scan, the monthly stress test (loadtest capacity --abort-on-fail: stopped early when the platform fails) and incident escalation every minute. A job past its timeout gets SIGINT, a grace period, then SIGKILL; its output goes to the system journal (systemd) or $PROCOPS_HOME/logs/<job>.log (cron)."
    )
)
def install(
    systemd: Annotated[bool, typer.Option("--systemd", help=_("systemd timers (default when systemd runs)."))] = False,
    cron: Annotated[bool, typer.Option("--cron", help=_("A cron.d file with flock-wrapped lines."))] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=_("Print what would be written; change nothing."))] = False,
    target_dir: TargetOpt = None,
    json_: JsonOpt = False,
) -> None:
    from procops import schedule as s
    from procops.errors import BadInput

    if systemd and cron:
        raise BadInput(_("give one of --systemd or --cron"))
    kind = "systemd" if systemd else "cron" if cron else None
    res = s.install(STATE.config, STATE.loaded().source, kind=kind, target_dir=target_dir, dry_run=dry_run)

    def human(d: dict) -> None:
        for j in d["jobs"]:
            say(
                _("{name:<20} {calendar:<24} procops {command}").format(
                    name=j["name"], calendar=j["calendar"], command=j["command"]
                )
            )
        if d["dry_run"]:
            for name, text in d["files"].items():
                say(f"\n# --- {d['target']}/{name}")
                say(text.rstrip())
            say(_("\n(dry run: nothing written)"))
        else:
            say(_("installed {n_files} file(s) in {target}").format(n_files=len(d["files"]), target=d["target"]))

    emit(res, json_, human)


@app.command(help=_("The jobs, their calendars, what is installed, and each job's last run."))
def show(target_dir: TargetOpt = None, json_: JsonOpt = False) -> None:
    from procops import schedule as s

    res = s.show(STATE.config, STATE.loaded().source, target_dir)

    def human(d: dict) -> None:
        for k, v in d["installed"].items():
            files = ", ".join(v["files"]) if v["files"] else _("nothing installed")
            say(f"{k}: {files} ({v['target']})")
        for j in d["jobs"]:
            last = j["last"] or {}
            if "exit_code" in last:
                state = _("last run {time}, exit {code}").format(time=when(last["last_run"]), code=last["exit_code"])
            elif last.get("running_since"):
                state = _("running since {time}").format(time=when(last["running_since"]))
            else:
                state = _("never ran")
            if last.get("running_since") and "exit_code" in last:
                state += _(", running since {time}").format(time=when(last["running_since"]))
            say(
                _("  {name:<20} {cron:<18} procops {command:<24} {state}").format(
                    name=j["name"], cron=j["cron"], command=j["command"], state=state
                )
            )

    emit(res, json_, human)


@app.command(help=_("Remove the installed timers or cron file (only files procops generated)."))
def remove(
    target_dir: TargetOpt = None,
    json_: JsonOpt = False,
) -> None:
    from procops import schedule as s

    res = s.remove(target_dir)
    emit(res, json_, lambda d: say(_("removed: ") + (", ".join(d["removed"]) or "nothing was installed")))


@app.command(
    "run-job",
    hidden=True,
    help=_(
        "Run one scheduled job and record its exit code (what the timers and cron lines call). Past the job's timeout its command gets SIGINT, a grace period, then SIGKILL (exit 124)."
    ),
)
def run_job(
    name: str,
    log_file: Annotated[
        Optional[Path],
        typer.Option("--log-file", help=_("Append the job's output here (rotated past 5 MB); default: stdout.")),
    ] = None,
) -> None:
    from procops import schedule as s

    raise typer.Exit(s.run_job(STATE.config, name, STATE.loaded().source, log_file=log_file))


@app.command(
    "job-failed", hidden=True, help=_("Journal and count the failure of a job's systemd unit (what OnFailure= runs).")
)
def job_failed(unit: str, json_: JsonOpt = False) -> None:
    from procops import schedule as s

    res = s.job_failed(STATE.config, unit)
    emit(
        res,
        json_,
        lambda d: say(
            _("job {job} failed (unit {unit}, exit {exit_code})").format(
                job=d["job"], unit=d["unit"], exit_code=d["exit_code"]
            )
        ),
    )
