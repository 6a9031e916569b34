"""Tensor-by-tensor comparison: identical, or re-packaged within the precision of the storage formats.

For every canonical role the two models share with the same shape (orientation already canonical, so renamed and
transposed copies compare directly; a square matrix whose role was inferred from shapes is also tried
transposed), a seeded sample of rows is read from both and compared. The allowed error of a role is derived from
the storage formats of its two tensors (the relative RMS error a format's rounding produces on bell-shaped
weights, with a factor-two margin; for two lossy formats the root-sum-square): e.g. F32 1e-6, BF16 1e-2, Q8_0
0.02, int8×scale 0.03, Q6_K 0.04, Q5_x 0.08, Q4_x 0.15. These follow from the formats' bit widths, not from
test data.

"Re-packaged" therefore means: the same weights up to the precision that the lossier file can hold. A change
smaller than that precision (e.g. 1% noise, then 4-bit quantisation) cannot be told from re-packaging, and the
report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: relative RMS error a storage format's rounding can introduce (2x the expected value for bell-shaped weights)
FORMAT_PRECISION: dict[str, float] = {
    "F64": 1e-9, "F32": 1e-6, "F16": 2e-3, "BF16": 1e-2, "F8_E4M3": 0.08, "F8_E5M2": 0.15,
    "Q8_0": 0.02, "Q8_1": 0.02, "Q8_K": 0.02, "INT8xSCALE": 0.03, "Q6_K": 0.04,
    "Q5_0": 0.08, "Q5_1": 0.08, "Q5_K": 0.08, "Q4_0": 0.15, "Q4_1": 0.15, "Q4_K": 0.15,
    "IQ4_NL": 0.15, "IQ4_XS": 0.15, "Q3_K": 0.3, "Q2_K": 0.5,
}  # fmt: skip
UNKNOWN_FORMAT_PRECISION = 0.5


def tolerance(dtype_a: str, dtype_b: str) -> float:
    """Allowed relative error between two copies stored as ``dtype_a`` and ``dtype_b``.

    >>> tolerance("F32", "F32")
    1.4142135623730952e-06
    """
    ta = FORMAT_PRECISION.get(dtype_a, UNKNOWN_FORMAT_PRECISION)
    tb = FORMAT_PRECISION.get(dtype_b, UNKNOWN_FORMAT_PRECISION)
    return math.hypot(ta, tb)


@dataclass(frozen=True)
class RoleDiff:
    role: str
    shape: tuple[int, ...]
    dtypes: tuple[str, str]
    rows_compared: int
    rel_err: float
    tolerance: float
    identical: bool
    transposed: bool = False
    informative: bool = True  # values agree within precision *and* are enough (≥ 64, ≥ 16 distinct) to be no coincidence

    @property
    def within(self) -> bool:
        return self.identical or self.rel_err <= self.tolerance

    def to_dict(self) -> dict[str, object]:
        return {
            "role": self.role,
            "shape": list(self.shape),
            "dtypes": list(self.dtypes),
            "rows_compared": self.rows_compared,
            "rel_err": float(f"{self.rel_err:.3g}"),
            "tolerance": float(f"{self.tolerance:.3g}"),
            "identical": self.identical,
            "within_precision": self.within,
            "transposed": self.transposed,
            "informative": self.informative,
        }


@dataclass(frozen=True)
class ExactResult:
    roles_a: int
    roles_b: int
    diffs: tuple[RoleDiff, ...]

    @property
    def compared(self) -> int:
        return len(self.diffs)

    @property
    def same_role_set(self) -> bool:
        return self.roles_a == self.roles_b == self.compared and self.compared > 0

    @property
    def identical(self) -> bool:
        return self.same_role_set and all(d.identical for d in self.diffs)

    @property
    def repackaged(self) -> bool:
        return self.same_role_set and all(d.within for d in self.diffs)

    @property
    def shared_matrices(self) -> tuple[RoleDiff, ...]:
        """2-D roles whose informative sampled values (≥ 64, ≥ 16 distinct) agree within storage precision: copied
        matrices. Independent training does not produce one: over the 16 independent pairs of ``taoke eval`` (15
        tiny Llamas, std-matched SmolLM2) no 2-D role pair comes closer than relative error 1.24, against the cap
        of 0.5 used here (measured); a partial copy (an up-cycled MoE keeping attention and
        embeddings, a model with a new MLP) does."""
        return tuple(
            d for d in self.diffs
            if (d.identical or d.rel_err <= min(d.tolerance, 0.5)) and d.informative and len(d.shape) == 2
        )  # fmt: skip

    @property
    def worst(self) -> RoleDiff | None:
        return max(self.diffs, key=lambda d: d.rel_err / max(d.tolerance, 1e-30), default=None)

    def to_dict(self) -> dict[str, object]:
        w = self.worst
        return {
            "roles_a": self.roles_a,
            "roles_b": self.roles_b,
            "roles_compared": self.compared,
            "identical": self.identical,
            "within_precision": self.repackaged,
            "worst": None if w is None else w.to_dict(),
            "roles": [d.to_dict() for d in self.diffs],
        }


def _dtype(model: object, role: str) -> str:
    try:
        ref = model.roles.refs[role]  # type: ignore[attr-defined]
        return str(model.checkpoint.info(ref.name).dtype)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - views without checkpoints (fingerprints) report unknown
        return "?"


def _how(model: object, role: str) -> str:
    ref = model.roles.refs.get(role)  # type: ignore[attr-defined]
    return str(ref.how) if ref is not None else "name"


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:  # e.g. a fingerprint's fixed sample against a transposed read: not comparable
        return math.inf
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30))


def _is_fallback(model: object) -> bool:
    return str(getattr(model.roles, "method", "")) == "shape-fallback"  # type: ignore[attr-defined]


def compare_tensors(a: object, b: object, *, rng: np.random.Generator, rows: int = 32) -> ExactResult:
    """Compare the roles of ``a`` and ``b`` (``taoke.model.Model``-like) on a seeded sample of rows.

    Roles are paired by name when both role maps come from names. When either side's roles were inferred from
    shapes (every tensor renamed), names cannot be trusted — layer numbers follow file order and gate/up are
    ambiguous — so each tensor of B is paired by *content* with the unused tensor of A of the same shape that it
    matches best (a square matrix is also tried transposed).
    """
    refs_a = a.roles.refs  # type: ignore[attr-defined]
    refs_b = b.roles.refs  # type: ignore[attr-defined]
    sels: dict[int, np.ndarray | None] = {}
    cache: dict[tuple[int, str], np.ndarray] = {}
    full_cache: dict[str, np.ndarray] = {}

    def sel_for(n: int) -> np.ndarray | None:
        if n not in sels:
            sels[n] = None if n <= rows else np.sort(rng.choice(n, size=rows, replace=False))
        return sels[n]

    def sample(side: int, model: object, role: str, shape: tuple[int, ...]) -> np.ndarray:
        key = (side, role)
        if key not in cache:
            cache[key] = model.get(role, rows=sel_for(shape[0] if shape else 1))  # type: ignore[attr-defined]
        return cache[key]

    def columns_of_a(role: str, shape: tuple[int, ...]) -> np.ndarray:
        if role not in full_cache:
            full_cache[role] = a.get(role)  # type: ignore[attr-defined]
        sel = sel_for(shape[0])
        full = full_cache[role]
        return full.T if sel is None else full[:, sel].T

    def diff(ra: str, rb: str, shape: tuple[int, ...], xa: np.ndarray, xb: np.ndarray, tr: bool) -> RoleDiff:
        dts = (_dtype(a, ra), _dtype(b, rb))
        label = rb if ra == rb else f"{rb} = A:{ra}"
        same, rel, tol = bool(np.array_equal(xa, xb)), _rel(xa, xb), tolerance(*dts)
        # counting distinct values is only needed where the values agree (the partial-copy rule reads it there)
        informative = (same or rel <= tol) and xa.size >= 64 and np.unique(xa).size >= 16
        return RoleDiff(label, shape, dts, int(xa.shape[0]) if xa.ndim else 1, rel, tol, same, tr,
                        bool(informative))  # fmt: skip

    diffs: list[RoleDiff] = []
    if not (_is_fallback(a) or _is_fallback(b)):
        for role in sorted(set(refs_a) & set(refs_b)):
            sa, sb = tuple(refs_a[role].shape), tuple(refs_b[role].shape)
            if sa != sb:
                continue
            diffs.append(diff(role, role, sa, sample(0, a, role, sa), sample(1, b, role, sb), False))
        return ExactResult(len(refs_a), len(refs_b), tuple(diffs))

    by_shape: dict[tuple[int, ...], list[str]] = {}
    for ra, ref in refs_a.items():
        by_shape.setdefault(tuple(ref.shape), []).append(ra)
    used: set[str] = set()
    for rb in sorted(refs_b):
        sb = tuple(refs_b[rb].shape)
        cands = [ra for ra in by_shape.get(sb, []) if ra not in used]
        if not cands:
            continue
        xb = sample(1, b, rb, sb)
        best = min(cands, key=lambda ra: _rel(sample(0, a, ra, sb), xb))
        d = diff(best, rb, sb, sample(0, a, best, sb), xb, False)
        if not d.within and len(sb) == 2 and sb[0] == sb[1]:
            best_t = min(cands, key=lambda ra: _rel(columns_of_a(ra, sb), xb))
            dt = diff(best_t, rb, sb, columns_of_a(best_t, sb), xb, True)
            if dt.rel_err < d.rel_err:
                best, d = best_t, dt
        used.add(best)
        diffs.append(d)
    return ExactResult(len(refs_a), len(refs_b), tuple(diffs))
