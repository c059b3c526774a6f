"""HTML reports through markdown-it-py: bold, code, links and tables render; raw HTML does not."""

from __future__ import annotations

from procops.report import markdown_to_html


def test_bold_code_links_and_tables_render_as_html():
    html = markdown_to_html(
        "# 故障分析报告\n\n**已恢复** with `procops backup run`, see [the runbook](runbooks/zh/disk-full.md)\n\n"
        "| 环节 | 时限 |\n|---|---|\n| 确认故障类型 | 15分钟 |\n",
        "故障分析报告",
    )
    assert "<strong>已恢复</strong>" in html
    assert "<code>procops backup run</code>" in html
    assert '<a href="runbooks/zh/disk-full.md">the runbook</a>' in html
    assert "<th>环节</th>" in html and "<td>确认故障类型</td>" in html and "<td>15分钟</td>" in html
    assert "**" not in html and "`" not in html
    assert "<title>故障分析报告</title>" in html and "charset='utf-8'" in html


def test_raw_html_in_the_markdown_is_shown_as_text():
    html = markdown_to_html("summary <script>alert(1)</script>\n", "t")
    assert "<script>" not in html and "&lt;script&gt;" in html
