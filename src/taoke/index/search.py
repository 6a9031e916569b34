"""Nearest ancestors: a first cut by several independent keys, then the exact white-box tests on fingerprints.

The question is "what is this model built on?" with no candidate named. A derivative may have changed anything a
single key relies on, so the first cut (no fingerprint loaded, no row scan) is the *union* of independent keys, each
an indexed look-up:

========== ======================================================= =================================================
key        what collides                                           survives
========== ======================================================= =================================================
``digest`` the exact-sample digest                                 bit-identical copies
``t``      a MinHash band of the tokenizer's regular tokens        anything that keeps the tokenizer files
``w``      an SRP band of the embedding geometry, by token bytes   rotation, permutation, depth and width changes,
                                                                   noise, fine-tunes, merges, MoE, vocabulary edits
``i``      an SRP band of the embedding geometry, by token id      the same, without tokenizer files (a bare export,
                                                                   an unknown tensor schema)
``c``      an SRP band of the body's residual-channel profile      a transplanted vocabulary, missing tokenizer,
                                                                   depth changes, MLP pruning, MoE, merges, noise
``shape``  same hidden size and depth (then: same hidden size)     re-packaged copies whose sketches moved
========== ======================================================= =================================================

(:mod:`taoke.index.sketch` defines the sketches and what was measured about them.) Each key ranks its own
candidates by its own similarity (estimated cosine of the descriptors from their SRP bits, MinHash Jaccard); the
shortlist takes first every candidate that some sketch already places in the related range (:data:`STRONG`), then
the keys' rankings in turn (the best of each key, then the second of each, ...), up to ``size``.

Second cut: the exact tests (:func:`taoke.compare` on :class:`~taoke.index.view.FingerprintView` s), candidate as
A and the query as B, in shortlist order. The strong candidates are all tested; the others only while no related
model has been found. When none is found, the search widens: every indexed model while the index holds at most
``exhaustive_below`` models, else a cut ``widen_factor`` times wider plus every model of the same hidden size. Hits
are ranked by evidence (identical, then re-packaged, then derived by similarity and p-value). The result says
what was searched (:class:`SearchResult`), and a search that finds nothing says how many models it considered and
why none qualified, never an empty table alone.
"""

from __future__ import annotations

import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taoke import defaults
from taoke.index.fingerprint import Fingerprint
from taoke.index.sketch import descriptors, srp_bands, srp_signature, token_bands
from taoke.index.store import IndexStore
from taoke.index.view import FingerprintView
from taoke.verdict import Verdict, VerdictKind
from taoke.whitebox.source import EvidenceSource, unit_layer_count

RELATED = tuple(k.value for k in VerdictKind if k.related)

#: what each key is, for the sentences that say what was searched
KEY_NAMES: Mapping[str, str] = {
    "digest": "identical samples", "t": "tokenizer", "w": "embedding geometry", "i": "embedding geometry by id",
    "c": "body sketch", "shape": "architecture", "hidden": "hidden size", "all": "every indexed model",
}  # fmt: skip
#: the order in which the keys' rankings fill the shortlist
KEY_ORDER = ("digest", "c", "w", "i", "t", "shape", "hidden")
#: estimated descriptor cosine from which a candidate is "strong" (tested whatever else is found). Measured
#: (sketch.py): related pairs ≥ 0.91 on ``c`` and ≥ 0.99 on ``w``/``i``; independent pairs ≤ 0.13 on ``c``, but up
#: to 0.80 on ``w``/``i`` when they share a tokenizer and training text (the six tiny models: token norms follow token
#: frequency), so ``w``/``i`` need more: from 192 SRP bits a pair at 0.8 is estimated at ≥ 0.97 with probability
#: ~5e-6 (z = 4.4), at ≥ 0.9 with ~0.03 — which made dozens of false "strong" candidates in 100k-model indexes
STRONG: Mapping[str, float] = {"c": 0.6, "w": 0.97, "i": 0.97}
#: a search tests every indexed model when the index holds at most this many and the shortlist found nothing
EXHAUSTIVE_BELOW = 64
#: most models read from one descriptor bucket. A tokenizer bucket holds every model of that tokenizer (all its
#: bands collide), so its look-ups keep the store's small cap; a descriptor band of 12 bits collides for an
#: independent model with probability ``(1 − θ/π)^12`` (0.06 even at the cosine 0.8 measured between independently
#: trained models sharing tokenizer and text), so a bucket holds few models and its members are all read and counted
#: (a cap taking the oldest entries would drop a parent indexed after its bucket filled)
SRP_BUCKET_CAP = 4096


