"""What the white-box evidence reads: the :class:`EvidenceSource` protocol.

Every white-box method (:mod:`.exact`, :mod:`.align`, :mod:`.units`, :mod:`.stdfp`, run together by
:func:`taoke.whitebox.compare.gather_evidence`) reads a model through this protocol and nothing else. Three
implementations:

* :class:`taoke.model.Model` — a checkpoint on disk or behind ``http(s)://`` (a remote model is a ``Model`` over
  a remote checkpoint): every role, any rows;
* :class:`taoke.index.view.FingerprintView` — a fingerprint: header facts, 1-D roles whole, a fixed exact sample of
  each 2-D role, anchor embedding rows, canonical MLP units on some layers;
* anything else that answers the same questions (a test double built by hand, a sampled remote reader).

The protocol has two parts. **Required**: identity, sizes, the role table (shapes and stored dtypes), ``has`` /
``get`` and the tokenizer. **Optional capabilities**, one method each, that a source answers with ``None`` (or
"everything") when it holds the weights themselves and with what it really holds when it does not:

================================  ============================  ==============================================
capability                        a model answers               a fingerprint answers
================================  ============================  ==============================================
``unit_layers``                   None (every layer)            the layers whose units it kept
``unit_parts(layer, parts)``      None (read the MLP weights)   the kept canonical units of ``layer``
``embed_rows_available(ids)``     all True                      which ids are anchor rows
``role_std(role)``                None (compute from weights)   the std measured when fingerprinting
``fixed_cells(role)``             None (any rows can be read)   the (rows, cols, values) of its exact sample
================================  ============================  ==============================================

A source never answers a question with data other than what was asked for: the exact test asks
``fixed_cells`` first and compares those cells on both sides, instead of receiving other rows than it requested.

Extending it: a new capability is one more optional method with a "holds the weights" answer in
:class:`taoke.model.Model` and an honest one in every other source, documented in the table above.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from taoke.io.base import ModelConfig, RowSelector

if TYPE_CHECKING:
    from taoke.tokenizers import Vocab

__all__ = ["EvidenceSource", "FixedCells", "ROLE_METHOD_SHAPES", "unit_layer_count"]

#: ``role_method`` of a role table inferred from shapes and file order (names cannot be trusted)
ROLE_METHOD_SHAPES = "shape-fallback"


@dataclass(frozen=True, eq=False)
class FixedCells:
    """The cells of a 2-D role that a source holds instead of the tensor (a fingerprint's exact sample).

    ``rows`` index axis 0 of the canonical array, ``cols`` the columns of its rows flattened past axis 0;
    ``values`` is ``(len(rows), len(cols))`` float32, or None when the source describes the role but holds no
    cells of it (then the role cannot be compared).
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray | None

    def take(self, canonical_rows: np.ndarray) -> np.ndarray:
        """These cells out of ``canonical_rows`` (the role's ``rows`` as another source reads them)."""
        x = np.asarray(canonical_rows, dtype=np.float32)
        return np.ascontiguousarray(x.reshape(x.shape[0], -1)[:, self.cols])


@runtime_checkable
class EvidenceSource(Protocol):
    """What :func:`taoke.whitebox.compare.gather_evidence` and the methods under it read (see the module doc)."""

    # -- identity and sizes ----------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """Where it came from (a path, URL or ``fingerprint:<name>``), for reports."""
        ...

    @property
    def weights_format(self) -> str:
        """Storage format of the weights (``gguf``, ``safetensors``, ``onnx``...): a change of it is re-packaging."""
        ...

    @property
    def bytes_read(self) -> int: ...

    @property
    def file_size(self) -> int: ...

    @property
    def config(self) -> ModelConfig:
        """Declared hyper-parameters, else those inferred from shapes."""
        ...

    @property
    def layers(self) -> int: ...

    # -- the role table --------------------------------------------------------------------------------------
    @property
    def role_method(self) -> str:
        """How roles were assigned: ``names``, ``names+graph`` or :data:`ROLE_METHOD_SHAPES`."""
        ...

    def role_shapes(self) -> Mapping[str, tuple[int, ...]]:
        """Canonical role → canonical shape ``(out, in)``, for every role the source describes."""
        ...

    def role_dtype(self, role: str) -> str:
        """Stored dtype of the role's tensor (``F32``, ``Q4_1``...; ``?`` when unknown)."""
        ...

    def has(self, role: str) -> bool: ...

    def get(self, role: str, rows: RowSelector = None) -> np.ndarray:
        """The role as float32 in canonical orientation; only ``rows`` (axis 0) when given. Raises
        :class:`taoke.errors.TensorNotFound` for data the source does not hold."""
        ...

    def tokenizer(self) -> Vocab | None:
        """The tokenizer (None when the source has none; a TaokeError when it cannot be read)."""
        ...

    # -- optional capabilities (see the table in the module docstring) ---------------------------------------
    @property
    def unit_layers(self) -> tuple[int, ...] | None:
        """Layers whose MLP units can be served; None: every layer."""
        ...

    def unit_parts(self, layer: int, parts: tuple[str, ...] | None = None) -> dict[str, np.ndarray] | None:
        """The layer's canonical MLP units as :func:`taoke.whitebox.mlp.mlp_parts` gives them, when the source
        keeps units instead of weights; None: compute them from the weights."""
        ...

    def embed_rows_available(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which embedding rows (token ids) ``get("embed", rows=...)`` can serve."""
        ...

    def role_std(self, role: str) -> float | None:
        """Standard deviation of the role kept by the source; None: compute it from ``get(role)``."""
        ...

    def fixed_cells(self, role: str) -> FixedCells | None:
        """The cells of a 2-D role the source holds instead of the tensor; None: any rows can be read."""
        ...


def unit_layer_count(source: EvidenceSource) -> int:
    """How many layers carry unit evidence (every layer unless the source keeps units on some only)."""
    kept = source.unit_layers
    return source.layers if kept is None else len(kept)
