"""The null of the tokenizer test: values of the calibrated statistics on real *unrelated* tokenizer pairs.

Shipped inside the reference database (:mod:`taoke.tokenizers._db`), read by the comparison
(:mod:`taoke.tokenizers._compare`): p-values are empirical, ``(1 + #null ≥ observed) / (1 + n_null)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NullDistribution:
    """Values of the calibrated statistics on real unrelated tokenizer pairs."""

    name: str  # e.g. "unrelated-pairs(taoke-data 2026-11-25, 300 pairs)"
    pairs: tuple[tuple[str, str], ...]
    values: dict[str, tuple[float, ...]] = field(default_factory=dict)  # statistic -> sorted values
    max_shared_prefix: int = 0

    @property
    def n(self) -> int:
        return len(self.pairs)

    def p_value(self, statistic: str, observed: float) -> float:
        vals = np.asarray(self.values.get(statistic, ()), dtype=np.float64)
        return float((1 + np.count_nonzero(vals >= observed - 1e-12)) / (1 + vals.size))

    def threshold(self, statistic: str, level: float) -> tuple[float, float]:
        """Smallest observed value that gives p ≤ ``level``, and the false-positive rate at it on the null.

        Values strictly above ``threshold`` are called related; FPR = share of null pairs at or above it.
        """
        vals = np.sort(np.asarray(self.values.get(statistic, ()), dtype=np.float64))[::-1]
        n = vals.size
        # p(obs) = (1 + c) / (1 + n) with c = #null >= obs; need c <= level*(1+n) - 1
        c_max = int(np.floor(level * (1 + n) - 1 + 1e-9))
        if n == 0:
            return float("inf"), float("nan")
        if c_max < 0:
            return float("inf"), 0.0
        # any obs above vals[c_max] (the (c_max+1)-th largest) has c <= c_max
        thr = float(vals[c_max]) if c_max < n else float("-inf")
        fpr = float(np.count_nonzero(vals > thr) / n) if np.isfinite(thr) else 1.0
        return thr, fpr

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n": self.n, "pairs": [list(p) for p in self.pairs],
                "values": {k: list(v) for k, v in self.values.items()}, "max_shared_prefix": self.max_shared_prefix}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NullDistribution:
        return cls(name=str(d["name"]), pairs=tuple(tuple(p) for p in d.get("pairs", ())),  # type: ignore[misc]
                   values={k: tuple(sorted(float(x) for x in v)) for k, v in d.get("values", {}).items()},
                   max_shared_prefix=int(d.get("max_shared_prefix", 0)))
