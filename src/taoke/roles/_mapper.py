"""Map a checkpoint's tensors onto canonical roles: by name (alias tables), by graph (ONNX), else by shape.

:func:`map_roles` takes a :class:`~taoke.io.base.Checkpoint`; :func:`map_tensors` is the pure core (names and
shapes in file order, plus what the format knows) and is what the tests drive with real name/shape lists.

Three methods, tried in this order:

1. **names** — every tensor name is matched against :mod:`taoke.roles._aliases` (any wrapper prefix allowed; the
   prefix that matches most tensors wins, others stay unmapped). Fused tensors (GPT-2 ``c_attn``, GPT-NeoX
   ``query_key_value`` with its per-head interleaving, Phi-3 ``qkv_proj``/``gate_up_proj``, llama.cpp
   ``attn_qkv``) become several :class:`TensorRef` with a ``row_range``. Orientation: GPT-2 ``Conv1D`` weights
   and ONNX MatMul/Gemm inputs stored (in, out) get ``transposed=True``.
2. **graph** — ONNX exports leave some weights anonymous (``val_49``, ``onnx::MatMul_470``). A weight whose
   MatMul output is added to a named bias takes that bias's role (``...query.bias`` → ``layers.0.attn.q``).
3. **shape fallback** — when names explain less than half of the 2-D tensors (a model that renamed every tensor,
   as the first Yi-34B release renamed Llama's norms): tensors are grouped into layers by a layer number found in
   their names or, failing that, by the period of the shape sequence in file order; the embedding is the matrix
   with the largest dimension, ``d`` its other dimension; the MLP width is the widest ``x`` of the (d, x) tensors
   (not a "rows > 1.5 d" rule, which puts Gemma's 1024×640 q_proj in the MLP); the down projection is the odd one
   of the three MLP matrices, and its position reveals the file-order convention (definition order
   q,k,v,o/gate,up,down or the alphabetical order k,o,q,v/down,gate,up that HF safetensors and GGUF files use);
   q/k/v/o are then fixed by shapes (and head counts when a config is known) and that convention; gate vs up
   cannot be told from shapes and are marked ``ambiguous``; norms are the (d,) vectors in order.

A multimodal or encoder-decoder checkpoint is split into components first (:mod:`taoke.roles._components`); the
whole-checkpoint map is its language model's (an encoder-decoder's decoder's), and the other stacks are unmapped
here — ``taoke compare`` maps and compares every component (:mod:`taoke.whitebox.components`).

Simplifications accepted: biases and LayerNorm shifts are not given roles by the shape fallback (they are all
(d,) vectors); shared experts and adapters stay unmapped; a fused QKV without head counts is split
in equal thirds (noted) only when its rows divide by three.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from taoke.errors import RoleError
from taoke.io.base import Checkpoint, ModelConfig
from taoke.roles._aliases import (
    ARCH_FAMILIES,
    NAME_CUES,
)
from taoke.roles._by_graph import map_by_graph, map_by_graph_order, onnx_bias_links
from taoke.roles._by_name import map_by_name
from taoke.roles._by_shape import map_by_shape
from taoke.roles._common import RoleMap, Shape, TensorRef
from taoke.roles._components import localise, main_component, restore_names
from taoke.roles._roles import parse_role

__all__ = ["RoleMap", "TensorRef", "detect_family", "map_roles", "map_tensors"]


def map_roles(checkpoint: Checkpoint, config: ModelConfig | None = None) -> RoleMap:
    """Build the role map of an open checkpoint (headers only; no tensor data is read)."""
    infos = checkpoint.tensor_infos()
    shapes = {name: tuple(int(x) for x in info.shape) for name, info in infos.items()}
    if config is None:
        config = checkpoint.config()
    meta = checkpoint.metadata
    layout = getattr(checkpoint, "layout_notes", None)
    transposed: dict[str, bool] = {}
    mm = meta.get("matmul_weights") if isinstance(meta, Mapping) else None
    if isinstance(mm, Mapping):
        for name, v in mm.items():
            if isinstance(v, Mapping) and "transposed" in v:
                transposed[str(name)] = bool(v["transposed"])
    links: dict[str, str] = {}
    mb = meta.get("matmul_bias") if isinstance(meta, Mapping) else None
    if isinstance(mb, Mapping):  # weight -> bias added to its product, if the reader records it
        links = {str(k): str(v) for k, v in mb.items() if isinstance(v, str)}
    else:
        links = onnx_bias_links(meta.get("consumers") if isinstance(meta, Mapping) else None, shapes)
    try:
        return map_tensors(
            shapes,
            config,
            layout_notes=layout if isinstance(layout, Mapping) else None,
            stored_transposed=transposed,
            links=links,
            graph_order=list(mm) if isinstance(mm, Mapping) else None,
        )
    except RoleError as e:  # say which checkpoint (map_tensors sees shapes only)
        if e.subject:
            raise
        raise RoleError(e.message, subject=str(checkpoint.path), hint=e.hint) from None


def map_tensors(
    shapes: Mapping[str, Shape],
    config: ModelConfig | None = None,
    *,
    layout_notes: Mapping[str, Any] | None = None,
    stored_transposed: Mapping[str, bool] | None = None,
    links: Mapping[str, str] | None = None,
    graph_order: list[str] | None = None,
    method: Literal["auto", "names", "shape"] = "auto",
) -> RoleMap:
    """Map tensors (name → shape in PyTorch order, in file order) to roles.

    ``layout_notes``: a GGUF reader's ``layout_notes`` (rope-permuted Q/K, ``1 + w`` norms).
    ``stored_transposed``: per-tensor orientation known from the format (ONNX MatMul inputs).
    ``links``: anonymous weight → named tensor its product is added to (ONNX bias following).
    ``graph_order``: MatMul/Gemm weights in graph execution order (ONNX); anonymous ones left after ``links``
    are matched, in order, to the weight roles whose bias is named but whose weight is not (shapes checked).
    ``method``: force ``"names"`` or ``"shape"``; ``"auto"`` falls back to shapes when names explain less than
    half of the 2-D tensors.
    """
    if not shapes:
        raise RoleError("the checkpoint holds no tensors", hint="a vocab-only or empty file has no roles")
    shapes = {str(k): tuple(int(x) for x in v) for k, v in shapes.items()}
    main = main_component(shapes)
    if main is not None:  # multimodal / encoder-decoder: the whole-checkpoint map is its language model's (decoder's)
        loc = main.local
        rm = map_tensors(
            localise(main, shapes),
            config,
            layout_notes=layout_notes,
            stored_transposed={loc[k]: v for k, v in (stored_transposed or {}).items() if k in loc},
            links={loc[k]: loc.get(v, v) for k, v in (links or {}).items() if k in loc},
            graph_order=[loc[n] for n in graph_order or [] if n in loc],
            method=method,
        )
        return restore_names(rm, main, shapes)
    st = dict(stored_transposed or {})
    family = detect_family(shapes, config)
    notes: list[str] = []
    refs: dict[str, TensorRef] = {}
    prefix = ""
    mapped: set[str] = set()
    if method != "shape":
        refs, mapped, prefix = map_by_name(shapes, config, layout_notes, st, notes)
        n_graph = map_by_graph(shapes, links or {}, refs, mapped, st)
        n_graph += map_by_graph_order(shapes, graph_order or [], refs, mapped, st, notes)
        used_method = "names+graph" if n_graph else "names"
    n2 = sum(1 for s in shapes.values() if len(s) == 2)
    n2_mapped = sum(1 for n in mapped if len(shapes[n]) == 2)
    if method == "shape" or (method == "auto" and n2 and (n2_mapped * 2 < n2 or "embed" not in refs)):
        if method == "auto":
            notes.append(f"names explain {n2_mapped} of {n2} matrices: roles assigned by shape and position")
        refs, mapped = map_by_shape(shapes, config, st, notes)
        used_method, prefix = "shape-fallback", ""
    if not refs:
        raise RoleError(
            f"no tensor could be given a role ({len(shapes)} tensors)",
            hint="not a transformer language model, or a layout taoke does not know",
        )
    layers = {parse_role(r).layer for r in refs}
    num_layers = max((x for x in layers if x is not None), default=-1) + 1
    unmapped = tuple(n for n in shapes if n not in mapped)
    amb = sorted({tuple(sorted(ref.ambiguous)) for ref in refs.values() if ref.ambiguous})
    ordered = dict(sorted(refs.items(), key=lambda kv: _role_sort_key(kv[0])))
    return RoleMap(
        refs=MappingProxyType(ordered),
        unmapped=unmapped,
        family=family,
        method=used_method,
        num_layers=num_layers,
        prefix=prefix,
        notes=tuple(notes),
        ambiguous_pairs=tuple(amb),
    )


def detect_family(shapes: Iterable[str], config: ModelConfig | None = None) -> str:
    """Normalised family from the declared architecture, else from name cues, else ``"unknown"``.

    >>> detect_family(["model.layers.0.self_attn.q_proj.weight"])
    'llama'
    """
    if config is not None and config.architecture:
        a = config.architecture.lower()
        for key, fam in ARCH_FAMILIES:
            if key in a:
                return fam
        return a
    names = list(shapes)
    for cue, fam in NAME_CUES:
        if any(cue in n for n in names):
            return fam
    return "unknown"


# --------------------------------------------------------------------------------------------------------------
# 1. names
# --------------------------------------------------------------------------------------------------------------


_GLOBAL_ORDER = {"embed": 0, "pos_embed": 1, "type_embed": 2, "embed_norm": 3}
_LOCAL_ORDER = {
    r: i
    for i, r in enumerate(
        (
            "norm.attn", "attn.q", "attn.k", "attn.v", "attn.q_norm", "attn.k_norm", "attn.o", "norm.post_attn",
            "norm.mlp", "mlp.router", "mlp.gate", "mlp.up", "mlp.down", "norm.post_ffn",
        )
    )
}  # fmt: skip


def _role_sort_key(role: str) -> tuple[int, int, int, int, int]:
    r = parse_role(role)
    if r.layer is None:
        g = _GLOBAL_ORDER.get(r.name.value)
        return (
            0 if g is not None else 2,
            g if g is not None else {"final_norm": 0, "lm_head": 1}[r.name.value],
            0,
            0,
            int(r.bias),
        )
    if r.expert is not None:
        return (1, r.layer, 100 + r.expert, ("gate", "up", "down").index(r.name.value), int(r.bias))
    return (1, r.layer, _LOCAL_ORDER.get(r.name.value, 99), 0, int(r.bias))
