"""Nearest ancestors: LSH shortlist from the index, then the exact white-box tests on fingerprints.

First cut (no row scan): models with the same exact-sample digest (identical copies), models sharing an SRP
band of the embedding descriptor (``w`` buckets) and models sharing a tokenizer MinHash band (``t``), topped up
when there are fewer than ``shortlist`` by models of the same shapes (hidden size and depth, same vocabulary size
first; an indexed look-up that finds re-packaged copies without a tokenizer and vocabulary edits, whose sketches
need not collide); the union is ranked by descriptor Hamming similarity and MinHash Jaccard
read from ``sketches`` (a few hundred small rows), and the best ``shortlist`` go on. Second cut: the exact tests
(:func:`taoke.compare` on :class:`~taoke.index.view.FingerprintView` s) and the calibrated verdict for each, with
results cached in the index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from taoke import defaults
from taoke.index.fingerprint import Fingerprint
from taoke.index.sketch import hamming_similarity, minhash_jaccard, srp_bands, srp_signature, token_bands
from taoke.index.store import IndexStore
from taoke.index.view import FingerprintView
from taoke.verdict import VerdictKind
from taoke.whitebox.source import EvidenceSource, unit_layer_count

RELATED = tuple(k.value for k in VerdictKind if k.related)


def compare_views(a: EvidenceSource, b: EvidenceSource, *, seed: int = defaults.SEED) -> dict[str, Any]:
    """Run the white-box tests on two sources (fingerprints or models) and summarise the verdict.

    ``similarity`` orders related pairs for the tree: 2 for identical, 1.5 for re-packaged, and for derived
    pairs the mean matched |cos| of the read vectors over B's layers, times the share of layers matched
    (a layer subset is less similar than a noisy full copy). ``shared_tensors`` is the share of roles whose
    sampled values agree within storage precision (the tree's tie-breaker: a child shares more tensors
    unchanged with its parent than with its parent's other children).
    """
    import taoke

    v = taoke.compare(a, b, seed=seed)
    sim = 0.0
    if v.kind is VerdictKind.IDENTICAL:
        sim = 2.0
    elif v.kind is VerdictKind.REPACKAGED:
        sim = 1.5
    elif v.evidence.units is not None and v.evidence.units.matches:
        ms = v.evidence.units.matches
        sig = {lb for lb, _la in v.derived_layers}
        # share of the layers that carry unit evidence (all layers; a fingerprint made with unit_layers=k: those)
        cov = len(sig) / max(unit_layer_count(a), unit_layer_count(b), 1)
        sim = float(np.mean([m.matched_cos for m in ms])) * cov if v.kind is VerdictKind.DERIVED else 0.0
    ex = v.evidence.exact
    shared = 0.0 if ex is None else sum(d.within for d in ex.diffs) / max(ex.roles_a, ex.roles_b, 1)
    return {
        "kind": v.kind,
        "sentence": v.sentence,
        "shared_tensors": round(shared, 4),
        "log10_p": None if v.log10_p is None else round(float(v.log10_p), 2),
        "similarity": round(sim, 5),
        "layers_matched": len(v.derived_layers),
        "values_identical": bool(v.evidence.exact is not None and v.evidence.exact.identical),
    }


@dataclass(frozen=True)
class Hit:
    """One candidate ancestor and the verdict of the exact tests against it."""

    name: str
    model_id: int
    location: str
    verdict: str
    sentence: str
    log10_p: float | None
    similarity: float
    sketch_similarity: float
    token_jaccard: float | None

    @property
    def related(self) -> bool:
        return self.verdict in RELATED

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Candidate:
    model_id: int
    sketch_similarity: float
    token_jaccard: float | None
    via: str  # "digest" | "w" | "t" | "shape"


def shortlist(store: IndexStore, fp: Fingerprint, *, size: int = 20, exclude: int | None = None) -> list[Candidate]:
    """The first cut: LSH buckets → ranked candidates (no exact test, no fingerprint loaded)."""
    a = fp.arrays
    sig = srp_signature(a["desc"]) if "desc" in a else None
    mh = a["minhash"] if "minhash" in a else None
    found: dict[int, str] = {}
    if fp.digest:
        for mid in store.by_digest(fp.digest):
            found.setdefault(mid, "digest")
    pool = max(4 * size, 64)
    if sig is not None:
        for mid, _c in store.bucket_hits("w", srp_bands(sig), pool):
            found.setdefault(mid, "w")
    if mh is not None:
        for mid, _c in store.bucket_hits("t", token_bands(mh), pool):
            found.setdefault(mid, "t")
    if len(found) < size + 1:  # same shapes: copies without a tokenizer (e.g. a bare ONNX export) land here
        cfg = fp.header.get("config", {})
        hidden, layers = cfg.get("hidden_size"), fp.header.get("layers")
        for mid in store.by_shape(hidden, cfg.get("vocab_size"), layers, pool) + store.by_shape(hidden, None, layers, pool):
            found.setdefault(mid, "shape")
    found.pop(exclude, None) if exclude is not None else None
    sk = store.sketches(list(found))
    out: list[Candidate] = []
    for mid, via in found.items():
        s, m = sk.get(mid, (None, None))
        hs = hamming_similarity(sig, s) if (sig is not None and s is not None) else 0.5
        tj = minhash_jaccard(mh, m) if (mh is not None and m is not None) else None
        out.append(Candidate(mid, hs, tj, via))
    out.sort(key=lambda c: (c.via != "digest", -c.sketch_similarity, -(c.token_jaccard or 0.0), c.model_id))
    return out[:size]


def search(
    store: IndexStore, fp: Fingerprint, *, k: int = 5, size: int = 20, exclude: int | None = None,
    seed: int = defaults.SEED,
) -> list[Hit]:
    """Nearest ancestors of ``fp`` in ``store``: related models first (strongest evidence first), at most ``k``."""
    va = FingerprintView(fp)
    hits: list[Hit] = []
    for c in shortlist(store, fp, size=size, exclude=exclude):
        m = store.model(c.model_id)
        vb = FingerprintView(store.fingerprint(c.model_id))
        d = compare_views(vb, va, seed=seed)  # candidate ancestor as A, the query as B
        hits.append(Hit(m.name, m.id, m.location, d["kind"], d["sentence"], d["log10_p"], d["similarity"],
                        round(c.sketch_similarity, 4), c.token_jaccard))  # fmt: skip
    hits.sort(key=lambda h: (not h.related, -h.similarity, h.log10_p if h.log10_p is not None else math.inf))
    return hits[:k]
