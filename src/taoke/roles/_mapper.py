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

Simplifications accepted: biases and LayerNorm shifts are not given roles by the shape fallback (they are all
(d,) vectors); shared experts, vision towers and adapters stay unmapped; a fused QKV without head counts is split
in equal thirds (noted) only when its rows divide by three.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from taoke.errors import RoleError
from taoke.io.base import Checkpoint, ModelConfig
from taoke.roles._aliases import (
    ALL_ALIASES,
    ARCH_FAMILIES,
    LAYOUT_NEOX_QKV,
    LAYOUT_NORM_PLUS_ONE,
    LAYOUT_ROPE_PERMUTED,
    NAME_CUES,
    Alias,
    FusedAlias,
)
from taoke.roles._roles import RoleName, parse_role

How = Literal["name", "graph", "shape"]
Shape = tuple[int, ...]


@dataclass(frozen=True)
class TensorRef:
    """Where a role's data lives and how to turn it into the canonical (out, in) float32 array.

    ``shape`` is the canonical shape of the role (after transposition and splitting). ``transposed``: stored as
    (in, out). ``row_range``: the role is rows ``[a, b)`` of the (canonical, de-interleaved) fused tensor.
    ``layout``: a storage convention to undo (``llama.cpp-rope-permuted``, ``gemma-norm-plus-one``,
    ``neox-qkv-per-head``). ``stack_index``: index along axis 0 of a stacked-experts tensor. ``ambiguous``: the
    roles this tensor could equally hold (shapes cannot tell; the assignment rests on file order).
    """

    name: str
    shape: Shape
    transposed: bool = False
    row_range: tuple[int, int] | None = None
    layout: str | None = None
    how: How = "name"
    stack_index: int | None = None
    ambiguous: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "transposed": self.transposed,
            "row_range": list(self.row_range) if self.row_range else None,
            "layout": self.layout,
            "how": self.how,
            "stack_index": self.stack_index,
            "ambiguous": list(self.ambiguous),
        }


@dataclass(frozen=True)
class RoleMap:
    """Canonical role → :class:`TensorRef`, plus the tensors no role explains.

    ``method``: ``"names"``, ``"names+graph"`` or ``"shape-fallback"``. ``family``: normalised architecture
    (``llama``, ``qwen3``, ``gemma3``, ``bert``, ...; ``unknown`` when neither declared nor recognisable).
    """

    refs: Mapping[str, TensorRef]
    unmapped: tuple[str, ...]
    family: str
    method: str
    num_layers: int
    prefix: str = ""
    notes: tuple[str, ...] = ()
    ambiguous_pairs: tuple[tuple[str, ...], ...] = field(default=())

    def __getitem__(self, role: str) -> TensorRef:
        key = str(parse_role(role))
        try:
            return self.refs[key]
        except KeyError:
            from taoke.errors import TensorNotFound

            raise TensorNotFound(
                f"role {key!r} is not in this checkpoint",
                hint=f"{len(self.refs)} roles mapped ({self.method}); see `taoke inspect --roles`",
            ) from None

    def __contains__(self, role: object) -> bool:
        if not isinstance(role, str):
            return False
        try:
            return str(parse_role(role)) in self.refs
        except RoleError:
            return False

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)

    def get(self, role: str) -> TensorRef | None:
        return self.refs.get(role)

    def layer_roles(self, layer: int) -> dict[str, TensorRef]:
        """Roles of one layer, keyed by their local name (``attn.q``, ``mlp.experts.3.up``, ``norm.attn.bias``)."""
        p = f"layers.{layer}."
        return {k[len(p) :]: v for k, v in self.refs.items() if k.startswith(p)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "method": self.method,
            "num_layers": self.num_layers,
            "prefix": self.prefix,
            "roles": {k: v.to_dict() for k, v in self.refs.items()},
            "unmapped": list(self.unmapped),
            "notes": list(self.notes),
            "ambiguous_pairs": [list(p) for p in self.ambiguous_pairs],
        }


