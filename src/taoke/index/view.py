"""A fingerprint seen as a model: what :func:`taoke.whitebox.compare.gather_evidence` reads, served from the record.

:class:`FingerprintView` implements the :class:`taoke.whitebox._view.WeightView` protocol plus ``roles.refs``,
``config``, ``tokenizer()``, ``path``, ``bytes_read``, ``file_size`` and ``card``, and two optional hooks the
white-box code looks for (``embed_rows_available`` in :mod:`taoke.whitebox.compare`, ``role_std`` in
:mod:`taoke.whitebox.stdfp`):

* ``get("embed", rows)`` with anchor ids → the anchor rows (float16 precision; the alignment asks for these);
* ``get(role, rows)`` for any other row request of a 2-D role → the stored exact sample (fixed rows and columns
  that depend only on the shape, identical in every fingerprint). The exact test draws its own random rows; a
  fingerprint answers with its fixed cells on both sides, which is a different sample of the same tensor;
* ``unit_parts(layer)`` (the hook :func:`taoke.whitebox._view.mlp_parts` looks for) → the canonical units only,
  as ``mlp_parts`` would give them on the weights;
* 1-D roles (norm gains, biases) in full;
* a whole square matrix (asked for by the exact test's transposition check) → NaN: not held.

Anything else raises :class:`taoke.errors.TensorNotFound` with a hint that the fingerprint does not hold it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from taoke.errors import TensorNotFound
from taoke.index.fingerprint import Fingerprint, _dq8, vocab_from
from taoke.io.base import ModelCard, ModelConfig


@dataclass(frozen=True)
class _Ref:
    name: str
    shape: tuple[int, ...]
    dtype: str
    how: str
    transposed: bool = False
    stack_index: int | None = None


@dataclass(frozen=True)
class _Info:
    name: str
    shape: tuple[int, ...]
    dtype: str


class _Roles:
    def __init__(self, refs: dict[str, _Ref], family: str, layers: int, method: str) -> None:
        self.refs = refs
        self.method = method
        self.family = family
        self.num_layers = layers

    def __contains__(self, role: object) -> bool:
        return isinstance(role, str) and role in self.refs

    def __getitem__(self, role: str) -> _Ref:
        return self.refs[role]


class _Checkpoint:
    """Just enough of :class:`taoke.io.base.Checkpoint` for the dtype look-ups of the exact test."""

    def __init__(self, refs: dict[str, _Ref], fmt: str) -> None:
        self._by_name = {r.name: r for r in refs.values()}
        self.format = fmt

    def info(self, name: str) -> _Info:
        r = self._by_name.get(name)
        if r is None:
            raise TensorNotFound(f"tensor {name!r} is not described by this fingerprint")
        return _Info(name, r.shape, r.dtype)


class FingerprintView:
    """A :class:`~taoke.index.fingerprint.Fingerprint` usable in place of a :class:`taoke.model.Model`."""

    def __init__(self, fp: Fingerprint) -> None:
        self.fp = fp
        h = fp.header
        refs = {
            role: _Ref(str(d["name"]), tuple(int(x) for x in d["shape"]), str(d["dtype"]), str(d["how"]),
                       bool(d.get("transposed", False)))  # fmt: skip
            for role, d in h["roles"].items()
        }
        self.roles = _Roles(refs, str(h.get("family", "unknown")), int(h["layers"]), str(h.get("role_method", "names")))
        self.checkpoint = _Checkpoint(refs, str(h["source"]["format"]))
        a = fp.arrays
        self._anchor_ids = a["anchor.ids"] if "anchor.ids" in a else np.zeros(0, dtype=np.int64)
        self._anchor_pos = {int(i): k for k, i in enumerate(self._anchor_ids.tolist())}
        self._vocab: Any = None

    # -- identity -------------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return f"fingerprint:{self.fp.name or self.fp.location}"

    @property
    def name(self) -> str:
        return self.fp.name

    @property
    def format(self) -> str:
        return "fingerprint"

    @property
    def layers(self) -> int:
        return self.roles.num_layers

    @cached_property
    def config(self) -> ModelConfig:
        d = dict(self.fp.header["config"])
        extra = d.pop("extra", {}) or {}
        known = {k: v for k, v in d.items() if k in ModelConfig.__dataclass_fields__}
        return ModelConfig(**known, extra=extra)

    @property
    def card(self) -> ModelCard | None:
        c = self.fp.header.get("card")
        if not c:
            return None
        return ModelCard(name=c.get("name"), base_models=tuple(c.get("base_models") or ()), license=c.get("license"),
                         source=str(c.get("source", "fingerprint")))  # fmt: skip

    @property
    def bytes_read(self) -> int:
        return 0  # nothing of the checkpoint is read when comparing fingerprints

    @property
    def file_size(self) -> int:
        return int(self.fp.header["source"]["file_size"])

    def tokenizer(self) -> Any:
        if self._vocab is None:
            self._vocab = vocab_from(self.fp.header, self.fp.arrays)
        return self._vocab

    # -- data -----------------------------------------------------------------------------------------------
    def has(self, role: str) -> bool:
        return role in self.roles.refs

    def embed_rows_available(self, ids: np.ndarray) -> np.ndarray:
        """Hook for the residual alignment: which embedding rows (token ids) this fingerprint holds."""
        return np.isin(np.asarray(ids, dtype=np.int64), self._anchor_ids)

    def role_std(self, role: str) -> float:
        """Hook for :mod:`taoke.whitebox.stdfp`: std of the role, estimated on sampled rows at fingerprint time."""
        s = self.fp.header.get("stds", {}).get(role)
        if s is None:
            raise TensorNotFound(f"no standard deviation kept for {role!r}", subject=self.path)
        return float(s)

    @property
    def unit_layers(self) -> tuple[int, ...]:
        """Layers whose canonical units this fingerprint keeps (the unit test runs on these only)."""
        return tuple(int(i) for i in self.fp.header.get("unit_layers", ()))

    @property
    def fingerprint_params(self) -> dict[str, int]:
        """What to fingerprint a model with so that it holds the same evidence as this fingerprint."""
        p = self.fp.header.get("params", {})
        return {"units": int(p.get("units", 32)), "unit_layers": int(p.get("unit_layers", 0))}

    def unit_parts(self, layer: int, parts: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Hook for :func:`taoke.whitebox._view.mlp_parts`: the canonical units kept for ``layer``, as
        ``mlp_parts`` gives them on the weights (gain folded, MoE experts stacked) but only those units."""
        a = self.fp.arrays
        out = {
            part: _dq8(a[f"u.{layer}.{part}"], a[f"us.{layer}.{part}"])
            for part in ("up", "gate", "down")
            if (parts is None or part in parts) and f"u.{layer}.{part}" in a
        }
        if "up" not in out and (parts is None or "up" in parts):
            raise self._missing(f"layers.{layer}.mlp", "the canonical units")
        return out

    def _missing(self, role: str, what: str) -> TensorNotFound:
        return TensorNotFound(
            f"{role}: {what} is not kept in the fingerprint", subject=self.path,
            hint="fingerprints hold sampled rows, anchor embeddings and canonical MLP units only",
        )  # fmt: skip

    def get(self, role: str, rows: Any = None) -> np.ndarray:
        a = self.fp.arrays
        ref = self.roles.refs.get(role)
        if ref is None:
            raise self._missing(role, "this role")
        sample = a.get(f"s.{role}")
        if len(ref.shape) <= 1:
            if sample is None:
                raise self._missing(role, "this tensor")
            return sample if rows is None else sample[np.asarray(rows) if not isinstance(rows, slice) else rows]
        if rows is not None:
            # the alignment asks for anchor rows of the embedding; every other row request is the exact test's,
            # answered with the fixed sample (the same cells in every fingerprint, see ``sample_cells``)
            if role == "embed" and "anchor.emb" in a and not isinstance(rows, slice):
                r = np.asarray(rows, dtype=np.int64).reshape(-1)
                pos = [self._anchor_pos.get(int(i)) for i in r.tolist()]
                if r.size > 0 and all(p is not None for p in pos):  # the exact test's random rows never are
                    return a["anchor.emb"][np.asarray(pos, dtype=np.int64)].astype(np.float32)
            if sample is not None:
                return sample
        if rows is None and sample is not None and not (len(ref.shape) == 2 and ref.shape[0] == ref.shape[1]):
            # the exact test reads small tensors whole (e.g. BERT's (2, d) token-type embeddings): answer with the
            # fixed sample, as for a row request (both fingerprints hold the same cells)
            return sample
        if rows is None and len(ref.shape) == 2 and ref.shape[0] == ref.shape[1]:
            # the exact test tries square matrices transposed when names were inferred from shapes; a fingerprint
            # does not hold the transposed cells: answer "unknown" (NaN, a zero-copy broadcast), which that test
            # ignores — a square matrix stored transposed *and* renamed is therefore not recognised (docs/index.md)
            return np.broadcast_to(np.float32(np.nan), ref.shape)
        raise self._missing(role, "these rows" if rows is not None else "the whole tensor")

    # -- lifetime -------------------------------------------------------------------------------------------
    def close(self) -> None:
        return None

    def __enter__(self) -> FingerprintView:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"<FingerprintView {self.fp.name!r} {self.roles.family} {self.layers} layers>"
