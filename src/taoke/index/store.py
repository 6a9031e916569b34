"""The index: fingerprints, their LSH buckets, cached pair verdicts and scan progress in one SQLite file.

Concurrency: WAL journal (readers never block the writer nor each other), ``busy_timeout`` for short waits, and
every write in a ``BEGIN IMMEDIATE`` transaction, so there is one writer at a time and a crash leaves either the
whole model or nothing. Schema versions live in ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades an older
file in place (inside one transaction) when it is opened for writing, and a file written by a *newer* taoke is
refused with :class:`~taoke.errors.IndexStoreError` rather than misread. Locked, corrupt or non-SQLite files also
give one :class:`~taoke.errors.IndexStoreError` line.

Schema (version 4):

* ``models`` — one row per fingerprint (name, location, architecture facts, digests, bytes read, header JSON);
* ``blobs`` — the fingerprint file (``.tkfp`` bytes), kept apart so listing never reads them;
* ``lsh`` — ``(kind, band, bucket, model_id)``: ``kind`` ``t`` = MinHash bands of the tokenizer, ``w`` / ``i`` /
  ``c`` = SRP bands of the descriptors of :func:`taoke.index.sketch.descriptors` (embedding geometry keyed by token
  bytes / by token id, residual-channel profile of the body; ``i`` and ``c`` since v4), indexed by
  ``(kind, band, bucket)``: a query touches only its buckets;
* ``sketches`` — the SRP bits of each descriptor and the MinHash per model, to rank a shortlist without loading
  fingerprints (v2; columns ``srp_i``, ``srp_c`` since v4);
* ``pairs`` — cached verdicts of exact tests between two models (v2);
* ``scan`` — per-location scan state: ``done`` / ``failed`` with the reason (v2);
* index ``models_shape`` on ``(hidden, vocab, layers)``: the architecture bucket of the shortlist (v3).

Version 1 had ``models``, ``blobs`` and ``lsh`` only; the 1 → 2 migration creates the new tables and back-fills
``sketches`` from the stored fingerprints; 2 → 3 adds the ``models_shape`` index; 3 → 4 adds the id-keyed and body
descriptors (two ``sketches`` columns, their ``lsh`` rows back-filled from the stored fingerprints, and the hidden
size of models whose config did not state it, from the embedding shape).
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
from taoke.index.sketch import DESCRIPTOR_KINDS, descriptors, srp_bands, srp_signature, token_bands

SCHEMA_VERSION = 4

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

_V4 = """
ALTER TABLE sketches ADD COLUMN srp_i BLOB;
ALTER TABLE sketches ADD COLUMN srp_c BLOB;
"""



def _backfill_sketches(con: sqlite3.Connection) -> None:
    for mid, data in con.execute("SELECT model_id, data FROM blobs").fetchall():
        fp = Fingerprint.from_bytes(_blob(data, f"fingerprint of model {mid}", "?"), subject=f"model {mid}")
        sk = _sketch_blobs(fp)
        con.execute("INSERT OR REPLACE INTO sketches(model_id, srp, minhash) VALUES (?, ?, ?)",
                    (mid, sk["w"], sk["t"]))  # fmt: skip


def _blob(v: Any, what: str, path: str) -> bytes:
    """A BLOB column's value; SQLite columns take any type, and ``bytes(10**12)`` would allocate a TB."""
    if not isinstance(v, bytes):
        raise IndexStoreError(f"{what} is a {type(v).__name__}, not a blob", subject=path,
                              hint="the index file is corrupt; rebuild it with `taoke scan`")  # fmt: skip
    return v


def _json_object(v: Any, what: str, path: str) -> dict[str, Any]:
    """A TEXT column holding a JSON object, or IndexStoreError."""
    try:
        doc = json.loads(v) if isinstance(v, str | bytes) else None
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise IndexStoreError(f"{what} is not a JSON object", subject=path,
                              hint="the index file is corrupt; rebuild it with `taoke scan`")  # fmt: skip
    return doc