# --------------------------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------------------------
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
        links = _onnx_bias_links(meta.get("consumers") if isinstance(meta, Mapping) else None, shapes)
    return map_tensors(
        shapes,
        config,
        layout_notes=layout if isinstance(layout, Mapping) else None,
        stored_transposed=transposed,
        links=links,
        graph_order=list(mm) if isinstance(mm, Mapping) else None,
    )


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
    st = dict(stored_transposed or {})
    family = detect_family(shapes, config)
    notes: list[str] = []
    refs: dict[str, TensorRef] = {}
    prefix = ""
    mapped: set[str] = set()
    if method != "shape":
        refs, mapped, prefix = _map_by_name(shapes, config, layout_notes, st, notes)
        n_graph = _map_by_graph(shapes, links or {}, refs, mapped, st)
        n_graph += _map_by_graph_order(shapes, graph_order or [], refs, mapped, st, notes)
        used_method = "names+graph" if n_graph else "names"
    n2 = sum(1 for s in shapes.values() if len(s) == 2)
    n2_mapped = sum(1 for n in mapped if len(shapes[n]) == 2)
    if method == "shape" or (method == "auto" and n2 and (n2_mapped * 2 < n2 or "embed" not in refs)):
        if method == "auto":
            notes.append(f"names explain {n2_mapped} of {n2} matrices: roles assigned by shape and position")
        refs, mapped = _map_by_shape(shapes, config, st, notes)
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
_TOKEN = re.compile(r"(\[[^\]]+\]|\{bid\}|\{xid\})")


def _compile(pattern: str) -> re.Pattern[str]:
    out = []
    for t in _TOKEN.split(pattern):
        if t == "{bid}":
            out.append(r"(?P<bid>\d+)")
        elif t == "{xid}":
            out.append(r"(?P<xid>\d+)")
        elif t.startswith("[") and t.endswith("]"):
            out.append("(?:" + re.escape(t[1:-1]) + ")?")
        else:
            out.append(re.escape(t))
    return re.compile(r"^(?P<prefix>(?:.+?\.)??)" + "".join(out) + r"\.(?P<param>weight|bias)$")


def _pattern_key(pattern: str) -> str | None:
    last = re.sub(r"\[[^\]]*\]", "", pattern).rsplit(".", 1)[-1]
    return None if "{" in last else last


@dataclass(frozen=True)
class _Compiled:
    order: int
    alias: Alias | FusedAlias
    regex: re.Pattern[str]


def _build_index() -> tuple[dict[str, tuple[_Compiled, ...]], tuple[_Compiled, ...]]:
    keyed: dict[str, list[_Compiled]] = {}
    free: list[_Compiled] = []
    for order, alias in enumerate(ALL_ALIASES):
        for pat in alias.patterns:
            c = _Compiled(order, alias, _compile(pat))
            k = _pattern_key(pat)
            if k is None:
                free.append(c)
            else:
                keyed.setdefault(k, []).append(c)
    return {k: tuple(v) for k, v in keyed.items()}, tuple(free)


_INDEX, _FREE = _build_index()


def _candidates(name: str) -> list[tuple[_Compiled, re.Match[str]]]:
    stem = name.rsplit(".", 1)[0] if name.endswith((".weight", ".bias")) else name
    key = stem.rsplit(".", 1)[-1]
    out = []
    for c in (*_INDEX.get(key, ()), *_FREE):
        m = c.regex.match(name)
        if m is not None:
            out.append((c, m))
    out.sort(key=lambda cm: cm[0].order)
    return out


def _layout_for(role: str, param: str, layout_notes: Mapping[str, Any] | None) -> str | None:
    if not layout_notes:
        return None
    r = parse_role(role)
    if (
        layout_notes.get("rope_permuted_qk")
        and r.name in (RoleName.ATTN_Q, RoleName.ATTN_K)
        and r.layer is not None
    ):
        return LAYOUT_ROPE_PERMUTED
    if layout_notes.get("norm_plus_one") and r.is_norm and param == "weight":
        return LAYOUT_NORM_PLUS_ONE
    return None


