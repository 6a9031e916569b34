"""Tensor-by-tensor comparison: identical, or re-packaged within the precision of the storage formats.

For every canonical role the two models share with the same shape (orientation already canonical, so renamed and
transposed copies compare directly; a square matrix whose role was inferred from shapes is also tried
transposed), a seeded sample of rows is read from both and compared. The allowed error of a role is derived from
the storage formats of its two tensors (the relative RMS error a format's rounding produces on bell-shaped
weights, with a factor-two margin; for two lossy formats the root-sum-square): e.g. F32 1e-6, BF16 1e-2, Q8_0
0.02, int8×scale 0.03, Q6_K 0.04, Q5_x 0.08, Q4_x 0.15. These follow from the formats' bit widths, not from
test data.

The tolerance alone would call a copy with a change smaller than the lossier format's precision (e.g. 1.5 % noise
on a dequantised Q4_1 file) "re-packaged". So every matrix that agrees within precision without being bit-identical
also gets the storage-identity test of :mod:`taoke.whitebox.requant` on the same sampled rows: re-quantising (or
casting) one side must reproduce the other's blocks. "Re-packaged" therefore means: every role within precision
*and* no role whose blocks fail to reproduce; a role that fails is *modified* (the verdict is then ``derived``).
Roles the identity test cannot check (no quantiser for the type, an importance-matrix quantisation, a fingerprint's
scattered cells) keep the tolerance rule, and the result lists them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from taoke.whitebox.requant import FLOAT_TYPES, REPRODUCE_MIN, StorageCheck, check_storage, imatrix_declared
from taoke.whitebox.source import ROLE_METHOD_SHAPES, EvidenceSource, FixedCells

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
    role: str  # B's role
    shape: tuple[int, ...]
    dtypes: tuple[str, str]
    rows_compared: int
    rel_err: float
    tolerance: float
    identical: bool
    transposed: bool = False
    informative: bool = True  # values agree within precision *and* are enough (≥ 64, ≥ 16 distinct) to be no coincidence
    renamed_from: str | None = None  # A's role when B's tensor was paired with another role of A (shape fallback)
    within_precision: bool | None = None  # as measured, when read back from JSON (whose numbers are rounded)

    @property
    def label(self) -> str:
        """``role``, or ``role = A:other`` when the tensor was paired with another role of A (as in the JSON)."""
        return self.role if self.renamed_from is None else f"{self.role} = A:{self.renamed_from}"

    @property
    def within(self) -> bool:
        if self.within_precision is not None:
            return self.within_precision
        return self.identical or self.rel_err <= self.tolerance

    def to_dict(self) -> dict[str, object]:
        return {
            "role": self.label,
            "shape": list(self.shape),
            "dtypes": list(self.dtypes),
            "rows_compared": self.rows_compared,
            "rel_err": float(f"{self.rel_err:.3g}"),
            "tolerance": float(f"{self.tolerance:.3g}"),
            "identical": self.identical,
            "within_precision": self.within,
            "transposed": self.transposed,
            "informative": self.informative,
            "renamed_from": self.renamed_from,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RoleDiff:
        renamed = d.get("renamed_from")
        role = str(d["role"])
        if renamed is not None:
            role = role.removesuffix(f" = A:{renamed}")
        return cls(role, tuple(int(x) for x in d["shape"]), (str(d["dtypes"][0]), str(d["dtypes"][1])),
                   int(d["rows_compared"]), _float(d["rel_err"]), _float(d["tolerance"]), bool(d["identical"]),
                   bool(d.get("transposed", False)), bool(d.get("informative", True)),
                   None if renamed is None else str(renamed), bool(d["within_precision"]))  # fmt: skip


@dataclass(frozen=True)
class ExactResult:
    roles_a: int
    roles_b: int
    diffs: tuple[RoleDiff, ...]
    worst_role: str | None = None  # as measured, when read back from JSON (rounded errors may tie)
    storage: tuple[StorageCheck, ...] = ()  # storage identity of the matrices within precision (taoke.whitebox.requant)

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
        """Same roles, every one within storage precision, and no matrix whose blocks fail to reproduce."""
        return self.same_role_set and all(d.within for d in self.diffs) and not self.modified

    @property
    def modified(self) -> tuple[StorageCheck, ...]:
        """Matrices within precision whose blocks do not reproduce (:attr:`StorageCheck.modified`): a changed copy."""
        return tuple(c for c in self.storage if c.modified)

    @property
    def unverified(self) -> tuple[StorageCheck, ...]:
        """Matrices within precision that the storage-identity test could not check (the tolerance decided)."""
        return tuple(c for c in self.storage if not c.testable)

    @property
    def blocks(self) -> tuple[int, int]:
        """(reproduced, tested) blocks over every checked matrix."""
        t = [c for c in self.storage if c.testable]
        return sum(c.reproduced for c in t), sum(c.blocks for c in t)

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
        """The role farthest from agreement, relative to its tolerance."""
        if self.worst_role is not None:
            return next((d for d in self.diffs if d.label == self.worst_role), None)
        return max(self.diffs, key=_error_ratio, default=None)

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
            "storage": {"reproduce_min": REPRODUCE_MIN, "blocks_reproduced": self.blocks[0],
                        "blocks_tested": self.blocks[1], "modified": [c.role for c in self.modified],
                        "unverified": [c.role for c in self.unverified],
                        "checks": [c.to_dict() for c in self.storage]},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExactResult:
        w = d.get("worst")
        st = (d.get("storage") or {}).get("checks") or ()
        return cls(int(d["roles_a"]), int(d["roles_b"]), tuple(RoleDiff.from_dict(r) for r in d.get("roles") or ()),
                   None if w is None else str(w["role"]), tuple(StorageCheck.from_dict(c) for c in st))  # fmt: skip


def _error_ratio(d: RoleDiff) -> float:
    """Relative error in units of the role's tolerance."""
    return float(d.rel_err) / max(float(d.tolerance), 1e-30)


