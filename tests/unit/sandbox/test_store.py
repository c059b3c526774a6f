import hashlib
import os

import pytest

from procops.sandbox.store import INCOMING, DocumentStore, TooLarge, sha256_file, storage_path


def _files(root):
    """Every stored document (relative paths), unfinished writes excluded."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != INCOMING]
        out += [os.path.relpath(os.path.join(dirpath, f), root) for f in filenames]
    return sorted(out)


def test_storage_path_is_prefix_and_digest():
    h = hashlib.sha256(b"x").hexdigest()
    assert storage_path(h) == f"{h[:2]}/{h}"


@pytest.mark.parametrize("bad", ["", "abc", "G" * 64, "A" * 64, "../" + "a" * 61])
def test_storage_path_rejects_non_digests(bad):
    with pytest.raises(ValueError):
        storage_path(bad)


def test_put_bytes_stores_content_at_its_sha256(tmp_path):
    store = DocumentStore(tmp_path)
    data = os.urandom(200_000)
    doc = store.put_bytes(data)
    h = hashlib.sha256(data).hexdigest()
    assert (doc.sha256, doc.size, doc.storage_path, doc.created) == (h, len(data), f"{h[:2]}/{h}", True)
    assert (tmp_path / doc.storage_path).read_bytes() == data
    assert sha256_file(tmp_path / doc.storage_path) == (h, len(data))
    assert not os.listdir(tmp_path / INCOMING)


def test_put_stream_hashes_while_streaming(tmp_path):
    store = DocumentStore(tmp_path)
    chunks = [os.urandom(n) for n in (1, 65_536, 0, 70_001, 3)]
    doc = store.put_stream(iter(chunks))
    assert doc.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert doc.size == sum(map(len, chunks))


def test_same_content_twice_is_stored_once(tmp_path):
    store = DocumentStore(tmp_path)
    first = store.put_bytes(b"bid file")
    second = store.put_stream([b"bid ", b"file"])
    assert first.sha256 == second.sha256
    assert first.created and not second.created
    assert _files(tmp_path) == [first.storage_path]
    assert not os.listdir(tmp_path / INCOMING)


def test_damaged_copy_is_replaced(tmp_path):
    store = DocumentStore(tmp_path)
    doc = store.put_bytes(b"original content")
    (tmp_path / doc.storage_path).write_bytes(b"trunc")
    again = store.put_bytes(b"original content")
    assert (tmp_path / again.storage_path).read_bytes() == b"original content"


def test_content_is_invisible_until_commit(tmp_path):
    store = DocumentStore(tmp_path)
    data = b"a" * 100_000
    target = store.path_for(hashlib.sha256(data).hexdigest())
    with store.writer() as w:
        w.write(data[:50_000])
        assert not target.exists()
        w.write(data[50_000:])
        assert not target.exists()
        w.commit()
    assert target.read_bytes() == data


def test_abort_leaves_nothing(tmp_path):
    store = DocumentStore(tmp_path)
    with store.writer() as w:
        w.write(b"half a file")
    assert _files(tmp_path) == []
    assert not os.listdir(tmp_path / INCOMING)


def test_over_the_limit_raises_and_leaves_nothing(tmp_path):
    store = DocumentStore(tmp_path)
    with pytest.raises(TooLarge) as e:
        store.put_stream([b"x" * 600, b"x" * 600], max_size=1000)
    assert e.value.limit == 1000
    assert _files(tmp_path) == []
    assert not os.listdir(tmp_path / INCOMING)


def test_exactly_the_limit_is_accepted(tmp_path):
    doc = DocumentStore(tmp_path).put_stream([b"y" * 1000], max_size=1000)
    assert doc.size == 1000


def test_writer_refuses_writes_after_commit(tmp_path):
    w = DocumentStore(tmp_path).writer()
    w.write(b"z")
    w.commit()
    with pytest.raises(RuntimeError):
        w.write(b"more")


def test_clean_incoming_removes_only_old_leftovers(tmp_path):
    store = DocumentStore(tmp_path)
    store.ensure()
    old = tmp_path / INCOMING / "doc-old"
    young = tmp_path / INCOMING / "doc-young"
    old.write_bytes(b"1")
    young.write_bytes(b"2")
    os.utime(old, (1, 1))
    assert store.clean_incoming(older_than=3600) == 1
    assert not old.exists() and young.exists()
