"""The language is chosen from --lang, $PROCOPS_LANG, then the locale; English is the source."""

import pytest

from procops import i18n


def test_explicit_language_wins_over_environment_and_locale():
    assert i18n.resolve("en", {"PROCOPS_LANG": "zh", "LANG": "zh_CN.UTF-8"}) == "en"


def test_procops_lang_wins_over_the_locale():
    assert i18n.resolve(None, {"PROCOPS_LANG": "en", "LANG": "zh_CN.UTF-8"}) == "en"


def test_a_chinese_locale_gives_chinese_and_c_gives_english():
    assert i18n.resolve(None, {"LANG": "zh_CN.UTF-8"}) == "zh"
    assert i18n.resolve(None, {"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}) == "zh"
    assert i18n.resolve(None, {"LANG": "C.UTF-8"}) == "en"
    assert i18n.resolve(None, {}) == "en"


def test_language_names_are_normalized_and_unknown_ones_refused():
    assert i18n.normalize("zh-CN.UTF-8") == "zh"
    assert i18n.normalize("en_US") == "en"
    with pytest.raises(ValueError, match="unknown language"):
        i18n.normalize("fr")


def test_an_unknown_message_is_shown_in_english():
    i18n.use("zh")
    try:
        assert i18n._("no such message, surely") == "no such message, surely"
    finally:
        i18n.use("en")


def test_a_catalog_message_reads_in_chinese_and_speaking_restores_the_language():
    i18n.use("en")
    assert i18n._("Show this message and exit.") == "Show this message and exit."
    with i18n.speaking("zh"):
        assert i18n._("Show this message and exit.") == "显示本帮助并退出。"
    assert i18n.current() == "en"


def test_libraries_read_the_language_only_while_imported(monkeypatch):
    import sys

    monkeypatch.setenv("LANGUAGE", "en_US")
    monkeypatch.delitem(sys.modules, "typer.rich_utils", raising=False)
    i18n.use("zh")
    try:
        i18n.use_for_libraries(["typer.rich_utils"])
        from typer import rich_utils

        assert rich_utils.OPTIONS_PANEL_TITLE == "选项"  # Typer's word, from our catalog
    finally:
        i18n.use("en")
        sys.modules.pop("typer.rich_utils", None)
    import os

    assert os.environ["LANGUAGE"] == "en_US"  # the children procops starts keep the operator's
