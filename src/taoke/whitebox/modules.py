"""Tensors outside the role map: paired by shape and content, or reported as modules one side lacks.

The role map covers the transformer stack; a checkpoint can hold more: a BERT pooler, a SigLIP pooling head, a
resampler's cross-attention, a vision tower's patch embedding, or whole components (a vision tower added to a
language model). "Re-packaged" claims the same weights, so these tensors are compared too: each weight tensor of B
outside the compared roles is paired with the unused tensor of A of the same shape (or of its transpose, looked for
only when none of the same shape is within storage precision) whose seeded sample rows it matches best (as :func:`taoke.whitebox.exact.compare_tensors` pairs renamed tensors); what finds no
partner is *extra* in B or *missing* from B, grouped by module (the tensor name without its last segment).

Buffers that are not weights are ignored: integer and boolean tensors, scalars, and names ending in one of
:data:`BUFFER_SUFFIXES` (rotary ``inv_freq``, ``position_ids``, GPT-2's causal-mask ``attn.bias``/``masked_bias``,
llama.cpp's ``rope_freqs`` which it computes from the config).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from taoke.whitebox.exact import RoleDiff, _rel, tolerance

if TYPE_CHECKING:
    from taoke.model import Model

__all__ = ["BUFFER_SUFFIXES", "ModuleDiff", "ModuleGroup", "compare_leftovers", "group_modules", "weight_names"]

BUFFER_SUFFIXES = ("inv_freq", "position_ids", "masked_bias", "attn.bias", "rope_freqs.weight", "num_batches_tracked")
#: bytes of A's sample rows compare_leftovers keeps between B's tensors (beyond it, a candidate is read again)
_KEEP_BYTES = 256 << 20
_NOT_WEIGHTS = frozenset({"I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL", "INT64", "INT32", "INT8"})


@dataclass(frozen=True)
class ModuleGroup:
    """Tensors of one module (or one whole component) that only one side holds."""

    component: str
    module: str
    tensors: int
    params: int

    @property
    def label(self) -> str:
        return f"{self.module} ({self.tensors} tensor{'s' if self.tensors != 1 else ''}, {self.params:,} parameters)"

    def to_dict(self) -> dict[str, object]:
        return {"component": self.component, "module": self.module, "tensors": self.tensors, "params": self.params}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModuleGroup:
        return cls(str(d["component"]), str(d["module"]), int(d["tensors"]), int(d["params"]))


@dataclass(frozen=True)
class ModuleDiff:
    """The tensors outside the compared role sets: ``matched`` pairs (``role`` = B's tensor name, ``renamed_from``
    = A's), ``extra`` modules only B holds, ``missing`` modules only A holds."""

    matched: tuple[RoleDiff, ...] = ()
    extra: tuple[ModuleGroup, ...] = ()
    missing: tuple[ModuleGroup, ...] = ()

    @property
    def changed(self) -> tuple[RoleDiff, ...]:
        """Matched tensors whose values differ beyond storage precision."""
        return tuple(d for d in self.matched if not d.within)

    @property
    def same_set(self) -> bool:
        """No module only one side holds."""
        return not self.extra and not self.missing

    def to_dict(self) -> dict[str, object]:
        return {"matched": [d.to_dict() for d in self.matched], "extra": [g.to_dict() for g in self.extra],
                "missing": [g.to_dict() for g in self.missing], "changed": [d.label for d in self.changed]}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModuleDiff:
        return cls(tuple(RoleDiff.from_dict(x) for x in d.get("matched") or ()),
                   tuple(ModuleGroup.from_dict(x) for x in d.get("extra") or ()),
                   tuple(ModuleGroup.from_dict(x) for x in d.get("missing") or ()))  # fmt: skip

    def __add__(self, other: ModuleDiff) -> ModuleDiff:
        return ModuleDiff(self.matched + other.matched, self.extra + other.extra, self.missing + other.missing)


def weight_names(model: Model, names: Iterable[str]) -> list[str]:
    """The names among ``names`` that hold weights (see the module docstring for what is ignored)."""
    out = []
    for n in names:
        info = model.checkpoint.info(n)
        if info.dtype.upper() in _NOT_WEIGHTS or info.numel < 2 or n.endswith(BUFFER_SUFFIXES):
            continue
        out.append(n)
    return out


def group_modules(model: Model, names: Sequence[str], component: str, *, whole: str | None = None) -> tuple[ModuleGroup, ...]:
    """``names`` grouped by module (``pooler.dense.weight`` → ``pooler.dense``); ``whole``: one group of that name."""
    infos = model.checkpoint.tensor_infos()
    if whole is not None:
        return (ModuleGroup(component, whole, len(names), sum(infos[n].numel for n in names)),) if names else ()
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(n.rsplit(".", 1)[0] if "." in n else n, []).append(n)
    return tuple(ModuleGroup(component, m, len(ns), sum(infos[n].numel for n in ns)) for m, ns in groups.items())


def compare_leftovers(a: Model, names_a: Sequence[str], b: Model, names_b: Sequence[str], component: str, *,
                      rng: np.random.Generator, rows: int = 32) -> ModuleDiff:  # fmt: skip
    """Pair B's weight tensors ``names_b`` with A's ``names_a`` by shape and content (see the module docstring)."""
    wa, wb = weight_names(a, names_a), weight_names(b, names_b)
    ia, ib = a.checkpoint.tensor_infos(), b.checkpoint.tensor_infos()
    used: set[str] = set()
    matched: list[RoleDiff] = []
    left_b: list[str] = []
    in_b = set(wb)
    # A tensor's partner is searched among A's tensors of its name and those whose name B does not hold (a renamed
    # tensor's old name): a pair whose names agree costs one read per tensor, not one per same-shaped tensor (a
    # DeepSeek-V3 pair has ~700 leftovers, ~60 of each shape). A swap between two names both files hold is then
    # reported as two changed tensors, never as the same weights.
    by_shape: dict[tuple[int, ...], list[str]] = {}
    for na in wa:
        by_shape.setdefault(tuple(ia[na].shape), []).append(na)
    # One seeded row sample per shape, and each of A's samples read once (per orientation) and kept until its tensor
    # is paired: B's leftovers of one shape share A's candidates, so the search costs one read per tensor, not one
    # per (B tensor, candidate) pair (a derived DeepSeek-V3 twin with layers dropped has ~60 candidates of a shape
    # for each of its leftovers: 18 GB over the wire before this).
    samples: dict[tuple[int, ...], np.ndarray | None] = {}
    kept: dict[tuple[str, bool], np.ndarray] = {}
    kept_bytes = 0

    def rows_of(shape: tuple[int, ...]) -> np.ndarray | None:
        if shape not in samples:
            n0 = shape[0] if shape else 1
            samples[shape] = None if n0 <= rows else np.sort(rng.choice(n0, size=rows, replace=False))
        return samples[shape]

    def read_a(na: str, sel: np.ndarray | None, tr: bool) -> np.ndarray:
        nonlocal kept_bytes
        x = kept.get((na, tr))
        if x is None:
            x = _read(a, na, sel, tr)
            if kept_bytes + x.nbytes <= _KEEP_BYTES:
                kept[(na, tr)] = x
                kept_bytes += x.nbytes
        return x

    for nb in sorted(wb, key=lambda n: (-ib[n].numel, n)):
        sb = tuple(ib[nb].shape)

        def open_(shape: tuple[int, ...], nb: str = nb) -> list[str]:
            return [na for na in by_shape.get(shape, ()) if na not in used and (na == nb or na not in in_b)]

        same_cands = open_(sb)
        tr_cands = open_(sb[::-1]) if len(sb) == 2 and sb[0] != sb[1] else []
        if not same_cands and not tr_cands:
            left_b.append(nb)
            continue
        sel = rows_of(sb)
        xb = _read(b, nb, sel, False)
        best: tuple[float, str, bool, np.ndarray] | None = None
        for na in same_cands:
            xa = read_a(na, sel, False)
            r = _rel(xa, xb)
            if best is None or r < best[0]:
                best = (r, na, False, xa)
        # a transposed partner is looked for only when no partner of the same orientation is within storage
        # precision: the sample rows of a transposed tensor are its stored columns, which means reading it whole
        if best is None or not _within(best[0], best[3], xb, tolerance(ia[best[1]].dtype, ib[nb].dtype)):
            for na in tr_cands:
                xa = read_a(na, sel, True)
                r = _rel(xa, xb)
                if best is None or r < best[0]:
                    best = (r, na, True, xa)
        assert best is not None
        r, na, tr, xa = best
        dts = (ia[na].dtype, ib[nb].dtype)
        tol = tolerance(*dts)
        same = bool(np.array_equal(xa, xb))
        matched.append(RoleDiff(nb, sb, dts, int(xb.shape[0]) if xb.ndim else 1, r, tol, same, tr,
                                _within(r, xa, xb, tol) and xa.size >= 64, None if na == nb else na))  # fmt: skip
        used.add(na)
        for key in ((na, False), (na, True)):
            if key in kept:
                kept_bytes -= kept.pop(key).nbytes
    left_a = [n for n in wa if n not in used]
    return ModuleDiff(tuple(matched), group_modules(b, left_b, component), group_modules(a, left_a, component))


def _within(r: float, xa: np.ndarray, xb: np.ndarray, tol: float) -> bool:
    """The sampled rows are the same values (bit-identical, or relative error within storage precision ``tol``)."""
    return r <= tol or bool(np.array_equal(xa, xb))


def _read(m: Model, name: str, sel: np.ndarray | None, transposed: bool) -> np.ndarray:
    if transposed:
        full = np.asarray(m.checkpoint.read(name), dtype=np.float32).T
        return np.ascontiguousarray(full if sel is None else full[sel])
    x = m.checkpoint.read(name, rows=sel) if sel is not None else m.checkpoint.read(name)
    return np.asarray(x, dtype=np.float32)

