"""Strategy 2, **graph**: ONNX exports leave some weights anonymous (``val_49``, ``onnx::MatMul_470``). A weight whose
MatMul output is added to a named bias takes that bias's role (``...query.bias`` → ``layers.0.attn.q``); weights
still anonymous are matched in graph execution order to the weight roles whose bias is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taoke.roles._common import Shape, TensorRef
from taoke.roles._roles import parse_role


def onnx_bias_links(consumers: Any, shapes: Mapping[str, Shape]) -> dict[str, str]:
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


def map_by_graph(
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


def map_by_graph_order(
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