def compare_views(a: EvidenceSource, b: EvidenceSource, *, seed: int = defaults.SEED) -> dict[str, Any]:
    """Run the white-box tests on two sources (fingerprints or models) and summarise the verdict.

    ``similarity`` orders related pairs for the tree: 2 for identical, 1.5 for re-packaged (and for fingerprints
    whose values agree within precision, which fingerprints alone call derived), and for other derived
    pairs the mean matched |cos| of the read vectors over B's layers, times the share of layers matched
    (a layer subset is less similar than a noisy full copy). ``shared_tensors`` is the share of roles whose
    sampled values agree within storage precision (the tree's tie-breaker: a child shares more tensors
    unchanged with its parent than with its parent's other children).
    """
    import taoke

    return summarise(taoke.compare(a, b, seed=seed), a, b)


def summarise(v: Verdict, a: EvidenceSource, b: EvidenceSource) -> dict[str, Any]:
    """The summary :func:`compare_views` gives of a verdict of ``a`` (candidate) against ``b``."""
    sim = 0.0
    ex = v.evidence.exact
    # every compared tensor within storage precision (a re-packaging, or from fingerprints a copy that may be
    # changed below that precision or hold more modules): ranked like a re-packaging, grouped as copies by the tree
    within = bool(ex is not None and (ex.identical or ex.repackaged))
    if v.kind is VerdictKind.IDENTICAL:
        sim = 2.0
    elif v.kind is VerdictKind.REPACKAGED or (v.kind is VerdictKind.DERIVED and within):
        sim = 1.5  # the same values within precision (from fingerprints: storage identity and modules unchecked)
    elif v.evidence.units is not None and v.evidence.units.matches:
        ms = v.evidence.units.matches
        sig = {lb for lb, _la in v.derived_layers}
        # share of the layers that carry unit evidence (all layers; a fingerprint made with unit_layers=k: those)
        cov = len(sig) / max(unit_layer_count(a), unit_layer_count(b), 1)
        sim = float(np.mean([m.matched_cos for m in ms])) * cov if v.kind is VerdictKind.DERIVED else 0.0
    shared = 0.0 if ex is None else sum(d.within for d in ex.diffs) / max(ex.roles_a, ex.roles_b, 1)
    return {
        "kind": v.kind,
        "sentence": v.sentence,
        "shared_tensors": round(shared, 4),
        "log10_p": None if v.log10_p is None else round(float(v.log10_p), 2),
        "similarity": round(sim, 5),
        "layers_matched": len(v.derived_layers),
        "values_identical": bool(ex is not None and ex.identical),
        "within_precision": within,
    }


