"""Sketches for candidate retrieval: a MinHash of the tokenizer and sign-random-projection LSH of the embeddings.

* :func:`minhash` — ``NUM_PERM`` min-hashes of the set of regular token byte strings (one 64-bit hash per token,
  then ``NUM_PERM`` multiply-add hash functions mod 2^64, Broder 1997). The share of equal min-hashes estimates
  the Jaccard similarity of the two vocabularies; banded (``TOK_BANDS`` × ``TOK_ROWS``) it gives LSH buckets.
* :func:`embedding_descriptor` — a fixed-length vector describing the *embedding geometry* that is invariant to a
  rotation of the residual stream, a permutation of token ids, and to anything done to the layers: for each anchor
  token (see :func:`taoke.index.fingerprint.anchor_ids`) the log-norm of its embedding row, standardised, summed
  into ``DESC_DIM`` buckets by the token's byte hash (feature hashing). Copies, fine-tunes, layer edits and
  vocabulary edits keep most token norms; independently trained models have unrelated norm patterns.
* :func:`srp_signature` — ``SRP_BANDS`` × ``SRP_BITS`` sign random projections of the descriptor (Charikar 2002):
  two descriptors at angle θ agree on a bit with probability ``1 − θ/π``; a band of ``SRP_BITS`` bits collides
  with probability ``(1 − θ/π)^SRP_BITS``. With 16 bands of 12 bits, a pair with descriptor correlation 0.9 is
  retrieved with probability 0.93, an uncorrelated pair with 0.004 (≈ 400 candidates among 100k models, which the
  shortlist then ranks by full Hamming distance).

* :func:`id_descriptor` — the same geometry keyed by token *id* instead of token bytes, over the rows whose id
  hashes to ``0 mod 32`` (every fingerprint keeps them): a copy shipped without tokenizer files, or under an
  unknown tensor schema, still shares it with its parent.
* :func:`channel_profile` / :func:`body_descriptor` — a sketch of the *body* that needs neither tokenizer nor
  embeddings: per residual channel, the log energy with which the MLP units read it (rows of gate/up after the
  pre-MLP norm gain is folded in) and write it (rows of down), standardised per layer, the median over layers,
  feature-hashed (with signs) into ``DESC_DIM`` buckets by channel index. Residual channels of trained models have
  strongly unequal, model-specific energies (outlier dimensions), so the profile is a pattern keyed by channel,
  like the token norms above. It is invariant to a permutation of units or heads and to norm folding, and robust to
  depth changes (a median over layers; layer subsets, duplicates and interleaves keep it), MLP pruning, MoE
  up-cycling (experts' units stacked), noise, fine-tuning, merges, quantisation and a vocabulary transplant (new
  embeddings on an old body). Measured on SmolLM2-135M (576 channels): 0.91–1.00 profile correlation with its
  layer-subset, noised (σ = 0.3·std), MoE, vocabulary-edited and continued-pretraining derivatives; −0.06–0.07 with
  a residual-rotated copy and with an independent same-shape model; ±0.15 (one pair 0.40) between the six
  independently trained 128-channel tiny models. It does not survive a rotation of the residual stream or dropped
  residual channels: those keep the tokenizer and the token-keyed descriptor, which the search unions with it.

The hyper-planes and hash constants come from ``numpy.random.default_rng(SKETCH_SEED)``: they are part of the
format (changing them changes every stored bucket), so the seed is a constant, not a parameter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

SKETCH_SEED = 20260107
NUM_PERM = 64
TOK_BANDS = 16
TOK_ROWS = 4
DESC_DIM = 512
SRP_BANDS = 16
SRP_BITS = 12


@lru_cache(maxsize=1)
def _perm_constants() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SKETCH_SEED)
    a = rng.integers(1, 2**63 - 1, size=NUM_PERM, dtype=np.int64).astype(np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63 - 1, size=NUM_PERM, dtype=np.int64).astype(np.uint64)
    return a, b


@lru_cache(maxsize=1)
def _planes() -> np.ndarray:
    rng = np.random.default_rng(SKETCH_SEED + 1)
    return rng.standard_normal((SRP_BANDS * SRP_BITS, DESC_DIM)).astype(np.float32)


def minhash(vocab: Any) -> np.ndarray:
    """(NUM_PERM,) uint64 min-hashes of the vocabulary's regular tokens (all-ones when it has none)."""
    hs = np.fromiter(vocab.hashes.keys(), dtype=np.uint64, count=len(vocab.hashes))
    if hs.size == 0:
        return np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    a, b = _perm_constants()
    out = np.empty(NUM_PERM, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(NUM_PERM):
            out[i] = np.min(hs * a[i] + b[i])
    return out


def minhash_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two vocabularies from their min-hashes."""
    return float(np.mean(a == b))


def _band_key(kind: str, band: int, values: bytes) -> int:
    h = hashlib.blake2b(kind.encode() + band.to_bytes(2, "little") + values, digest_size=8).digest()
    return int.from_bytes(h, "little", signed=True)  # fits SQLite INTEGER


def token_bands(mh: np.ndarray) -> list[tuple[int, int]]:
    """[(band, bucket)] of a MinHash signature."""
    v = mh.astype("<u8")
    return [(b, _band_key("t", b, v[b * TOK_ROWS : (b + 1) * TOK_ROWS].tobytes())) for b in range(TOK_BANDS)]


def embedding_descriptor(vocab: Any, ids: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """(DESC_DIM,) float32 unit vector: standardised log-norms of the anchor rows, feature-hashed by token bytes
    (by id for rows without a token)."""
    from taoke.tokenizers import token_hash64

    keys = []
    for i in np.asarray(ids).tolist():
        t = vocab.tokens[i] if vocab is not None and i < len(vocab.tokens) else None
        keys.append(token_hash64(t if t is not None else int(i).to_bytes(4, "little")))
    return _norm_descriptor(np.asarray(keys, dtype=np.uint64), emb)


def _norm_descriptor(keys: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """Standardised log-norms of the rows ``emb``, summed into ``DESC_DIM`` buckets by their 64-bit ``keys``."""
    e = np.asarray(emb, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", e, e)).astype(np.float64)
    ok = norms > 0
    x = np.zeros(len(keys))
    if ok.sum() >= 2:
        ln = np.log(norms[ok])
        sd = ln.std()
        x[ok] = (ln - ln.mean()) / (sd if sd > 0 else 1.0)
    desc = np.zeros(DESC_DIM, dtype=np.float64)
    if len(keys):
        np.add.at(desc, ((keys >> np.uint64(8)) % np.uint64(DESC_DIM)).astype(np.int64), x)
    n = np.linalg.norm(desc)
    return (desc / n if n > 0 else desc).astype(np.float32)


def srp_signature(desc: np.ndarray) -> np.ndarray:
    """(SRP_BANDS * SRP_BITS,) bool sign bits of the descriptor."""
    return (_planes() @ desc.astype(np.float32)) > 0


def srp_bands(sig: np.ndarray) -> list[tuple[int, int]]:
    """[(band, bucket)] of an SRP signature."""
    packed = [np.packbits(sig[b * SRP_BITS : (b + 1) * SRP_BITS]).tobytes() for b in range(SRP_BANDS)]
    return [(b, _band_key("w", b, p)) for b, p in enumerate(packed)]


def hamming_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal SRP bits (1 − θ/π estimates it)."""
    return float(np.mean(a == b))


# -- descriptors that need no tokenizer -------------------------------------------------------------------------

#: the descriptor kinds a fingerprint can have, each with its own LSH buckets in the index
#: ``w``: embedding geometry keyed by token bytes; ``i``: keyed by token id; ``c``: residual-channel profile of the body
DESCRIPTOR_KINDS = ("w", "i", "c")
ID_ANCHOR_MOD = 32
ID_ANCHOR_CAP = 4096


_ID_HASHES = np.zeros(0, dtype=np.uint64)


def id_hashes(n: int) -> np.ndarray:
    """``token_hash64`` of the 4-byte little-endian ids ``0..n-1`` (what rows are keyed by without a tokenizer),
    computed once per process and extended as larger vocabularies come."""
    global _ID_HASHES
    if _ID_HASHES.size < n:
        from taoke.tokenizers import token_hash64

        start = _ID_HASHES.size
        more = np.fromiter((token_hash64(i.to_bytes(4, "little")) for i in range(start, n)), dtype=np.uint64,
                           count=n - start)  # fmt: skip
        _ID_HASHES = np.concatenate([_ID_HASHES, more])
    return _ID_HASHES[:n]


def id_anchor_positions(anchor_ids: np.ndarray, n_rows: int) -> np.ndarray:
    """Positions in ``anchor_ids`` of the rows chosen by id hash (``0 mod 32``, lowest hash first, at most 4096):
    what :func:`taoke.index.fingerprint.anchor_ids` picks without a tokenizer. Every fingerprint stores those rows,
    so the hashes of the stored ids find them."""
    ids = np.asarray(anchor_ids, dtype=np.int64)
    ok = np.flatnonzero((ids >= 0) & (ids < n_rows))
    if not ok.size:
        return np.zeros(0, dtype=np.int64)
    h = id_hashes(int(ids[ok].max()) + 1)[ids[ok]]
    sel = ok[h % np.uint64(ID_ANCHOR_MOD) == 0]
    hs = id_hashes(int(ids[ok].max()) + 1)[ids[sel]]
    keep = sel[np.argsort(hs, kind="stable")[:ID_ANCHOR_CAP]]
    return np.sort(keep)


def id_descriptor(ids: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """:func:`embedding_descriptor` keyed by token id (``vocab=None``), from the cached id hashes."""
    ids = np.asarray(ids, dtype=np.int64)
    keys = id_hashes(int(ids.max()) + 1)[ids] if ids.size else np.zeros(0, dtype=np.uint64)
    return _norm_descriptor(keys, emb)


def channel_profile(parts: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """(2, d) float32: per residual channel, log of the energy the MLP reads (gate/up rows) and writes (down rows).

    ``parts`` is one layer as :func:`taoke.whitebox.mlp.mlp_parts` gives it (norm gain folded, experts stacked);
    any subset of its units gives an estimate of the same profile (an energy is a sum over units)."""
    up = parts.get("up")
    down = parts.get("down")
    if up is None or down is None or up.ndim != 2 or down.shape[1:] != up.shape[1:]:
        return None
    read = np.einsum("ij,ij->j", up, up, dtype=np.float64)
    if "gate" in parts and parts["gate"].shape == up.shape:
        read += np.einsum("ij,ij->j", parts["gate"], parts["gate"], dtype=np.float64)
    write = np.einsum("ij,ij->j", down, down, dtype=np.float64)
    tiny = np.finfo(np.float32).tiny
    return np.log(np.maximum(np.stack([read, write]), tiny)).astype(np.float32)


@lru_cache(maxsize=8)
def _channel_hash(d: int) -> tuple[np.ndarray, np.ndarray]:
    """(bucket, sign) of the 2·d features (read channel c, write channel c), a pure function of d."""
    idx = np.empty(2 * d, dtype=np.int64)
    sgn = np.empty(2 * d, dtype=np.float64)
    for part in range(2):
        for c in range(d):
            h = int.from_bytes(hashlib.blake2b(b"ch%d:%d" % (part, c), digest_size=8).digest(), "little")
            idx[part * d + c] = (h >> 8) % DESC_DIM
            sgn[part * d + c] = 1.0 if h & 1 else -1.0
    return idx, sgn


def body_descriptor(profiles: Sequence[np.ndarray]) -> np.ndarray | None:
    """(DESC_DIM,) float32 unit vector from per-layer :func:`channel_profile` s of one width (None if there are none).

    Each layer's read and write rows are standardised (mean 0, std 1 over channels), the median over layers is
    clipped to ±4 and feature-hashed by channel with random signs (inner products are preserved in expectation)."""
    ps = [np.asarray(p, dtype=np.float64) for p in profiles if p is not None and np.ndim(p) == 2 and p.shape[0] == 2]
    if not ps:
        return None
    d = max((p.shape[1] for p in ps), key=[p.shape[1] for p in ps].count)
    z = np.stack([p for p in ps if p.shape[1] == d])
    if d < 2 or not np.isfinite(z).all():
        return None
    z = z - z.mean(axis=2, keepdims=True)
    sd = z.std(axis=2, keepdims=True)
    z = z / np.where(sd > 0, sd, 1.0)
    med = np.clip(np.median(z, axis=0), -4.0, 4.0).reshape(-1)
    idx, sgn = _channel_hash(d)
    desc = np.zeros(DESC_DIM, dtype=np.float64)
    np.add.at(desc, idx, sgn * med)
    n = np.linalg.norm(desc)
    return (desc / n).astype(np.float32) if n > 0 else None


def descriptors(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The descriptors of a fingerprint by kind (see :data:`DESCRIPTOR_KINDS`): ``w`` when it has a tokenizer,
    ``i`` when it has anchor rows, ``c`` when it has channel profiles (``ch.<layer>``) or, for fingerprints made
    before those were kept, canonical unit rows (an estimate from the top units). Precomputed ``desc.<kind>``
    arrays are taken as they are."""
    out: dict[str, np.ndarray] = {}
    if "desc" in arrays and header.get("tokenizer"):
        out["w"] = np.asarray(arrays["desc"], dtype=np.float32)
    for kind in DESCRIPTOR_KINDS:
        if f"desc.{kind}" in arrays:
            out[kind] = np.asarray(arrays[f"desc.{kind}"], dtype=np.float32)
    if "i" not in out and "anchor.ids" in arrays and "anchor.emb" in arrays:
        emb_role = (header.get("roles") or {}).get("embed") or {}
        shape = emb_role.get("shape") or []
        if len(shape) == 2:
            pos = id_anchor_positions(arrays["anchor.ids"], int(shape[0]))
            if pos.size >= 2:
                out["i"] = id_descriptor(arrays["anchor.ids"][pos], arrays["anchor.emb"][pos])
    if "c" not in out:
        profs = [arrays[k] for k in arrays if k.startswith("ch.")]
        if not profs:
            profs = [p for k in arrays if k.startswith("u.") and k.endswith(".up")
                     if (p := _units_profile(arrays, k[2:-3])) is not None]  # fmt: skip
        b = body_descriptor(profs)
        if b is not None:
            out["c"] = b
    return out


def _units_profile(arrays: Mapping[str, np.ndarray], layer: str) -> np.ndarray | None:
    from taoke.index.fingerprint import dequantize_rows

    parts = {p: dequantize_rows(arrays[f"u.{layer}.{p}"], arrays[f"us.{layer}.{p}"])
             for p in ("up", "gate", "down") if f"u.{layer}.{p}" in arrays and f"us.{layer}.{p}" in arrays}  # fmt: skip
    return channel_profile(parts)
