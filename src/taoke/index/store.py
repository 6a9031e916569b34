"""The index: fingerprints, their LSH buckets, cached pair verdicts and scan progress in one SQLite file.

Concurrency: WAL journal (readers never block the writer nor each other), ``busy_timeout`` for short waits, and
every write in a ``BEGIN IMMEDIATE`` transaction, so there is one writer at a time and a crash leaves either the
whole model or nothing. Schema versions live in ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades an older
file in place (inside one transaction) when it is opened for writing, and a file written by a *newer* taoke is
refused with :class:`~taoke.errors.IndexStoreError` rather than misread. Locked, corrupt or non-SQLite files also
give one :class:`~taoke.errors.IndexStoreError` line.

Schema (version 3):

* ``models`` — one row per fingerprint (name, location, architecture facts, digests, bytes read, header JSON);
* ``blobs`` — the fingerprint file (``.tkfp`` bytes), kept apart so listing never reads them;
* ``lsh`` — ``(kind, band, bucket, model_id)``: ``kind`` ``w`` = SRP bands of the embedding descriptor, ``t`` =
  MinHash bands of the tokenizer (indexed by ``(kind, band, bucket)``: a query touches only its buckets);
* ``sketches`` — the SRP bits and MinHash per model, to rank a shortlist without loading fingerprints (v2);
* ``pairs`` — cached verdicts of exact tests between two models (v2);
* ``scan`` — per-location scan state: ``done`` / ``failed`` with the reason (v2);
* index ``models_shape`` on ``(hidden, vocab, layers)``: the architecture bucket of the shortlist (v3).

Version 1 had ``models``, ``blobs`` and ``lsh`` only; the 1 → 2 migration creates the new tables and back-fills
``sketches`` from the stored fingerprints; 2 → 3 adds the ``models_shape`` index.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taoke.errors import IndexStoreError, TaokeError
from taoke.index.fingerprint import Fingerprint
from taoke.index.sketch import srp_bands, srp_signature, token_bands

SCHEMA_VERSION = 3

_V1 = """
CREATE TABLE models(
  id INTEGER PRIMARY KEY,
  name TEXT UNIQUE NOT NULL,
  location TEXT NOT NULL,
  added REAL NOT NULL,
  family TEXT, layers INTEGER, hidden INTEGER, vocab INTEGER, architecture TEXT,
  content_digest TEXT, tokens_digest TEXT,
  bytes_read INTEGER, file_size INTEGER, fp_size INTEGER,
  header TEXT NOT NULL
);
CREATE INDEX models_digest ON models(content_digest);
CREATE TABLE blobs(model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE, data BLOB NOT NULL);
CREATE TABLE lsh(kind TEXT NOT NULL, band INTEGER NOT NULL, bucket INTEGER NOT NULL,
                 model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE);
CREATE INDEX lsh_bucket ON lsh(kind, band, bucket);
"""

_V2 = """
CREATE INDEX lsh_model ON lsh(model_id);
CREATE TABLE sketches(model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
                      srp BLOB, minhash BLOB);
CREATE TABLE pairs(a INTEGER NOT NULL, b INTEGER NOT NULL, kind TEXT NOT NULL, log10_p REAL, similarity REAL,
                   detail TEXT, PRIMARY KEY(a, b));
CREATE TABLE scan(location TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT, model_id INTEGER,
                  seconds REAL, bytes_read INTEGER, file_size INTEGER, updated REAL NOT NULL);
