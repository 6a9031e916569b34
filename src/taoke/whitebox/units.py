"""Hidden-unit matching and the matching-agreement independence test (after Zhu et al., ICML 2025,
arXiv:2502.12292, "unconstrained setting").

Idea. A hidden unit ``u`` of an MLP layer owns three vectors in the residual basis: the row of ``up`` (and of
``gate`` in GLU MLPs) that reads from the residual stream and the column of ``down`` that writes to it. Match the
units of a layer of A with those of a layer of B twice, *independently*: once by the read vectors (Hungarian
assignment on |cosine|) and once by the write vectors. If B's layer descends from A's (even after fine-tuning,
noise, a permutation of units or heads, a rotation of the residual stream with norms folded in, or pruning), both
matchings recover the same correspondence, so they agree on most units. If the two layers were trained
independently, each matching is driven by unrelated structure and the two agree on about one unit, like two
independent random permutations (the number of fixed points of a uniform random permutation is ≈ Poisson(1)).

Statistic and p-value. ``k`` = number of A-units on which the two matchings pick the same B-unit. Under the null
that one matching is a uniformly random injection independent of the other, the expected number of k-subsets of
agreeing units is at most ``1/k!``, so ``P(K >= k) <= 1/k!`` — an exact bound, computed in log space (no
Monte-Carlo floor, no fitted tail). We multiply by the number of part pairs tried and the number of candidate
A-layers screened for each B-layer (Bonferroni), so the reported ``log10_p`` is conservative *under that null*.
Zhu et al. note that in the unconstrained setting this null is not exact, and taoke measured where it breaks:
on SmolLM2-135M vs Gemma-3-270M (unrelated) interior layers agree on 0–7 of 1536 units, but the *last* layer pair
agrees on 132–192 and the first on up to 11 — units next to the shared vocabulary (which anchors the basis
alignment) converge in unrelated models. So the model-level p-value uses only interior layers (all but the first
and last layer of B) and combines them robustly: with ``L`` interior layers and ``m`` a strict majority, it is
the probability that at least ``m`` independent layers reach the m-th smallest layer p-value ``t``:
``P(Bin(L, t) >= m) <= C(L, m) t^m``. A few convergent layers cannot make a model "derived"; a copy of most
layers can. ``taoke eval`` reports the agreement counts measured on real independent pairs beside it — the
false-positive rate a reader should trust.

Layer map. Every (A-layer, B-layer) pair is screened cheaply (mean best |cosine| of a seeded sample of A's read
vectors against all of B's), each B-layer is tested against its best-screened A-layer, and the result is the
per-layer map (so layer subsets, duplications and partial copies show).

Concessions: attention heads are not matched (MLP units carry the test); the screen uses ``sample`` read vectors
per layer and the agreement test a seeded sample of ``units`` A-units per layer (matched against all of B's
units; the 1/k! bound holds for any subset); matrices are held in float32, one layer of each model at a time
(:func:`unit_test_streamed`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LN10 = math.log(10.0)


def log10_agreement_tail(k: int) -> float:
    """log10 of the bound ``1/k!`` on P(K >= k) for agreements of independent matchings (0.0 for k <= 1).

    >>> round(log10_agreement_tail(10), 3)
    -6.56
    """
    if k <= 1:
        return 0.0
    return -math.lgamma(k + 1) / LN10


def _normalize(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32, copy=False)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def match_units(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Hungarian matching of rows of ``a`` (n_a, d) to rows of ``b`` (n_b, d) on |cosine|.

    Returns ``(pi, mean_abs_cos)`` with ``pi[i]`` the B-row matched to A-row ``i`` (-1 if unmatched, when
    n_a > n_b).
    """
    c = np.abs(_normalize(a) @ _normalize(b).T)
    from scipy.optimize import linear_sum_assignment  # here, not at the top: importing it costs ~0.5 s
    rows, cols = linear_sum_assignment(c, maximize=True)
    pi = np.full(a.shape[0], -1, dtype=np.int64)
    pi[rows] = cols
    return pi, float(c[rows, cols].mean())