# -- the first cut ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A model the first cut found: the keys that found it and its sketch similarities to the query
    (``w``/``i``/``c``: estimated descriptor cosine; ``t``: tokenizer MinHash Jaccard)."""

    model_id: int
    via: tuple[str, ...]
    sims: Mapping[str, float] = field(default_factory=dict)

    @property
    def sketch_similarity(self) -> float:
        """The best estimated descriptor cosine (0 when no descriptor is shared)."""
        return max((self.sims[k] for k in ("c", "w", "i") if k in self.sims), default=0.0)

    @property
    def token_jaccard(self) -> float | None:
        return self.sims.get("t")

    @property
    def strong(self) -> bool:
        """Some sketch already places it in the related range (:data:`STRONG`), or its samples are identical."""
        return "digest" in self.via or any(self.sims.get(k, -1.0) >= v for k, v in STRONG.items())

    def score(self, key: str) -> float:
        """How this candidate ranks inside ``key``."""
        if key in ("c", "w", "i"):
            return self.sims.get(key, -2.0)
        if key == "t":
            return (self.sims.get("t") or 0.0) + 1e-3 * self.sketch_similarity
        return self.sketch_similarity


@dataclass(frozen=True)
class FirstCut:
    """The shortlist and what produced it."""

    shortlist: tuple[Candidate, ...]
    considered: int  # models any key retrieved
    by_key: Mapping[str, int]  # models each key retrieved
    keys: tuple[str, ...]  # the keys the query had (a query without tokenizer has no ``t`` / ``w``)
    seconds: float


_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.int32)


def _similarities(rows: Sequence[tuple[int, bytes | None, bytes | None, bytes | None, bytes | None]],
                  bits: Mapping[str, np.ndarray], mh: np.ndarray | None) -> dict[int, dict[str, float]]:  # fmt: skip
    """Per model, the estimated descriptor cosines (SRP, Charikar 2002: P[bit equal] = 1 − θ/π, so
    cos θ ≈ cos(π·(1 − share of equal bits))) and the MinHash Jaccard, vectorised over the rows."""
    out: dict[int, dict[str, float]] = {r[0]: {} for r in rows}
    for col, kind in ((2, "w"), (3, "i"), (4, "c")):
        if kind not in bits:
            continue
        q = np.packbits(bits[kind])
        sel = [r for r in rows if r[col] is not None and len(r[col]) == q.size]  # type: ignore[arg-type]
        if sel:
            m = np.frombuffer(b"".join(r[col] for r in sel), dtype=np.uint8).reshape(len(sel), q.size)  # type: ignore[misc]
            agree = 1.0 - _POPCOUNT[m ^ q].sum(axis=1) / bits[kind].size
            for r, c in zip(sel, np.cos(np.pi * (1.0 - agree)), strict=True):
                out[r[0]][kind] = round(float(c), 4)
    if mh is not None:
        qb = mh.astype("<u8")
        sel = [r for r in rows if r[1] is not None and len(r[1]) == 8 * qb.size]
        if sel:
            m = np.frombuffer(b"".join(r[1] for r in sel), dtype="<u8").reshape(len(sel), qb.size)  # type: ignore[misc]
            for r, j in zip(sel, (m == qb).mean(axis=1), strict=True):
                out[r[0]]["t"] = round(float(j), 4)
    return out


def query_keys(fp: Fingerprint) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """(SRP bits per descriptor kind, MinHash) of a query fingerprint."""
    desc = descriptors(fp.header, fp.arrays)
    mh = fp.arrays["minhash"] if "minhash" in fp.arrays and fp.header.get("tokenizer") else None
    return {k: srp_signature(v) for k, v in desc.items()}, mh


def _shape(fp: Fingerprint) -> tuple[int | None, int | None, int | None]:
    cfg = fp.header.get("config", {})
    hidden = cfg.get("hidden_size")
    if not isinstance(hidden, int):
        shape = ((fp.header.get("roles") or {}).get("embed") or {}).get("shape") or []
        hidden = int(shape[1]) if len(shape) == 2 else None
    vocab = cfg.get("vocab_size")
    layers = fp.header.get("layers")
    return hidden, vocab if isinstance(vocab, int) else None, layers if isinstance(layers, int) else None


def first_cut(store: IndexStore, fp: Fingerprint, *, size: int = 20, exclude: int | None = None,
              pool: int | None = None, hidden_bucket: bool = False) -> FirstCut:  # fmt: skip
    """The shortlist (no exact test, no fingerprint loaded): every key's look-up, ranked (module docstring).

    ``pool`` bounds each key's look-up (default ``max(4·size, 64)``); ``hidden_bucket`` adds every model of the
    query's hidden size (a wider cut)."""
    t0 = time.perf_counter()
    pool = pool or max(4 * size, 64)
    bits, mh = query_keys(fp)
    found: dict[int, list[str]] = {}

    def add(mids: Sequence[int], key: str) -> None:
        for mid in mids:
            found.setdefault(int(mid), []).append(key)

    if fp.digest:
        add(store.by_digest(fp.digest), "digest")
    for kind, sig in bits.items():  # descriptor buckets are rarely crowded: a generous cap (see SRP_BUCKET_CAP)
        add([m for m, _c in store.bucket_hits(kind, srp_bands(sig), pool, per_band=SRP_BUCKET_CAP)], kind)
    if mh is not None:
        add([m for m, _c in store.bucket_hits("t", token_bands(mh), pool)], "t")
    hidden, vocab, layers = _shape(fp)
    add(list(dict.fromkeys(store.by_shape(hidden, vocab, layers, pool) + store.by_shape(hidden, None, layers, pool))),
        "shape")
    if hidden_bucket or len(found) < size + 1:
        add(store.by_hidden(hidden, pool, exclude_layers=layers), "hidden")
    if exclude is not None:
        found.pop(exclude, None)
    sims = _similarities(store.sketch_rows(list(found)), bits, mh)
    cands = [Candidate(mid, tuple(dict.fromkeys(via)), sims.get(mid, {})) for mid, via in found.items()]
    shortlist = _assemble(cands, size)
    by_key = {k: sum(k in c.via for c in cands) for k in KEY_ORDER}
    keys = ("digest", *bits, *(("t",) if mh is not None else ()), "shape")
    return FirstCut(tuple(shortlist), len(cands), {k: v for k, v in by_key.items() if v}, keys,
                    time.perf_counter() - t0)


