"""procops readiness: bring everything up, test it, write the report."""

from __future__ import annotations

from procops.cli.common import STATE, JsonOpt, print_json, say, want_json
from procops.i18n import _


def readiness(json_: JsonOpt = False) -> None:
    import typer

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

        result = r.run(STATE.config, STATE.lang, area_dir("reports"), on_step, steps=ordered, loaded=STATE.loaded())
    if want_json(json_):
        print_json(result.as_dict())
    say(_("report: {path}").format(path=result.report_dir / "readiness.md"), err=want_json(json_))
    if result.ok:
        say(_("PASS: the platform meets the policy"), err=want_json(json_))
    else:
        say(
            _("FAIL: the platform does not meet the policy: see the steps marked above and the report"),
            err=want_json(json_),
        )
        raise typer.Exit(1)