def _float(x: Any) -> float:
    """A number as JSON holds it (``null`` for NaN, ``"inf"`` for infinity)."""
    return math.nan if x is None else float(x)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:  # not the same cells: not comparable
        return math.inf
    d = a - b
    return float(math.sqrt(float(np.sum(d * d, dtype=np.float64))) /
                 max(math.sqrt(float(np.sum(a * a, dtype=np.float64))), 1e-30))  # fmt: skip


def compare_tensors(a: EvidenceSource, b: EvidenceSource, *, rng: np.random.Generator, rows: int = 32) -> ExactResult:
    """Compare the roles of ``a`` and ``b`` on a seeded sample of rows.

    Roles are paired by name when both role maps come from names. When either side's roles were inferred from
    shapes (every tensor renamed), names cannot be trusted — layer numbers follow file order and gate/up are
    ambiguous — so each tensor of B is paired by *content* with the unused tensor of A of the same shape that it
    matches best (a square matrix is also tried transposed).

    Cells: ``rows`` seeded random rows of a role, whole rows; when a side holds fixed cells of a 2-D role instead
    of the tensor (a fingerprint, see :meth:`~taoke.whitebox.source.EvidenceSource.fixed_cells`), those cells are
    compared on both sides. A square matrix is tried transposed only where A can serve B's cells transposed.
    """
    shapes_a, shapes_b = a.role_shapes(), b.role_shapes()
    sels: dict[int, np.ndarray | None] = {}
    cache: dict[tuple[int, str, str], np.ndarray | None] = {}
    full_cache: dict[str, np.ndarray] = {}

    def sel_for(n: int) -> np.ndarray | None:
        if n not in sels:
            sels[n] = None if n <= rows else np.sort(rng.choice(n, size=rows, replace=False))
        return sels[n]

    def fixed(role_a: str, role_b: str) -> FixedCells | None:
        """The cells to compare when either side holds fixed cells (B's first: it is the one being placed)."""
        return b.fixed_cells(role_b) or a.fixed_cells(role_a)

    def sample(side: int, src: EvidenceSource, role: str, other: str, shape: tuple[int, ...]) -> np.ndarray | None:
        """The role's sampled values; None when the cells to compare are not held."""
        sel = sel_for(shape[0] if shape else 1)  # drawn even when unused: the same draws for every source
        cells = fixed(role, other) if side == 0 else fixed(other, role)
        key = (side, role, "" if cells is None else other)  # random rows do not depend on the pairing
        if key not in cache:
            if cells is None:
                cache[key] = src.get(role, rows=sel)
            else:
                own = src.fixed_cells(role)
                cache[key] = own.values if own is not None else cells.take(src.get(role, rows=cells.rows))
        return cache[key]

    def columns_of_a(role: str, rb: str, shape: tuple[int, ...]) -> np.ndarray | None:
        """A's role transposed, at the cells B's sample holds; None when A cannot serve them."""
        if a.fixed_cells(role) is not None:
            return None  # a fixed sample holds A[r, c], not the transposed cells A[c, r]
        sel = sel_for(shape[0])
        cells = b.fixed_cells(rb)
        if cells is not None:  # B[r, c] of a transposed copy is A[c, r]
            return np.ascontiguousarray(a.get(role, rows=cells.cols).T[cells.rows], dtype=np.float32)
        if role not in full_cache:
            full_cache[role] = a.get(role)
        full = full_cache[role]
        return full.T if sel is None else full[:, sel].T

    def diff(ra: str, rb: str, shape: tuple[int, ...], xa: np.ndarray, xb: np.ndarray, tr: bool) -> RoleDiff:
        dts = (a.role_dtype(ra), b.role_dtype(rb))
        same, rel, tol = bool(np.array_equal(xa, xb)), _rel(xa, xb), tolerance(*dts)
        # counting distinct values is only needed where the values agree (the partial-copy rule reads it there)
        informative = (same or rel <= tol) and xa.size >= 64 and np.unique(xa).size >= 16
        return RoleDiff(rb, shape, dts, int(xa.shape[0]) if xa.ndim else 1, rel, tol, same, tr,
                        bool(informative), None if ra == rb else ra)  # fmt: skip

    imatrix = (imatrix_declared(a), imatrix_declared(b))
    storage: dict[str, StorageCheck] = {}
    srng = rng.spawn(1)[0]  # the rounding null's draws; spawning leaves the caller's stream untouched

    def check(d: RoleDiff, ra: str, xa: np.ndarray, xb: np.ndarray) -> None:
        """Storage identity of a matrix that agrees within precision without being bit-identical."""
        if d.identical or not d.within or len(d.shape) < 2:
            return
        lossy = any(t not in FLOAT_TYPES for t in d.dtypes)
        if fixed(ra, d.role) is not None:
            why = "a fingerprint holds scattered cells, not whole blocks"
        elif d.transposed and lossy:
            why = "paired transposed: blocks cannot be lined up"
        else:
            storage[d.role] = check_storage(d.role, xa, d.dtypes[0], xb, d.dtypes[1], rng=srng, imatrix=imatrix)
            return
        storage[d.role] = StorageCheck(d.role, d.dtypes, 0, 0, 0, "untestable", d.rel_err, why)

    diffs: list[RoleDiff] = []
    if ROLE_METHOD_SHAPES not in (a.role_method, b.role_method):
        for role in sorted(set(shapes_a) & set(shapes_b)):
            sa, sb = tuple(shapes_a[role]), tuple(shapes_b[role])
            if sa != sb:
                continue
            xa, xb = sample(0, a, role, role, sa), sample(1, b, role, role, sb)
            if xa is not None and xb is not None:
                diffs.append(diff(role, role, sa, xa, xb, False))
                check(diffs[-1], role, xa, xb)
        return ExactResult(len(shapes_a), len(shapes_b), tuple(diffs), storage=tuple(storage.values()))

    by_shape: dict[tuple[int, ...], list[str]] = {}
    for ra, shape in shapes_a.items():
        by_shape.setdefault(tuple(shape), []).append(ra)
    used: set[str] = set()
    for rb in sorted(shapes_b):
        sb = tuple(shapes_b[rb])
        cands = [ra for ra in by_shape.get(sb, []) if ra not in used]
        if not cands:
            continue
        xb = sample(1, b, rb, rb, sb)
        if xb is None:
            continue
        xs = {ra: x for ra in cands if (x := sample(0, a, ra, rb, sb)) is not None}
        if not xs:
            continue
        best = min(xs, key=lambda ra: _rel(xs[ra], xb))
        d, xa_best = diff(best, rb, sb, xs[best], xb, False), xs[best]
        if not d.within and len(sb) == 2 and sb[0] == sb[1]:
            ts = {ra: x for ra in xs if (x := columns_of_a(ra, rb, sb)) is not None}
            if ts:
                best_t = min(ts, key=lambda ra: _rel(ts[ra], xb))
                dt = diff(best_t, rb, sb, ts[best_t], xb, True)
                if dt.rel_err < d.rel_err:
                    best, d, xa_best = best_t, dt, ts[best_t]
        used.add(best)
        diffs.append(d)
        check(d, best, xa_best, xb)
    return ExactResult(len(shapes_a), len(shapes_b), tuple(diffs), storage=tuple(storage.values()))