#: the objects each schema version has in sqlite_master (anything else -- a trigger, a view -- is not ours)
_SCHEMA_OBJECTS = {
    1: {("table", "models"), ("table", "blobs"), ("table", "lsh"), ("index", "models_digest"),
        ("index", "lsh_bucket")},
    2: {("index", "lsh_model"), ("table", "sketches"), ("table", "pairs"), ("table", "scan")},
    3: {("index", "models_shape")},
    4: set(),  # two columns of ``sketches``
}  # fmt: skip


def _expected_objects(version: int) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for v in range(1, version + 1):
        out |= _SCHEMA_OBJECTS[v]
    return out


def _migrate_1_2(con: sqlite3.Connection) -> None:
    for stmt in _V2.strip().split(";"):
        if stmt.strip():
            con.execute(stmt)
    _backfill_sketches(con)


def _migrate_2_3(con: sqlite3.Connection) -> None:
    con.execute(_V3.strip().rstrip(";"))


def _migrate_3_4(con: sqlite3.Connection) -> None:
    for stmt in _V4.strip().split(";"):
        if stmt.strip():
            con.execute(stmt)
    for mid, data in con.execute("SELECT model_id, data FROM blobs").fetchall():
        fp = Fingerprint.from_bytes(_blob(data, f"fingerprint of model {mid}", "?"), subject=f"model {mid}")
        sk = _sketch_blobs(fp)
        con.execute("UPDATE sketches SET srp = ?, srp_i = ?, srp_c = ? WHERE model_id = ?",
                    (sk["w"], sk["i"], sk["c"], mid))  # fmt: skip
        con.execute("DELETE FROM lsh WHERE model_id = ? AND kind IN ('w', 'i', 'c')", (mid,))
        con.executemany("INSERT INTO lsh VALUES (?, ?, ?, ?)",
                        [(k, b, bk, mid) for k, b, bk in _bands(fp) if k != "t"])  # fmt: skip
        con.execute("UPDATE models SET hidden = ? WHERE id = ? AND hidden IS NULL", (_hidden(fp), mid))


#: from-version → function upgrading the open transaction to from-version + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_2, 2: _migrate_2_3, 3: _migrate_3_4}


def _sketch_blobs(fp: Fingerprint) -> dict[str, bytes | None]:
    """Packed SRP bits per descriptor kind (``w``, ``i``, ``c``) and the MinHash (``t``) of a fingerprint."""
    desc = descriptors(fp.header, fp.arrays)
    out: dict[str, bytes | None] = {k: np.packbits(srp_signature(desc[k])).tobytes() if k in desc else None
                                    for k in DESCRIPTOR_KINDS}  # fmt: skip
    out["t"] = fp.arrays["minhash"].astype("<u8").tobytes() if "minhash" in fp.arrays else None
    return out


def _bands(fp: Fingerprint) -> list[tuple[str, int, int]]:
    """The LSH rows ``(kind, band, bucket)`` of a fingerprint."""
    out: list[tuple[str, int, int]] = []
    for kind, d in descriptors(fp.header, fp.arrays).items():
        out += [(kind, b, k) for b, k in srp_bands(srp_signature(d))]
    if "minhash" in fp.arrays:
        out += [("t", b, k) for b, k in token_bands(fp.arrays["minhash"])]
    return out


def _hidden(fp: Fingerprint) -> int | None:
    """The hidden size: the config's, else the embedding's width (a config of an unknown schema may not say)."""
    h = fp.header.get("config", {}).get("hidden_size")
    if isinstance(h, int) and h > 0:
        return h
    shape = ((fp.header.get("roles") or {}).get("embed") or {}).get("shape") or []
    return int(shape[1]) if len(shape) == 2 and isinstance(shape[1], int) else None


