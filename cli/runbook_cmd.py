"""procops runbook: Runbooks in Chinese and English."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, say

from procops.i18n import _

app = typer.Typer(help=_("Runbooks in Chinese and English."), no_args_is_help=True)
LangOpt = Annotated[Optional[str], typer.Option("--lang", help=_("zh or en (default: the global --lang)."))]


def _lang(lang: str | None) -> str:
    from procops.errors import BadInput

    lang = lang or STATE.lang
    if lang not in ("zh", "en"):
        raise BadInput(_("unknown language {lang!r}: use zh or en").format(lang=lang))
    return lang


@app.command("list", help=_("List runbooks (id, fault types, milestone, title)."))
def list_(lang: LangOpt = None, as_json: JsonOpt = False) -> None:
    from procops.incidents import api

    books = api.runbooks(_lang(lang))

    def human(_unused):
        for rb in books:
            say(f"{rb.id:<20} {','.join(rb.fault_types) or '-':<18} {rb.milestone:<9} {rb.title}")

    emit(books, as_json, human)


@app.command("show", help=_("Print a runbook (Markdown) with the contacts table from the configuration."))
def show(
    runbook_id: Annotated[str, typer.Argument(metavar="ID", help=_("Runbook id (see 'procops runbook list')."))],
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from procops.incidents import api

    rb = api.runbook(runbook_id, _lang(lang))
    text = api.render_runbook(rb, STATE.config)
    emit({**rb.as_dict(), "markdown": text}, as_json, lambda _unused: typer.echo(text))
