"""The fault-analysis report as a PDF a supervisor opens: WeasyPrint renders it, poppler reads
the Chinese text back and draws the first page."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest

from procops.config import Config
from procops.incidents import api, response
from procops.report import markdown_to_html, to_pdf

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils is installed by scripts/bootstrap"
)


def test_a_chinese_report_renders_to_a_pdf_with_its_text(tmp_path):
    html = markdown_to_html("# 故障分析报告\n\n| 环节 | 是否达标 |\n|---|---|\n| 确认故障类型 | 超时 |\n", "报告")
    pdf = to_pdf(html, tmp_path / "r.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "故障分析报告" in text and "确认故障类型" in text and "超时" in text


def test_the_fault_analysis_report_pdf_renders_a_page_in_chinese(procops_home, tmp_path):
    from PIL import Image

    cfg = Config.model_validate({"display": {"timezone": "Asia/Shanghai"}})
    t0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    with api.open_store(cfg, clock=lambda: t0 + dt.timedelta(minutes=10)) as store:
        inc, _unused = store.open("投标文件无法上传", t0=t0, actor="ops@host")
        store.classify(inc.id, "disk-full", note="/var 100%")
        inc = store.get(inc.id)
    files = response.write_report(inc, "zh", cfg, out_dir=tmp_path)
    assert files["pdf"], files.get("pdf_error")
    text = subprocess.run(["pdftotext", files["pdf"], "-"], capture_output=True, text=True, check=True).stdout
    assert "故障分析报告" in text and "磁盘空间耗尽" in text and "2026-12-01 10:00:00 +08:00" in text
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", files["pdf"], str(tmp_path / "page")], check=True
    )
    page = next(tmp_path.glob("page*.png"))
    img = Image.open(page).convert("L")
    dark = sum(1 for px in img.getdata() if px < 128)
    assert img.width > 300 and dark > 500  # a page with text on it, not a blank one
