"""Reports: Jinja2 templates (Markdown/HTML) in procops/templates, in English or Chinese."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"

# Words shared by every report; templates pick by ``lang``.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "ok": "ok",
        "failed": "FAILED",
        "error": "ERROR",
        "skipped": "skipped",
        "running": "running",
        "interrupted": "INTERRUPTED",
        "pass": "PASS",
        "fail": "FAIL",
        "step": "Step",
        "status": "Status",
        "detail": "Detail",
        "duration": "Duration",
    },
    "zh": {
        "ok": "通过",
        "failed": "未通过",
        "error": "执行错误",
        "skipped": "跳过",
        "running": "进行中",
        "interrupted": "已中断",
        "pass": "通过",
        "fail": "不通过",
        "step": "步骤",
        "status": "状态",
        "detail": "说明",
        "duration": "耗时",
    },
}


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


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    return env


def render(template: str, lang: str, **data: Any) -> str:
    if lang not in WORDS:
        raise ValueError(f"unknown language {lang!r}")
    return _env().get_template(template).render(lang=lang, w=WORDS[lang], **data)


def markdown_to_html(md: str, title: str) -> str:
    """A small, dependency-free Markdown-to-HTML for our own reports (headings, tables, lists, paragraphs)."""
    import html

    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:.3em .6em}</style></head><body>",
    ]
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", lines[i].strip().strip("|"))]
                if not all(set(c) <= set("-: ") for c in cells):
                    rows.append(cells)
                i += 1
            i -= 1
            out.append("<table>")
            for n, cells in enumerate(rows):
                tag = "th" if n == 0 else "td"
                out.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
            out.append("</table>")
        elif line.startswith(("- ", "* ")):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith(("- ", "* ")):
                out.append(f"<li>{html.escape(lines[i][2:])}</li>")
                i += 1
            i -= 1
            out.append("</ul>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
        i += 1
    out.append("</body></html>")
    return "\n".join(out) + "\n"
