"""Reports a supervisor can open: Jinja2 Markdown templates (procops/templates) in the
report's language, HTML through markdown-it-py, PDF through WeasyPrint.

* :func:`render` -- a template in a language: the templates speak through ``_()``
  (``jinja2.ext.i18n`` with our catalog; Babel extracts them, see babel.cfg) and show
  times with the ``when`` filter (the display zone, :mod:`procops.display`) and durations
  with ``duration``; every report starts with :func:`header` (what it is, for which
  platform, when, by whom: ``{% include "_header.md.j2" %}``).
* :func:`markdown_to_html` -- CommonMark with tables, raw HTML off, a CJK font first in
  the style sheet.
* :func:`to_pdf` -- the HTML as a PDF (WeasyPrint; fonts through fontconfig: Noto Sans CJK
  from fonts-noto-cjk, installed by scripts/bootstrap). The fault-analysis report uses it
  today; audit and drill reports call the same function.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from procops.i18n import N_, _

TEMPLATES = Path(__file__).parent / "templates"

# The status of a step or a check, as a report shows it.
STATUS_WORDS = {
    "ok": N_("ok"),
    "failed": N_("FAILED"),
    "error": N_("ERROR"),
    "skipped": N_("skipped"),
    "running": N_("running"),
    "interrupted": N_("INTERRUPTED"),
    "pass": N_("PASS"),
    "fail": N_("FAIL"),
}

# Noto Sans CJK SC (fonts-noto-cjk), as in the charts. WeasyPrint subsets it with HarfBuzz
# (libharfbuzz-subset0): a fraction of a second, where its fontTools fallback takes tens of
# seconds on these CJK fonts. scripts/bootstrap installs both.
CSS = """
body { font-family: "Noto Sans CJK SC", "Noto Sans", sans-serif;
       max-width: 60em; margin: 2em auto; line-height: 1.5; color: #111; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #999; padding: .3em .6em; vertical-align: top; }
th { background: #eee; }
code { font-family: "Noto Sans Mono CJK SC", monospace; background: #f4f4f4; padding: 0 .2em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #333; }
@page { size: A4; margin: 18mm 15mm; }
"""

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<#|~])")


def md_escape(value: Any) -> str:
    """Untrusted text (alert summaries, labels, titles, feedback) as inert inline Markdown:
    newlines become spaces and every character that could start a heading, table,
    emphasis, link, code span or HTML is backslash-escaped."""
    text = " ".join(str(value if value is not None else "").split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    if (text and text[0] in "-=+>") or re.match(r"\d+[.)]", text):
        text = "\\" + text
    return text


def status_word(status: str) -> str:
    return _(STATUS_WORDS[status]) if status in STATUS_WORDS else status


def _env(lang: str = "en"):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from procops import display
    from procops.i18n import translations

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["md"] = md_escape
    env.filters["when"] = display.when
    env.filters["duration"] = display.duration
    env.globals["status_word"] = status_word
    return env


def header(title: str, platform: str, *, by: str | None = None, now: Any = None) -> dict:
    """What every report says first: what it is, for which platform, when (display zone), by whom."""
    from procops import display
    from procops.journal import default_actor
    from procops.timeutil import iso, utcnow

    return {
        "title": title,
        "platform": platform,
        "generated": iso((now or utcnow()).replace(microsecond=0)),
        "zone": display.zone_label(),
        "by": by or default_actor(),
    }


def render(template: str, lang: str, **data: Any) -> str:
    """``template`` rendered in ``lang`` (``en`` or ``zh``)."""
    from procops.i18n import normalize, speaking

    lang = normalize(lang)
    with speaking(lang):
        return _env(lang).get_template(template).render(lang=lang, **data)


def markdown_to_html(md: str, title: str) -> str:
    """A standalone HTML page of our Markdown (CommonMark and tables; raw HTML is not passed through)."""
    import html

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}</body></html>\n"
    )


CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Micro Hei", "DejaVu Sans"]


def chart_style() -> None:
    """matplotlib draws Chinese labels: Noto Sans CJK (fonts-noto-cjk, installed by scripts/bootstrap)
    first, then DejaVu Sans; the minus sign as a hyphen (CJK fonts lack U+2212). Call before drawing."""
    import matplotlib

    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = CJK_FONTS
    matplotlib.rcParams["axes.unicode_minus"] = False


def to_pdf(html_text: str, path: Path, *, base_dir: Path | None = None) -> Path:
    """Write ``html_text`` as a PDF at ``path`` (atomically); images are read relative to ``base_dir``."""
    import logging

    from weasyprint import HTML

    from procops.home import atomic_write

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # its CSS warnings are not the operator's
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    data = HTML(string=html_text, base_url=str(base_dir or path.parent)).write_pdf()
    atomic_write(path, data)
    return path
