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

The hyper-planes and hash constants come from ``numpy.random.default_rng(SKETCH_SEED)``: they are part of the
format (changing them changes every stored bucket), so the seed is a constant, not a parameter.
"""

from __future__ import annotations

import hashlib
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
    """(DESC_DIM,) float32 unit vector: standardised log-norms of the anchor rows, feature-hashed by token bytes."""
    from taoke.tokenizers import token_hash64

    norms = np.linalg.norm(emb.astype(np.float64), axis=1)
    ok = norms > 0
    x = np.zeros(len(ids))
    if ok.sum() >= 2:
        ln = np.log(norms[ok])
        sd = ln.std()
        x[ok] = (ln - ln.mean()) / (sd if sd > 0 else 1.0)
    desc = np.zeros(DESC_DIM, dtype=np.float64)
    for k, i in enumerate(ids.tolist()):
        t = vocab.tokens[i] if vocab is not None and i < len(vocab.tokens) else None
        h = token_hash64(t if t is not None else int(i).to_bytes(4, "little"))
        desc[(h >> 8) % DESC_DIM] += x[k]
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
