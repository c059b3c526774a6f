"""PNG charts of a load test (matplotlib, Agg backend): latency and rps over time, capacity steps.

Labels are in the operator's language (``_()``), in a CJK font (:func:`procops.report.chart_style`);
the start time in the title is in the display zone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from procops.i18n import _
from procops.loadtests import slo


def draw(
    report_dir: Path, samples: list[slo.Sample], start: float, end: float, summary: dict, windows: list[slo.Window]
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from procops.display import when
    from procops.report import chart_style

    chart_style()  # Chinese labels in a CJK font

    limit_s = summary["policy"]["page_load_p95_s"]
    pages = set(summary["policy"]["page_endpoints"])
    files = []
    title = f"{summary['scenario']} - {summary['target']} - {when(dt.datetime.fromtimestamp(start, dt.UTC))}"

    # top: latency percentiles of all page requests per second, with the SLO line and the users;
    # bottom: p95 of each page endpoint per 5 s, so the slow endpoint is named on the chart
    rows = list(slo.per_second(samples, start, end, pages))
    xs = [r[0] for r in rows]
    fig, (ax, axe) = plt.subplots(2, 1, figsize=(10, 7.5), dpi=100, sharex=True)
    for idx, label in ((2, "p50"), (3, "p95"), (4, "p99")):
        ax.plot(xs, [_s(r[idx]) for r in rows], label=_("{percentile} (all pages)").format(percentile=label))
    ax.axhline(limit_s, color="red", linestyle="--", label=_("SLO p95 <= {limit:g} s").format(limit=limit_s))
    ax.set_ylabel(_("page response time (s)"))
    ax.set_title(_("Page latency per second - {title}").format(title=title))
    _users_axis(ax, windows, start)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    names = sorted({s.name for s in samples if s.name in pages})
    for name in names:
        er = list(slo.per_second(samples, start, end, {name}, bucket=5.0))
        axe.plot([min(r[0] + 2.5, end - start) for r in er], [_s(r[3]) for r in er], marker=".", label=name)
    axe.axhline(limit_s, color="red", linestyle="--", label=_("SLO p95 <= {limit:g} s").format(limit=limit_s))
    axe.set_ylabel(_("p95 per 5 s (s)"))
    axe.set_xlabel(_("seconds since start"))
    axe.legend(loc="upper left", fontsize=7, ncol=2)
    axe.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(report_dir / "latency.png")
    plt.close(fig)
    files.append("latency.png")

    # requests/s and failures/s
    all_rows = list(slo.per_second(samples, start, end))
    fail_rows = list(slo.per_second([s for s in samples if not s.ok], start, end))
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    ax.plot([r[0] for r in all_rows], [r[1] for r in all_rows], label=_("requests/s"))
    ax.plot([r[0] for r in fail_rows], [r[1] for r in fail_rows], color="red", label=_("failures/s"))
    ax.set_xlabel(_("seconds since start"))
    ax.set_ylabel(_("per second"))
    ax.set_title(_("Throughput - {title}").format(title=title))
    _users_axis(ax, windows, start)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(report_dir / "rps.png")
    plt.close(fig)
    files.append("rps.png")

    if summary.get("steps"):
        steps = summary["steps"]
        labels = [s["label"] for s in steps]
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), dpi=100, sharex=True)
        names = sorted({n for s in steps for n in s["endpoints"] if n in pages})
        for name in names:
            ax1.plot(
                labels,
                [((s["endpoints"].get(name) or {}).get("p95_ms") or float("nan")) / 1000.0 for s in steps],
                marker="o",
                label=name,
            )
        ax1.axhline(limit_s, color="red", linestyle="--", label=_("SLO p95 <= {limit:g} s").format(limit=limit_s))
        ax1.set_ylabel(_("p95 per step (s)"))
        ax1.set_title(_("Capacity steps - {title}").format(title=title))
        ax1.legend(fontsize=7, loc="upper left")
        ax1.grid(alpha=0.3)
        colors = ["tab:green" if s["ok"] else "tab:red" for s in steps]
        ax2.bar(labels, [s["rps"] for s in steps], color=colors)
        for i, s in enumerate(steps):
            ax2.annotate(
                _("{users} users").format(users=s["users"]), (i, s["rps"]), ha="center", va="bottom", fontsize=8
            )
        ax2.set_ylabel(_("requests/s (green: every SLO held)"))
        ax2.set_xlabel(_("multiple of the normal peak"))
        ax2.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        fig.savefig(report_dir / "capacity.png")
        plt.close(fig)
        files.append("capacity.png")
    return files


def _s(ms: float | None) -> float:
    return ms / 1000.0 if ms is not None else float("nan")


def _users_axis(ax, windows: list[slo.Window], start: float) -> None:
    if not windows:
        return
    ax2 = ax.twinx()
    xs, ys = [], []
    for w in windows:
        xs += [w.start - start, w.end - start]
        ys += [w.users, w.users]
    ax2.plot(xs, ys, color="gray", alpha=0.5, linestyle=":", label=_("target users"))
    ax2.set_ylabel(_("target users"), color="gray")
    ax2.set_ylim(0, max(ys) * 1.5 + 1)