@dataclass(frozen=True)
class LayerMatch:
    """The test of one B-layer against its best-screened A-layer."""

    layer_b: int
    layer_a: int
    units_a: int
    units_b: int
    agreement: int  # units on which the two independent matchings agree
    parts: tuple[str, str]  # the two vector kinds whose matchings were compared
    matched_cos: float  # mean |cos| of the read-vector matching (effect size)
    screen: float  # screening score of this pair
    log10_p: float  # conservative bound (see module docstring)

    tested_units: int = 0  # A-units sampled for the agreement test

    @property
    def agreement_rate(self) -> float:
        return self.agreement / max(1, self.tested_units or min(self.units_a, self.units_b))

    def to_dict(self) -> dict[str, object]:
        return {
            "layer_b": self.layer_b,
            "layer_a": self.layer_a,
            "units_a": self.units_a,
            "units_b": self.units_b,
            "agreement": self.agreement,
            "agreement_rate": round(self.agreement_rate, 4),
            "parts": list(self.parts),
            "matched_cos": round(self.matched_cos, 4),
            "screen": round(self.screen, 4),
            "log10_p": round(self.log10_p, 2),
            "tested_units": self.tested_units,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LayerMatch:
        p = d["parts"]
        return cls(int(d["layer_b"]), int(d["layer_a"]), int(d["units_a"]), int(d["units_b"]), int(d["agreement"]),
                   (str(p[0]), str(p[1])), float(d["matched_cos"]), float(d["screen"]), float(d["log10_p"]),
                   int(d.get("tested_units", 0)))  # fmt: skip


def interior_layers(n_layers: int) -> list[int]:
    """Layers used for the model-level p-value: all but the first and the last (all, for models of < 3 layers).

    >>> interior_layers(5), interior_layers(2)
    ([1, 2, 3], [0, 1])
    """
    if n_layers < 3:
        return list(range(n_layers))
    return list(range(1, n_layers - 1))


def majority_log10_p(log10_ps: list[float]) -> float:
    """Robust combination: log10 of ``C(L, m) t^m`` with m a strict majority and t the m-th smallest p.

    >>> round(majority_log10_p([-10.0, -10.0, 0.0]), 3)   # 2 of 3 layers at 1e-10
    -19.523
    """
    if not log10_ps:
        return 0.0
    lp = sorted(log10_ps)
    n = len(lp)
    m = n // 2 + 1
    t = lp[m - 1]
    log10_binom = (math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1)) / LN10
    return min(0.0, log10_binom + m * t)


