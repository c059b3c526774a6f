"""Database sources and dump argv builders (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from procops.backup import dumps
from procops.backup.sources import Database
from procops.config import Config, ConfigError, parse
from procops.errors import BadInput


def test_a_sqlite_url_is_read_like_sqlalchemy_reads_it(tmp_path, monkeypatch):
    from sqlalchemy.engine import make_url

    monkeypatch.chdir(tmp_path)
    for text in (f"sqlite:///{tmp_path / 'abs.db'}", "sqlite:///rel.db", "sqlite:///~/x.db"):
        d = Database.parse(text)
        assert d.kind == "sqlite" and d.path == Path(make_url(text).database).expanduser().resolve()
    for bad in ("sqlite:///", "sqlite:///:memory:"):
        with pytest.raises(BadInput):
            Database.parse(bad)


def test_sqlite_path_and_url_are_the_same_source(tmp_path):
    a = Database.parse(str(tmp_path / "p.db"))
    b = Database.parse(f"sqlite:///{tmp_path / 'p.db'}")
    assert a.kind == b.kind == "sqlite" and a.path == b.path
    assert a.dump_filename == "database/platform.sqlite3"


def test_postgres_url_defaults_and_password_kept_out_of_repr():
    d = Database.parse("postgresql+psycopg://backup:s3cret@db.internal/procurement")
    assert (d.kind, d.host, d.port, d.user, d.name) == ("postgresql", "db.internal", 5432, "backup", "procurement")
    assert d.password == "s3cret"
    assert "s3cret" not in repr(d) and "s3cret" not in d.masked_url


def test_pg_dump_argv_has_no_password_and_uses_the_snapshot():
    d = Database.parse("postgresql://backup:s3cret@127.0.0.1:5433/procurement")
    argv = dumps.pg_dump_argv(d, snapshot="00000003-0000001B-1")
    assert "s3cret" not in " ".join(argv)
    assert "--snapshot=00000003-0000001B-1" in argv and argv[-2:] == ["--dbname", "procurement"]
    assert "--no-password" in argv and ["--port", "5433"] == argv[argv.index("--port") : argv.index("--port") + 2]


def test_dump_env_carries_the_password():
    d = Database.parse("postgresql://backup:s3cret@127.0.0.1/procurement")
    assert dumps.dump_env(d)["PGPASSWORD"] == "s3cret"
    m = Database.parse("mysql+pymysql://root:pw@127.0.0.1/procurement")
    assert dumps.dump_env(m)["MYSQL_PWD"] == "pw"


def test_mysqldump_argv_is_a_single_transaction():
    m = Database.parse("mariadb://root@127.0.0.1:3306/procurement")
    argv = dumps.mysqldump_argv(m)
    assert argv[0] == "mysqldump" and "--single-transaction" in argv and argv[-1] == "procurement"
    assert m.dump_filename == "database/procurement.mysql.sql"


def test_unsupported_backend_is_bad_input():
    with pytest.raises(BadInput):
        Database.parse("oracle://x@h/db")


def test_build_manifest_counts_and_documents():
    rows = {
        "SELECT COUNT(*) FROM announcements": [(3,)],
        "SELECT id, storage_path, size, sha256 FROM archive_documents ORDER BY id": [(1, "ab/abcd", 10, "ABCD")],
    }

    def q(sql):
        if sql not in rows:
            raise RuntimeError("no such table")
        return rows[sql]

    m = dumps.build_manifest(q, ["announcements", "bids"])
    assert m["tables"] == {"announcements": 3, "bids": None}
    assert m["documents"] == [{"id": 1, "storage_path": "ab/abcd", "size": 10, "sha256": "abcd"}]
    assert m["totals"] == {"documents": 1, "bytes": 10}


def test_config_check_subsets_must_divide_256():
    with pytest.raises(ConfigError) as e:
        parse("backup:\n  check_subsets: 7\n", Path("procops.yaml"))
    assert "check_subsets" in str(e.value)


def test_config_retention_keeping_nothing_is_refused():
    with pytest.raises(ConfigError):
        parse(
            "backup:\n  retention: {keep_hourly: 0, keep_daily: 0, keep_weekly: 0, keep_monthly: 0}\n",
            Path("procops.yaml"),
        )


def test_config_defaults_are_policy():
    b = Config().backup
    assert b.retention.keep_hourly == 24 and b.check_subsets == 8 and b.repositories == []


def test_config_retention_keep_within_must_be_a_restic_duration():
    with pytest.raises(ConfigError) as e:
        parse("backup:\n  retention: {keep_within: 15 years}\n", Path("procops.yaml"))
    assert "keep_within" in str(e.value)
    ok = parse("backup:\n  retention: {keep_within: 15y, keep_yearly: 15}\n", Path("procops.yaml"))
    assert ok.backup.retention.keep_within == "15y" and ok.backup.retention.keep_yearly == 15


def test_config_retention_of_years_only_is_accepted():
    parse(
        "backup:\n  retention: {keep_hourly: 0, keep_daily: 0, keep_weekly: 0, keep_monthly: 0, keep_yearly: 15}\n",
        Path("procops.yaml"),
    )