"""

_V3 = """
CREATE INDEX models_shape ON models(hidden, vocab, layers);
"""


def _backfill_sketches(con: sqlite3.Connection) -> None:
    for mid, data in con.execute("SELECT model_id, data FROM blobs").fetchall():
        fp = Fingerprint.from_bytes(bytes(data), subject=f"model {mid}")
        con.execute("INSERT OR REPLACE INTO sketches VALUES (?, ?, ?)", (mid, *_sketch_blobs(fp)))


def _migrate_1_2(con: sqlite3.Connection) -> None:
    for stmt in _V2.strip().split(";"):
        if stmt.strip():
            con.execute(stmt)
    _backfill_sketches(con)


def _migrate_2_3(con: sqlite3.Connection) -> None:
    con.execute(_V3.strip().rstrip(";"))


#: from-version → function upgrading the open transaction to from-version + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_2, 2: _migrate_2_3}


def _sketch_blobs(fp: Fingerprint) -> tuple[bytes | None, bytes | None]:
    a = fp.arrays
    srp = np.packbits(srp_signature(a["desc"])).tobytes() if "desc" in a else None
    mh = a["minhash"].astype("<u8").tobytes() if "minhash" in a else None
    return srp, mh


@dataclass(frozen=True)
class IndexedModel:
    """A row of ``models`` (without the fingerprint)."""

    id: int
    name: str
    location: str
    added: float
    family: str | None
    layers: int | None
    hidden: int | None
    vocab: int | None
    architecture: str | None
    content_digest: str | None
    bytes_read: int
    file_size: int
    fp_size: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_MODEL_COLS = ("id, name, location, added, family, layers, hidden, vocab, architecture, content_digest, "
               "bytes_read, file_size, fp_size")  # fmt: skip


def _translate(e: sqlite3.Error, path: str) -> IndexStoreError:
    msg = str(e)
    if "locked" in msg or "busy" in msg:
        return IndexStoreError("index is locked by another writer", subject=path,
                               hint="wait for the other taoke process, or raise --timeout")  # fmt: skip
    if "not a database" in msg or "malformed" in msg or "corrupt" in msg:
        return IndexStoreError(f"index file is corrupt or not an index: {msg}", subject=path,
                               hint="restore it from a backup or rebuild it with `taoke scan`")  # fmt: skip
    return IndexStoreError(f"index error: {msg}", subject=path)


class IndexStore:
    """An open index. ``IndexStore(path)`` creates it if missing (unless ``readonly``). Use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, timeout: float = 10.0) -> None:
        self.path = str(path)
        self.readonly = readonly
        if readonly and not Path(self.path).is_file():
            raise IndexStoreError("no such index", subject=self.path, hint="create it with `taoke index add` or `taoke scan`")
        try:
            uri = f"file:{Path(self.path).absolute()}?mode={'ro' if readonly else 'rwc'}"
            self.con = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None,
                                       check_same_thread=False)  # fmt: skip
            self.con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.con.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                mode = self.con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise IndexStoreError(f"could not switch the index to WAL mode (got {mode})", subject=self.path)
                self.con.execute("PRAGMA synchronous = NORMAL")
            self._check_schema()
        except sqlite3.Error as e:
            raise _translate(e, self.path) from None

    # -- schema ---------------------------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return int(self.con.execute("PRAGMA user_version").fetchone()[0])

    def _check_schema(self) -> None:
        v = self.schema_version
        if v > SCHEMA_VERSION:
            raise IndexStoreError(
                f"index schema version {v} is newer than this taoke understands ({SCHEMA_VERSION})",
                subject=self.path, hint="upgrade taoke",
            )  # fmt: skip
        if v == SCHEMA_VERSION:
            return
        if v == 0:
            n = self.con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if n:
                raise IndexStoreError("SQLite file is not a taoke index (tables but no schema version)",
                                      subject=self.path)  # fmt: skip
        if self.readonly:
            raise IndexStoreError(f"index schema version {v} needs a migration to {SCHEMA_VERSION}",
                                  subject=self.path, hint="open it once without read-only mode")  # fmt: skip
        with self._write():
            v = self.schema_version  # re-read inside the write lock: another process may have migrated it
            if v == 0:
                for stmt in (_V1 + _V2 + _V3).strip().split(";"):
                    if stmt.strip():
                        self.con.execute(stmt)
            else:
                while v < SCHEMA_VERSION:
                    MIGRATIONS[v](self.con)
                    v += 1
            self.con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise IndexStoreError("index opened read-only", subject=self.path)
        try:
            self.con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise _translate(e, self.path) from None
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            try:
                self.con.execute("COMMIT")
            except sqlite3.Error as e:
                raise _translate(e, self.path) from None

    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self.con.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise _translate(e, self.path) from None

    # -- models ---------------------------------------------------------------------------------------------
    def add(self, fp: Fingerprint, *, name: str | None = None, replace: bool = True,
            scan_location: str | None = None) -> int:  # fmt: skip
        """Insert (or replace the same-named) fingerprint with its LSH rows; returns the model id.

        ``scan_location`` also marks that scan item done, in the same transaction (a crash loses nothing).
        """
        try:
            with self._write() as con:
                return self._insert(con, fp, name, replace, scan_location)
        except sqlite3.Error as e:
            raise _translate(e, self.path) from None

    def add_many(self, fps: Iterable[Fingerprint], *, batch: int = 1000, replace: bool = True) -> list[int]:
        """Insert many fingerprints, ``batch`` per transaction (bulk loads: one commit per batch, not per model)."""
        ids: list[int] = []
        buf: list[Fingerprint] = []

        def flush() -> None:
            try:
                with self._write() as con:
                    ids.extend(self._insert(con, f, None, replace, None) for f in buf)
            except sqlite3.Error as e:
                raise _translate(e, self.path) from None
            buf.clear()

        for fp in fps:
            buf.append(fp)
            if len(buf) >= batch:
                flush()
        if buf:
            flush()
        return ids

    def _insert(self, con: sqlite3.Connection, fp: Fingerprint, name: str | None, replace: bool,
                scan_location: str | None) -> int:  # fmt: skip
        nm = name or fp.name or fp.location
        h = fp.header
        cfg = h.get("config", {})
        data = fp.to_bytes()
        srp, mh = _sketch_blobs(fp)
        bands: list[tuple[str, int, int]] = []
        if "desc" in fp.arrays:
            bands += [("w", b, k) for b, k in srp_bands(srp_signature(fp.arrays["desc"]))]
        if "minhash" in fp.arrays:
            bands += [("t", b, k) for b, k in token_bands(fp.arrays["minhash"])]
        tok = h.get("tokenizer") or {}
        old = con.execute("SELECT id, location FROM models WHERE name = ?", (nm,)).fetchone()
        if old is not None:
            if not replace:
                raise IndexStoreError(f"a model named {nm!r} is already indexed", subject=self.path,
                                      hint="use another --name or remove it first")  # fmt: skip
            con.execute("DELETE FROM models WHERE id = ?", (old[0],))
            con.execute("DELETE FROM pairs WHERE a = ? OR b = ?", (old[0], old[0]))
        cur = con.execute(
            f"INSERT INTO models({_MODEL_COLS.replace('id, ', '', 1)}, tokens_digest, header) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (nm, fp.location, time.time(), h.get("family"), h.get("layers"), cfg.get("hidden_size"),
             cfg.get("vocab_size"), cfg.get("architecture"), h.get("content_digest"),
             int(h["source"]["bytes_read"]), int(h["source"]["file_size"]), len(data),
             tok.get("tokens_digest"), json.dumps(h)),
        )  # fmt: skip
        mid = int(cur.lastrowid or 0)
        con.execute("INSERT INTO blobs VALUES (?, ?)", (mid, data))
        con.execute("INSERT INTO sketches VALUES (?, ?, ?)", (mid, srp, mh))
        con.executemany("INSERT INTO lsh VALUES (?, ?, ?, ?)", [(k, b, bk, mid) for k, b, bk in bands])
        if scan_location is not None:
            self._scan_mark(con, scan_location, "done", None, mid, h)
        return mid

    def remove(self, name: str) -> bool:
        with self._write() as con:
            row = con.execute("SELECT id FROM models WHERE name = ?", (name,)).fetchone()
            if row is None:
                return False
            con.execute("DELETE FROM pairs WHERE a = ? OR b = ?", (row[0], row[0]))
            con.execute("DELETE FROM scan WHERE model_id = ?", (row[0],))
            con.execute("DELETE FROM models WHERE id = ?", (row[0],))
        return True

    def models(self) -> list[IndexedModel]:
        return [IndexedModel(*r) for r in self._q(f"SELECT {_MODEL_COLS} FROM models ORDER BY id")]

    def model(self, key: str | int) -> IndexedModel:
        col = "id" if isinstance(key, int) else "name"
        rows = self._q(f"SELECT {_MODEL_COLS} FROM models WHERE {col} = ?", (key,))
        if not rows and isinstance(key, str):
            rows = self._q(f"SELECT {_MODEL_COLS} FROM models WHERE location = ?", (key,))
        if not rows:
            raise IndexStoreError(f"no indexed model {key!r}", subject=self.path, hint="see `taoke index list`")
        return IndexedModel(*rows[0])

    def fingerprint(self, model_id: int) -> Fingerprint:
        rows = self._q("SELECT data FROM blobs WHERE model_id = ?", (model_id,))
        if not rows:
            raise IndexStoreError(f"fingerprint of model {model_id} missing", subject=self.path)
        return Fingerprint.from_bytes(bytes(rows[0][0]), subject=f"{self.path}#{model_id}")

    def header(self, model_id: int) -> dict[str, Any]:
        rows = self._q("SELECT header FROM models WHERE id = ?", (model_id,))
        if not rows:
            raise IndexStoreError(f"no indexed model {model_id}", subject=self.path)
        return dict(json.loads(rows[0][0]))

    def count(self) -> int:
        return int(self._q("SELECT count(*) FROM models")[0][0])

    # -- retrieval ------------------------------------------------------------------------------------------
    def by_digest(self, digest: str) -> list[int]:
        return [int(r[0]) for r in self._q("SELECT id FROM models WHERE content_digest = ?", (digest,))]

    def by_shape(self, hidden: int | None, vocab: int | None, layers: int | None, limit: int) -> list[int]:
        """Models with the same hidden size and depth, and the same vocabulary size unless ``vocab`` is None
        (indexed look-up: re-packaged copies keep every shape even without a tokenizer; vocabulary edits keep the
        hidden size and depth)."""
        if hidden is None:
            return []
        if vocab is None:
            return [int(r[0]) for r in self._q("SELECT id FROM models WHERE hidden = ? AND layers IS ? ORDER BY id "
                                               "LIMIT ?", (hidden, layers, limit))]  # fmt: skip
        return [int(r[0]) for r in self._q("SELECT id FROM models WHERE hidden = ? AND vocab = ? AND layers IS ? "
                                           "ORDER BY id LIMIT ?", (hidden, vocab, layers, limit))]  # fmt: skip

    def bucket_hits(self, kind: str, bands: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
        """[(model_id, bands shared)] for models sharing at least one of ``bands``, most shared first."""
        if not bands:
            return []
        # one fully indexed look-up per band (an OR of the bands made SQLite scan every row of the kind: 190 ms at
        # 10k models, measured), then count the shared bands per model. Each look-up is capped: a bucket can hold
        # thousands of models (every model with the Llama-3 tokenizer shares its token bands), and counting them
        # all made the first cut grow linearly (108 ms median, 546 ms max at 100k, measured); the cap keeps the
        # oldest entries of a crowded bucket (index order), the exact stage does the rest
        per_band = max(4 * limit, 256)
        one = "SELECT model_id FROM (SELECT model_id FROM lsh WHERE kind = ? AND band = ? AND bucket = ? LIMIT ?)"
        args: list[Any] = []
        for b, k in bands:
            args += [kind, b, k, per_band]
        sql = (f"SELECT model_id, count(*) AS c FROM ({' UNION ALL '.join([one] * len(bands))}) "
               "GROUP BY model_id ORDER BY c DESC LIMIT ?")  # fmt: skip
        return [(int(m), int(c)) for m, c in self._q(sql, (*args, limit))]

    def sketches(self, ids: list[int]) -> dict[int, tuple[np.ndarray | None, np.ndarray | None]]:
        out: dict[int, tuple[np.ndarray | None, np.ndarray | None]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT model_id, srp, minhash FROM sketches WHERE model_id IN ({','.join('?' * len(chunk))})"
            for mid, srp, mh in self._q(q, tuple(chunk)):
                s = None if srp is None else np.unpackbits(np.frombuffer(srp, dtype=np.uint8)).astype(bool)
                m = None if mh is None else np.frombuffer(mh, dtype="<u8")
                out[int(mid)] = (s, m)
        return out

    # -- pair cache -----------------------------------------------------------------------------------------
    def cached_pair(self, a: int, b: int) -> dict[str, Any] | None:
        rows = self._q("SELECT detail FROM pairs WHERE a = ? AND b = ?", (a, b))
        return None if not rows else dict(json.loads(rows[0][0]))

    def cache_pair(self, a: int, b: int, d: dict[str, Any]) -> None:
        if self.readonly:
            return
        with self._write() as con:
            con.execute("INSERT OR REPLACE INTO pairs VALUES (?, ?, ?, ?, ?, ?)",
                        (a, b, d["kind"], d.get("log10_p"), d.get("similarity"), json.dumps(d)))  # fmt: skip

    # -- scan state -----------------------------------------------------------------------------------------
    @staticmethod
    def _scan_mark(con: sqlite3.Connection, location: str, status: str, reason: str | None, model_id: int | None,
                   header: Mapping[str, Any] | None) -> None:  # fmt: skip
        src = (header or {}).get("source", {})
        con.execute(
            "INSERT OR REPLACE INTO scan VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (location, status, reason, model_id, src.get("seconds"), src.get("bytes_read"), src.get("file_size"),
             time.time()),
        )  # fmt: skip

    def mark_failed(self, location: str, reason: str) -> None:
        with self._write() as con:
            self._scan_mark(con, location, "failed", reason, None, None)

    def scan_state(self) -> dict[str, dict[str, Any]]:
        rows = self._q("SELECT location, status, reason, model_id, seconds, bytes_read, file_size FROM scan")
        return {r[0]: {"status": r[1], "reason": r[2], "model_id": r[3], "seconds": r[4], "bytes_read": r[5],
                       "file_size": r[6]} for r in rows}  # fmt: skip

    # -- lifetime -------------------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.con.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | os.PathLike[str], *, readonly: bool = False) -> IndexStore:
    try:
        return IndexStore(path, readonly=readonly)
    except TaokeError:
        raise
    except OSError as e:
        raise IndexStoreError(f"cannot open index: {e.strerror or e}", subject=str(path)) from None
