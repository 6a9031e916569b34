"""The ``Model`` facade: a checkpoint seen through canonical roles, in canonical orientation and layout.

``Model.open(location)`` (also ``taoke.open``) opens any checkpoint lazily and maps its tensors to roles
(:mod:`taoke.roles`). ``model.get(role, rows=None)`` returns float32 data as a Hugging Face ``nn.Linear`` would
hold it, ``(out, in)``, whatever the storage:

* stored (in, out) (ONNX MatMul inputs, GPT-2 ``Conv1D``) → transposed back (the whole tensor is read: rows of
  the canonical array are columns on disk);
* fused tensors (GPT-2 ``c_attn``, Phi-3 ``qkv_proj``/``gate_up_proj``, llama.cpp ``attn_qkv``) → the role's rows;
  GPT-NeoX ``query_key_value`` is de-interleaved per head first;
* llama.cpp's rope permutation of Q/K rows (GGUF ``llama`` & co.) → undone row by row: canonical row
  ``h·hd + s·hd/2 + j`` is stored at row ``h·hd + 2j + s`` (the inverse of ``LlamaModel.permute``, i.e.
  ``w.reshape(n_head, hd/2, 2, in).swapaxes(1, 2)``), so asking for a few rows reads only those rows;
* Gemma GGUF norms stored as ``1 + w`` → ``w``.

So the same model in GGUF and safetensors gives the same arrays (up to quantisation). How the rope inverse was
verified on the real SmolLM2 GGUF: after undoing it, each head's RoPE partner rows (``j`` and ``j + hd/2``,
rotated together by the same frequency) have nearly equal norms (median ratio ~1.0), while in the stored order
the rows that would be partners are unrelated; see ``tests/test_model.py::test_rope_unpermute_pairs_partners``.

``config`` is the declared :class:`~taoke.io.base.ModelConfig` when the checkpoint carries one, else the one
inferred from roles and shapes (``source="inferred-from-shapes"``); both are available.

A ``Model`` is an :class:`~taoke.whitebox.source.EvidenceSource` (what the white-box evidence reads): it holds the
weights, so it answers every optional capability with "read the weights" (None / all rows).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from taoke.errors import RoleError, TokenizerError
from taoke.io import open_checkpoint
from taoke.io.base import Checkpoint, ModelCard, ModelConfig, RowSelector, normalize_rows
from taoke.roles import (
    LAYOUT_NEOX_QKV,
    LAYOUT_NORM_PLUS_ONE,
    LAYOUT_ROPE_PERMUTED,
    RoleMap,
    RoleName,
    TensorRef,
    expert_role,
    layer_role,
    map_roles,
    parse_role,
)

if TYPE_CHECKING:
    from taoke.tokenizers import Vocab
    from taoke.whitebox.source import FixedCells

__all__ = ["Model", "infer_config"]

_INT_DTYPES = frozenset(
    {"I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL", "INT64", "INT32", "INT8"}
)


class Model:
    """A checkpoint with canonical roles. Open with :meth:`Model.open`; use as a context manager."""

    def __init__(self, checkpoint: Checkpoint, *, config: ModelConfig | None = None) -> None:
        self.checkpoint = checkpoint
        self._declared = config if config is not None else checkpoint.config()
        self._vocab: Vocab | None = None

    @classmethod
    def open(cls, location: str | os.PathLike[str]) -> Model:
        """Open a file, a model folder or an ``http(s)://`` URL (headers only)."""
        return cls(open_checkpoint(location))

    # -- what it is --------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return str(self.checkpoint.path)

    @property
    def format(self) -> str:
        return self.checkpoint.format

    @property
    def weights_format(self) -> str:
        """Format of the weights file itself (``safetensors`` inside an HF folder, else :attr:`format`)."""
        inner = getattr(self.checkpoint, "inner", None)  # a folder's checkpoint wraps its weights file's
        return str(getattr(inner, "format", None) or self.checkpoint.format)

    @cached_property
    def roles(self) -> RoleMap:
        return map_roles(self.checkpoint, self._declared)

    @property
    def declared_config(self) -> ModelConfig | None:
        return self._declared

    @cached_property
    def inferred_config(self) -> ModelConfig:
        return infer_config(self.roles)

    @property
    def config(self) -> ModelConfig:
        """Declared hyper-parameters if any, else those inferred from roles and shapes."""
        return self._declared if self._declared is not None else self.inferred_config

    @property
    def card(self) -> ModelCard | None:
        return self.checkpoint.card()

    @property
    def layers(self) -> int:
        return self.roles.num_layers

    def has(self, role: str) -> bool:
        return role in self.roles

    @property
    def role_method(self) -> str:
        return self.roles.method

    def role_shapes(self) -> Mapping[str, tuple[int, ...]]:
        return {role: tuple(ref.shape) for role, ref in self.roles.refs.items()}

    def role_dtype(self, role: str) -> str:
        """Stored dtype of the tensor holding ``role`` (``?`` if the reader cannot say)."""
        try:
            return str(self.checkpoint.info(self.roles[role].name).dtype)
        except Exception:  # noqa: BLE001 - a dtype is descriptive; an unreadable one is reported as unknown
            return "?"

    # -- sizes -------------------------------------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        return self.checkpoint.bytes_read

    @property
    def file_size(self) -> int:
        return self.checkpoint.file_size

    @property
    def param_count(self) -> int:
        """Elements of every floating-point tensor (integer buffers such as ``position_ids`` excluded)."""
        return sum(
            t.numel for t in self.checkpoint.tensor_infos().values() if t.dtype.upper() not in _INT_DTYPES
        )

    @property
    def dtype_summary(self) -> dict[str, dict[str, int]]:
        """Stored dtype → ``{"tensors", "params", "bytes"}``, most parameters first."""
        acc: dict[str, Counter[str]] = {}
        for t in self.checkpoint.tensor_infos().values():
            c = acc.setdefault(t.dtype, Counter())
            c["tensors"] += 1
            c["params"] += t.numel
            c["bytes"] += t.nbytes
        return {k: dict(v) for k, v in sorted(acc.items(), key=lambda kv: -kv[1]["params"])}

    # -- tokenizer ---------------------------------------------------------------------------------------
    def tokenizer(self) -> Vocab | None:
        """The checkpoint's tokenizer as a :class:`taoke.tokenizers.Vocab` (loaded once, on first use)."""
        if self._vocab is None:
            try:
                from taoke import tokenizers
            except ImportError as e:  # pragma: no cover - the package ships with taoke
                raise TokenizerError(
                    "tokenizer support is unavailable", subject=self.path, hint=f"import failed: {e}"
                ) from None
            self._vocab = tokenizers.load(self.checkpoint)
        return self._vocab

    # -- optional evidence capabilities (taoke.whitebox.source): a model holds the weights ----------------
    @property
    def unit_layers(self) -> tuple[int, ...] | None:
        return None

    def unit_parts(self, layer: int, parts: tuple[str, ...] | None = None) -> dict[str, np.ndarray] | None:
        return None

    def embed_rows_available(self, ids: np.ndarray) -> np.ndarray:
        return np.ones(len(ids), dtype=bool)

    def role_std(self, role: str) -> float | None:
        return None

    def fixed_cells(self, role: str) -> FixedCells | None:
        return None

    # -- data --------------------------------------------------------------------------------------------
    def get(self, role: str, rows: RowSelector = None) -> np.ndarray:
        """Role ``role`` as float32 in canonical orientation and layout; only ``rows`` (axis 0) if given."""
        key = str(parse_role(role))
        ref = self.roles[key]
        n = ref.shape[0] if ref.shape else 1
        sel = normalize_rows(rows, n, subject=key)
        local = np.arange(sel.start, sel.stop, dtype=np.int64) if isinstance(sel, slice) else sel
        if ref.layout == LAYOUT_ROPE_PERMUTED:
            local = self._rope_rows(key, ref, local)
        fused = local + (ref.row_range[0] if ref.row_range else 0)
        if ref.layout == LAYOUT_NEOX_QKV:
            fused = self._neox_rows(key, ref, fused)
        if ref.stack_index is not None:
            data = self.checkpoint.read(ref.name, rows=[ref.stack_index])[0]
            out = data[fused]
        elif ref.transposed:
            full = self.checkpoint.read(ref.name)
            out = np.ascontiguousarray(full.T[fused])
        elif isinstance(sel, slice) and ref.layout in (None, LAYOUT_NORM_PLUS_ONE):
            a = ref.row_range[0] if ref.row_range else 0
            out = self.checkpoint.read(ref.name, rows=slice(a + sel.start, a + sel.stop))
        else:
            out = self.checkpoint.read(ref.name, rows=fused)
        out = np.asarray(out, dtype=np.float32)
        if ref.layout == LAYOUT_NORM_PLUS_ONE:
            out = out - np.float32(1.0)
        return out

    def _heads_for(self, key: str) -> int:
        cfg = self.config
        r = parse_role(key)
        n = cfg.num_kv_heads if r.name is RoleName.ATTN_K else cfg.num_heads
        if r.name is RoleName.ATTN_K and not n:
            n = cfg.num_heads
        if not n:
            raise RoleError(
                f"{key}: head count unknown, cannot undo the llama.cpp rope permutation",
                subject=self.path,
                hint="the GGUF lacks {arch}.attention.head_count",
            )
        return int(n)

    def _rope_rows(self, key: str, ref: TensorRef, local: np.ndarray) -> np.ndarray:
        """Canonical (HF) row → stored (llama.cpp-permuted) row within the role."""
        n_head = self._heads_for(key)
        total = ref.shape[0]
        if total % (2 * n_head):
            raise RoleError(
                f"{key}: {total} rows do not split into {n_head} heads of even size", subject=self.path
            )
        hd = total // n_head
        half = hd // 2
        h, rem = np.divmod(local, hd)
        s, j = np.divmod(rem, half)
        return h * hd + 2 * j + s

    def _neox_rows(self, key: str, ref: TensorRef, fused: np.ndarray) -> np.ndarray:
        """De-interleaved fused row (3, n_heads, hd) → stored row (n_heads, 3, hd) of GPT-NeoX query_key_value."""
        nh = self.config.num_heads
        if not nh:
            raise RoleError(f"{key}: GPT-NeoX fused QKV needs the head count", subject=self.path)
        part_rows = ref.shape[0]
        hd = part_rows // int(nh)
        part, within = np.divmod(fused, part_rows)
        h, j = np.divmod(within, hd)
        return h * 3 * hd + part * hd + j

    # -- lifetime ----------------------------------------------------------------------------------------
    def close(self) -> None:
        self.checkpoint.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Model {self.path!r} {self.format} {self.roles.family} {self.layers} layers>"


