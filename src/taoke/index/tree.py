"""The lineage forest of an index: every model's most likely parent, consistent with the pair verdicts.

Edges. For every model, its LSH shortlist (:func:`taoke.index.search.shortlist`) is tested exactly; pairs with an
``identical`` / ``repackaged`` / ``derived`` verdict are related (results cached in the index's ``pairs``).

Direction — the rule, in order (weights alone cannot orient a function-preserving copy; taoke says so):

1. *Declared base.* A model whose card names another indexed model as ``base_model`` is its child.
2. *Copies (identical / re-packaged clusters).* Inside a cluster of weight-equal models, models whose sampled
   values are bit-identical form a value class. Classes are ordered by the precision of their finest member,
   finest first (quantising loses information, so a Q8_0 whose values differ from an F32 copy was made from it);
   inside a class, the lossiest storage comes first (an F32 file whose values sit exactly on a Q4_1 grid is a
   de-quantisation of that Q4_1), then models with standard tensor names and orientation (renaming and
   transposing are what a re-packager does), then models with a card. Each member's parent is the member before
   it with the finest precision (ties: standard names, same format, earlier in the order).
3. *Derived clusters.* In a connected component of related clusters, the root cluster is the one with most
   copies (the original is the one people re-package), then the highest mean similarity to the other clusters
   (independent edits of one original are closer to it than to each other), then a card. Other clusters attach
   greedily (Prim) to the already placed cluster they are most similar to (similarities within ``SIM_TIE`` are
   ties, broken by the share of tensors left unchanged between the two, then the placed cluster's size, then
   centrality); a cluster's root gets as parent the
   finest-precision, standard-named member of that cluster.

Similarity is :func:`taoke.index.search.compare_views`'s (matched |cos| × share of layers matched).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from taoke.index.search import RELATED, compare_views, shortlist
from taoke.index.store import IndexStore
from taoke.index.view import FingerprintView
from taoke.verdict import VerdictKind

_PRECISION_FALLBACK = 0.5
SIM_TIE = 0.005  # similarities closer than this are ties (resolution of fingerprint unit similarities)


def _precision(dtype: str) -> float:
    from taoke.whitebox.exact import FORMAT_PRECISION

    return FORMAT_PRECISION.get(dtype.upper(), _PRECISION_FALLBACK)


@dataclass(frozen=True)
class Node:
    id: int
    name: str
    location: str
    parent: int | None
    relation: str | None  # verdict of the edge to the parent
    log10_p: float | None
    similarity: float | None
    reason: str  # which rule chose the parent
    dtype: str
    children: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__) | {"children": list(self.children)}


@dataclass(frozen=True)
class Forest:
    nodes: dict[int, Node]
    pairs_tested: int
    shortlist_size: int = 12

    def summary(self) -> str:
        """What the forest rests on: a root is a model none of whose shortlisted candidates was related to it —
        not a test against every indexed model."""
        roots = len(self.roots())
        return (f"{len(self.nodes)} models, {roots} root{'s' if roots != 1 else ''}, {self.pairs_tested} pairs "
                f"tested exactly; each model was tested against the (up to) {self.shortlist_size} candidates its "
                "search shortlisted, so a root means no related model among those, not among every indexed model")

    def roots(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.parent is None]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "taoke.lineage-tree", "version": 1, "pairs_tested": self.pairs_tested,
                "shortlist_size": self.shortlist_size, "summary": self.summary(),
                "nodes": [n.to_dict() for n in sorted(self.nodes.values(), key=lambda x: x.id)]}  # fmt: skip

    def text(self) -> str:
        lines: list[str] = []

        def walk(n: Node, prefix: str, last: bool, top: bool) -> None:
            edge = "" if top else ("└── " if last else "├── ")
            rel = "" if n.relation is None else f"  [{n.relation}{_ptxt(n.log10_p)}; {n.reason}]"
            lines.append(f"{prefix}{edge}{n.name} ({n.dtype}){rel}")
            kids = [self.nodes[c] for c in n.children]
            for i, c in enumerate(kids):
                walk(c, prefix + ("" if top else ("    " if last else "│   ")), i == len(kids) - 1, False)

        for r in sorted(self.roots(), key=lambda x: x.name):
            walk(r, "", True, True)
        return "\n".join(lines)


def _ptxt(lp: float | None) -> str:
    return "" if lp is None else f", log10 p {lp:.0f}"


def _pair(store: IndexStore, a: int, b: int, views: dict[int, Any]) -> dict[str, Any]:
    lo, hi = min(a, b), max(a, b)
    d = store.cached_pair(lo, hi)
    if d is None:
        for i in (lo, hi):
            if i not in views:
                views[i] = FingerprintView(store.fingerprint(i))
        d = compare_views(views[lo], views[hi])
        store.cache_pair(lo, hi, d)
    return d


def build_tree(store: IndexStore, *, shortlist_size: int = 12,
               progress: Callable[[str], None] | None = None) -> Forest:  # fmt: skip
    """Test each model's shortlist, then orient the related pairs into a forest (rules in the module docstring)."""
    models = store.models()
    info: dict[int, dict[str, Any]] = {}
    for m in models:
        h = store.header(m.id)
        census = h.get("dtypes") or {}
        dtype = max(census, key=lambda k: census[k]) if census else "?"
        roles = h.get("roles", {})
        canonical = h.get("role_method", "names") == "names" and not any(r.get("transposed") for r in roles.values())
        card = h.get("card") or {}
        info[m.id] = {"name": m.name, "dtype": dtype, "prec": _precision(dtype), "canonical": canonical,
                      "format": h["source"]["format"], "card": bool(card), "bases": list(card.get("base_models") or []),
                      "location": m.location}  # fmt: skip
    views: dict[int, Any] = {}
    rel: dict[tuple[int, int], dict[str, Any]] = {}
    tested = 0
    for m in models:
        fp = store.fingerprint(m.id)
        for c in shortlist(store, fp, size=shortlist_size, exclude=m.id):
            key = (min(m.id, c.model_id), max(m.id, c.model_id))
            if key in rel or (key[0], -key[1]) in rel:
                continue
            d = _pair(store, m.id, c.model_id, views)
            tested += 1
            rel[key if d["kind"] in RELATED else (key[0], -key[1])] = d
            while len(views) > 24:  # bounded cache of decoded fingerprints
                views.pop(next(iter(views)))
        if progress:
            progress(m.name)
    edges = {k: d for k, d in rel.items() if k[1] > 0}
    return replace(_orient(info, edges, tested), shortlist_size=shortlist_size)