@dataclass(frozen=True)
class UnitTestResult:
    matches: tuple[LayerMatch, ...]
    screen: np.ndarray  # (layers_a, layers_b) screening scores
    log10_p: float  # model level: majority combination over interior layers
    interior: tuple[int, ...]  # the B-layers that entered log10_p
    null: str = (
        "agreement of two independent unit matchings (P <= 1/k!), Bonferroni over part pairs and candidate "
        "layers; majority combination over interior layers"
    )

    def to_dict(self) -> dict[str, object]:
        return {
            "log10_p": round(self.log10_p, 2),
            "interior_layers": list(self.interior),
            "null": self.null,
            "layers": [m.to_dict() for m in self.matches],
            "screen": np.round(self.screen, 4).tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UnitTestResult:
        return cls(tuple(LayerMatch.from_dict(m) for m in d.get("layers") or ()),
                   np.asarray(d.get("screen") or [], dtype=np.float64), float(d["log10_p"]),
                   tuple(int(x) for x in d.get("interior_layers") or ()), str(d.get("null", "")))  # fmt: skip


LayerLoader = Callable[[int, "tuple[str, ...] | None"], dict[str, np.ndarray]]


def _screen(
    n_a: int, n_b: int, read_a: Callable[[int], np.ndarray], read_b: Callable[[int], np.ndarray], *,
    rng: np.random.Generator, sample: int,
) -> np.ndarray:  # fmt: skip
    """(L_A, L_B) matrix: mean over sampled A read-vectors of the best |cos| among a B layer's read-vectors."""
    # A: keep only the sampled read vectors of each layer; B: one layer at a time (memory: one layer + samples)
    picks: list[np.ndarray] = []
    for i in range(n_a):
        ra = read_a(i)
        k = min(sample, ra.shape[0])
        picks.append(_normalize(ra[rng.choice(ra.shape[0], size=k, replace=False)]))
        del ra
    bounds = np.cumsum([0] + [x.shape[0] for x in picks])
    sa = np.concatenate(picks, axis=0)
    out = np.zeros((n_a, n_b), dtype=np.float64)
    for j in range(n_b):
        best = np.abs(sa @ _normalize(read_b(j)).T).max(axis=1)
        for i in range(n_a):
            out[i, j] = float(best[bounds[i] : bounds[i + 1]].mean())
    return out


def unit_test(
    parts_a: list[dict[str, np.ndarray]],
    parts_b: list[dict[str, np.ndarray]],
    *,
    rng: np.random.Generator,
    sample: int = 16,
    units: int = 256,
) -> UnitTestResult:
    """Run the screen and the agreement test. ``parts_*[layer]`` = ``{"up","down"[,"gate"]: (units, d)}``, with B
    already mapped into A's residual basis (see :mod:`taoke.whitebox.align`)."""
    def load_a(i: int, _parts: tuple[str, ...] | None) -> dict[str, np.ndarray]:
        return parts_a[i]

    def load_b(j: int, _parts: tuple[str, ...] | None) -> dict[str, np.ndarray]:
        return parts_b[j]

    return unit_test_streamed(len(parts_a), len(parts_b), load_a, load_b, rng=rng, sample=sample, units=units)


def unit_test_streamed(
    n_a: int,
    n_b: int,
    load_a: LayerLoader,
    load_b: LayerLoader,
    *,
    rng: np.random.Generator,
    sample: int = 16,
    units: int = 256,
    labels_a: Sequence[int] | None = None,
    labels_b: Sequence[int] | None = None,
    all_interior: bool = False,
) -> UnitTestResult:
    """:func:`unit_test` on layers loaded on demand: ``load_x(layer, parts)`` returns that layer's parts (only
    ``parts``, e.g. ``("up",)``, when given; all when None), B already in A's basis. At most one layer of each model
    is held at a time, so memory is bounded by a layer, not by depth; the read vectors are loaded twice (screen,
    then test) — the price of that bound. Same random draws, hence the same result, as the list form.
    ``labels_*`` name the layers in the result (default 0..n-1) when a subset of layers is tested;
    ``all_interior`` counts every tested B-layer in the model-level p-value (a fingerprint's evenly spaced unit
    layers are interior already)."""
    read_key = "up"
    screen = _screen(
        n_a, n_b, lambda i: load_a(i, (read_key,))[read_key], lambda j: load_b(j, (read_key,))[read_key],
        rng=rng, sample=sample,
    )  # fmt: skip
    matches: list[LayerMatch] = []
    for j in range(n_b):
        i = int(np.argmax(screen[:, j]))
        pa, pb = load_a(i, None), load_b(j, None)
        n_a_units = pa[read_key].shape[0]
        if n_a_units > units:
            keep = np.sort(rng.choice(n_a_units, size=units, replace=False))
            pa = {k: v[keep] for k, v in pa.items()}
        kinds = [k for k in ("gate", "up", "down") if k in pa and k in pb]
        pis: dict[str, np.ndarray] = {}
        cos_read = 0.0
        for k in kinds:
            pis[k], c = match_units(pa[k], pb[k])
            if k == read_key:
                cos_read = c
        pairs = [(x, y) for n, x in enumerate(kinds) for y in kinds[n + 1 :]]
        best, best_pair = 0, ("-", "-")
        for x, y in pairs:
            agree = int(np.sum((pis[x] == pis[y]) & (pis[x] >= 0)))
            if agree > best or best_pair == ("-", "-"):
                best, best_pair = agree, (x, y)
        log10_p = log10_agreement_tail(best) + math.log10(max(1, len(pairs))) + math.log10(n_a)
        matches.append(
            LayerMatch(
                layer_b=j if labels_b is None else int(labels_b[j]), layer_a=i if labels_a is None else int(labels_a[i]),
                units_a=n_a_units, units_b=pb[read_key].shape[0],
                agreement=best, parts=best_pair, matched_cos=cos_read, screen=float(screen[i, j]),
                log10_p=min(0.0, log10_p), tested_units=pa[read_key].shape[0],
            )  # fmt: skip
        )
        del pa, pb
    interior = list(range(len(matches))) if all_interior else interior_layers(len(matches))
    model_p = majority_log10_p([matches[j].log10_p for j in interior])
    return UnitTestResult(tuple(matches), screen, model_p, tuple(matches[j].layer_b for j in interior))