def _map_by_name(
    shapes: Mapping[str, Shape],
    config: ModelConfig | None,
    layout_notes: Mapping[str, Any] | None,
    stored_transposed: Mapping[str, bool],
    notes: list[str],
) -> tuple[dict[str, TensorRef], set[str], str]:
    names = list(shapes)
    cands = {n: _candidates(n) for n in names}
    counts: Counter[str] = Counter()
    for cs in cands.values():
        for p in {m.group("prefix") for _, m in cs}:
            counts[p] += 1
    if not counts:
        return {}, set(), ""
    prefix = max(counts, key=lambda p: (counts[p], -len(p)))
    present_cache: dict[str, bool] = {}

    def present(text: str) -> bool:
        if text not in present_cache:
            present_cache[text] = any(text in n for n in names)
        return present_cache[text]

    refs: dict[str, TensorRef] = {}
    mapped: set[str] = set()
    for name in names:
        for c, m in cands[name]:
            if m.group("prefix") != prefix:
                continue
            if c.alias.when_present and not present(c.alias.when_present):
                continue
            new = _refs_for(name, shapes[name], c.alias, m, config, layout_notes, stored_transposed, notes)
            if new is None:
                break
            clash = [r for r in new if r in refs]
            if clash:
                notes.append(f"{name}: role {clash[0]} already held by {refs[clash[0]].name}; left unmapped")
                break
            refs.update(new)
            mapped.add(name)
            break
    _split_gguf_fused_up(refs, config, notes)
    return refs, mapped, prefix


def _fill(template: str, m: re.Match[str], xid: int | None = None) -> str:
    gd = m.groupdict()
    out = template
    if gd.get("bid") is not None:
        out = out.replace("{bid}", str(int(gd["bid"])))
    x = gd.get("xid") if xid is None else str(xid)
    if x is not None:
        out = out.replace("{xid}", str(int(x)))
    return out


def _refs_for(
    name: str,
    shape: Shape,
    alias: Alias | FusedAlias,
    m: re.Match[str],
    config: ModelConfig | None,
    layout_notes: Mapping[str, Any] | None,
    stored_transposed: Mapping[str, bool],
    notes: list[str],
) -> dict[str, TensorRef] | None:
    param = m.group("param")
    suffix = ".bias" if param == "bias" else ""
    is_matrix = param == "weight" and len(shape) == 2
    transposed = is_matrix and stored_transposed.get(name, alias.stored == "in_out")
    canon: Shape = tuple(reversed(shape)) if transposed else shape
    if isinstance(alias, Alias):
        if alias.stacked:
            if len(shape) < 2:
                return None
            out = {}
            for j in range(shape[0]):
                role = _fill(alias.role, m, j) + suffix
                out[role] = TensorRef(name, shape[1:], False, None, None, "name", j)
            return out
        role = _fill(alias.role, m) + suffix
        return {role: TensorRef(name, canon, transposed, None, _layout_for(role, param, layout_notes))}
    # fused
    roles = [_fill(r, m) + suffix for r in alias.roles]
    rows = canon[0] if canon else 0
    sizes = _split_sizes(alias, rows, config)
    if sizes is None:
        notes.append(f"{name}: cannot split {rows} fused rows into {len(roles)} parts without head counts")
        return None
    if alias.split == "heads" and len(set(sizes)) == 1 and not _heads_known(config):
        notes.append(f"{name}: split into equal thirds (no head counts declared)")
    layout = LAYOUT_NEOX_QKV if alias.split == "neox-heads" else None
    out = {}
    a = 0
    for role, size in zip(roles, sizes, strict=True):
        lay = layout or _layout_for(role, param, layout_notes)
        out[role] = TensorRef(name, (size, *canon[1:]), transposed, (a, a + size), lay)
        a += size
    return out


def _heads_known(config: ModelConfig | None) -> bool:
    return bool(config and config.num_heads)


