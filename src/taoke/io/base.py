"""The one interface every checkpoint reader implements.

A :class:`Checkpoint` is a lazy handle: opening it reads headers only; :meth:`Checkpoint.read` reads one
tensor, or only some of its rows, and returns float32. Shapes are always given in PyTorch order (for a linear
layer ``(out_features, in_features)``); readers whose files store dimensions the other way round (GGUF) reverse
them. A "row" is an index along axis 0 of that shape; for 1-D tensors a row is one element.

Values that cross module boundaries are frozen dataclasses: :class:`TensorInfo`, :class:`ModelConfig`,
:class:`ModelCard`.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taoke.errors import CorruptFile, TensorNotFound

RowSelector = slice | Sequence[int] | np.ndarray | None

#: dtypes that readers turn into float32 (quantised GGUF types are added by the GGUF reader)
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})

#: most dimensions a tensor may declare (GGUF allows 4, real checkpoints use at most 5)
MAX_DIMS = 8

#: what :mod:`zipfile` raises on an archive it cannot parse (a bad signature, an unknown version or method, an
#: inconsistent directory, a member that does not inflate); readers turn these into one CorruptFile line
ZIP_ERRORS: tuple[type[Exception], ...] = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
                                           NotImplementedError, struct.error, OverflowError, zlib.error)


def numel(shape: Sequence[int]) -> int:
    """Number of elements of ``shape`` (1 for a scalar).

    >>> numel((3, 4)), numel(())
    (12, 1)
    """
    n = 1
    for d in shape:
        n *= int(d)
    return n


def config_int(v: Any) -> int | None:
    """An integer hyper-parameter as a config or header declares it, or None: JSON floats that are whole numbers
    count, NaN/inf/fractions/strings/booleans/other types do not (a hostile config cannot make ``d // heads``
    raise or a head count a string)."""
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.integer | np.floating):
        return None
    if isinstance(v, float | np.floating):
        return int(v) if math.isfinite(v) and float(v).is_integer() else None
    return int(v)


def config_float(v: Any) -> float | None:
    """A float hyper-parameter (epsilon, rope base), or None (an integer too large for a float, a string, ...)."""
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.integer | np.floating):
        return None
    try:
        return float(v)
    except OverflowError:
        return None


def check_shape(shape: Sequence[int], *, limit: int, subject: str, what: str = "tensor") -> tuple[int, ...]:
    """Validate a declared shape before anything is sized from it.

    At most :data:`MAX_DIMS` dimensions, none negative, none larger than ``limit`` — the size in bytes of the file
    that holds the tensor. No real tensor has a dimension longer than its file (each index along a dimension of
    a non-empty tensor takes at least one byte, and an empty tensor's other dimensions are small); a header that
    declares one lies, and refusing it here keeps every index array or output that a reader sizes from a shape
    bounded by the file, also for zero-sized tensors (shape ``(10**12, 0)`` holds 0 bytes).
    """
    dims = tuple(shape)
    if len(dims) > MAX_DIMS:
        raise CorruptFile(f"{what} has {len(dims)} dimensions (at most {MAX_DIMS} are read)", subject=subject)
    for d in dims:
        if not isinstance(d, int | np.integer) or isinstance(d, bool) or d < 0:
            raise CorruptFile(f"{what} has an invalid dimension {d!r} in shape {list(dims)[:8]}", subject=subject)
        if d > limit:
            raise CorruptFile(
                f"{what} declares a dimension of {d}, more than the {limit} bytes of its file could hold",
                subject=subject, hint="the header lies or belongs to another file",
            )  # fmt: skip
    return tuple(int(d) for d in dims)


@dataclass(frozen=True)
class TensorInfo:
    """What a checkpoint says about one tensor, before any of its data is read."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # as stored: "F32", "BF16", "Q4_1", "INT8xSCALE", ...
    nbytes: int  # bytes it occupies in the file
    file: str  # the file (shard) holding it

    @property
    def numel(self) -> int:
        return numel(self.shape)

    @property
    def n_rows(self) -> int:
        return self.shape[0] if self.shape else 1


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters, declared (config.json, GGUF metadata) or inferred from shapes.

    ``source`` says which: "config.json", "gguf-metadata", "onnx-graph", "inferred-from-shapes".
    """

    architecture: str | None = None  # e.g. "llama", "qwen2", "gemma3", "bert"
    hidden_size: int | None = None
    num_layers: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    max_position: int | None = None
    norm_type: str | None = None  # "rmsnorm" | "layernorm"
    norm_eps: float | None = None
    activation: str | None = None  # "silu", "gelu", "gelu_pytorch_tanh", ...
    rope_theta: float | None = None
    tie_embeddings: bool | None = None
    num_experts: int | None = None
    source: str = "unknown"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        d["extra"] = dict(self.extra)
        return d


@dataclass(frozen=True)
class ModelCard:
    """What the model card (README.md YAML front matter) or GGUF ``general.*`` metadata declares."""

    name: str | None = None
    base_models: tuple[str, ...] = ()
    license: str | None = None
    tags: tuple[str, ...] = ()
    text: str = ""  # README body without front matter (may be empty)
    source: str = "none"  # "README.md", "gguf-metadata", ...
    front_matter: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base_models": list(self.base_models),
            "license": self.license,
            "tags": list(self.tags),
            "source": self.source,
        }


class Checkpoint(ABC):
    """A lazily read checkpoint. Subclasses: safetensors, gguf, torch_bin, onnx, hf_dir.

    A reader fills ``_infos`` (name -> :class:`TensorInfo`, in file order) and ``_metadata`` when it opens the
    file, after validating every declared extent; :meth:`tensor_infos` and :attr:`metadata` serve them.
    """

    #: short format name: "safetensors", "gguf", "torch", "onnx", "hf"
    format: str = "?"

    def __init__(self, path: str) -> None:
        self.path = path
        self._infos: dict[str, TensorInfo] = {}
        self._metadata: dict[str, Any] = {}

    # -- what is in it --------------------------------------------------------------------------------
    def tensor_infos(self) -> Mapping[str, TensorInfo]:
        """All tensors, by name, in file order."""
        return self._infos

    def __contains__(self, name: str) -> bool:
        return name in self.tensor_infos()

    def info(self, name: str) -> TensorInfo:
        try:
            return self.tensor_infos()[name]
        except KeyError:
            raise TensorNotFound(f"no tensor named {name!r}", subject=self.path) from None

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Format-level metadata (safetensors ``__metadata__``, GGUF key/values minus token arrays, ...)."""
        return self._metadata

    def config(self) -> ModelConfig | None:
        """Declared hyper-parameters, if the checkpoint carries them."""
        return None

    def card(self) -> ModelCard | None:
        """Declared provenance (model card / GGUF general.* keys), if any."""
        return None

    def tokenizer_files(self) -> list[str]:
        """Paths of tokenizer files that come with the checkpoint (tokenizer.json, tokenizer.model, ...)."""
        return []

    def embedded_tokenizer(self) -> Mapping[str, Any] | None:
        """A tokenizer stored inside the checkpoint (GGUF ``tokenizer.ggml.*``), as raw fields, or None."""
        return None

    # -- data -----------------------------------------------------------------------------------------
    @abstractmethod
    def read(self, name: str, rows: RowSelector = None) -> np.ndarray:
        """Tensor ``name`` as float32 in PyTorch order; only ``rows`` (along axis 0) if given.

        Reads only the bytes that hold those rows (for block-quantised types: the blocks of those rows).
        """

    @property
    @abstractmethod
    def bytes_read(self) -> int:
        """Bytes read from storage so far (headers included)."""

    @property
    def file_size(self) -> int:
        """Total size in bytes of the files the checkpoint's tensors live in."""
        import os

        files = {t.file for t in self.tensor_infos().values()}
        return sum(os.path.getsize(f) for f in files if os.path.exists(f))

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release file handles."""

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} ({len(self.tensor_infos())} tensors)>"


def normalize_rows(rows: RowSelector, n_rows: int, *, subject: str = "") -> np.ndarray | slice:
    """Validate a row selector against ``n_rows``; returns a slice (step 1) or a sorted-unique-free index array.

    >>> normalize_rows(slice(2, 5), 10)
    slice(2, 5, 1)
    >>> normalize_rows([3, 1], 10).tolist()
    [3, 1]
    """
    from taoke.errors import UsageError

    if rows is None:
        return slice(0, n_rows, 1)
    if isinstance(rows, slice):
        start, stop, step = rows.indices(n_rows)
        if step != 1:
            return np.arange(start, stop, step, dtype=np.int64)
        return slice(start, max(start, stop), 1)
    idx = np.asarray(rows, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < -n_rows or idx.max() >= n_rows):
        raise UsageError(f"row index out of range for a tensor of {n_rows} rows", subject=subject or None)
    return np.where(idx < 0, idx + n_rows, idx)


def gather_rows(
    read_run: Callable[[int, int], np.ndarray], rows: RowSelector, n_rows: int, *, subject: str = ""
) -> np.ndarray:
    """Read the selected rows by calling ``read_run(start, stop)`` once per contiguous run.

    ``read_run`` returns rows ``start..stop`` as an array of shape ``(stop-start, ...)``. Output rows come in
    the order asked for (duplicates allowed).

    >>> data = np.arange(10.0)[:, None]
    >>> gather_rows(lambda a, b: data[a:b], [7, 2, 3], 10).ravel().tolist()
    [7.0, 2.0, 3.0]
    """
    sel = normalize_rows(rows, n_rows, subject=subject)
    if isinstance(sel, slice):
        return read_run(sel.start, sel.stop)
    if sel.size == 0:
        return read_run(0, 0)
    lo, hi = int(sel.min()), int(sel.max()) + 1
    if hi - lo <= 4 * sel.size:  # dense selection: one read of the covering span beats many small ones
        return read_run(lo, hi)[sel - lo]
    order = np.argsort(sel, kind="stable")
    s = sel[order]
    pieces: list[np.ndarray] = []
    out_pos: list[np.ndarray] = []
    start = 0
    for i in range(1, len(s) + 1):
        if i == len(s) or s[i] > s[i - 1] + 1:
            a, b = int(s[start]), int(s[i - 1]) + 1
            block = read_run(a, b)
            pieces.append(block[s[start:i] - a])
            out_pos.append(order[start:i])
            start = i
    first = pieces[0]
    out = np.empty((len(sel),) + first.shape[1:], dtype=first.dtype)
    for pos, piece in zip(out_pos, pieces, strict=True):
        out[pos] = piece
    return out
