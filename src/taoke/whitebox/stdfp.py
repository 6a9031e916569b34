"""The per-layer standard-deviation fingerprint — the statistic of the Pangu-vs-Qwen accusation — and its null.

The chart that circulated in that case plotted, for each layer, the standard deviation of the attention
projections (Q, K, V, O) of two models and reported the correlation of the two curves (0.927). taoke computes the
same thing (Pearson correlation of the concatenated per-layer std vectors of q/k/v/o) and, crucially, places it
against a *real* null: the published per-layer parameter-distribution fingerprint scores ("pdf") of 8,698 pairs
of models from different families in the TensorLock study (137 models, 17 families). There unrelated pairs have
mean 0.454, 99th percentile 0.912 and maximum 0.928, so a correlation of 0.927 is at the very top of what
unrelated models reach and is no evidence of derivation on its own.

Concessions and known failure modes (measured, shared/notes): the statistic is undefined for models of different
depth; it breaks on a derived model whose norm gains were folded into the weights; and a model with random
weights that only match each tensor's mean and std scores ~0.9999. It is reported, never used for the verdict.
The published "pdf" scores are the closest published null to this statistic, not an identical computation.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from taoke.roles import RoleName, layer_role
from taoke.whitebox.source import EvidenceSource

PARTS = (RoleName.ATTN_Q, RoleName.ATTN_K, RoleName.ATTN_V, RoleName.ATTN_O)


def layer_stds(view: EvidenceSource) -> np.ndarray:
    """(layers, 4) standard deviations of q, k, v, o per layer (NaN where a projection is missing)."""
    out = np.full((view.layers, len(PARTS)), np.nan)
    for i in range(view.layers):
        for j, p in enumerate(PARTS):
            role = layer_role(i, p)
            if view.has(role):
                kept = view.role_std(role)  # a fingerprint keeps the std, not the tensor
                out[i, j] = float(kept) if kept is not None else float(np.std(view.get(role)))
    return out


@functools.lru_cache(maxsize=4)
def published_null(method: str = "pdf") -> np.ndarray:
    """Sorted cross-family scores of a published method (see ``scripts/build_published_null.py``)."""
    doc = json.loads(resources.files("taoke.data").joinpath("published_null.json").read_text())
    return np.asarray(doc["methods"][method]["cross_family"], dtype=np.float64)


def empirical_p(observed: float, null: np.ndarray) -> float:
    """One-sided empirical p-value ``(1 + #{null >= observed}) / (n + 1)``.

    >>> empirical_p(0.5, np.array([0.1, 0.6, 0.7]))
    0.75
    """
    return float((1 + np.sum(null >= observed)) / (len(null) + 1))


@dataclass(frozen=True)
class StdFingerprint:
    correlation: float | None  # None when not computable (different depth, no attention roles)
    n_values: int
    null_p: float | None  # share of published unrelated pairs scoring at least as high
    null_percentile: float | None
    null_name: str
    stds_a: tuple[tuple[float, ...], ...]
    stds_b: tuple[tuple[float, ...], ...]
    note: str

    def to_dict(self) -> dict[str, object]:
        return {
            "statistic": "pearson correlation of per-layer std of q/k/v/o",
            "correlation": None if self.correlation is None else round(self.correlation, 5),
            "n_values": self.n_values,
            "p_value_vs_published_unrelated": self.null_p,
            "percentile_among_unrelated": self.null_percentile,
            "null": self.null_name,
            "note": self.note,
            "stds_a": [list(r) for r in self.stds_a],
            "stds_b": [list(r) for r in self.stds_b],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StdFingerprint:
        def rows(x: Any) -> tuple[tuple[float, ...], ...]:
            return tuple(tuple(float("nan") if v is None else float(v) for v in r) for r in x or ())

        return cls(d.get("correlation"), int(d.get("n_values", 0)), d.get("p_value_vs_published_unrelated"),
                   d.get("percentile_among_unrelated"), str(d.get("null", "")), rows(d.get("stds_a")),
                   rows(d.get("stds_b")), str(d.get("note", "")))  # fmt: skip


def std_fingerprint(a: EvidenceSource, b: EvidenceSource) -> StdFingerprint:
    sa, sb = layer_stds(a), layer_stds(b)
    null = published_null("pdf")
    name = f"TensorLock 'pdf' scores of {len(null)} cross-family pairs (137 real models, 17 families)"
    rnd = lambda s: tuple(tuple(round(float(x), 6) for x in r) for r in s)  # noqa: E731
    if sa.shape != sb.shape:
        return StdFingerprint(None, 0, None, None, name, rnd(sa), rnd(sb),
                              f"not computable: {sa.shape[0]} vs {sb.shape[0]} layers")  # fmt: skip
    mask = np.isfinite(sa) & np.isfinite(sb)
    x, y = sa[mask], sb[mask]
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return StdFingerprint(None, int(x.size), None, None, name, rnd(sa), rnd(sb), "not computable: too few values")
    r = float(np.corrcoef(x, y)[0, 1])
    p = empirical_p(r, null)
    pct = float(100.0 * np.mean(null < r))
    note = (
        f"a correlation of {r:.3f} is reached or exceeded by {100 * p:.2f}% of unrelated published pairs; "
        "this statistic alone does not show derivation"
    )
    return StdFingerprint(r, int(x.size), p, round(pct, 2), name, rnd(sa), rnd(sb), note)
