"""The SQLite index on real fingerprints: WAL, migrations, refusal of newer/corrupt/locked files, two processes."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
from pathlib import Path

import pytest

from taoke.errors import IndexStoreError
from taoke.index.fingerprint import Fingerprint
from taoke.index.store import _V1, SCHEMA_VERSION, IndexStore


def test_add_list_search_rm(tmp_path: Path, fps) -> None:
    from taoke.index.search import search

    with IndexStore(tmp_path / "i.db") as s:
        assert s.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.schema_version == SCHEMA_VERSION
        names = ["minilm", "minilm-noise", "tiny-0", "smollm2-q4_1"]
        for n in names:
            s.add(Fingerprint.load(fps[n]))
        assert [m.name for m in s.models()] == names
        res = search(s, Fingerprint.load(fps["minilm-perm"]), k=4, thorough=True)
        hits = res.hits
        assert {h.name for h in hits if h.related} == {"minilm", "minilm-noise"} and res.found
        assert all(h.verdict == "derived" for h in hits if h.related)
        assert s.remove("tiny-0") and not s.remove("tiny-0")
        assert s.count() == 3


def test_add_many_commits_in_batches(tmp_path: Path, fps) -> None:
    fs = [Fingerprint.load(fps[n]) for n in ("minilm", "tiny-0", "tiny-1")]
    with IndexStore(tmp_path / "b.db") as s:
        ids = s.add_many(fs, batch=2)
        assert [s.model(i).name for i in ids] == ["minilm", "tiny-0", "tiny-1"]
        assert s.by_shape(128, 8192, 4, 10) == ids[1:]  # the architecture bucket: both tiny models
        assert s.fingerprint(ids[2]).digest == fs[2].digest


def test_migration_from_v1(tmp_path: Path, fps) -> None:
    db = tmp_path / "old.db"
    fp = Fingerprint.load(fps["minilm"])
    con = sqlite3.connect(db)
    con.executescript(_V1)
    con.execute("INSERT INTO models(id, name, location, added, header) VALUES (1, 'minilm', 'x', 0, '{}')")
    con.execute("INSERT INTO blobs VALUES (1, ?)", (fp.to_bytes(),))
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    with IndexStore(db) as s:
        assert s.schema_version == SCHEMA_VERSION == 4  # 1 → 2 → 3 → 4
        assert s.con.execute("SELECT name FROM sqlite_master WHERE name = 'models_shape'").fetchone()
        sk = s.sketches([1])
        assert sk[1].minhash is not None and (sk[1].minhash == fp.arrays["minhash"]).all()
        # v4 back-filled the id-keyed and body descriptors (and their LSH rows) from the stored fingerprint
        assert set(sk[1].bits) == {"w", "i", "c"}
        kinds = {k for (k,) in s.con.execute("SELECT DISTINCT kind FROM lsh WHERE model_id = 1")}
        assert kinds == {"w", "i", "c"}  # v1 rows held no bands; t bands come with add(), not the back-fill


def test_newer_and_corrupt_files_are_refused(tmp_path: Path, smollm2_gguf: Path) -> None:
    db = tmp_path / "new.db"
    with IndexStore(db):
        pass
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 9")
    con.commit()
    con.close()
    with pytest.raises(IndexStoreError, match="newer"):
        IndexStore(db)
    bad = tmp_path / "bad.db"
    bad.write_bytes(smollm2_gguf.read_bytes()[:8192])
    with pytest.raises(IndexStoreError, match="corrupt|not an index"):
        IndexStore(bad)
    with pytest.raises(IndexStoreError, match="no such index"):
        IndexStore(tmp_path / "missing.db", readonly=True)


def _hold_write_lock(db: str, ready, release) -> None:  # type: ignore[no-untyped-def]
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO scan VALUES ('held', 'failed', 'x', NULL, 0, 0, 0, 0)")
    ready.set()
    release.wait(30)
    con.execute("COMMIT")


def _reader(db: str, n: int, q) -> None:  # type: ignore[no-untyped-def]
    seen = []
    with IndexStore(db, readonly=True) as s:
        for _ in range(n):
            seen.append(len(s.scan_state()))
            time.sleep(0.01)
    q.put(seen)


def test_one_writer_concurrent_readers_and_lock_error(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    with IndexStore(db):
        pass
    ctx = mp.get_context("spawn")
    ready, release, q = ctx.Event(), ctx.Event(), ctx.Queue()
    w = ctx.Process(target=_hold_write_lock, args=(db, ready, release))
    w.start()
    assert ready.wait(30)
    r = ctx.Process(target=_reader, args=(db, 20, q))
    r.start()
    try:
        s = IndexStore(db, timeout=0.2)
        with pytest.raises(IndexStoreError, match="locked"):
            s.mark_failed("x", "y")  # a second writer waits, then gets one clear line
        s.close()
        seen = q.get(timeout=60)  # the reader was never blocked by the writer (it sees the committed state: 0)
        assert len(seen) == 20 and set(seen) == {0}
    finally:
        release.set()
        w.join(30)
        r.join(30)
    with IndexStore(db) as s:
        assert "held" in s.scan_state()