def infer_config(roles: RoleMap) -> ModelConfig:
    """Hyper-parameters read off the role map's shapes (``source="inferred-from-shapes"``).

    Head counts are inferred only when q/k norms reveal the head size (Qwen3, Gemma 3); otherwise they stay None
    rather than guessed.
    """
    refs = roles.refs

    def shape(role: str) -> tuple[int, ...] | None:
        r = refs.get(role)
        return r.shape if r is not None else None

    emb = shape(RoleName.EMBED)
    vocab, d = (emb[0], emb[1]) if emb and len(emb) == 2 else (None, None)
    up = shape(layer_role(0, RoleName.MLP_UP)) or shape(expert_role(0, 0, RoleName.EXPERT_UP))
    q, k = shape(layer_role(0, RoleName.ATTN_Q)), shape(layer_role(0, RoleName.ATTN_K))
    qn = shape(layer_role(0, RoleName.ATTN_Q_NORM))
    head_dim = qn[0] if qn else None
    heads = q[0] // head_dim if (q and head_dim) else None
    kv = k[0] // head_dim if (k and head_dim) else None
    has_norm = any(parse_role(r).is_norm for r in refs)
    norm_bias = any(r.endswith(".bias") and parse_role(r).is_norm for r in refs)
    experts = {p.expert for p in map(parse_role, refs) if p.layer == 0 and p.expert is not None}
    pos = shape(RoleName.POS_EMBED)
    return ModelConfig(
        architecture=roles.family if roles.family != "unknown" else None,
        hidden_size=d,
        num_layers=roles.num_layers or None,
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=head_dim,
        intermediate_size=up[0] if up else None,
        vocab_size=vocab,
        max_position=pos[0] if pos else None,
        norm_type=("layernorm" if norm_bias else "rmsnorm") if has_norm else None,
        tie_embeddings=(RoleName.LM_HEAD not in refs) if (emb and RoleName.TYPE_EMBED not in refs) else None,
        num_experts=len(experts) or None,
        source="inferred-from-shapes",
    )
