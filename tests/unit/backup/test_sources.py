"""Repositories and sources resolved from the config (no restic started)."""

from __future__ import annotations

import stat

import pytest

from procops.backup import sources
from procops.config import Config
from procops.errors import BadInput


def test_embedded_default_is_local_and_offsite_with_private_generated_passwords(procops_home):
    repos = sources.repositories(Config())
    assert [(r.name, r.offsite) for r in repos] == [("local", False), ("offsite", True)]
    for r in repos:
        assert str(r.url).startswith(str(procops_home / "backup" / "repos"))
        assert stat.S_IMODE(r.password_file.stat().st_mode) == 0o600
        r.check_password_source()


def test_configured_repositories_keep_password_sources_and_sort_offsite_last(procops_home, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    pw.chmod(0o600)
    c = Config.model_validate(
        {
            "backup": {
                "repositories": [
                    {
                        "name": "dr",
                        "url": "sftp:bk@dr:/srv/r",
                        "offsite": True,
                        "password": {"command": ["pass", "show", "r"]},
                        "options": {"sftp.command": "ssh dr -s sftp"},
                    },
                    {"name": "main", "url": "relative/repo", "password": {"file": str(pw)}},
                ]
            }
        }
    )
    main, dr = sources.repositories(c)
    assert main.name == "main" and main.url == str(tmp_path / "relative" / "repo")  # cwd is tmp_path
    assert dr.password_command == ("pass", "show", "r") and dr.options == (("sftp.command", "ssh dr -s sftp"),)
    with pytest.raises(BadInput):
        sources.select(c, "nosuch")


def test_group_readable_password_file_is_refused(procops_home, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    pw.chmod(0o640)
    c = Config.model_validate({"backup": {"repositories": [{"name": "a", "url": "/r", "password": {"file": str(pw)}}]}})
    with pytest.raises(BadInput) as e:
        sources.repositories(c)[0].check_password_source()
    assert "chmod 600" in e.value.message


def test_sources_prefer_the_backup_section_then_the_platform(procops_home, tmp_path):
    c = Config.model_validate({"platform": {"database_url": "postgresql://p@db/plat", "documents_dir": "/srv/docs"}})
    s = sources.sources(c)
    assert s.database.kind == "postgresql" and s.database.name == "plat" and str(s.documents) == "/srv/docs"
    c2 = Config.model_validate(
        {
            "platform": {"database_url": "postgresql://p@db/plat"},
            "backup": {"database": str(tmp_path / "x.db"), "documents_dir": str(tmp_path)},
        }
    )
    s2 = sources.sources(c2)
    assert s2.database.kind == "sqlite" and s2.documents == tmp_path


def test_the_sandbox_is_the_default_source(procops_home):
    s = sources.sources(Config())
    assert s.database.path == procops_home / "sandbox" / "platform.db"
    assert s.documents == procops_home / "sandbox" / "documents"
