"""Cheap, offline text embeddings for behavioural fingerprints and the same-model kernel.

A response is mapped to a hashed bag of character 3- and 4-grams (of the lower-cased, whitespace-normalised
text) plus word unigrams, ``dim`` buckets via CRC-32 (deterministic across runs and machines, unlike Python's
salted ``hash``), sublinear term frequency ``1 + log tf`` and L2 normalisation. Cosine similarity of two
vectors is then a positive-semidefinite kernel. No model download; the concession is that it measures surface
form (wording, script, formatting), not meaning -- which is what distinguishes two models' habits.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

DIM = 4096
_WORD = re.compile(r"\w+", re.UNICODE)


def _features(text: str) -> list[str]:
    t = " ".join(text.lower().split())
    feats = [f"w:{w}" for w in _WORD.findall(t)]
    padded = f" {t} "
    for n in (3, 4):
        feats.extend(f"c{n}:{padded[i:i + n]}" for i in range(max(0, len(padded) - n + 1)))
    return feats


def embed(texts: Sequence[str], dim: int = DIM) -> np.ndarray:
    """``(len(texts), dim)`` float32 matrix of unit rows (an empty text gives a zero row).

    >>> v = embed(["hello world", "hello world", "完全不同"]); round(float(v[0] @ v[1]), 4), float(v[0] @ v[2])
    (1.0, 0.0)
    """
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        idx = np.fromiter((zlib.crc32(f.encode("utf-8")) % dim for f in _features(text)), dtype=np.int64)
        if idx.size == 0:
            continue
        counts = np.bincount(idx, minlength=dim).astype(np.float32)
        nz = counts > 0
        counts[nz] = 1.0 + np.log(counts[nz])
        out[i] = counts / np.linalg.norm(counts)
    return out