def _key_rank(key: str, c: Candidate) -> tuple[float, int]:
    return -c.score(key), c.model_id


def _assemble(cands: list[Candidate], size: int) -> list[Candidate]:
    """Strong candidates first (best sketch first), then each key's ranking in turn, up to ``size``."""
    strong = sorted((c for c in cands if c.strong),
                    key=lambda c: ("digest" not in c.via, -c.sketch_similarity, c.model_id))  # fmt: skip
    out: dict[int, Candidate] = {c.model_id: c for c in strong[:size]}
    ranked = {k: sorted((c for c in cands if k in c.via or (k in ("c", "w", "i", "t") and k in c.sims)),
                        key=functools.partial(_key_rank, k))
              for k in KEY_ORDER}  # fmt: skip
    depth = 0
    while len(out) < size and any(depth < len(r) for r in ranked.values()):
        for k in KEY_ORDER:
            if depth < len(ranked[k]) and len(out) < size:
                out.setdefault(ranked[k][depth].model_id, ranked[k][depth])
        depth += 1
    return list(out.values())


def shortlist(store: IndexStore, fp: Fingerprint, *, size: int = 20, exclude: int | None = None) -> list[Candidate]:
    """The first cut's shortlist (see :func:`first_cut`)."""
    return list(first_cut(store, fp, size=size, exclude=exclude).shortlist)


# -- the exact tests --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One tested candidate ancestor and the verdict of the exact tests against it."""

    name: str
    model_id: int
    location: str
    verdict: str
    sentence: str
    log10_p: float | None
    similarity: float
    sketch_similarity: float
    token_jaccard: float | None
    via: tuple[str, ...] = ()
    compare: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the taoke.compare JSON of the test

    @property
    def related(self) -> bool:
        return self.verdict in RELATED

    def to_dict(self, *, with_compare: bool = False) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "compare"}
        d["via"] = list(self.via)
        if with_compare:
            d["compare"] = dict(self.compare)
        return d


