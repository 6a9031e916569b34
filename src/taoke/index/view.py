"""A fingerprint as an :class:`~taoke.whitebox.source.EvidenceSource`: what the white-box tests read, served from
the record, and nothing the record does not hold.

What a :class:`FingerprintView` serves:

* the header facts: path (``fingerprint:<name>``), the source's format, sizes, config, layers, card, every role
  with its shape and stored dtype, how roles were assigned, and the full tokenizer;
* ``get(role)`` of a 1-D role (norm gains, biases): the role in full, any rows of it;
* ``get("embed", rows)`` for anchor token ids: the anchor rows (float16 precision; the alignment asks for these,
  ``embed_rows_available`` says which ids are anchors);
* ``fixed_cells(role)`` of a 2-D role: the exact sample (fixed rows and columns that depend only on the shape,
  identical in every fingerprint), which the exact test compares on both sides;
* ``unit_parts(layer)`` → the canonical units kept for the layer, as :func:`taoke.whitebox.mlp.mlp_parts` would
  give them on the weights; ``unit_layers`` names those layers;
* ``role_std(role)`` → the std of an attention matrix measured when fingerprinting.

Anything else — other rows of a 2-D role, a whole matrix — raises :class:`taoke.errors.TensorNotFound` with a
hint that the fingerprint does not hold it. A square matrix stored transposed *and* renamed is therefore not
recognised by the exact test on fingerprints (the sample holds ``A[r, c]``, not ``A[c, r]``; docs/index.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

from taoke.errors import TensorNotFound
from taoke.index.fingerprint import DEFAULT_UNITS, Fingerprint, dequantize_rows, sample_cells
from taoke.io.base import ModelCard, ModelConfig, RowSelector
from taoke.roles import RoleName
from taoke.tokenizers import Vocab, vocab_from_arrays
from taoke.whitebox.source import FixedCells


class FingerprintView:
    """A :class:`~taoke.index.fingerprint.Fingerprint` usable wherever the white-box tests read a model."""

    def __init__(self, fp: Fingerprint) -> None:
        self.fp = fp
        h = fp.header
        self._roles: dict[str, dict[str, Any]] = dict(h["roles"])
        self._shapes = MappingProxyType({role: tuple(int(x) for x in d["shape"]) for role, d in self._roles.items()})
        a = fp.arrays
        self._anchor_ids = a["anchor.ids"] if "anchor.ids" in a else np.zeros(0, dtype=np.int64)
        self._anchor_pos = {int(i): k for k, i in enumerate(self._anchor_ids.tolist())}
        self._vocab: Vocab | None = None
        self._cells: dict[str, FixedCells | None] = {}

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
    def weights_format(self) -> str:
        """The fingerprinted checkpoint's format (as :attr:`taoke.model.Model.format` named it)."""
        return str(self.fp.header["source"]["format"])

    @property
    def family(self) -> str:
        return str(self.fp.header.get("family", "unknown"))

    @property
    def layers(self) -> int:
        return int(self.fp.header["layers"])

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

    def tokenizer(self) -> Vocab | None:
        meta = self.fp.header.get("tokenizer")
        if self._vocab is None and meta:
            self._vocab = vocab_from_arrays(meta, self.fp.arrays)
        return self._vocab

    # -- the role table -------------------------------------------------------------------------------------
    @property
    def role_method(self) -> str:
        return str(self.fp.header.get("role_method", "names"))

    def role_shapes(self) -> Mapping[str, tuple[int, ...]]:
        return self._shapes

    @property
    def params_outside_roles(self) -> int | None:
        """Parameters of the checkpoint in tensors outside the role map, which the fingerprint does not hold (a
        vision tower, a pooler, an added head, quantisation scales); None when the header has no parameter count."""
        pc = self.fp.header.get("param_count")
        if not isinstance(pc, int):
            return None
        return pc - sum(math.prod(s) for s in self._shapes.values())

    def role_dtype(self, role: str) -> str:
        d = self._roles.get(role)
        return "?" if d is None else str(d["dtype"])

    def has(self, role: str) -> bool:
        return role in self._shapes

    # -- optional capabilities (taoke.whitebox.source) ------------------------------------------------------
    def embed_rows_available(self, ids: np.ndarray) -> np.ndarray:
        """Which embedding rows (token ids) this fingerprint holds: the anchors."""
        return np.isin(np.asarray(ids, dtype=np.int64), self._anchor_ids)

    def role_std(self, role: str) -> float:
        """Std of the role, estimated on the exact sample's full rows at fingerprint time."""
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
        return {"units": int(p.get("units", DEFAULT_UNITS)), "unit_layers": int(p.get("unit_layers", 0))}

    def unit_parts(self, layer: int, parts: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """The canonical units kept for ``layer``, as :func:`taoke.whitebox.mlp.mlp_parts` gives them on the
        weights (gain folded, MoE experts stacked) but only those units."""
        a = self.fp.arrays
        out = {
            part: dequantize_rows(a[f"u.{layer}.{part}"], a[f"us.{layer}.{part}"])
            for part in ("up", "gate", "down")
            if (parts is None or part in parts) and f"u.{layer}.{part}" in a
        }
        if "up" not in out and (parts is None or "up" in parts):
            raise self._missing(f"layers.{layer}.mlp", "the canonical units")
        return out

    def fixed_cells(self, role: str) -> FixedCells | None:
        """The exact sample of a 2-D role (None for 1-D roles, which are held whole and served by ``get``)."""
        if role not in self._cells:
            shape = self._shapes.get(role)
            rows, cols = sample_cells(role, shape) if shape is not None else (None, None)
            # 1-D roles have no sampled columns: they are held whole
            self._cells[role] = None if rows is None or cols is None else FixedCells(rows, cols, self.fp.arrays.get(f"s.{role}"))
        return self._cells[role]

    def _missing(self, role: str, what: str) -> TensorNotFound:
        return TensorNotFound(
            f"{role}: {what} is not kept in the fingerprint", subject=self.path,
            hint="fingerprints hold sampled rows, anchor embeddings and canonical MLP units only",
        )  # fmt: skip

    # -- data -----------------------------------------------------------------------------------------------
    def get(self, role: str, rows: RowSelector = None) -> np.ndarray:
        """A 1-D role (any rows), or anchor rows of the embedding; anything else is not held."""
        a = self.fp.arrays
        shape = self._shapes.get(role)
        if shape is None:
            raise self._missing(role, "this role")
        sample = a.get(f"s.{role}")
        if len(shape) <= 1:
            if sample is None:
                raise self._missing(role, "this tensor")
            return sample if rows is None else sample[np.asarray(rows) if not isinstance(rows, slice) else rows]
        if role == RoleName.EMBED and rows is not None and not isinstance(rows, slice) and "anchor.emb" in a:
            r = np.asarray(rows, dtype=np.int64).reshape(-1)
            pos = [self._anchor_pos.get(int(i)) for i in r.tolist()]
            if r.size > 0 and all(p is not None for p in pos):
                return a["anchor.emb"][np.asarray(pos, dtype=np.int64)].astype(np.float32)
        raise self._missing(role, "these rows" if rows is not None else "the whole tensor")

    # -- lifetime -------------------------------------------------------------------------------------------
    def close(self) -> None:
        return None

    def __enter__(self) -> FingerprintView:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"<FingerprintView {self.fp.name!r} {self.family} {self.layers} layers>"
