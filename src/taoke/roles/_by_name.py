"""Strategy 1, **names**: every tensor name is matched against the alias tables of :mod:`taoke.roles._aliases`
(any wrapper prefix allowed; the prefix that matches most tensors wins, others stay unmapped). Fused tensors
(GPT-2 ``c_attn``, GPT-NeoX ``query_key_value`` with its per-head interleaving, Phi-3 ``qkv_proj``/``gate_up_proj``,
llama.cpp ``attn_qkv``) become several :class:`TensorRef` with a ``row_range``. Orientation: GPT-2 ``Conv1D``
weights and ONNX MatMul/Gemm inputs stored (in, out) get ``transposed=True``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taoke.io.base import ModelConfig
from taoke.roles._aliases import (
    ALL_ALIASES,
    LAYOUT_NEOX_QKV,
    LAYOUT_NORM_PLUS_ONE,
    LAYOUT_ROPE_PERMUTED,
    Alias,
    FusedAlias,
)
from taoke.roles._common import Shape, TensorRef, head_dims, heads_known
from taoke.roles._roles import RoleName, parse_role

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


def map_by_name(
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
    if alias.split == "heads" and len(set(sizes)) == 1 and not heads_known(config):
        notes.append(f"{name}: split into equal thirds (no head counts declared)")
    layout = LAYOUT_NEOX_QKV if alias.split == "neox-heads" else None
    out = {}
    a = 0
    for role, size in zip(roles, sizes, strict=True):
        lay = layout or _layout_for(role, param, layout_notes)
        out[role] = TensorRef(name, (size, *canon[1:]), transposed, (a, a + size), lay)
        a += size
    return out


def _split_sizes(alias: FusedAlias, rows: int, config: ModelConfig | None) -> list[int] | None:
    n = len(alias.roles)
    if alias.split == "equal":
        return [rows // n] * n if rows % n == 0 else None
    heads = head_dims(config)
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
