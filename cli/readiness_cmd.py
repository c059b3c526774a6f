"""procops readiness: bring everything up, test it, write the report."""

from __future__ import annotations

from typing import Annotated

import typer

from procops.cli.common import STATE, JsonOpt, print_json, say, want_json
from procops.i18n import _


def readiness(
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help=_("Every step with its shortest durations (a 15 s peak hold ...): about 5 minutes in all."),
        ),
    ] = False,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            help=_(
                "Leave running what the run started (the sandbox, the monitoring stack) and print their "
                "addresses and how to stop them; without it they are stopped at the end."
            ),
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    from procops import readiness as r
    from procops import steps
    from procops.home import area_dir
    from procops.progress import progress
    from procops.report import status_word

    ordered = steps.ordered()
    with progress(_("Readiness"), total=len(ordered)) as bar:
        seen: list[str] = []

        def on_step(rec: r.StepRecord) -> None:
            seen.append(rec.name)
            line = _("[{status}] {step}: {detail}").format(
                status=status_word(rec.status.value), step=_(rec.title), detail=rec.detail
            )
            if bar.live:
                bar.note(line)
                bar.update(len(seen))
            else:
                say(line, err=want_json(json_))

        result = r.run(
            STATE.config,
            STATE.lang,
            area_dir("reports"),
            on_step,
            steps=ordered,
            loaded=STATE.loaded(),
            quick=quick,
            keep=keep,
        )
    err = want_json(json_)
    if err:
        print_json(result.as_dict())
    for k in result.kept:
        say(
            _("still running: {what} ({urls}); stop it with: {command}").format(
                what=_(k["what"]), urls=", ".join(f"{n} {u}" for n, u in k["urls"].items()), command=k["stop"]
            ),
            err=err,
        )
    for st in result.stopped:
        if not st["ok"]:
            say(
                _("could not stop {what}: {error}; stop it with: {command}").format(
                    what=_(st["what"]), error=st["error"], command=st["stop"]
                ),
                err=err,
            )
    say(_("report: {path}").format(path=result.report_dir / "readiness.html"), err=err)
    if result.ok:
        say(_("PASS: the platform meets the policy"), err=want_json(json_))
    else:
        say(
            _("FAIL: the platform does not meet the policy: see the steps marked above and the report"),
            err=want_json(json_),
        )
        raise typer.Exit(1)