def _head_dims(config: ModelConfig | None) -> tuple[int, int, int] | None:
    """(n_heads, n_kv_heads, head_dim) from a config, or None."""
    if config is None or not config.num_heads:
        return None
    nh = int(config.num_heads)
    nkv = int(config.num_kv_heads or nh)
    hd = config.head_dim or (config.hidden_size // nh if config.hidden_size else None)
    if not hd:
        return None
    return nh, nkv, int(hd)


def _split_sizes(alias: FusedAlias, rows: int, config: ModelConfig | None) -> list[int] | None:
    n = len(alias.roles)
    if alias.split == "equal":
        return [rows // n] * n if rows % n == 0 else None
    heads = _head_dims(config)
    if alias.split == "neox-heads":
        if heads is None or rows % (3 * heads[0]):
            return None
        return [rows // 3] * 3
    if heads is not None:
        nh, nkv, hd = heads
        if nh * hd + 2 * nkv * hd == rows:
            return [nh * hd, nkv * hd, nkv * hd]
    return [rows // 3] * 3 if rows % 3 == 0 else None


def _split_gguf_fused_up(refs: dict[str, TensorRef], config: ModelConfig | None, notes: list[str]) -> None:
    """llama.cpp's phi3 stores gate and up fused in ``ffn_up`` (2·ffn rows, gate first) with no ``ffn_gate``."""
    if config is None or not config.intermediate_size or "phi3" not in (config.architecture or "").lower():
        return
    f = int(config.intermediate_size)
    for role in [r for r in refs if r.endswith(".mlp.up")]:
        ref = refs[role]
        gate = role[: -len("up")] + "gate"
        if gate in refs or ref.shape[0] != 2 * f or not ref.name.startswith("blk."):
            continue
        refs[gate] = TensorRef(ref.name, (f, *ref.shape[1:]), ref.transposed, (0, f), ref.layout)
        refs[role] = TensorRef(ref.name, (f, *ref.shape[1:]), ref.transposed, (f, 2 * f), ref.layout)
        notes.append(f"{ref.name}: fused gate|up split in halves")


# --------------------------------------------------------------------------------------------------------------
# 2. graph (ONNX)
# --------------------------------------------------------------------------------------------------------------
def _onnx_bias_links(consumers: Any, shapes: Mapping[str, Shape]) -> dict[str, str]:
    """Anonymous MatMul weight → the named tensor added to its product (``MatMul(x, W) → Add(·, bias)``).

    ``consumers`` is the ONNX reader's ``metadata["consumers"]``: tensor/value name → list of consumer nodes,
    each a mapping with ``op_type``, ``inputs`` and ``outputs`` (names). Tolerant of missing keys.
    """
    if not isinstance(consumers, Mapping):
        return {}

    def nodes(value: str) -> list[Mapping[str, Any]]:
        got = consumers.get(value) or []
        return [n for n in got if isinstance(n, Mapping)]

    links: dict[str, str] = {}
    for w, shape in shapes.items():
        if len(shape) != 2:
            continue
        for node in nodes(w):
            if str(node.get("op_type", "")) not in ("MatMul", "Gemm"):
                continue
            if node.get("op_type") == "Gemm":
                ins = [str(x) for x in node.get("inputs", ())]
                if len(ins) > 2 and ins[2] in shapes:
                    links[w] = ins[2]
                    break
            for out in node.get("outputs", ()):
                for nxt in nodes(str(out)):
                    if nxt.get("op_type") != "Add":
                        continue
                    others = [str(x) for x in nxt.get("inputs", ()) if str(x) != str(out)]
                    named = [x for x in others if x in shapes and len(shapes[x]) == 1]
                    if named:
                        links[w] = named[0]
                        break
                if w in links:
                    break
            if w in links:
                break
    return links


def _map_by_graph(
    shapes: Mapping[str, Shape],
    links: Mapping[str, str],
    refs: dict[str, TensorRef],
    mapped: set[str],
    stored_transposed: Mapping[str, bool],
) -> int:
    by_name: dict[str, str] = {}
    for role, ref in refs.items():
        by_name.setdefault(ref.name, role)
    n = 0
    for w, target in links.items():
        if w in mapped or target not in by_name:
            continue
        role = by_name[target]
        if not role.endswith(".bias"):
            continue
        wrole = role[: -len(".bias")]
        if wrole in refs:
            continue
        shape = shapes[w]
        t = stored_transposed.get(w, False)
        refs[wrole] = TensorRef(w, tuple(reversed(shape)) if t else shape, t, None, None, "graph")
        mapped.add(w)
        n += 1
    return n


_EXEC_ORDER = ("attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down")


def _map_by_graph_order(
    shapes: Mapping[str, Shape],
    order: list[str],
    refs: dict[str, TensorRef],
    mapped: set[str],
    stored_transposed: Mapping[str, bool],
    notes: list[str],
) -> int:
    """Anonymous MatMul weights (graph order) → weight roles that have a named bias but no weight.

    A PyTorch export runs each layer's projections in ``forward`` order (q, k, v, o, up, down), so the n-th
    anonymous weight is the n-th missing role. Accepted only if the counts agree and every weight's output size
    equals its bias's length; otherwise nothing is assigned (and a note says why).
    """
    anon = [w for w in order if w in shapes and w not in mapped and len(shapes[w]) == 2]
    if not anon:
        return 0
    layers = sorted({r.layer for r in map(parse_role, refs) if r.layer is not None})
    missing: list[tuple[str, int]] = []
    for i in layers:
        for local in _EXEC_ORDER:
            role = f"layers.{i}.{local}"
            bias = refs.get(role + ".bias")
            if role not in refs and bias is not None:
                missing.append((role, bias.shape[0]))
    if len(missing) != len(anon):
        if missing:
            notes.append(
                f"{len(anon)} anonymous matrices vs {len(missing)} roles with a bias only: left unmapped"
            )
        return 0
    canon = []
    for w in anon:
        t = stored_transposed.get(w, False)
        canon.append((t, tuple(reversed(shapes[w])) if t else shapes[w]))
    if any(c[0] != out for (_, c), (_, out) in zip(canon, missing, strict=True)):
        notes.append("anonymous matrices do not match their biases' sizes in graph order: left unmapped")
        return 0
    for w, (t, c), (role, _) in zip(anon, canon, missing, strict=True):
        refs[role] = TensorRef(w, c, t, None, None, "graph")
        mapped.add(w)
    return len(anon)


# --------------------------------------------------------------------------------------------------------------
# 3. shape and position
# --------------------------------------------------------------------------------------------------------------
_DIGITS = re.compile(r"\d+")


def _group_by_number(names: list[str]) -> dict[str, int] | None:
    """Layer index from the first digit group (by position in the name) that numbers contiguous layers."""
    groups = {n: [int(x) for x in _DIGITS.findall(n)] for n in names}
    for k in range(4):
        vals = {n: g[k] for n, g in groups.items() if len(g) > k}
        if len(vals) * 2 < len(names):
            return None
        c = Counter(vals.values())
        lo, hi = min(c), max(c)
        if len(c) < 2 or hi - lo + 1 != len(c) or min(c.values()) < 2:
            continue
        return {n: v - lo for n, v in vals.items()}
    return None


def _group_by_period(names: list[str], shapes: Mapping[str, Shape], max_period: int = 256) -> dict[str, int]:
    """Layers as the longest run of the shape sequence that repeats with some period (ties: earliest, shortest)."""
    seq = [shapes[n] for n in names]
    n = len(seq)
    best = (0, 0, 0, 0)  # coverage, -start, -period, layers
    for p in range(1, min(max_period, n // 2) + 1):
        run = 0
        # runs[i] = length of the run of equalities seq[j] == seq[j+p] starting at i (computed backwards)
        runs = [0] * (n - p + 1)
        for i in range(n - p - 1, -1, -1):
            run = run + 1 if seq[i] == seq[i + p] else 0
            runs[i] = run
        for s in range(0, n - 2 * p + 1):
            layers = 1 + runs[s] // p
            if layers < 2:
                continue
            cand = (layers * p, -s, -p, layers)
            if cand > best:
                best = cand
    cov, neg_s, neg_p, layers = best
    if cov == 0:
        return {}
    s, p = -neg_s, -neg_p
    return {names[s + i]: i // p for i in range(layers * p)}


def _map_by_shape(
    shapes: Mapping[str, Shape],
    config: ModelConfig | None,
    stored_transposed: Mapping[str, bool],
    notes: list[str],
) -> tuple[dict[str, TensorRef], set[str]]:
    names = list(shapes)
    mats = [n for n in names if len(shapes[n]) == 2]
    if not mats:
        raise RoleError("no 2-D tensors: roles cannot be assigned by shape")
    emb = max(mats, key=lambda n: (max(shapes[n]), -names.index(n)))
    es = shapes[emb]
    d = min(es)
    if config is not None and config.hidden_size and config.hidden_size in es:
        d = int(config.hidden_size)
    vocab = es[1] if es[0] == d and es[1] != d else es[0]
    refs: dict[str, TensorRef] = {}
    mapped: set[str] = set()

    def put(role: str, name: str, canon: Shape, transposed: bool = False, amb: tuple[str, ...] = ()) -> None:
        refs[role] = TensorRef(name, canon, transposed, None, None, "shape", None, amb)
        mapped.add(name)

    put("embed", emb, (vocab, d), es != (vocab, d))

    layer_of = _group_by_number(names) or _group_by_period(names, shapes)
    if not layer_of:
        notes.append("no repeated layer structure found in names or file order")
    n_layers = max(layer_of.values(), default=-1) + 1
    per_layer: list[list[str]] = [[] for _ in range(n_layers)]
    for n in names:
        if n in layer_of and n != emb:
            per_layer[layer_of[n]].append(n)

    # MLP width: the widest x among (d, x)/(x, d) matrices inside layers
    widths = [
        max(s) if min(s) == d else min(s) for L in per_layer for n in L if len(s := shapes[n]) == 2 and d in s
    ]
    ffn = max((w for w in widths if w != d), default=None)
    heads = _head_dims(config)

    # pass 1: per-layer MLP analysis gives votes on orientation and file-order convention
    conv_votes: Counter[str] = Counter()
    orient_votes: Counter[bool] = Counter()
    for L in per_layer:
        mlp = [n for n in L if len(shapes[n]) == 2 and ffn and set(shapes[n]) == {d, ffn}]
        if len(mlp) == 3:
            odd = _odd_one(mlp, shapes)
            if odd is not None:
                pos = mlp.index(odd)
                if pos == 0:
                    conv_votes["alpha"] += 1
                elif pos == 2:
                    conv_votes["def"] += 1
                orient_votes[shapes[odd] != (d, ffn)] += 1
        attn = [n for n in L if len(shapes[n]) == 2 and n not in mlp]
        if len(attn) == 4:
            ts = {t for t in (False, True) if _attn_perms(attn, shapes, d, t, heads)}
            if len(ts) == 1:
                orient_votes[ts.pop()] += 1
    if orient_votes:
        transposed = orient_votes[True] > orient_votes[False]
    elif stored_transposed:
        transposed = sum(stored_transposed.values()) * 2 > len(stored_transposed)
        notes.append("matrix orientation taken from the format (no shape evidence)")
    else:
        transposed = False
        notes.append("matrix orientation assumed (out, in): no shape evidence")
    convention = conv_votes.most_common(1)[0][0] if conv_votes else None
    if convention is None:
        notes.append(
            "file-order convention unknown: q/k/v/o and norms assigned in definition order (ambiguous)"
        )

    def canon(name: str) -> Shape:
        s = shapes[name]
        return tuple(reversed(s)) if (transposed and len(s) == 2) else s

    for i, L in enumerate(per_layer):
        pre = f"layers.{i}."
        mats_l = [n for n in L if len(shapes[n]) == 2]
        mlp = [n for n in mats_l if ffn and set(shapes[n]) == {d, ffn}]
        if len(mlp) == 3:
            odd = _odd_one(mlp, shapes)
            if odd is not None:
                gu = [n for n in mlp if n != odd]
                amb_gu = (pre + "mlp.gate", pre + "mlp.up")
                put(pre + "mlp.down", odd, canon(odd), transposed)
                put(pre + "mlp.gate", gu[0], canon(gu[0]), transposed, amb_gu)
                put(pre + "mlp.up", gu[1], canon(gu[1]), transposed, amb_gu)
        elif len(mlp) == 2:
            up = next((n for n in mlp if canon(n) == (ffn, d)), mlp[0])
            down = mlp[1] if up == mlp[0] else mlp[0]
            put(pre + "mlp.up", up, canon(up), transposed)
            put(pre + "mlp.down", down, canon(down), transposed)
        attn = [n for n in mats_l if n not in mlp]
        if len(attn) == 4:
            perms = _attn_perms(attn, shapes, d, transposed, heads)
            if perms:
                order = ("k", "o", "q", "v") if convention == "alpha" else ("q", "k", "v", "o")
                chosen = order if order in perms else perms[0]
                sure = convention is not None and chosen == order
                for pos, name in enumerate(attn):
                    r = chosen[pos]
                    alts = sorted({p[pos] for p in perms})
                    amb_a: tuple[str, ...] = ()
                    if not sure and len(alts) > 1:
                        amb_a = tuple(pre + "attn." + a for a in alts)
                    put(pre + "attn." + r, name, canon(name), transposed, amb_a)
        vecs = [n for n in L if len(shapes[n]) == 1]
        dvecs = [n for n in vecs if shapes[n] == (d,)]
        other = [n for n in vecs if shapes[n] != (d,)]
        has_bias = any(shapes[n] == (ffn,) for n in other) or len(dvecs) > 4
        if has_bias:
            if i == 0:
                notes.append("biases present: (d,) vectors (norm gains, shifts, biases) left unmapped")
        else:
            _assign_norms(pre, dvecs, convention, put, shapes)
            hd = heads[2] if heads else None
            qk = [n for n in other if hd is None or shapes[n] == (hd,)]
            if len(qk) == 2 and shapes[qk[0]] == shapes[qk[1]]:
                first, second = ("k_norm", "q_norm") if convention == "alpha" else ("q_norm", "k_norm")
                amb_qk: tuple[str, ...] = () if convention else (pre + "attn.q_norm", pre + "attn.k_norm")
                put(pre + "attn." + first, qk[0], shapes[qk[0]], False, amb_qk)
                put(pre + "attn." + second, qk[1], shapes[qk[1]], False, amb_qk)

    # globals: lm_head, position/type embeddings, final/embedding norm
    glob = [n for n in names if n not in layer_of and n != emb]
    heads_like = [n for n in glob if len(shapes[n]) == 2 and set(shapes[n]) == {vocab, d}]
    if heads_like:
        h = heads_like[-1]
        put("lm_head", h, (vocab, d), shapes[h] != (vocab, d))
    small = [n for n in glob if len(shapes[n]) == 2 and d in shapes[n] and n not in heads_like]
    for n in small:
        s = shapes[n]
        rows = s[0] if s[1] == d else s[1]
        role = "type_embed" if rows <= 16 else "pos_embed"
        if role not in refs:
            put(role, n, (rows, d), s != (rows, d))
    gvec = [n for n in glob if shapes[n] == (d,)]
    if len(gvec) == 1:
        put("embed_norm" if "type_embed" in refs else "final_norm", gvec[0], (d,))
    elif gvec:
        notes.append(
            f"{len(gvec)} global (d,) vectors: norm weights and shifts cannot be told apart by shape"
        )
    return refs, mapped


def _odd_one(mlp: list[str], shapes: Mapping[str, Shape]) -> str | None:
    c = Counter(shapes[n] for n in mlp)
    if len(c) != 2:
        return None
    odd_shape = next(s for s, k in c.items() if k == 1)
    return next(n for n in mlp if shapes[n] == odd_shape)


def _attn_perms(
    attn: list[str], shapes: Mapping[str, Shape], d: int, transposed: bool, heads: tuple[int, int, int] | None
) -> list[tuple[str, ...]]:
    """Every assignment of (q, k, v, o) to the four tensors (in order) that their shapes allow."""
    cs = [tuple(reversed(shapes[n])) if transposed else shapes[n] for n in attn]
    out = []
    for perm in itertools.permutations(("q", "k", "v", "o")):
        sh = dict(zip(perm, cs, strict=True))
        q, k, v, o = sh["q"], sh["k"], sh["v"], sh["o"]
        if q[1] != d or k[1] != d or v[1] != d or o[0] != d or o[1] != q[0] or k != v or k[0] > q[0]:
            continue
        if heads is not None:
            nh, nkv, hd = heads
            if q[0] != nh * hd or k[0] != nkv * hd:
                continue
        out.append(perm)
    return out


def _assign_norms(
    pre: str, dvecs: list[str], convention: str | None, put: Any, shapes: Mapping[str, Shape]
) -> None:
    if len(dvecs) == 2:
        put(pre + "norm.attn", dvecs[0], shapes[dvecs[0]])
        put(pre + "norm.mlp", dvecs[1], shapes[dvecs[1]])
    elif len(dvecs) == 4:
        rest = ("mlp", "post_attn", "post_ffn") if convention == "alpha" else ("post_attn", "mlp", "post_ffn")
        amb = tuple(pre + "norm." + r for r in ("mlp", "post_attn", "post_ffn"))
        put(pre + "norm.attn", dvecs[0], shapes[dvecs[0]])
        for n, r in zip(dvecs[1:], rest, strict=True):
            put(pre + "norm." + r, n, shapes[n], False, amb)
    elif len(dvecs) == 1:
        put(pre + "norm.attn", dvecs[0], shapes[dvecs[0]])


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
