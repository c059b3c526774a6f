"""The load-test charts have Chinese labels drawn in a CJK font (no missing glyphs)."""

from __future__ import annotations

import warnings

import pytest

from procops import i18n
from procops.loadtests import charts, slo

pytest.importorskip("matplotlib")


def test_chinese_charts_find_a_cjk_font_and_miss_no_glyph(tmp_path):
    from matplotlib import font_manager

    from procops.report import chart_style

    chart_style()
    path = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]), fallback_to_default=False)
    assert "CJK" in path, f"no CJK font found by matplotlib ({path}): scripts/bootstrap installs fonts-noto-cjk"

    start = 1_700_000_000.0
    samples = [
        slo.Sample(start + i * 0.5, name, 200.0 + i, True, 200)
        for i in range(40)
        for name in ("announcements.list", "bids.upload")
    ]
    summary = {
        "scenario": "peak",
        "target": "http://127.0.0.1:18080",
        "policy": {"page_load_p95_s": 2.0, "page_endpoints": ["announcements.list"]},
    }
    windows = [slo.Window("1x", start, start + 20, 10)]
    with i18n.speaking("zh"), warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        files = charts.draw(tmp_path, samples, start, start + 20, summary, windows)
    assert files == ["latency.png", "rps.png"]
    assert all((tmp_path / f).stat().st_size > 10_000 for f in files)
