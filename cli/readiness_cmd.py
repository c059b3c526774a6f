"""procops readiness: bring everything up, test it, write the report."""

from __future__ import annotations

from procops.cli.common import STATE, JsonOpt, print_json, say, want_json


def readiness(json_: JsonOpt = False) -> None:
    """Check the platform against the policy, step by step; exit 0 only if every step passes."""
    import typer

    from procops import readiness as r
    from procops import steps
    from procops.home import area_dir

    marks = {"ok": "ok  ", "failed": "FAIL", "error": "ERR ", "skipped": "skip", "interrupted": "INT "}

    def on_step(rec: r.StepRecord) -> None:
        say(f"[{marks.get(rec.status.value, '?')}] {rec.title[STATE.lang]}: {rec.detail}", err=want_json(json_))

    result = r.run(STATE.config, STATE.lang, area_dir("reports"), on_step, steps=steps.ordered(), loaded=STATE.loaded())
    if want_json(json_):
        print_json(result.as_dict())
    say(f"report: {result.report_dir / 'readiness.md'}", err=want_json(json_))
    say(
        ("PASS: the platform meets the policy" if result.ok else "FAIL: the platform does not meet the policy"),
        err=want_json(json_),
    )
    if not result.ok:
        raise typer.Exit(1)
