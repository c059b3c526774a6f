"""Runbooks: Markdown files with YAML front matter in ``runbooks/<lang>/``.

Front matter keys: ``id``, ``title``, ``fault_types`` (list of fault types, may be
empty), ``milestone`` (classify | standby | report | all | drill). A line
``<!-- procops:contacts -->`` in the body is replaced, when shown, by the
contacts table of the configuration (``notifications.contacts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from procops.errors import BadInput

from procops.incidents.incident import FAULT_TYPES

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

LANGS = ("zh", "en")
CONTACTS_MARKER = "<!-- procops:contacts -->"
MILESTONE_VALUES = ("classify", "standby", "report", "all", "drill")


@dataclass
class Runbook:
    id: str
    title: str
    lang: str
    path: Path
    fault_types: list[str] = field(default_factory=list)
    milestone: str = "all"
    body: str = ""

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "lang": self.lang,
            "path": str(self.path),
            "fault_types": self.fault_types,
            "milestone": self.milestone,
        }


def runbooks_dir() -> Path:
    from procops.home import project_path

    return project_path("runbooks")


def parse(text: str, path: Path, lang: str) -> Runbook:
    import yaml

    if not text.startswith("---\n"):
        raise BadInput(_("{path}: a runbook starts with YAML front matter (---)").format(path=path))
    end = text.find("\n---\n", 4)
    if end < 0:
        raise BadInput(_("{path}: the front matter is not closed (---)").format(path=path))
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as e:
        raise BadInput(_("{path}: front matter: {e}").format(path=path, e=e)) from None
    missing = [k for k in ("id", "title", "fault_types", "milestone") if k not in meta]
    if missing:
        raise BadInput(_("{path}: front matter lacks {missing}").format(path=path, missing=", ".join(missing)))
    types = list(meta["fault_types"] or [])
    bad = [t for t in types if t not in FAULT_TYPES]
    if bad:
        raise BadInput(_("{path}: unknown fault type(s) {bad}").format(path=path, bad=", ".join(bad)))
    if meta["milestone"] not in MILESTONE_VALUES:
        raise BadInput(
            _("{path}: milestone must be one of {milestone_values}").format(
                path=path, milestone_values=", ".join(MILESTONE_VALUES)
            )
        )
    return Runbook(
        id=str(meta["id"]),
        title=str(meta["title"]),
        lang=lang,
        path=path,
        fault_types=types,
        milestone=meta["milestone"],
        body=text[end + 5 :].lstrip("\n"),
    )


def load_all(lang: str, base: Path | None = None) -> list[Runbook]:
    if lang not in LANGS:
        raise BadInput(_("unknown language {lang!r}: use zh or en").format(lang=lang))
    d = (base or runbooks_dir()) / lang
    if not d.is_dir():
        return []
    return [parse(p.read_text(encoding="utf-8"), p, lang) for p in sorted(d.glob("*.md"))]


def get(runbook_id: str, lang: str, base: Path | None = None) -> Runbook:
    for rb in load_all(lang, base):
        if rb.id == runbook_id:
            return rb
    known = ", ".join(rb.id for rb in load_all(lang, base)) or "none"
    raise BadInput(
        _("unknown runbook {runbook_id!r} in {lang} (known: {known})").format(
            runbook_id=runbook_id, lang=lang, known=known
        ),
        hint=_("list them with: procops runbook list"),
    )


def for_type(fault_type: str | None, lang: str, base: Path | None = None) -> Runbook | None:
    """The runbook of a fault type; without a type (or none for it), the incident-response procedure."""
    books = load_all(lang, base)
    if fault_type:
        for rb in books:
            if fault_type in rb.fault_types:
                return rb
    for rb in books:
        if rb.id == "incident-response":
            return rb
    return None


def contacts_table(config: Config, lang: str) -> str:
    """The contacts of the configuration as a Markdown table, in the runbook's language."""
    from procops.i18n import speaking

    contacts = config.notifications.contacts
    with speaking(lang):
        head = "| {} | {} | {} | {} |".format(_("Role"), _("Name"), _("Phone"), _("Email"))
        none = _("(not configured: fill notifications.contacts in procops.yaml)")
    rows = [head, "|---|---|---|---|"]
    for c in contacts:
        rows.append(f"| {c.role} | {c.name} | {c.phone or '-'} | {c.email or '-'} |")
    if not contacts:
        rows.append(f"| {none} | - | - | - |")
    return "\n".join(rows)


def render(rb: Runbook, config: Config) -> str:
    """The runbook's Markdown with the contacts table filled in."""
    return rb.body.replace(CONTACTS_MARKER, contacts_table(config, rb.lang))


def coverage(base: Path | None = None) -> dict[str, list[str]]:
    """Fault types (except 'other' and 'network', covered by the procedure) without a runbook, per language."""
    needed = [t for t in FAULT_TYPES if t not in ("other", "network")]
    out = {}
    for lang in LANGS:
        have = {t for rb in load_all(lang, base) for t in rb.fault_types}
        ids = {rb.id for rb in load_all(lang, base)}
        missing = [t for t in needed if t not in have]
        missing += [i for i in ("incident-response", "drill-guide") if i not in ids]
        out[lang] = missing
    return out