def _orient(info: dict[int, dict[str, Any]], edges: dict[tuple[int, int], dict[str, Any]], tested: int) -> Forest:
    ids = sorted(info)
    parent: dict[int, tuple[int | None, str | None, float | None, float | None, str]] = {
        i: (None, None, None, None, "root") for i in ids
    }

    def e(a: int, b: int) -> dict[str, Any] | None:
        return edges.get((min(a, b), max(a, b)))

    def uf_groups(pred: Callable[[dict[str, Any]], bool], nodes: list[int]) -> list[list[int]]:
        up = {i: i for i in nodes}

        def find(x: int) -> int:
            while up[x] != x:
                up[x] = up[up[x]]
                x = up[x]
            return x

        for (a, b), d in edges.items():
            if a in up and b in up and pred(d):
                up[find(a)] = find(b)
        groups: dict[int, list[int]] = {}
        for i in nodes:
            groups.setdefault(find(i), []).append(i)
        return list(groups.values())

    def pref(i: int) -> tuple[Any, ...]:  # the better parent sorts first
        x = info[i]
        return (x["prec"], not x["canonical"], not x["card"], i)

    def set_parent(child: int, p: int, why: str) -> None:
        d = e(child, p) or {}
        parent[child] = (p, d.get("kind"), d.get("log10_p"), d.get("similarity"), why)

    # 1. declared bases
    by_name = {info[i]["name"]: i for i in ids}
    declared: set[int] = set()
    for i in ids:
        for b in info[i]["bases"]:
            j = by_name.get(b) or by_name.get(str(b).rsplit("/", 1)[-1])
            if j is not None and j != i:
                set_parent(i, j, "declared base_model")
                declared.add(i)
                break

    # 2. copy clusters, ordered inside
    copies = uf_groups(lambda d: VerdictKind(d["kind"]).same_weights or bool(d.get("within_precision")), ids)
    cluster_of: dict[int, int] = {}
    order_in: dict[int, list[int]] = {}
    for ci, members in enumerate(copies):
        classes = uf_groups(lambda d: d["kind"] == VerdictKind.IDENTICAL or bool(d.get("values_identical")), members)
        classes.sort(key=lambda cl: (min(info[i]["prec"] for i in cl), min(cl)))
        order: list[int] = []
        for cl in classes:
            order += sorted(cl, key=lambda i: (-info[i]["prec"], not info[i]["canonical"], not info[i]["card"], i))
        order_in[ci] = order
        for k, i in enumerate(order):
            cluster_of[i] = ci
            if k == 0 or i in declared:
                continue
            fmt = info[i]["format"]
            best = min(order[:k], key=lambda j: (*pref(j)[:2], info[j]["format"] != fmt, order.index(j)))
            set_parent(i, best, "copy: finer precision / standard packaging first")

    # 3. derived clusters
    comp = uf_groups(lambda d: True, ids)
    for members in comp:
        cls = sorted({cluster_of[i] for i in members})
        if len(cls) < 2:
            continue

        def cmax(key: str, c1: int, c2: int) -> float:  # the best pair of members of two clusters on ``key``
            s = [(e(a, b) or {}).get(key, 0.0) or 0.0 for a in order_in[c1] for b in order_in[c2]]
            return max(s) if s else 0.0

        def csim(c1: int, c2: int) -> float:
            return cmax("similarity", c1, c2)

        def cshare(c1: int, c2: int) -> float:
            return cmax("shared_tensors", c1, c2)

        def centrality(c: int, cls: list[int] = cls) -> float:
            return sum(csim(c, o) for o in cls if o != c) / (len(cls) - 1)

        root = max(cls, key=lambda c: (len(order_in[c]), round(centrality(c), 3),
                                       any(info[i]["card"] for i in order_in[c]), -c))  # fmt: skip
        placed = [root]
        rest = [c for c in cls if c != root]
        while rest:
            cands = [(c, p) for c in rest for p in placed]
            top = max(csim(*cp) for cp in cands)
            # similarities closer than SIM_TIE are not told apart (32 int8 units per layer): among those, the pair
            # sharing more unchanged tensors (a child shares more with its parent than with a sibling: C changed X,
            # sibling S changed Y → C shares 1-|X| with the parent, 1-|X∪Y| with S), then the more copied / more
            # central cluster is the likelier parent (two noisy copies of one original measured 0.001 apart in the
            # wrong order on the zoo)
            near = [cp for cp in cands if csim(*cp) >= top - SIM_TIE]
            pair: tuple[int, int] = max(near, key=lambda cp: (round(cshare(*cp), 3), len(order_in[cp[1]]),
                                                               round(centrality(cp[1]), 3), round(csim(*cp), 3),
                                                               -cp[1]))  # fmt: skip
            c, p = pair
            if csim(c, p) <= 0:  # not directly related to any placed cluster: attach via any related member
                linked = [(c2, p2) for c2 in rest for p2 in placed if any(e(a, b) for a in order_in[c2] for b in order_in[p2])]
                if not linked:
                    break
                c, p = linked[0]
            child = order_in[c][0]
            if child not in declared:
                target = min(order_in[p], key=lambda j: pref(j))
                set_parent(child, target, "derived: most similar placed cluster, its finest standard copy")
            placed.append(c)
            rest.remove(c)

    kids: dict[int, list[int]] = {i: [] for i in ids}
    for i in ids:
        pi = parent[i][0]
        if pi is not None:
            kids[pi].append(i)
    nodes = {
        i: Node(i, info[i]["name"], info[i]["location"], parent[i][0], parent[i][1], parent[i][2], parent[i][3],
                parent[i][4], info[i]["dtype"], tuple(sorted(kids[i], key=lambda j: info[j]["name"])))
        for i in ids
    }  # fmt: skip
    _break_cycles(nodes)
    return Forest(nodes, tested)


