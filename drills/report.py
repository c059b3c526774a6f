"""The drill report (演练记录 and 总结报告): Markdown, HTML and PDF, in Chinese and English, with a
timeline chart (PNG, Chinese labels in a CJK font): T0, detection, each milestone against its deadline.

:func:`clock_rows` and :func:`review` are pure; :func:`chart` draws with matplotlib (Agg);
:func:`write` renders ``procops/templates/drill-report.md.j2`` in both languages.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config
    from procops.drills.run import DrillResult

LANGS = ("zh", "en")


def report_dir(drill_id: str) -> Path:
    from procops.home import area_dir

    d = area_dir("reports") / "drills" / drill_id
    d.mkdir(parents=True, exist_ok=True)
    return d


def _limits(res: DrillResult, policy: Any) -> list[tuple[str, str, float | None, float]]:
    """(key, label, took seconds, limit seconds) for detection and the three clocks."""
    return [
        ("detect", _("Detection"), res.detected_s, res.scenario.detection.within),
        ("classify", _("Fault type confirmed (15 min)"), res.seconds("classify"), policy.classify_deadline),
        ("standby", _("Standby system started (1 h)"), res.seconds("standby"), policy.standby_deadline),
        ("report", _("Fault analysis report (24 h)"), res.seconds("report"), policy.report_deadline),
    ]


def clock_rows(res: DrillResult, policy: Any) -> list[dict[str, str]]:
    from procops.display import duration

    keys = {"classify": "15m", "standby": "1h", "report": "24h"}
    rows = []
    for key, label, took, limit in _limits(res, policy):
        if key == "detect":
            met = None if took is None else took <= limit
        else:
            met = res.clocks.get(keys[key])
        waived = key == "standby" and took is None and met
        rows.append(
            {
                "name": label,
                "took": duration(took) if took is not None else (_("not needed") if waived else "-"),
                "limit": duration(limit),
                "fraction": f"{took / limit:.3f}" if took is not None else "-",
                "met": _("yes") if met else (_("no") if met is False else _("pending")),
            }
        )
    return rows


def review(res: DrillResult) -> list[str]:
    """The emergency-plan review: what to change in the runbook and the drill plan, from the findings."""
    out = []
    book = res.scenario.response.runbook
    if res.detected_at is None and res.mode != "tabletop":
        out.append(
            _(
                "Detection: the alert {alert} never reached the responders; check the rule, Alertmanager's route and the webhook, and add the check to runbook {runbook}."
            ).format(alert=res.scenario.detection.alert or res.scenario.detection.probe, runbook=book)
        )
    for key, name in (("15m", _("fault type")), ("1h", _("standby")), ("24h", _("report"))):
        if res.clocks.get(key) is False:
            out.append(
                _(
                    "The {clock} clock ({name}) was missed: shorten or clarify the matching steps of runbook {runbook}."
                ).format(clock=key, name=name, runbook=book)
            )
    if res.stop:
        out.append(
            _(
                "A stop condition fired ({stop}): review the fault's size in the drill plan before drilling it again."
            ).format(stop=res.stop)
        )
    if res.steady_after and not all(p.ok for p in res.steady_after):
        out.append(
            _(
                "The platform did not return to its steady state after the rollback: add the recovery steps to runbook {runbook}."
            ).format(runbook=book)
        )
    return out


def chart(res: DrillResult, policy: Any, path: Path) -> Path:
    """T0, detection and each milestone against its deadline, on a log time axis (seconds after T0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from procops.home import atomic_write
    from procops.report import chart_style

    chart_style()
    rows = _limits(res, policy)
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    for i, (_key, _label, took, limit) in enumerate(rows):
        ax.barh(i, limit, color="#dddddd", edgecolor="#999999", label=_("limit") if i == 0 else None)
        if took is not None:
            ok = took <= limit
            ax.barh(
                i,
                max(took, 0.1),
                height=0.45,
                color="#2e7d32" if ok else "#c62828",
                label=_("measured") if i == 0 else None,
            )
            ax.text(max(took, 0.1) * 1.15, i, f"{took:.1f}s", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r[1] for r in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(_("seconds after T0 (fault injected)"))
    ax.axvline(0.1, color="#333333", lw=0.8)
    ax.set_title(_("Emergency drill {id}: times against their limits").format(id=res.drill_id), fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    ax.invert_yaxis()
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path


def write(config: Config, res: DrillResult, lang: str) -> dict[str, str]:
    """Markdown, HTML and PDF in both languages; returns the paths in ``lang`` (and ``<lang>:`` keys
    for the other one). A PDF that cannot be made is named in ``pdf_error``."""
    from procops.display import using
    from procops.home import atomic_write
    from procops.i18n import speaking
    from procops.report import header, markdown_to_html, render, to_pdf

    d = report_dir(res.drill_id)
    out: dict[str, str] = {}
    s = res.scenario
    for lg in dict.fromkeys([lang, *LANGS]):
        with speaking(lg):
            png = chart(res, config.policy, d / f"timeline.{lg}.png")
            title = _("Emergency drill report: {title}").format(title=s.shown_title(lg))
            probes = []
            after = {p.name: p for p in res.steady_after}
            for p in res.steady_before:
                a = after.get(p.name)
                probes.append(
                    {
                        "name": p.name,
                        "before": ("ok: " if p.ok else "FAILED: ") + p.detail,
                        "after": (("ok: " if a.ok else "FAILED: ") + a.detail) if a else "-",
                    }
                )
            ctx = {
                "head": header(title, config.platform.name),
                "d": res.as_dict(),
                "title": s.shown_title(lg),
                "verdict": "pass"
                if res.status.value == "ok"
                else ("fail" if res.status.value == "failed" else res.status.value),
                "target": s.target.kind if s.target.kind == "sandbox" else ", ".join(s.target.hosts),
                "fault": s.fault.model_dump(),
                "detection": s.detection.model_dump(),
                "fault_type": s.fault_type,
                "runbook": s.response.runbook,
                "stop": s.stop_conditions.model_dump(),
                "clocks": clock_rows(res, config.policy),
                "chart": png.name,
                "probes": probes,
                "review": review(res),
            }
        with using(config):
            md = render("drill-report.md.j2", lg, **ctx)
        html = markdown_to_html(md, title)
        md_path, html_path = d / f"drill-report.{lg}.md", d / f"drill-report.{lg}.html"
        atomic_write(md_path, md)
        atomic_write(html_path, html)
        files = {
            "markdown": str(md_path),
            "html": str(html_path),
            "chart": str(png),
            "sha256": hashlib.sha256(md.encode()).hexdigest(),
        }
        try:
            files["pdf"] = str(to_pdf(html, d / f"drill-report.{lg}.pdf", base_dir=d))
        except (ImportError, OSError) as e:
            files["pdf_error"] = f"{type(e).__name__}: {e}"
        if lg == lang:
            out.update(files)
        else:
            out.update({f"{lg}:{k}": v for k, v in files.items()})
    return out
