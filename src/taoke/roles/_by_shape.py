"""Strategy 3, **shape fallback**, when names explain less than half of the 2-D tensors (a model that renamed every
tensor): layers by a number in the names or the period of the shape sequence in file order, the embedding by the
largest dimension, the MLP width by the widest ``(d, x)`` tensor, q/k/v/o and the file-order convention by shapes
(see :mod:`taoke.roles._mapper` for the whole rule and its simplifications).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from taoke.errors import RoleError
from taoke.io.base import ModelConfig
from taoke.roles._common import Shape, TensorRef, head_dims

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


def map_by_shape(
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
    heads = head_dims(config)

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