def _break_cycles(nodes: dict[int, Node]) -> None:
    """Declared bases can contradict the weight rules; a cycle is cut at its weakest edge (reported as a root)."""
    for start in list(nodes):
        seen: list[int] = []
        x: int | None = start
        while x is not None and x not in seen:
            seen.append(x)
            x = nodes[x].parent
        if x is None:
            continue
        cyc = seen[seen.index(x) :]
        def strength(i: int) -> float:
            s = nodes[i].similarity
            return math.inf if s is None else float(s)

        weakest = min(cyc, key=strength)
        n = nodes[weakest]
        p = nodes[n.parent] if n.parent is not None else None
        if p is not None:
            nodes[p.id] = Node(**(p.__dict__ | {"children": tuple(c for c in p.children if c != weakest)}))
        nodes[weakest] = Node(**(n.__dict__ | {"parent": None, "relation": None, "reason": "root (cycle cut)"}))


def render_image(forest: Forest, path: str) -> str:
    """Draw the forest with matplotlib (PNG or SVG by the file suffix); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos: dict[int, tuple[float, float]] = {}
    next_x = [0.0]

    def place(i: int, depth: int) -> float:
        kids = forest.nodes[i].children
        if not kids:
            x = next_x[0]
            next_x[0] += 1.0
        else:
            xs = [place(c, depth + 1) for c in kids]
            x = sum(xs) / len(xs)
        pos[i] = (x, -float(depth))
        return x

    for r in sorted(forest.roots(), key=lambda n: n.name):
        place(r.id, 0)
        next_x[0] += 0.5
    width = max(6.0, 1.4 * next_x[0])
    depth = max((-y for _x, y in pos.values()), default=0.0)
    fig, ax = plt.subplots(figsize=(width, 1.6 * (depth + 1) + 1))
    colors: dict[str, str] = {VerdictKind.IDENTICAL: "tab:green", VerdictKind.REPACKAGED: "tab:green", VerdictKind.DERIVED: "tab:red"}
    for n in forest.nodes.values():
        if n.parent is not None:
            (x0, y0), (x1, y1) = pos[n.parent], pos[n.id]
            ax.plot([x0, x1], [y0, y1], color=colors.get(n.relation or "", "gray"), lw=1.5, zorder=1)
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, n.relation or "", fontsize=7, color="dimgray", ha="center")
    for n in forest.nodes.values():
        x, y = pos[n.id]
        ax.scatter([x], [y], s=60, color="white", edgecolor="black", zorder=2)
        ax.text(x, y - 0.15, f"{n.name}\n{n.dtype}", fontsize=7, ha="center", va="top", rotation=0)
    ax.set_axis_off()
    ax.set_title("taoke lineage forest (edges: child ← parent)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
