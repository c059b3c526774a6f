"""The Chinese catalog follows the code: no untranslated, fuzzy or stale message, the same
placeholders as the English source, the glossary's terms (scripts/i18n check, as CI runs it)."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
I18N = runpy.run_path(str(ROOT / "scripts" / "i18n"))


def _catalog(entries, locale=None):
    from babel.messages.catalog import Catalog

    cat = Catalog(locale=locale)
    for mid, string, *flags in entries:
        cat.add(mid, string, [("cli/x.py", 1)], flags=flags)
    return cat


def test_the_repository_catalog_passes_the_check_ci_runs():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "i18n"), "check"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "0 problems" in p.stderr


def test_every_message_of_the_catalog_is_translated_with_the_same_placeholders():
    cat = I18N["_read_po"]()
    messages = [m for m in cat if m.id]
    assert len(messages) > 30
    for m in messages:
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        assert all(strings), f"untranslated: {ids[0]!r}"
        for s in strings:
            assert I18N["placeholders"](s) in (I18N["placeholders"](ids[0]), I18N["placeholders"](ids[-1])), (ids, s)


def test_the_check_names_untranslated_fuzzy_stale_and_missing_messages():
    template = _catalog([("backup run {run}: ok", None), ("new message", None), ("kept", None)])
    cat = _catalog(
        [("backup run {run}: ok", "", "fuzzy"), ("kept", "保留", "fuzzy"), ("gone from the code", "旧的")], "zh_CN"
    )
    found = "\n".join(I18N["problems"](template, cat, []))
    assert "untranslated: 'backup run {run}: ok'" in found
    assert "'new message' (cli/x.py) is not in the catalog" in found
    assert "fuzzy: 'kept'" in found
    assert "'gone from the code' is no longer in the code" in found


def test_the_check_refuses_a_translation_that_drops_or_renames_a_placeholder():
    template = _catalog([("run {run} of {repo}", None), ("{n} documents", None)])
    cat = _catalog([("run {run} of {repo}", "运行 {run}"), ("{n} documents", "{count} 个文档")], "zh_CN")
    found = I18N["problems"](template, cat, [])
    assert len(found) == 2 and all("placeholders differ" in p for p in found)


def test_the_check_holds_the_catalog_to_the_glossary():
    terms = I18N["glossary"]()
    assert ("off-site backup", "异地备份") in terms and ("rectification item", "整改事项") in terms
    template = _catalog([("the off-site backup is late", None), ("a rectification item", None)])
    cat = _catalog([("the off-site backup is late", "远程备份过期"), ("a rectification item", "一个整改事项")], "zh_CN")
    found = I18N["problems"](template, cat, terms)
    assert found and all("the off-site backup is late" in p for p in found)  # 整改事项 is there
    assert any("'异地备份'" in p for p in found)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{run} of {repo:<10}", ["{repo}", "{run}"]),
        ("{{literal}} and {0}", ["{0}"]),
        ("%(name)s at 100%%", ["%(name)"]),
        ("{value!r} is not {choice}.", ["{choice}", "{value}"]),
    ],
)
def test_placeholders_are_found_in_both_styles(text, expected):
    assert I18N["placeholders"](text) == expected
