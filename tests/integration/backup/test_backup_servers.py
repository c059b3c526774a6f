"""PostgreSQL and MariaDB platforms: dumps streamed to restic, restored into scratch databases and verified;
a failing dump saves no snapshot."""

from __future__ import annotations

import secrets
import socket

import pytest
from platform_data import config_yaml, documents, fill, write_store

from procops.backup import dumps
from procops.backup.ops import make_restic
from procops.backup.run import DumpFailed, stream_backup
from procops.backup.sources import repositories


def _up(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def pg_platform(tmp_path, procops_home):
    if not _up(5432):
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    import psycopg

    name = f"procops_bk_{secrets.token_hex(4)}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    docs = tmp_path / "documents"
    rows = write_store(docs, documents(15, 3000, seed=7))
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}", autocommit=True) as c:
        fill(lambda sql, args: c.execute(sql, args), rows, "%s")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    yield url, docs, tmp_path
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        leftovers = c.execute("SELECT datname FROM pg_database WHERE datname LIKE 'procops_verify_%'").fetchall()
    assert not leftovers, f"scratch databases left behind: {leftovers}"


@pytest.fixture
def maria_platform(tmp_path, procops_home):
    if not _up(3306):
        pytest.skip("no MariaDB on 127.0.0.1:3306")
    import pymysql

    name = f"procops_bk_{secrets.token_hex(4)}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    docs = tmp_path / "documents"
    rows = write_store(docs, documents(15, 3000, seed=8))
    c = pymysql.connect(host="127.0.0.1", port=3306, user="root", database=name, autocommit=True, charset="utf8mb4")
    fill(lambda sql, args: c.cursor().execute(sql, args), rows, "%s")
    c.close()
    yield f"mysql+pymysql://root@127.0.0.1:3306/{name}", docs, tmp_path
    cur = admin.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    cur.execute("SHOW DATABASES LIKE 'procops\\_verify\\_%'")
    leftovers = cur.fetchall()
    admin.close()
    assert not leftovers, f"scratch databases left behind: {leftovers}"


def _config(tmp_path, url, docs):
    repos = {
        "local": (str(tmp_path / "repos" / "local"), False),
        "offsite": (str(tmp_path / "repos" / "offsite"), True),
    }
    (tmp_path / "procops.yaml").write_text(config_yaml(url, docs, repos, "  retention: {keep_last: 20}\n"))


@pytest.mark.postgres
def test_postgres_dump_restores_into_a_scratch_database_and_verifies(cli, pg_platform):
    url, docs, tmp = pg_platform
    _config(tmp, url, docs)
    cli("backup", "init", check=0)
    run = cli("backup", "run", "--json", check=0).json()
    assert run["tables"]["archive_documents"] == 15 and run["tables"]["announcements"] == 5
    res = cli("backup", "verify", "--json", check=0).json()["results"]
    assert [r["ok"] for r in res] == [True, True] and res[0]["tables"]["suppliers"] == 3
    cli("backup", "verify", "--live", check=0)
    out = cli("backup", "restore", "--target", str(tmp / "r"), "--json", check=0).json()
    sql = (tmp / "r" / "database").glob("*.postgresql.sql")
    text = next(sql).read_text()
    assert "CREATE TABLE public.archive_documents" in text and out["manifest_totals"]["documents"] == 15


@pytest.mark.postgres
def test_wrong_postgres_credentials_make_no_snapshot_and_exit_1(cli, pg_platform):
    url, docs, tmp = pg_platform
    _config(tmp, url.replace("postgres@", "nosuchuser:Xq7-secret@"), docs)
    cli("backup", "init", check=0)
    r = cli("backup", "run", "--json")
    assert r.code == 1
    res = r.json()
    assert "nosuchuser" in res["dump_error"] and "Xq7-secret" not in r.out + r.err  # the password is never shown
    assert all(x["problem"] == "dump_failed" for x in res["repositories"].values())
    snaps = cli("backup", "snapshots", "--json", check=0).json()["repositories"]
    assert snaps["local"]["runs"] == [] and snaps["local"]["incomplete"] == []


def test_a_dump_failing_midway_is_interrupted_and_saves_no_snapshot(procops_home, tmp_path):
    from procops.config import Config

    config = Config.model_validate({"backup": {"repositories": [{"name": "local", "url": str(tmp_path / "repo")}]}})
    restic = make_restic(config)
    repo = repositories(config)[0]
    restic.run(repo, ("init",))
    # a producer that writes 3 MB and then fails, as pg_dump does when the server goes away mid-dump
    bad = dumps.Producer(
        "pg_dump", argv=["sh", "-c", "head -c 3000000 /dev/urandom; echo 'lost connection' >&2; exit 1"]
    )
    with pytest.raises(DumpFailed) as e:
        stream_backup(restic, repo, bad, "database/x.sql", ["procops"], timeout=120)
    assert "exited 1" in e.value.message and "lost connection" in e.value.message
    assert restic.run(repo, ("snapshots",), json_output=True).json() == []
    # restic released its lock: an exclusive-lock command works at once
    restic.run(repo, ("check",))
    good = dumps.Producer("dump", argv=["sh", "-c", "head -c 100000 /dev/zero"])
    summary = stream_backup(restic, repo, good, "database/x.sql", ["procops"], timeout=120)
    assert summary["snapshot_id"] and summary["total_bytes_processed"] == 100000


@pytest.mark.mariadb
def test_mariadb_dump_restores_into_a_scratch_database_and_verifies(cli, maria_platform):
    url, docs, tmp = maria_platform
    _config(tmp, url, docs)
    cli("backup", "init", check=0)
    run = cli("backup", "run", "--json", check=0).json()
    assert run["tables"]["archive_documents"] == 15
    res = cli("backup", "verify", "--json", check=0).json()["results"]
    assert all(r["ok"] and r["tables"]["suppliers"] == 3 for r in res)
    cli("backup", "verify", "--live", check=0)
