from procops.report import _env, markdown_to_html, md_escape

INJECTED = "disk full\n# injected\n| a | b |\n[bold]x[/bold] `code` <script>"


def test_an_injected_summary_renders_as_inert_text_in_a_report():
    md = (
        _env()
        .from_string("# Report\n\n- summary: {{ s|md }}\n\n| k | v |\n|---|---|\n| s | {{ s|md }} |\n")
        .render(s=INJECTED)
    )
    lines = md.splitlines()
    assert [ln for ln in lines if ln.startswith("#")] == ["# Report"]
    assert sum(ln.startswith("|") for ln in lines) == 3
    html = markdown_to_html(md, "t")
    assert "<h1>injected" not in html and "<script>" not in html
    assert html.count("<tr>") == 2 and html.count("<td>") == 2


def test_md_escape_keeps_the_words():
    assert "disk full" in md_escape(INJECTED) and "\n" not in md_escape(INJECTED)


def test_empty_and_plain_text_stay_as_they_are():
    assert md_escape("") == "" and md_escape(None) == ""
    assert md_escape("3 replicas healthy") == "3 replicas healthy"


def test_a_step_detail_with_markdown_stays_one_table_row_in_the_readiness_report():
    from procops.report import header, render

    step = {"title": "Backup", "status": "failed", "duration_s": 1.0, "detail": INJECTED}
    md = render(
        "readiness.md.j2",
        "en",
        ok=False,
        final=True,
        interrupted=False,
        started_at="2026-12-01T02:00:00Z",
        platform="p",
        steps=[step],
        head=header("Platform readiness report", "p", by="ops@host"),
        ended_at=None,
        charts=[],
        chart_error=None,
        provenance={
            "host": "h",
            "operator": "ops@host",
            "procops": "0",
            "config_source": "<embedded default>",
            "config_sha256": None,
            "mode": "quick",
            "journal_at_start": {"rows": 0, "head": "0" * 64},
        },
    )
    lines = md.splitlines()
    assert [ln for ln in lines if ln.startswith("#")] == ["# Platform readiness report", "## Provenance"]
    assert sum(ln.startswith("|") for ln in lines) == 3  # header, rule, the one step
