"""The reference database of known tokenizers: compact sketches, not vocabularies.

Per tokenizer (an :class:`Entry`): size, kind, the digests of its regular tokens by id and of every token by
id, the special tokens, a sha256 of the chat template, hashes of id-ordered blocks of 1024 tokens (shared
prefixes), hashes of blocks of 4096 merges, and a **consistent hash sample** of its regular tokens: every token
whose 64-bit blake2b hash ``h`` has ``h % m == 0`` (``m`` chosen so that about 1,500 tokens are kept), stored as
``(h >> 32, id)``. Because the sample is a deterministic function of the token bytes, a query vocabulary (held
in full) can estimate overlap, containment, id agreement and tail containment against an entry exactly on the
sampled tokens (the idea of consistent sampling / bottom-k sketches; Broder 1997, Cohen & Kaplan 2007).
Samples, specials and block hashes are shared between entries with equal digests, so the database stays small.

The database also carries the **null** used for calibration (:class:`~taoke.tokenizers._compare.NullDistribution`):
the calibrated statistics measured exactly, from the full vocabularies, on every pair of fetched tokenizers of
different lineage *and* different organisation (one tokenizer per family).

Files: the shipped database ``taoke/data/tokenizer_db.json.gz`` is built by ``taoke tokenizer db build`` from the
fetched data (reproducible: sorted keys, gzip mtime 0); a user database (``tokenizer_db.user.json.gz`` under
``$TAOKE_HOME`` or ``~/.local/share/taoke``) holds entries added with ``taoke tokenizer db add``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from taoke.errors import TaokeError, TokenizerError
from taoke.tokenizers._null import NullDistribution
from taoke.tokenizers._vocab import SpecialToken, TokenType, Vocab

DB_FORMAT = "taoke.tokenizer-db"
DB_VERSION = 1
SAMPLE_TARGET = 1500
TOKEN_BLOCK = 1024
MERGE_BLOCK = 4096
MAX_SPECIALS = 8000


# ------------------------------------------------------------------------------------------------ sketches
@dataclass(frozen=True, eq=False)
class Sample:
    """Consistent hash sample of one vocabulary's regular tokens."""

    m: int  # sampling modulus: tokens with hash % m == 0
    keys: np.ndarray  # uint32: hash >> 32
    ids: np.ndarray  # uint32: token id
    median_id: int  # ids >= median_id form the "tail" half of the regular tokens
    n_regular: int

    def to_dict(self) -> dict[str, Any]:
        return {"m": self.m, "median_id": self.median_id, "n_regular": self.n_regular,
                "keys": base64.b64encode(self.keys.astype("<u4").tobytes()).decode(),
                "ids": base64.b64encode(self.ids.astype("<u4").tobytes()).decode()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Sample:
        keys = np.frombuffer(base64.b64decode(d["keys"]), dtype="<u4").astype(np.uint32)
        ids = np.frombuffer(base64.b64decode(d["ids"]), dtype="<u4").astype(np.int64)
        if keys.size != ids.size:
            raise TokenizerError("tokenizer database sample is corrupt (keys/ids lengths differ)")
        return cls(int(d["m"]), keys, ids, int(d["median_id"]), int(d["n_regular"]))


def sample_modulus(n_regular: int) -> int:
    return max(1, n_regular // SAMPLE_TARGET)


def make_sample(v: Vocab, m: int | None = None) -> Sample:
    m = sample_modulus(v.n_regular) if m is None else m
    items = [(h >> 32, i) for h, i in v.hashes.items() if h % m == 0]
    items.sort(key=lambda x: x[1])
    keys = np.asarray([k for k, _ in items], dtype=np.uint32)
    ids = np.asarray([i for _, i in items], dtype=np.int64)
    rid = v.regular_ids
    median = int(rid[rid.size // 2]) if rid.size else 0
    return Sample(m, keys, ids, median, v.n_regular)


def _block_hashes(chunks: Iterable[bytes]) -> str:
    out = bytearray()
    for c in chunks:
        out += hashlib.blake2b(c, digest_size=8).digest()
    return base64.b64encode(bytes(out)).decode()


def token_blocks(v: Vocab) -> str:
    """Hashes of id-ordered blocks of :data:`TOKEN_BLOCK` tokens (a missing id hashes as a marker)."""
    def chunk(k: int) -> bytes:
        parts = []
        for t in v.tokens[k * TOKEN_BLOCK:(k + 1) * TOKEN_BLOCK]:
            parts.append(b"\xff" if t is None else len(t).to_bytes(2, "little") + t)
        return b"".join(parts)

    n = (v.size + TOKEN_BLOCK - 1) // TOKEN_BLOCK
    return _block_hashes(chunk(k) for k in range(n))


def merge_blocks(v: Vocab) -> str:
    def chunk(k: int) -> bytes:
        return b"".join(len(x).to_bytes(2, "little") + x + len(y).to_bytes(2, "little") + y
                        for x, y in v.merges[k * MERGE_BLOCK:(k + 1) * MERGE_BLOCK])

    n = (len(v.merges) + MERGE_BLOCK - 1) // MERGE_BLOCK
    return _block_hashes(chunk(k) for k in range(n))


def _decode_blocks(s: str) -> list[bytes]:
    raw = base64.b64decode(s) if s else b""
    return [raw[i:i + 8] for i in range(0, len(raw), 8)]


def common_blocks(a: str, b: str) -> int:
    """Number of leading equal blocks."""
    n = 0
    for x, y in zip(_decode_blocks(a), _decode_blocks(b), strict=False):
        if x != y:
            break
        n += 1
    return n


def template_sha(t: str | None) -> str | None:
    return hashlib.sha256(t.encode("utf-8")).hexdigest() if t is not None else None


# ------------------------------------------------------------------------------------------------ entries
@dataclass(frozen=True, eq=False)
class Entry:
    """One known tokenizer."""

    key: str
    family: str
    label: str
    lineage: str
    org: str
    path: str  # where it was built from (relative to the data folder for shipped entries)
    source_format: str
    kind: str
    size: int
    n_regular: int
    tokens_digest: str
    regular_digest: str
    specials: tuple[SpecialToken, ...]
    n_specials: int
    chat_template_sha: str | None
    n_merges: int
    token_blocks: str
    merge_blocks: str
    sample: Sample
    note: str = ""
    user: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("key", "family", "label", "lineage", "org", "path", "source_format",
                                               "kind", "size", "n_regular", "tokens_digest", "regular_digest",
                                               "n_specials", "chat_template_sha", "n_merges", "note")}


def make_entry(v: Vocab, *, key: str, family: str, label: str | None = None, lineage: str | None = None,
               org: str | None = None, path: str | None = None, note: str = "", user: bool = False) -> Entry:
    """Sketch one vocabulary."""
    return Entry(
        key=key, family=family, label=label or family, lineage=lineage or family, org=org or "?",
        path=path if path is not None else v.path, source_format=v.source_format, kind=v.kind, size=v.size,
        n_regular=v.n_regular, tokens_digest=v.tokens_digest, regular_digest=v.regular_digest,
        specials=v.specials[:MAX_SPECIALS], n_specials=len(v.specials), chat_template_sha=template_sha(v.chat_template),
        n_merges=len(v.merges), token_blocks=token_blocks(v), merge_blocks=merge_blocks(v), sample=make_sample(v),
        note=note, user=user,
    )


@dataclass(frozen=True, eq=False)
class TokenizerDB:
    """Entries plus the calibration null."""

    entries: tuple[Entry, ...]
    null: NullDistribution | None
    built_from: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> Entry | None:
        return next((e for e in self.entries if e.key == key), None)

    def without(self, *keys: str) -> TokenizerDB:
        """The database minus some entries (leave-one-out evaluation)."""
        drop = set(keys)
        return replace(self, entries=tuple(e for e in self.entries if e.key not in drop))

    def merged(self, other: TokenizerDB) -> TokenizerDB:
        mine = {e.key for e in other.entries}
        return replace(self, entries=tuple(e for e in self.entries if e.key not in mine) + other.entries)

    # -- serialisation ----------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        samples: dict[str, Any] = {}
        specials: dict[str, Any] = {}
        blocks: dict[str, Any] = {}
        entries = []
        for e in self.entries:
            samples.setdefault(e.regular_digest, e.sample.to_dict())
            sp_key = hashlib.sha256(json.dumps([[s.id, s.text, int(s.type)] for s in e.specials],
                                               ensure_ascii=False).encode()).hexdigest()[:16]
            specials.setdefault(sp_key, [[s.id, s.text, int(s.type)] for s in e.specials])
            blocks.setdefault(e.tokens_digest, {"tokens": e.token_blocks, "merges": e.merge_blocks})
            d = e.to_dict()
            d["specials_ref"] = sp_key
            entries.append(d)
        return {"format": DB_FORMAT, "version": DB_VERSION, "built_from": self.built_from, "meta": dict(self.meta),
                "hash_scheme": "blake2b-64 of token bytes; sample: h % m == 0, stored as (h >> 32, id)",
                "token_block": TOKEN_BLOCK, "merge_block": MERGE_BLOCK,
                "entries": entries, "samples": samples, "specials": specials, "blocks": blocks,
                "null": self.null.to_dict() if self.null else None}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, subject: str = "", user: bool = False) -> TokenizerDB:
        if not isinstance(doc, Mapping) or doc.get("format") != DB_FORMAT:
            raise TokenizerError("not a taoke tokenizer database", subject=subject or None)
        if doc.get("version") != DB_VERSION:
            raise TokenizerError(f"tokenizer database version {doc.get('version')} (this taoke reads {DB_VERSION})",
                                 subject=subject or None, hint="rebuild it with `taoke tokenizer db build`")
        try:
            samples = {k: Sample.from_dict(v) for k, v in doc["samples"].items()}
            specials = {k: tuple(SpecialToken(int(i), str(t), TokenType(int(ty))) for i, t, ty in v)
                        for k, v in doc["specials"].items()}
            entries = []
            for d in doc["entries"]:
                b = doc["blocks"][d["tokens_digest"]]
                entries.append(Entry(
                    key=d["key"], family=d["family"], label=d["label"], lineage=d["lineage"], org=d["org"],
                    path=d["path"], source_format=d["source_format"], kind=d["kind"], size=int(d["size"]),
                    n_regular=int(d["n_regular"]), tokens_digest=d["tokens_digest"],
                    regular_digest=d["regular_digest"], specials=specials[d["specials_ref"]],
                    n_specials=int(d["n_specials"]), chat_template_sha=d.get("chat_template_sha"),
                    n_merges=int(d["n_merges"]), token_blocks=b["tokens"], merge_blocks=b["merges"],
                    sample=samples[d["regular_digest"]], note=d.get("note", ""), user=user))
            null = NullDistribution.from_dict(doc["null"]) if doc.get("null") else None
        except (KeyError, TypeError, ValueError) as e:
            raise TokenizerError(f"tokenizer database is corrupt ({type(e).__name__}: {e})", subject=subject or None,
                                 hint="rebuild it with `taoke tokenizer db build`") from None
        return cls(tuple(entries), null, str(doc.get("built_from", "")), dict(doc.get("meta") or {}))

    def save(self, path: str) -> int:
        """Write gzip'd JSON (deterministic bytes); returns the size in bytes."""
        raw = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        data = gzip.compress(raw, compresslevel=9, mtime=0)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return len(data)

    @classmethod
    def load_file(cls, path: str, *, user: bool = False) -> TokenizerDB:
        try:
            with open(path, "rb") as f:
                raw = f.read(64 << 20)
            doc = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        except (OSError, ValueError, EOFError) as e:
            raise TokenizerError(f"cannot read the tokenizer database ({type(e).__name__})", subject=path,
                                 hint="rebuild it with `taoke tokenizer db build`") from None
        return cls.from_json(doc, subject=path, user=user)


SHIPPED_DB_NAME = "tokenizer_db.json.gz"
USER_DB_NAME = "tokenizer_db.user.json.gz"


def shipped_db_path() -> str:
    return str(resources.files("taoke") / "data" / SHIPPED_DB_NAME)


def user_db_path() -> str:
    home = os.environ.get("TAOKE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share", "taoke")
    return os.path.join(home, USER_DB_NAME)


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime: int, user: bool) -> TokenizerDB:
    return TokenizerDB.load_file(path, user=user)


def load_db(path: str | None = None, *, include_user: bool = True) -> TokenizerDB:
    """The shipped database (or ``path``), plus the user's entries."""
    p = path or shipped_db_path()
    if not os.path.exists(p):
        raise TokenizerError("the tokenizer reference database is missing", subject=p,
                             hint="build it with `taoke tokenizer db build`")
    db = _load_cached(p, os.stat(p).st_mtime_ns, False)
    up = user_db_path()
    if include_user and path is None and os.path.exists(up):
        db = db.merged(_load_cached(up, os.stat(up).st_mtime_ns, True))
    return db


def default_null() -> NullDistribution | None:
    """The calibration null from the shipped database (None when the database is missing)."""
    try:
        return load_db(include_user=False).null
    except TaokeError:
        return None


# ------------------------------------------------------------------------------------------------ build
def build_db(data_dir: str, *, progress: Callable[[str], None] | None = None,
             loader: Callable[[str, str], Vocab] | None = None) -> TokenizerDB:
    """Build the reference database from the fetched data (``$TAOKE_DATA``): every artifact of
    :data:`~taoke.tokenizers._families.ARTIFACTS` that is present, and the null from unrelated pairs."""
    from taoke.tokenizers._families import ARTIFACTS, FAMILIES, pair_label
    from taoke.tokenizers._load import load
    from taoke.tokenizers._stats import pair_stats

    say = progress or (lambda s: None)
    get = loader or (lambda p, k: load(p, name=k))
    entries: list[Entry] = []
    reps: dict[str, Vocab] = {}
    present = []
    for art in ARTIFACTS:
        p = os.path.join(data_dir, art.path)
        if not os.path.exists(p):
            continue
        say(f"sketch {art.key}")
        v = get(p, art.key)
        fam = FAMILIES[art.family]
        entries.append(make_entry(v, key=art.key, family=fam.name, label=fam.label, lineage=fam.lineage, org=fam.org,
                                  path=art.path, note=art.note))
        present.append(art.key)
        reps.setdefault(art.family, v)  # the first artifact of each family represents it in the null
    if not entries:
        raise TokenizerError("no fetched tokenizer found", subject=data_dir, hint="run `taoke zoo fetch --core` first")
    pairs: list[tuple[str, str]] = []
    values: dict[str, list[float]] = {"tail_containment": [], "modal_offset_share": [], "jaccard": [],
                                      "same_id_share": []}
    max_prefix = 0
    for fa, fb in itertools.combinations(sorted(reps), 2):
        if pair_label(fa, fb) != "unrelated":
            continue
        va, vb = reps[fa], reps[fb]
        say(f"null pair {va.name} ~ {vb.name}")
        s = pair_stats(va, vb)
        pairs.append((va.name, vb.name))
        for k in values:
            values[k].append(float(getattr(s, k)))
        max_prefix = max(max_prefix, s.shared_prefix)
    complete = "all" if os.path.exists(os.path.join(data_dir, ".complete-all")) else "core"
    null = NullDistribution(
        name=f"unrelated-tokenizer-pairs({complete} data set, {len(reps)} families, {len(pairs)} pairs)",
        pairs=tuple(pairs), values={k: tuple(sorted(v)) for k, v in values.items()}, max_shared_prefix=max_prefix)
    return TokenizerDB(tuple(entries), null, built_from=f"taoke-data ({complete}): {len(present)} tokenizers",
                       meta={"families": len(reps), "null_pairs": len(pairs)})


def add_to_user_db(location: Any, *, name: str, family: str, label: str | None = None,
                   path: str | None = None) -> tuple[Entry, str]:
    """Sketch a tokenizer and add it to the user database; returns the entry and the database path."""
    from taoke.tokenizers._families import FAMILIES
    from taoke.tokenizers._load import load

    v = load(location, name=name)
    fam = FAMILIES.get(family)
    e = make_entry(v, key=name, family=family, label=label or (fam.label if fam else family),
                   lineage=fam.lineage if fam else family, org=fam.org if fam else "user",
                   path=os.path.abspath(os.fspath(location)) if path is None and isinstance(location, str | os.PathLike)
                   else (path or v.path), user=True)
    up = user_db_path()
    if os.path.exists(up):
        cur = TokenizerDB.load_file(up, user=True)
    else:
        cur = TokenizerDB((), None, built_from="user")
    db = replace(cur, entries=tuple(x for x in cur.entries if x.key != name) + (e,))
    db.save(up)
    _load_cached.cache_clear()
    return e, up
