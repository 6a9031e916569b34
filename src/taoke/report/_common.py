"""What every report adapter shares: the general caveats and small formatting helpers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

GENERAL_CAVEATS = (
    "A p-value says how surprising the observed agreement would be if the two models had been made "
    "independently; it does not say who copied whom or whether both descend from a common ancestor.",
    "Each p-value is only as good as its null: the null each was calibrated against is named in the "
    "evidence table.",
)


def log10_or_none(p: float | None) -> float | None:
    """log10 of a p-value, rounded to 4 decimals (None for no p-value or p = 0).

    >>> log10_or_none(0.01), log10_or_none(None)
    (-2.0, None)
    """
    if p is None:
        return None
    return None if p <= 0 else round(math.log10(p), 4)


def histogram(values: Sequence[float] | np.ndarray, lo: float, hi: float, bins: int) -> dict[str, Any]:
    """A histogram of ``values`` on ``[lo, hi]`` with its summary (n, max, 99th percentile, mean), for plots."""
    v = np.asarray(values, dtype=np.float64)
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return {"edges": [round(float(x), 6) for x in edges], "counts": [int(c) for c in counts], "n": int(v.size),
            "max": round(float(v.max()), 4) if v.size else None,
            "p99": round(float(np.quantile(v, 0.99)), 4) if v.size else None,
            "mean": round(float(v.mean()), 4) if v.size else None}


def fmt(x: Any, nd: int = 4) -> str:
    """A table cell: floats with ``nd`` decimals, None as a dash."""
    return "—" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def short_name(path: Any) -> str:
    """The last component of a path or URL (``?`` for none)."""
    s = str(path or "?").rstrip("/")
    return s.rsplit("/", 1)[-1] or s
