"""Messages in the operator's language: gettext catalogs (domain ``procops``) in ``procops/locale``.

Every line a person reads goes through :func:`_` (or :func:`ngettext`); strings defined at
import time (help texts, tables of labels) are marked with :func:`N_` and translated where
they are shown. The language is chosen once per process by :func:`use` (the CLI does it from
``--lang``, ``$PROCOPS_LANG``, then the locale: see :func:`resolve`); reports rendered in a
language of their own ask :func:`translations` for it. English is the source language: with
no catalog, or no entry, the English text is shown.
"""

from __future__ import annotations

import gettext
import importlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

DOMAIN = "procops"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGS = ("en", "zh")
# our short language names -> the catalog's locale folder
_LOCALES = {"en": "en", "zh": "zh_CN"}

_current = "en"


def resolve(explicit: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The language to speak: ``explicit`` (``--lang``), then ``$PROCOPS_LANG``, then the locale
    (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, ``LANGUAGE``: ``zh_CN.UTF-8`` gives ``zh``), else ``en``."""
    env = os.environ if environ is None else environ
    if explicit:
        return normalize(explicit)
    if env.get("PROCOPS_LANG"):
        return normalize(env["PROCOPS_LANG"])
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = env.get(var, "")
        if value and value not in ("C", "POSIX", "C.UTF-8"):
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def normalize(lang: str) -> str:
    """``zh``, ``zh_CN``, ``zh-CN.UTF-8`` -> ``zh``; ``en``, ``en_US`` -> ``en``; anything else is refused."""
    head = lang.strip().replace("-", "_").split(".")[0].split("_")[0].lower()
    if head not in LANGS:
        raise ValueError(_("unknown language {lang!r}: use en or zh").format(lang=lang))
    return head


def use(lang: str) -> None:
    """Speak ``lang`` from now on in this process."""
    global _current
    _current = normalize(lang)


def use_for_libraries(modules: Sequence[str] = ()) -> None:
    """Import ``modules`` (libraries that read their words through the standard :mod:`gettext`
    functions once, at import: Typer's help panels, "Options", "Commands", ...) so that they find
    them in our catalog, in the current language. Their messages are in ours
    (``procops/cli/library_messages.py``). The language reaches them through ``$LANGUAGE`` only
    while they are imported: the children procops starts keep the operator's environment."""
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    before = os.environ.get("LANGUAGE")
    os.environ["LANGUAGE"] = _LOCALES[_current]  # the standard functions read the language there
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        if before is None:
            os.environ.pop("LANGUAGE", None)
        else:
            os.environ["LANGUAGE"] = before


def current() -> str:
    return _current


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Speak ``lang`` inside the block (a report in a language of its own), then as before."""
    global _current
    before, _current = _current, normalize(lang)
    try:
        yield
    finally:
        _current = before


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of ``lang`` (a compiled ``.mo`` under :data:`LOCALE_DIR`), or the identity."""
    locale = _LOCALES[normalize(lang)]
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[locale], fallback=True)


def _(message: str) -> str:
    """``message`` (English source text) in the current language."""
    return translations(_current).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (translated where it is shown)."""
    return message
