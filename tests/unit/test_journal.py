from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from procops.events import BackupCheck, BackupRun, IncidentTimeline, Kind, Status
from procops.journal import GENESIS, Journal, row_hash, scrub


def _writer(path: str, n: int, who: int) -> None:
    j = Journal(path)
    for i in range(n):
        j.append(Kind.INCIDENT_TIMELINE, f"w{who}", IncidentTimeline(kind="test.concurrent", details={"i": i}))
    j.close()


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.db")
    for i in range(5):
        j.append(Kind.BACKUP_RUN, "local", BackupRun(status=Status.OK, ok=True, run=f"run-{i}"))
    yield j
    j.close()


def _raw(journal: Journal) -> sqlite3.Connection:
    db = sqlite3.connect(journal.path, isolation_level=None)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("DROP TRIGGER events_no_delete")
    return db


def test_chain_links_rows(journal):
    events = journal.events()
    assert [e.id for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS
    for a, b in zip(events, events[1:]):
        assert b.prev_hash == a.hash
    v = journal.verify()
    assert v.ok and v.rows == 5 and v.head_hash == events[-1].hash


def test_hash_covers_every_field(journal):
    e = journal.events()[0]
    import json

    data = json.dumps(e.data, sort_keys=True, separators=(",", ":"))
    assert row_hash(e.prev_hash, e.id, e.time, e.kind, e.subject, e.actor, data) == e.hash
    assert row_hash(e.prev_hash, e.id, e.time, e.kind, "offsite", e.actor, data) != e.hash


def test_update_and_delete_are_refused(journal):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal._db.execute("UPDATE events SET subject = 'x' WHERE id = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal._db.execute("DELETE FROM events WHERE id = 2")


def test_altered_row_is_named(journal):
    _raw(journal).execute("""UPDATE events SET data = '{"n":2,"ok":false}' WHERE id = 3""")
    v = journal.verify()
    assert not v.ok and v.first_bad_id == 3 and "altered" in v.problem


def test_deleted_row_is_named(journal):
    _raw(journal).execute("DELETE FROM events WHERE id = 2")
    v = journal.verify()
    assert not v.ok and v.first_bad_id == 2 and "missing" in v.problem


def test_inserted_row_is_found(journal):
    db = _raw(journal)
    events = journal.events()
    # make room after row 2 and insert a forged row whose own hash is right
    for rid in (5, 4, 3):
        db.execute("UPDATE events SET id = id + 1 WHERE id = ?", (rid,))
    prev = events[1]
    forged_data = '{"n":99,"ok":true}'
    h = row_hash(prev.hash, 3, prev.time, "backup.run", "local", prev.actor, forged_data)
    db.execute(
        "INSERT INTO events VALUES (3, ?, 'backup.run', 'local', ?, ?, ?, ?)",
        (prev.time, prev.actor, forged_data, prev.hash, h),
    )
    v = journal.verify()
    assert not v.ok and v.first_bad_id == 4
    assert "does not follow" in v.problem


def test_forged_tail_row_is_found(journal):
    last = journal.events()[-1]
    _raw(journal).execute(
        "INSERT INTO events VALUES (6, ?, 'x', 'y', 'z', '{}', ?, ?)", (last.time, last.hash, "f" * 64)
    )
    v = journal.verify()
    assert not v.ok and v.first_bad_id == 6


def test_concurrent_writers_from_several_processes(tmp_path):
    path = str(tmp_path / "journal.db")
    Journal(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 40, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    j = Journal(path)
    events = j.events()
    assert len(events) == 160
    assert [e.id for e in events] == list(range(1, 161))
    for w in range(4):
        assert sorted(e.data["i"] for e in events if e.subject == f"w{w}") == list(range(40))
    assert j.verify().ok


def test_secrets_are_masked_before_hashing(tmp_path):
    j = Journal(tmp_path / "j.db")
    e = j.append(
        Kind.INCIDENT_TIMELINE,
        "INC-1",
        IncidentTimeline(
            kind="standby.execute",
            details={"password_file": "/x", "env": {"RESTIC_PASSWORD": "hunter2"}, "argv": ["restic", "init"]},
        ),
    )
    assert "hunter2" not in str(e.data) and "/x" not in str(e.data)
    assert e.data["argv"] == ["restic", "init"]
    assert scrub({"token": ""}) == {"token": ""}


def test_filters_and_last(journal):
    journal.append(Kind.BACKUP_CHECK, "offsite", BackupCheck())
    assert [e.kind for e in journal.events("backup.*")][-1] == "backup.check"
    assert journal.last(Kind.BACKUP_RUN).data["run"] == "run-4"
    assert journal.last("backup.run").evidence == BackupRun(status=Status.OK, ok=True, run="run-4")
    assert journal.last("backup.run", "offsite") is None
    assert len(journal.events(limit=2, newest_first=True)) == 2


def test_a_kept_open_journal_survives_a_second_opening_in_its_process_and_writers_elsewhere(tmp_path):
    """The webhook keeps the journal open while the incident store opens it again in the same
    process: opening must not drop the first connection's locks (POSIX locks die with any close of
    the file), or another process closing last deletes the WAL under it ("disk I/O error")."""
    path = str(tmp_path / "journal.db")
    kept = Journal(path)
    kept.append(Kind.INCIDENT_TIMELINE, "kept", IncidentTimeline(kind="test.kept", details={"i": 0}))
    Journal(path).close()  # the store's own short-lived connection, in the same process
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_writer, args=(path, 2, 9))  # a CLI command writes and exits
    p.start()
    p.join(60)
    assert p.exitcode == 0
    with Journal(path) as again:  # the store journals the next change
        again.append(Kind.INCIDENT_TIMELINE, "again", IncidentTimeline(kind="test.kept", details={"i": 1}))
    kept.append(Kind.INCIDENT_TIMELINE, "kept", IncidentTimeline(kind="test.kept", details={"i": 2}))
    assert [e.subject for e in kept.events()] == ["kept", "w9", "w9", "again", "kept"]
    assert kept.verify().ok
    kept.close()


def test_anchors_match_their_row_and_a_rewritten_or_shorter_journal_is_named(journal, tmp_path):
    from procops.journal import GENESIS, Anchor, check_anchors

    rows, head = journal.head()
    assert rows == 5 and head == journal.hash_at(5)
    good = [
        Anchor(3, journal.hash_at(3), "2026-12-01T02:00:00Z", "offsite"),
        Anchor(5, head, "2026-12-01T02:00:00Z", "offsite"),
        Anchor(0, GENESIS, "2026-12-01T02:00:00Z", "x"),
    ]
    assert all(c.ok for c in check_anchors(journal, good))
    other = Journal(tmp_path / "other.db")
    for i in range(6):
        other.append(Kind.BACKUP_RUN, "local", BackupRun(status=Status.OK, ok=True, run=f"forged-{i}"))
    bad = check_anchors(other, good[:2]) + check_anchors(
        other, [Anchor(9, "ab" * 32, "2026-12-01T02:00:00Z", "offsite")]
    )
    assert [c.ok for c in bad] == [False, False, False]
    assert "rewritten" in bad[0].problem and "has 6 rows, but 9 were anchored" in bad[2].problem
    other.close()


def test_a_copy_of_the_journal_is_consistent_and_private(journal, tmp_path):
    dest = tmp_path / "copy" / "journal.db"
    dest.parent.mkdir()
    assert journal.copy_to(dest) == journal.head()
    assert dest.stat().st_mode & 0o077 == 0
    with Journal(dest) as copy:
        assert copy.verify().ok and copy.head() == journal.head()