def _rank(h: Hit) -> tuple[Any, ...]:
    """Evidence order: related first; identical, re-packaged, then derived by similarity and p-value."""
    return (not h.related, -h.similarity, h.log10_p if h.log10_p is not None else math.inf, h.model_id)


@dataclass(frozen=True)
class SearchResult:
    """What a search found and what it searched (``sentence()`` says both in words)."""

    query: str
    hits: tuple[Hit, ...]  # tested candidates, by evidence (related first), at most k
    indexed: int  # models in the index
    coverage: tuple[tuple[str, int], ...]  # most common families in the index, with counts
    considered: int  # models the first cut looked at
    by_key: Mapping[str, int]  # models each key of the first cut retrieved
    keys: tuple[str, ...]  # the keys the query had
    tested: int  # exact tests run
    untested: int  # shortlisted but not tested (a related model was already found, or the budget ran out)
    widened: str | None  # None, "exhaustive" or "wider cut"
    widened_to: int  # models the widening looked at (0 when it did not widen)
    first_cut_seconds: float
    seconds: float
    budget_exhausted: bool = False

    @property
    def related(self) -> tuple[Hit, ...]:
        return tuple(h for h in self.hits if h.related)

    @property
    def found(self) -> bool:
        return bool(self.related)

    def covers(self) -> str:
        """What the index covers, e.g. ``"llama ×950, bert ×40, gemma3 ×13"``."""
        shown = sum(c for _f, c in self.coverage)
        s = ", ".join(f"{f} ×{c:,}" for f, c in self.coverage)
        return s + (f", {self.indexed - shown:,} others" if self.indexed > shown else "") if s else "empty"

    def searched(self) -> str:
        """How the candidates were found and how many were tested."""
        keys = [KEY_NAMES[k] for k in KEY_ORDER if self.by_key.get(k)]
        how = f"the first cut considered {self.considered:,}" + (f" by {', '.join(keys)}" if keys else "")
        missing = [KEY_NAMES[k] for k in ("t", "w", "c") if k not in self.keys]
        if missing:
            how += f" (the query has no {' or '.join(missing)})"
        wid = {"exhaustive": f"; widened to every indexed model ({self.widened_to:,})",
               "wider cut": f"; widened to a wider cut and every model of the same hidden size "
                            f"({self.widened_to:,})"}.get(self.widened or "", "")  # fmt: skip
        return f"{how}{wid}; {self.tested} tested exactly" + (
            f", {self.untested} not tested" + (" (time budget)" if self.budget_exhausted else "") if self.untested else "")

    def sentence(self) -> str:
        """One sentence: the best ancestor found, or that none was found among how many models and why."""
        if self.found:
            best = self.related[0]
            return (f"{len(self.related)} related model{'s' if len(self.related) != 1 else ''} found among "
                    f"{self.indexed:,} indexed; best: {best.name} ({best.sentence})")
        if self.indexed == 0:
            return "no ancestor found: the index is empty"
        why = "none is related" if self.tested else "none was tested"
        return (f"no ancestor found among {self.indexed:,} indexed models ({self.covers()}): {self.searched()}; "
                f"{why}")

    def to_dict(self, *, with_compare: bool = False) -> dict[str, Any]:
        return {"query": self.query, "found": self.found, "sentence": self.sentence(),
                "hits": [h.to_dict(with_compare=with_compare) for h in self.hits], "indexed": self.indexed,
                "coverage": [{"family": f, "models": c} for f, c in self.coverage], "considered": self.considered,
                "by_key": dict(self.by_key), "keys": list(self.keys), "tested": self.tested,
                "untested": self.untested, "widened": self.widened, "widened_to": self.widened_to,
                "budget_exhausted": self.budget_exhausted,
                "first_cut_seconds": round(self.first_cut_seconds, 4), "seconds": round(self.seconds, 3)}