@dataclass(frozen=True)
class Sketch:
    """A model's stored sketches: SRP bits per descriptor kind (``w``, ``i``, ``c``) and the tokenizer MinHash."""

    bits: Mapping[str, np.ndarray]
    minhash: np.ndarray | None


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


#: what reading an index can raise: SQLite's errors, and a TEXT value that is not UTF-8 (sqlite3 decodes on fetch)
_DB_ERRORS = (sqlite3.Error, UnicodeDecodeError)
#: ... and, around statements that only read, MemoryError: sqlite3 raises it for SQLITE_NOMEM, which SQLite also
#: reports for some corrupt schemas (a fuzzed 60 KB index: MemoryError at 11 MB peak RSS)
_READ_ERRORS = (*_DB_ERRORS, MemoryError)


def _translate(e: Exception, path: str) -> IndexStoreError:
    if isinstance(e, UnicodeDecodeError):
        return IndexStoreError("index file holds text that is not UTF-8", subject=path,
                               hint="the index file is corrupt; rebuild it with `taoke scan`")  # fmt: skip
    if isinstance(e, MemoryError):
        return IndexStoreError("out of memory reading the index (SQLite also reports this for a corrupt schema)",
                               subject=path, hint="if the index is not corrupt, free memory; otherwise rebuild it "
                               "with `taoke scan`")  # fmt: skip
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
        except _READ_ERRORS as e:
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
        if v < 0:
            raise IndexStoreError(f"index schema version {v} is not one taoke writes", subject=self.path)
        if v > 0:
            self._check_objects(v)
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
                for stmt in (_V1 + _V2 + _V3 + _V4).strip().split(";"):
                    if stmt.strip():
                        self.con.execute(stmt)
            else:
                try:
                    while v < SCHEMA_VERSION:
                        MIGRATIONS[v](self.con)
                        v += 1
                except TaokeError as e:
                    raise IndexStoreError(f"migrating the index to version {v + 1} failed: {e.one_line()}",
                                          subject=self.path, hint="rebuild it with `taoke scan`") from None
            self.con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_objects(self, version: int) -> None:
        """Refuse an index whose tables are not the ones its version has: a trigger or view in a file someone
        else made would run SQL on our queries (sqlite's autoindexes are SQLite's own and fine)."""
        rows = self.con.execute("SELECT type, name FROM sqlite_master").fetchall()
        found = {(str(t), str(n)) for t, n in rows if not str(n).startswith("sqlite_autoindex_")}
        extra = found - _expected_objects(version)
        missing = _expected_objects(version) - found
        if extra or missing:
            what = f"unexpected {sorted(extra)[0][0]} {sorted(extra)[0][1]!r}" if extra else \
                f"no {sorted(missing)[0][0]} {sorted(missing)[0][1]!r}"
            raise IndexStoreError(f"not a taoke index of schema version {version}: {what}", subject=self.path,
                                  hint="rebuild it with `taoke scan`")  # fmt: skip

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise IndexStoreError("index opened read-only", subject=self.path)
        try:
            self.con.execute("BEGIN IMMEDIATE")
        except _DB_ERRORS as e:
            raise _translate(e, self.path) from None
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            try:
                self.con.execute("COMMIT")
            except _DB_ERRORS as e:
                raise _translate(e, self.path) from None

    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self.con.execute(sql, args).fetchall()
        except _READ_ERRORS as e:
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
        except _DB_ERRORS as e:
            raise _translate(e, self.path) from None

    def add_many(self, fps: Iterable[Fingerprint], *, batch: int = 1000, replace: bool = True) -> list[int]:
        """Insert many fingerprints, ``batch`` per transaction (bulk loads: one commit per batch, not per model)."""
        ids: list[int] = []
        buf: list[Fingerprint] = []

        def flush() -> None:
            try:
                with self._write() as con:
                    ids.extend(self._insert(con, f, None, replace, None) for f in buf)
            except _DB_ERRORS as e:
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
        sk = _sketch_blobs(fp)
        bands = _bands(fp)
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
            (nm, fp.location, time.time(), h.get("family"), h.get("layers"), _hidden(fp),
             cfg.get("vocab_size"), cfg.get("architecture"), h.get("content_digest"),
             int(h["source"]["bytes_read"]), int(h["source"]["file_size"]), len(data),
             tok.get("tokens_digest"), json.dumps(h)),
        )  # fmt: skip
        mid = int(cur.lastrowid or 0)
        con.execute("INSERT INTO blobs VALUES (?, ?)", (mid, data))
        con.execute("INSERT INTO sketches(model_id, srp, minhash, srp_i, srp_c) VALUES (?, ?, ?, ?, ?)",
                    (mid, sk["w"], sk["t"], sk["i"], sk["c"]))  # fmt: skip
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
        data = _blob(rows[0][0], f"fingerprint of model {model_id}", self.path)
        return Fingerprint.from_bytes(data, subject=f"{self.path}#{model_id}")

    def header(self, model_id: int) -> dict[str, Any]:
        rows = self._q("SELECT header FROM models WHERE id = ?", (model_id,))
        if not rows:
            raise IndexStoreError(f"no indexed model {model_id}", subject=self.path)
        return _json_object(rows[0][0], f"header of model {model_id}", self.path)

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

    def bucket_hits(self, kind: str, bands: list[tuple[int, int]], limit: int,
                    per_band: int | None = None) -> list[tuple[int, int]]:  # fmt: skip
        """[(model_id, bands shared)] for models sharing at least one of ``bands``, most shared first.

        ``per_band`` caps each bucket's look-up (default ``max(4·limit, 256)``, see below)."""
        if not bands:
            return []
        # one fully indexed look-up per band (an OR of the bands made SQLite scan every row of the kind: 190 ms at
        # 10k models, measured), then count the shared bands per model. Each look-up is capped: a bucket can hold
        # thousands of models (every model with the Llama-3 tokenizer shares its token bands), and counting them
        # all made the first cut grow linearly (108 ms median, 546 ms max at 100k, measured); the cap keeps the
        # oldest entries of a crowded bucket (index order), the exact stage does the rest
        per_band = per_band or max(4 * limit, 256)
        one = "SELECT model_id FROM (SELECT model_id FROM lsh WHERE kind = ? AND band = ? AND bucket = ? LIMIT ?)"
        args: list[Any] = []
        for b, k in bands:
            args += [kind, b, k, per_band]
        sql = (f"SELECT model_id, count(*) AS c FROM ({' UNION ALL '.join([one] * len(bands))}) "
               "GROUP BY model_id ORDER BY c DESC LIMIT ?")  # fmt: skip
        return [(int(m), int(c)) for m, c in self._q(sql, (*args, limit))]

    def by_hidden(self, hidden: int | None, limit: int, *, exclude_layers: int | None = None) -> list[int]:
        """Models with this hidden size at any depth (the ``models_shape`` index's prefix): depth-changed
        relatives, and the widest architecture bucket the search falls back on."""
        if hidden is None:
            return []
        return [int(r[0]) for r in self._q("SELECT id FROM models WHERE hidden = ? AND layers IS NOT ? ORDER BY id "
                                           "LIMIT ?", (hidden, exclude_layers, limit))]  # fmt: skip

    def ids(self, *, limit: int | None = None) -> list[int]:
        """Model ids in index order (all, or the first ``limit``)."""
        if limit is None:
            return [int(r[0]) for r in self._q("SELECT id FROM models ORDER BY id")]
        return [int(r[0]) for r in self._q("SELECT id FROM models ORDER BY id LIMIT ?", (limit,))]

    def coverage(self, top: int = 6) -> tuple[int, tuple[tuple[str, int], ...]]:
        """(models, the most common families with their counts): what an index covers, for "not found" sentences."""
        rows = self._q("SELECT coalesce(family, '?'), count(*) AS c FROM models GROUP BY 1 ORDER BY c DESC, 1")
        return sum(int(c) for _f, c in rows), tuple((str(f), int(c)) for f, c in rows[:top])

    def sketch_rows(self, ids: list[int]) -> list[tuple[int, bytes | None, bytes | None, bytes | None, bytes | None]]:
        """Raw stored sketches ``(model_id, minhash, srp_w, srp_i, srp_c)`` of ``ids`` (blobs checked to be blobs):
        what a ranking vectorises over without unpacking model by model."""
        out: list[tuple[int, bytes | None, bytes | None, bytes | None, bytes | None]] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = (f"SELECT model_id, minhash, srp, srp_i, srp_c FROM sketches "
                 f"WHERE model_id IN ({','.join('?' * len(chunk))})")  # fmt: skip
            for mid, *vals in self._q(q, tuple(chunk)):
                mh, w, i_, c = (None if v is None else _blob(v, f"sketch of model {mid}", self.path) for v in vals)
                out.append((int(mid), mh, w, i_, c))
        return out

    def sketches(self, ids: list[int]) -> dict[int, Sketch]:
        """The stored sketches of ``ids`` (SRP bits per descriptor kind, MinHash), without loading fingerprints."""
        out: dict[int, Sketch] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = (f"SELECT model_id, minhash, srp, srp_i, srp_c FROM sketches "
                 f"WHERE model_id IN ({','.join('?' * len(chunk))})")  # fmt: skip
            for mid, mh, *srps in self._q(q, tuple(chunk)):
                bits = {kind: np.unpackbits(np.frombuffer(_blob(v, f"sketch of model {mid}", self.path),
                                                          dtype=np.uint8)).astype(bool)
                        for kind, v in zip(DESCRIPTOR_KINDS, srps, strict=True) if v is not None}  # fmt: skip
                if mh is not None and len(_blob(mh, f"MinHash of model {mid}", self.path)) % 8:
                    raise IndexStoreError(f"MinHash of model {mid} is not a whole number of 64-bit words",
                                          subject=self.path)  # fmt: skip
                out[int(mid)] = Sketch(bits, None if mh is None else np.frombuffer(mh, dtype="<u8"))
        return out

    # -- pair cache -----------------------------------------------------------------------------------------
    def cached_pair(self, a: int, b: int) -> dict[str, Any] | None:
        rows = self._q("SELECT detail FROM pairs WHERE a = ? AND b = ?", (a, b))
        if not rows:
            return None
        d = _json_object(rows[0][0], f"cached pair ({a}, {b})", self.path)
        # cached before fingerprints stopped calling a copy within storage precision "repackaged" (no
        # "within_precision" key): it may call a copy changed below that precision the same weights; test again
        return d if "within_precision" in d else None

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


SQLITE_MAGIC = b"SQLite format 3\x00"


def model_not_index(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is when it is a model or a fingerprint rather than an index (``"GGUF model"``, ``"model
    folder"``, ``"fingerprint"``, ...), else None — so a command given a model where it wants an index can say so."""
    from taoke.index.fingerprint import is_fingerprint_file

    p = Path(path)
    if p.is_dir():
        return "model folder"
    if not p.is_file():
        return None
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head == SQLITE_MAGIC or not head:
        return None
    if is_fingerprint_file(p):
        return "fingerprint"
    from taoke.errors import UnsupportedFormat
    from taoke.io import open_source, sniff_format

    try:
        with open_source(str(p)) as src:
            fmt = sniff_format(src)
    except (UnsupportedFormat, OSError, TaokeError):
        return None
    return {"gguf": "GGUF model", "onnx": "ONNX model"}.get(fmt, f"{fmt} checkpoint")


def open_store(path: str | os.PathLike[str], *, readonly: bool = False) -> IndexStore:
    try:
        return IndexStore(path, readonly=readonly)
    except TaokeError:
        raise
    except OSError as e:
        raise IndexStoreError(f"cannot open index: {e.strerror or e}", subject=str(path)) from None
