"""The shipped runbooks: front matter, every fault type in both languages, contacts from config."""

from __future__ import annotations

import pytest

from procops.config import Config
from procops.incidents import runbooks
from procops.errors import BadInput


def test_every_fault_type_has_a_runbook_in_both_languages():
    assert runbooks.coverage() == {"zh": [], "en": []}


def test_same_ids_in_zh_and_en():
    assert [r.id for r in runbooks.load_all("zh")] == [r.id for r in runbooks.load_all("en")]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_runbooks_name_procops_commands(lang):
    for rb in runbooks.load_all(lang):
        assert "procops " in rb.body, rb.path
        assert rb.path.stem == rb.id, "alert runbook_url points at <id>.md"


def test_contacts_table_filled_from_config():
    cfg = Config.model_validate(
        {
            "notifications": {
                "contacts": [{"role": "responsible leader", "name": "Wang Fang", "phone": "+86 10 0000 0000"}]
            }
        }
    )
    text = runbooks.render(runbooks.get("incident-response", "zh"), cfg)
    assert "| responsible leader | Wang Fang | +86 10 0000 0000 | - |" in text
    assert runbooks.CONTACTS_MARKER not in text


def test_for_type_falls_back_to_the_procedure():
    assert runbooks.for_type("database-failure", "en").id == "database-failure"
    assert runbooks.for_type(None, "en").id == "incident-response"
    assert runbooks.for_type("network", "zh").id == "incident-response"


def test_bad_front_matter_and_unknown_id(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "x.md").write_text("---\nid: x\ntitle: X\nfault_types: [gremlins]\nmilestone: all\n---\nbody\n")
    with pytest.raises(BadInput, match="gremlins"):
        runbooks.load_all("en", tmp_path)
    with pytest.raises(BadInput):
        runbooks.get("nope", "en")
    with pytest.raises(BadInput):
        runbooks.load_all("fr")