class _Views:
    """Decoded fingerprints of one index, kept between searches (a view decodes its tokenizer once)."""

    def __init__(self, maxsize: int = 16) -> None:
        self.maxsize = maxsize
        self._d: OrderedDict[tuple[str, int], FingerprintView] = OrderedDict()

    def get(self, store: IndexStore, mid: int) -> FingerprintView:
        key = (store.path, mid)
        if key in self._d:
            self._d.move_to_end(key)
            return self._d[key]
        v = FingerprintView(store.fingerprint(mid))
        self._d[key] = v
        while len(self._d) > self.maxsize:
            self._d.popitem(last=False)
        return v

    def clear(self) -> None:
        self._d.clear()


VIEWS = _Views()


def search(
    store: IndexStore, fp: Fingerprint, *, k: int = 5, size: int = 20, exclude: int | None = None,
    seed: int = defaults.SEED, thorough: bool = False, widen: bool = True, exhaustive_below: int = EXHAUSTIVE_BELOW,
    widen_factor: int = 5, budget_s: float | None = None, progress: Callable[[str], None] | None = None,
) -> SearchResult:
    """Nearest ancestors of ``fp`` in ``store`` (module docstring): at most ``k`` hits, related first.

    ``thorough`` tests the whole shortlist even after a related model is found; ``widen=False`` never goes beyond
    the shortlist; ``budget_s`` stops the exact tests after that many seconds (what was left is counted)."""
    import taoke

    t0 = time.perf_counter()
    indexed, coverage = store.coverage()
    cut = first_cut(store, fp, size=size, exclude=exclude)
    va = FingerprintView(fp)
    tested: dict[int, Hit] = {}
    over = False

    def test(cands: Sequence[Candidate], *, stop_when_found: bool) -> int:
        """Test candidates in order; returns how many were left untested."""
        nonlocal over
        for j, c in enumerate(cands):
            if c.model_id in tested:
                continue
            if stop_when_found and not c.strong and any(h.related for h in tested.values()):
                return sum(x.model_id not in tested for x in cands[j:])
            if budget_s is not None and time.perf_counter() - t0 > budget_s:
                over = True
                return sum(x.model_id not in tested for x in cands[j:])
            m = store.model(c.model_id)
            vb = VIEWS.get(store, c.model_id)
            v = taoke.compare(vb, va, seed=seed)  # candidate ancestor as A, the query as B
            d = summarise(v, vb, va)
            tested[c.model_id] = Hit(m.name, m.id, m.location, d["kind"], d["sentence"], d["log10_p"],
                                     d["similarity"], round(c.sketch_similarity, 4), c.token_jaccard, c.via,
                                     v.to_dict())  # fmt: skip
            if progress:
                progress(f"{m.name}: {d['kind']}")
        return 0

    untested = test(cut.shortlist, stop_when_found=not thorough)
    widened: str | None = None
    widened_to = 0
    if widen and not over and not any(h.related for h in tested.values()):
        if indexed <= exhaustive_below:
            widened = "exhaustive"
            rest = [Candidate(mid, ("all",)) for mid in store.ids() if mid != exclude and mid not in tested]
            widened_to = indexed - (1 if exclude is not None else 0)
        else:
            widened = "wider cut"
            wide = first_cut(store, fp, size=size * widen_factor, exclude=exclude, hidden_bucket=True)
            rest = [c for c in wide.shortlist if c.model_id not in tested]
            widened_to = wide.considered
        untested = test(rest, stop_when_found=True)
    hits = sorted(tested.values(), key=_rank)
    return SearchResult(fp.name or fp.location, tuple(hits[:k]), indexed, coverage, cut.considered, cut.by_key,
                        cut.keys, len(tested), untested, widened, widened_to, cut.seconds, time.perf_counter() - t0,
                        over)  # fmt: skip
