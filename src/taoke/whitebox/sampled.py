"""Sampled hidden-unit evidence: a lineage verdict from a bounded sample of bytes, at any model size.

The full test (:mod:`taoke.whitebox.units`) reads every MLP of both models. This one reads a sample whose size
does not grow with depth or width beyond what the statistic needs, and stops as soon as the answer is settled.

**What is read.** Let A be the candidate ancestor and B the model in question.

* *Alignment* — B's embedding rows of ``≈1.5·d_B`` shared tokens (whole rows: a rotation of the residual stream mixes
  every coordinate) and A's rows of the same tokens on one block ``T`` of ``k`` A-coordinates (a contiguous
  slice of each row). A least-squares map ``W`` (``d_B × k``, ridge-regularised, fitted from the centred Gram
  matrix ``E_Bᵀ E_B`` accumulated chunk by chunk and solved by Cholesky) sends any B residual vector to A's
  coordinates ``T``. For a copy whose residual stream was rotated, ``E_B = E_A Q`` and ``W = Qᵀ[:, T]``.
* *B's units* — on ``L`` sampled B layers covering its interior depth (evenly spaced, tested coarse to fine), a
  block ``S`` of ``m`` units chosen **by index** from the seed (a contiguous block: one read of ``m`` up rows,
  ``m`` gate rows, and ``d_B`` row segments of the down projection holding those units' write vectors; in a
  mixture-of-experts layer a block of one expert chosen by index). The selection does not look at the weights, so it cannot be
  steered by unit statistics; it is predictable from the seed, so a party that may have anticipated the default
  seed should be checked with ``--seed`` of the verifier's choice.
* *A's units* — rows ``T`` of every layer's down projection: **all** of A's units, on ``k`` coordinates (one
  contiguous read per layer; ``k_s`` of them for screening), and, for the units B's block is matched to, their
  up/gate rows on ``T``. In an MoE layer, the experts whose router rows best match the router rows of B's two
  sampled expert (after ``W``): the best two.

**The statistic** (after Zhu et al., ICML 2025, arXiv:2502.12292, unconstrained setting, adapted to a sample).
For a sampled B layer: screen every A layer (mean best ``|cos|`` of B's sampled write vectors against A's units on
the ``k_s`` screening coordinates), take the best A layer, then match each unit ``u`` of ``S`` to A's unit with
the most similar write vector on ``T`` (``π_W``, over *all* units of that A layer), and match ``S`` to the set
``V = π_W(S)`` a second time, independently, by read vectors (``[gate|up]`` on ``T``, Hungarian: ``σ``). The
statistic is the number ``K`` of units on which ``σ`` and ``π_W`` agree. **Null**: under independent training the
read-vector matching carries no information about which member of ``V`` the write vectors chose, so ``σ∘π_W⁻¹``
behaves like a uniformly random injection and ``P(K ≥ k) ≤ 1/k!`` (the expected number of fixed k-subsets);
Bonferroni over the screened A layers. A copied layer (permuted, rotated, noised, low-rank updated) gives
``K ≈ m``. The null is not exact (a unit's read and write vectors are not independent, and layers next to the
embeddings converge in unrelated models — see :mod:`taoke.whitebox.units`), so it is **measured** on real
independent pairs (``taoke eval``, ``benchmarks/scale``) and the model level uses the same majority combination
over interior layers as the full test.

**Sequential stop.** With ``L`` planned layers and a strict majority ``M``, "derived" needs ``M`` layer p-values at
or below ``t* = (α / C(L, M))^{1/M}``. Layers are tested one by one; the test stops as soon as ``M`` of them are
(the verdict cannot change), or as soon as more than ``L − M`` are not (it can no longer pass). Unobserved layers
count as ``p = 1`` in the reported bound, which is therefore conservative; the decision equals the one all ``L``
layers would give.

**Coverage of derivations.** Layer subsets, duplications and re-orderings: every A layer is screened for every
sampled B layer. Width changes (pruned units or residual width): ``W`` maps any ``d_B`` to A's coordinates and
``π_W`` searches all of A's units. Residual rotations with folded norms: ``W`` absorbs them (read vectors are taken
after the pre-MLP norm gain is folded, as in :func:`taoke.whitebox.mlp.mlp_parts`). Unit/expert/head
permutations: A's side is searched exhaustively.

Concessions: ``W`` is a linear least-squares map, not an orthogonal one (an orthogonal Procrustes fit needs the full
``d × d`` cross-covariance and its SVD: 0.5–1 GB at ``d = 8192``); the read matching compares ``k`` coordinates
of A's basis, not all; the screening uses ``k_s`` coordinates and a sample of 64 of B's units; an MoE layer of A
is searched on the experts its router pairs with B's sampled experts (a copy keeps experts and their router rows
together; a derivation that re-initialises the router is screened on its units only when A's layer is dense).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taoke.whitebox.reader import RowReader as _Reader
from taoke.whitebox.reader import RowRequest as _Req
from taoke.whitebox.units import LayerMatch, UnitTestResult, interior_layers, log10_agreement_tail

__all__ = ["DEFAULT_PLAN", "PlanCost", "Progress", "Reading", "RoleScope", "SamplePlan", "SampledAlignment",
           "SampledStd", "exact_roles", "groups", "plan_cost", "plan_for", "sampled_unit_test"]

NULL = ("agreement of the write-vector matching π_W (B's sampled units → all of A's units, on k coordinates) "
        "with an independent read-vector matching σ onto π_W's image (P(K ≥ k) ≤ 1/k!), Bonferroni over the "
        "screened A layers; majority combination over the planned interior B layers, unobserved layers at p = 1")  # fmt: skip

Progress = Callable[[str, float], None]


# -- the plan --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplePlan:
    """Sizes of the sample (defaults: :data:`DEFAULT_PLAN`)."""

    layers: int = 6  # sampled B layers (interior)
    units: int = 256  # m: B units per sampled layer
    coords: int = 256  # k: A coordinates of the map W
    screen_coords: int = 64  # k_s
    screen_units: int = 64  # B units used by the screen
    tokens_per_dim: float = 1.5  # shared tokens read for the map, per B residual dimension
    min_tokens: int = 2048
    max_tokens: int = 16384
    experts_per_b: int = 1  # MoE: B experts sampled per layer (an expert's write vectors cost its whole down)
    experts_per_a: int = 2  # MoE: A experts searched per sampled B expert (the best by router rows)
    token_run: int = 256  # shared tokens are taken in runs of consecutive ids (few, large reads)

    def tokens(self, d_b: int, shared: int) -> int:
        return int(min(shared, self.max_tokens, max(self.min_tokens, math.ceil(self.tokens_per_dim * d_b))))


DEFAULT_PLAN = SamplePlan()


@dataclass(frozen=True)
class Reading:
    """How much was read and why the test stopped (reported with the verdict)."""

    bytes_a: int
    bytes_b: int
    file_a: int
    file_b: int
    layers_planned: int
    layers_tested: int
    stop: str
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": "sampled",
            "bytes_a": self.bytes_a,
            "bytes_b": self.bytes_b,
            "fraction_a": round(self.bytes_a / max(1, self.file_a), 6),
            "fraction_b": round(self.bytes_b / max(1, self.file_b), 6),
            "layers_planned": self.layers_planned,
            "layers_tested": self.layers_tested,
            "stop": self.stop,
            "seconds": round(self.seconds, 2),
            **self.detail,
        }


@dataclass(frozen=True)
class SampledAlignment:
    """The least-squares map of B's residual basis onto k of A's coordinates."""

    W: np.ndarray  # (d_B, k)
    coords: tuple[int, int]  # [t0, t1) in A's basis
    n_tokens: int
    r2: float  # share of the variance of A's coordinates that B's embeddings explain through W
    method: str = "least-squares-shared-tokens"

    @property
    def fit_cosine(self) -> float:
        """sqrt(R²): the correlation of the fitted and the actual A coordinates (descriptive)."""
        return float(math.sqrt(max(0.0, self.r2))) if math.isfinite(self.r2) else 1.0

    def to_dict(self) -> dict[str, object]:
        return {"n_tokens": self.n_tokens, "fit_cosine": round(self.fit_cosine, 4), "r2": round(self.r2, 4),
                "coords": list(self.coords), "method": self.method}  # fmt: skip


# -- unit groups (a dense MLP, or the experts of an MoE layer) ---------------------------------------------------
@dataclass(frozen=True)
class _Group:
    prefix: str  # "layers.3.mlp" or "layers.3.mlp.experts.7"
    units: int
    gate: bool


def _groups(m: Any, layer: int) -> list[_Group]:
    """Unit groups whose read and write vectors live in one residual basis (``down`` writes back to the width
    ``up`` reads: a projector between two widths is not one)."""
    pre = f"layers.{layer}.mlp"
    shapes = m.roles.refs
    prefixes = [pre] if f"{pre}.up" in shapes else []
    e = 0
    while not prefixes and f"{pre}.experts.{e}.up" in shapes:
        while f"{pre}.experts.{e}.up" in shapes:
            prefixes.append(f"{pre}.experts.{e}")
            e += 1
    out = []
    for p in prefixes:
        up, down = shapes.get(f"{p}.up"), shapes.get(f"{p}.down")
        if up is None or down is None or len(up.shape) != 2 or len(down.shape) != 2:
            continue
        if tuple(down.shape) != (up.shape[1], up.shape[0]):
            continue
        gate = shapes.get(f"{p}.gate")
        out.append(_Group(p, int(up.shape[0]), gate is not None and tuple(gate.shape) == tuple(up.shape)))
    return out


def _width(m: Any) -> int:
    """Residual width: the input width of the first MLP (else the embedding's columns)."""
    refs = m.roles.refs
    for i in range(int(m.layers)):
        g = _groups(m, i)
        if g:
            return int(refs[f"{g[0].prefix}.up"].shape[1])
    if "embed" in refs and len(refs["embed"].shape) == 2:
        return int(refs["embed"].shape[1])
    raise ValueError("no residual width: neither an embedding nor an MLP")


def _embeds_residual(m: Any) -> bool:
    """The token embedding lives in the residual basis (its width is the MLPs' input width)."""
    refs = m.roles.refs
    return "embed" in refs and len(refs["embed"].shape) == 2 and int(refs["embed"].shape[1]) == _width(m)


def _norm_offset(m: Any) -> float:
    arch = (getattr(getattr(m, "config", None), "architecture", None) or "").lower()
    return 1.0 if arch.startswith("gemma") else 0.0


def _gain(m: Any, rd: _Reader, layer: int) -> np.ndarray | None:
    role = f"layers.{layer}.norm.mlp"
    if not m.has(role):
        return None
    return np.asarray(m.get(role), dtype=np.float32).reshape(-1) + np.float32(_norm_offset(m))


def _unit_norm(x: np.ndarray, axis: int = 1) -> np.ndarray:
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def _vdc(n: int) -> list[int]:
    """Test order of ``n`` planned layers: coarse to fine over the depth (van der Corput order), so a test that
    stops early has still looked at layers spread over the whole depth.

    >>> _vdc(8), _vdc(5)
    ([0, 4, 2, 6, 1, 5, 3, 7], [0, 4, 2, 1, 3])
    """
    bits = max(1, (n - 1).bit_length())
    out = []
    for k in range(1 << bits):
        r = int(format(k, f"0{bits}b")[::-1], 2)
        if r < n:
            out.append(r)
    return out


def plan_for(a: Any, b: Any, plan: SamplePlan = DEFAULT_PLAN) -> tuple[list[int], list[int]]:
    """(B layers tested, in order; the interior ones among them, which the model-level p-value combines).

    A model with at most ``plan.layers`` MLP layers has every layer tested (the boundary ones for the layer map
    only, as in the full test); a deeper one has ``plan.layers`` evenly spaced interior layers, coarse to fine."""
    with_mlp = [j for j in range(int(b.layers)) if _groups(b, j)]
    interior = [j for j in interior_layers(int(b.layers)) if j in with_mlp]
    if len(with_mlp) <= plan.layers:
        inner = [interior[i] for i in _vdc(len(interior))]
        return inner + [j for j in with_mlp if j not in interior], inner
    chosen = sorted({interior[min(len(interior) - 1, int((i + 0.5) * len(interior) / plan.layers))]
                     for i in range(plan.layers)})  # fmt: skip
    order = [chosen[i] for i in _vdc(len(chosen))]
    return order, order


def width(m: Any) -> int:
    """Residual width of a model (see :func:`_width`)."""
    return _width(m)


def embeds_residual(m: Any) -> bool:
    """Whether the model's token embedding is in its residual basis (see :func:`_embeds_residual`)."""
    return _embeds_residual(m)


def groups(m: Any, layer: int) -> list[_Group]:
    """The unit groups of ``layer`` (one for a dense MLP, one per expert); empty when it has no usable MLP."""
    return _groups(m, layer)


# -- the tensor comparison and the std statistic on a bounded set of roles ---------------------------------------
EXACT_BUDGET = 64 << 20  # bytes per side the tensor comparison may read (32 rows of each role)
EXACT_EXPERTS = 2  # experts per sampled MoE layer
EXACT_ROWS = 16  # rows of each compared role (the full test: 32)


class RoleScope:
    """An evidence source seen through a subset of its role table (the tensor comparison reads only these); its
    scattered row reads go out as one batch (concurrent over HTTP) instead of one request after the other."""

    def __init__(self, src: Any, roles: set[str]) -> None:
        self._src = src
        self._roles = roles
        self._reader = _Reader(src) if hasattr(src, "checkpoint") and hasattr(src, "roles") else None

    def role_shapes(self) -> dict[str, tuple[int, ...]]:
        return {r: s for r, s in self._src.role_shapes().items() if r in self._roles}

    def has(self, role: str) -> bool:
        return role in self._roles and bool(self._src.has(role))

    def get(self, role: str, rows: Any = None) -> np.ndarray:
        if self._reader is not None and rows is not None and not isinstance(rows, slice) and \
                self._reader.plain(role) is not None:  # fmt: skip
            return self._reader.read([_Req(role, np.asarray(rows, dtype=np.int64))])[0]
        return np.asarray(self._src.get(role, rows=rows))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._src, name)


class SampledStd(RoleScope):
    """A model whose ``role_std`` is the std of 8 consecutive rows of the role (a block at a seeded position):
    the per-layer std statistic (reference only) without reading every attention matrix whole."""

    def __init__(self, src: Any, rows: int = 8) -> None:
        super().__init__(src, set(src.role_shapes()))
        self._rows = rows
        self._stds: dict[str, float] | None = None

    def _block(self, shape: tuple[int, ...]) -> slice:
        rng = np.random.default_rng(shape[0] * 1_000_003 + int(np.prod(shape[1:])))
        r0 = int(rng.integers(0, shape[0] - self._rows + 1))
        return slice(r0, r0 + self._rows)

    def role_std(self, role: str) -> float | None:
        if self._stds is None:  # every attention matrix's block in one batch (concurrent over HTTP)
            shapes = self._src.role_shapes()
            roles = [r for r, sh in shapes.items() if ".attn." in r and len(sh) == 2 and sh[0] > self._rows]
            got = self._reader.read([_Req(r, self._block(shapes[r])) for r in roles]) if self._reader else \
                [np.asarray(self._src.get(r, rows=self._block(shapes[r]))) for r in roles]  # fmt: skip
            self._stds = {r: float(np.std(np.asarray(x, dtype=np.float32))) for r, x in zip(roles, got, strict=True)}
        if role in self._stds:
            return self._stds[role]
        shape = self._src.role_shapes().get(role)
        if not shape or len(shape) < 2 or shape[0] <= self._rows:
            return None
        return float(np.std(np.asarray(self._src.get(role, rows=self._block(shape)), dtype=np.float32)))


def _row_bytes(m: Any, role: str, shape: tuple[int, ...]) -> int:
    from taoke.io.safetensors import DTYPE_BITS

    bits = DTYPE_BITS.get(str(m.role_dtype(role)), 16)
    inner = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return max(1, inner * bits // 8)


def exact_roles(a: Any, b: Any, *, budget: int = EXACT_BUDGET, rows: int = EXACT_ROWS
                ) -> tuple[set[str], set[str], int]:  # fmt: skip
    """Roles the tensor comparison reads in sampled mode: every role when ``rows`` rows of each fit ``budget`` bytes on
    both sides; otherwise the global roles and every role of evenly spaced layers (for an MoE layer: its router,
    norms, attention and the first ``EXACT_EXPERTS`` experts) until the budget is spent. Roles whose name or shape
    differ between the two tables are added on both sides (they are not read: the comparison skips them), so the
    comparison still sees whether the two role tables are the same."""
    sa, sb = dict(a.role_shapes()), dict(b.role_shapes())

    def cost(m: Any, shapes: dict[str, tuple[int, ...]], roles: set[str]) -> int:
        return sum(min(rows, s[0] if s else 1) * _row_bytes(m, r, s) for r, s in shapes.items() if r in roles)

    if cost(a, sa, set(sa)) <= budget and cost(b, sb, set(sb)) <= budget:
        return set(sa), set(sb), int(a.layers)
    differ = {r for r in set(sa) | set(sb) if sa.get(r) != sb.get(r)}

    def layer_of(r: str) -> int | None:
        return int(r.split(".")[1]) if r.startswith("layers.") else None

    def keep(r: str) -> bool:
        parts = r.split(".")
        return not (len(parts) > 4 and parts[2] == "mlp" and parts[3] == "experts" and int(parts[4]) >= EXACT_EXPERTS)

    chosen = {r for r in sa if layer_of(r) is None} & set(sb)
    n_layers = 0
    depth = int(min(a.layers, b.layers))
    for frac in (0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875):
        i = min(depth - 1, int(frac * depth))
        add = {r for r in sa if layer_of(r) == i and keep(r)} & set(sb)
        if chosen and max(cost(a, sa, chosen | add), cost(b, sb, chosen | add)) > budget:
            break
        chosen |= add
        n_layers += 1
    return chosen | differ, chosen | differ, n_layers


# -- the test ----------------------------------------------------------------------------------------------------
def _choose_tokens(ia: np.ndarray, ib: np.ndarray, n: int, run: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``n`` of the shared token pairs, in runs of ``run`` consecutive pairs (sorted by A id) at seeded positions."""
    total = len(ia)
    if n >= total:
        return ia, ib
    runs = math.ceil(total / run)
    take = min(runs, math.ceil(n / run))
    starts = np.sort(rng.choice(runs, size=take, replace=False)) * run
    idx = np.concatenate([np.arange(s, min(total, s + run)) for s in starts])[:n]
    return ia[idx], ib[idx]


def align_sampled(a: Any, b: Any, ra: _Reader, rb: _Reader, ids_a: np.ndarray, ids_b: np.ndarray,
                  coords: tuple[int, int], *, ridge: float = 1e-3, chunk: int = 1024,
                  progress: Progress | None = None) -> SampledAlignment:  # fmt: skip
    """Fit ``W`` (``d_B × k``): B's centred embedding rows → A's centred coordinates ``coords`` (least squares,
    ridge ``ridge·tr(G)/d``), from Gram sums accumulated ``chunk`` tokens at a time (memory: ``d_B²`` floats)."""
    from scipy.linalg import blas, cho_factor, cho_solve

    t0, t1 = coords
    n = len(ids_a)
    d_b = _width(b)
    k = t1 - t0
    g = np.zeros((d_b, d_b), dtype=np.float32, order="F")
    c = np.zeros((d_b, k), dtype=np.float64)
    sb = np.zeros(d_b, dtype=np.float64)
    sa = np.zeros(k, dtype=np.float64)
    ssa = 0.0
    for s in range(0, n, chunk):
        xb = rb.read([_Req("embed", ids_b[s : s + chunk])])[0]
        xa = ra.read([_Req("embed", ids_a[s : s + chunk], slice(t0, t1))])[0]
        g = blas.ssyrk(1.0, xb.T, beta=1.0, c=g, trans=0, lower=0, overwrite_c=1)  # xbᵀ is F-ordered: no copy
        c += xb.T @ xa
        sb += xb.sum(axis=0, dtype=np.float64)
        sa += xa.sum(axis=0, dtype=np.float64)
        ssa += float(np.sum(xa.astype(np.float64) ** 2))
        if progress is not None:
            progress("aligning residual bases", min(1.0, (s + chunk) / n))
    mb, ma = sb / n, sa / n
    # centre: G - n·mb·mbᵀ (upper triangle), C - n·mb·maᵀ
    g = blas.ssyr(-float(n), mb.astype(np.float32), a=g, lower=0, overwrite_a=1)
    c -= n * np.outer(mb, ma)
    tss = ssa - n * float(ma @ ma)
    tr = float(np.trace(g))
    lam = ridge * tr / max(1, d_b)
    g[np.diag_indices(d_b)] += np.float32(lam)
    cf = cho_factor(g, lower=False, overwrite_a=True, check_finite=False)
    w = cho_solve(cf, c.astype(np.float32), check_finite=False)
    del cf, g
    _trim()
    w64 = w.astype(np.float64)
    # residual sum of squares from the sums: tss − 2 tr(WᵀC) + tr(Wᵀ G W), with G W = C − λW
    rss = tss - 2 * float(np.sum(w64 * c)) + float(np.sum(w64 * (c - lam * w64)))
    r2 = 1.0 - rss / tss if tss > 0 else 0.0
    return SampledAlignment(np.ascontiguousarray(w, dtype=np.float32), coords, n, float(r2))


@dataclass
class _BLayer:
    layer: int
    units: int  # units of the layer
    up: np.ndarray  # (m, k) read vectors through W, unit-normalised
    gate: np.ndarray | None  # (m, k) or None (no gate in this MLP)
    write: np.ndarray  # (m, k) unit-normalised
    screen: np.ndarray  # (s, k_s) unit-normalised
    router: np.ndarray | None  # (experts sampled, k) B's router rows through W, unit-normalised
    label: str


def _read_b_layer(b: Any, rb: _Reader, layer: int, w: np.ndarray, plan: SamplePlan, rng: np.random.Generator
                  ) -> _BLayer:  # fmt: skip
    groups = _groups(b, layer)
    gain = _gain(b, rb, layer)
    if len(groups) == 1:
        picks = [(groups[0], plan.units)]
        experts: list[int] = []
    else:
        experts = sorted(rng.choice(len(groups), size=min(plan.experts_per_b, len(groups)), replace=False).tolist())
        per = max(1, plan.units // len(experts))
        picks = [(groups[e], per) for e in experts]
    ups: list[np.ndarray] = []
    gates: list[np.ndarray] = []
    writes: list[np.ndarray] = []
    label = []
    for g, want in picks:
        m = min(want, g.units)
        u0 = int(rng.integers(0, g.units - m + 1))
        label.append(f"{g.prefix.split('.', 2)[-1]}[{u0}:{u0 + m}]")
        reqs = [_Req(f"{g.prefix}.up", slice(u0, u0 + m)), _Req(f"{g.prefix}.down", slice(None), slice(u0, u0 + m))]
        if g.gate:
            reqs.append(_Req(f"{g.prefix}.gate", slice(u0, u0 + m)))
        got = rb.read(reqs)
        up, down = got[0], got[1]
        gate = got[2] if g.gate else None
        if gain is not None and gain.shape[0] == up.shape[1]:
            up = up * gain[None, :]
            gate = None if gate is None else gate * gain[None, :]
        ups.append(_unit_norm(up @ w))
        if gate is not None:
            gates.append(_unit_norm(gate @ w))
        writes.append(_unit_norm(down.T @ w))
    up_all = np.concatenate(ups, axis=0)
    gate_all = np.concatenate(gates, axis=0) if len(gates) == len(ups) else None
    write = np.concatenate(writes, axis=0)
    sel = np.sort(rng.choice(write.shape[0], size=min(plan.screen_units, write.shape[0]), replace=False))
    screen = _unit_norm(write[sel, : plan.screen_coords])
    router = None
    if experts and b.has(f"layers.{layer}.mlp.router"):
        rr = rb.read([_Req(f"layers.{layer}.mlp.router", np.asarray(experts))])[0]
        if gain is not None and gain.shape[0] == rr.shape[1]:
            rr = rr * gain[None, :]
        router = _unit_norm(rr @ w)
    units = sum(g.units for g in groups)
    return _BLayer(layer, units, up_all, gate_all, write, screen, router, ", ".join(label))


def _a_pool(a: Any, ra: _Reader, layer: int, bl: _BLayer, coords: tuple[int, int], plan: SamplePlan,
            router_cache: dict[int, np.ndarray | None]) -> list[_Group]:  # fmt: skip
    """A's unit groups searched for B layer ``bl``: a dense layer whole; an MoE layer's experts whose router rows
    best match B's sampled experts' (two per B expert), or its first experts when either side has no router."""
    groups = _groups(a, layer)
    if len(groups) <= 1:
        return groups
    want = plan.experts_per_b * max(1, plan.experts_per_a)
    if layer not in router_cache:
        role = f"layers.{layer}.mlp.router"
        if a.has(role):
            rr = ra.read([_Req(role, slice(None), slice(*coords))])[0]
            gain = _gain(a, ra, layer)
            if gain is not None and gain.shape[0] > coords[1] - 1:
                rr = rr * gain[coords[0] : coords[1]][None, :]
            router_cache[layer] = _unit_norm(rr)
        else:
            router_cache[layer] = None
    ar = router_cache[layer]
    if ar is None or bl.router is None or ar.shape[0] != len(groups):
        return groups[: min(len(groups), want)]
    sims = np.abs(bl.router @ ar.T)  # (B experts, A experts)
    picked: list[int] = []
    for row in sims:
        for e in np.argsort(-row)[: plan.experts_per_a].tolist():
            if e not in picked:
                picked.append(int(e))
    return [groups[e] for e in picked]


def _write_rows(a: Any, ra: _Reader, groups: list[_Group], rows: slice) -> np.ndarray:
    """A's units' write vectors on coordinates ``rows`` (columns of down), all groups stacked: (units, k)."""
    got = ra.read([_Req(f"{g.prefix}.down", rows) for g in groups])
    return np.concatenate([x.T for x in got], axis=0)


class _Screen:
    """Screening of A's layers: every dense layer's write vectors on the ``k_s`` screening coordinates, read once
    (float16, batches of layers) and kept; an MoE layer's searched experts, read per B layer."""

    def __init__(self, a: Any, ra: _Reader, coords: tuple[int, int], plan: SamplePlan,
                 router_cache: dict[int, np.ndarray | None]) -> None:  # fmt: skip
        self.a, self.ra, self.coords, self.plan, self.router_cache = a, ra, coords, plan, router_cache
        self.rows = slice(coords[0], coords[0] + plan.screen_coords)
        self.dense: dict[int, np.ndarray] = {}
        self.n = int(a.layers)
        self.groups = {i: _groups(a, i) for i in range(self.n)}

    def load_dense(self, progress: Progress | None = None, batch: int = 4) -> None:
        todo = [i for i in range(self.n) if len(self.groups[i]) == 1]
        for s in range(0, len(todo), batch):
            part = todo[s : s + batch]
            got = self.ra.read([_Req(f"{self.groups[i][0].prefix}.down", self.rows) for i in part])
            for i, x in zip(part, got, strict=True):  # unit vectors, int8 (×127): a 70B model's 80 layers in 147 MB
                self.dense[i] = np.rint(_unit_norm(x.T) * 127).astype(np.int8)
            if progress is not None:
                progress("reading A's screening rows", min(1.0, (s + batch) / max(1, len(todo))))

    def scores(self, bl: _BLayer) -> np.ndarray:
        out = np.zeros(self.n)
        for i in range(self.n):
            if not self.groups[i]:
                continue
            if i in self.dense:
                xa = self.dense[i]
            else:
                pool = _a_pool(self.a, self.ra, i, bl, self.coords, self.plan, self.router_cache)
                xa = _unit_norm(_write_rows(self.a, self.ra, pool, self.rows))
            xf = xa.astype(np.float32) * np.float32(1 / 127) if xa.dtype == np.int8 else xa
            out[i] = float(np.abs(bl.screen @ xf.T).max(axis=1).mean())
        return out


def _test_layer(a: Any, ra: _Reader, i: int, bl: _BLayer, coords: tuple[int, int], plan: SamplePlan,
                router_cache: dict[int, np.ndarray | None], n_candidates: int, screen: float) -> LayerMatch:  # fmt: skip
    pool = _a_pool(a, ra, i, bl, coords, plan, router_cache)
    wa = _unit_norm(_write_rows(a, ra, pool, slice(*coords)))
    sims = np.abs(bl.write @ wa.T)  # (m, units of the pool)
    pi_w = sims.argmax(axis=1)
    cand = np.unique(pi_w)
    # read vectors of the chosen A units on T (gain folded on T); parts both sides have
    use_gate = bl.gate is not None and all(g.gate for g in pool)
    offsets = np.cumsum([0] + [g.units for g in pool])
    gain = _gain(a, ra, i)
    gt = np.float32(1.0) if gain is None or gain.shape[0] < coords[1] else gain[coords[0] : coords[1]][None, :]
    reqs: list[_Req] = []
    where: list[np.ndarray] = []
    for gi, g in enumerate(pool):
        mask = (cand >= offsets[gi]) & (cand < offsets[gi + 1])
        if not mask.any():
            continue
        local = cand[mask] - offsets[gi]
        reqs.append(_Req(f"{g.prefix}.up", local, slice(*coords)))
        if use_gate:
            reqs.append(_Req(f"{g.prefix}.gate", local, slice(*coords)))
        where.append(np.nonzero(mask)[0])
    got = ra.read(reqs)
    per = 2 if use_gate else 1
    up_a = np.zeros((len(cand), coords[1] - coords[0]), dtype=np.float32)
    gate_a = np.zeros_like(up_a) if use_gate else None
    for n, pos in enumerate(where):
        up_a[pos] = _unit_norm(got[per * n] * gt)
        if gate_a is not None:
            gate_a[pos] = _unit_norm(got[per * n + 1] * gt)
    # |cos| per part, averaged: a sign flip of a unit's up and down rows (function-preserving) changes nothing
    rsims = np.abs(bl.up @ up_a.T)
    if use_gate and gate_a is not None and bl.gate is not None:
        rsims = 0.5 * (rsims + np.abs(bl.gate @ gate_a.T))
    from scipy.optimize import linear_sum_assignment  # here, not at the top: importing it costs ~0.5 s
    rows, cols = linear_sum_assignment(rsims, maximize=True)
    sigma = np.full(bl.up.shape[0], -1, dtype=np.int64)
    sigma[rows] = cand[cols]
    agree = int(np.sum(sigma == pi_w))
    log10_p = log10_agreement_tail(agree) + math.log10(max(1, n_candidates))
    return LayerMatch(
        layer_b=bl.layer, layer_a=i, units_a=int(offsets[-1]), units_b=bl.units, agreement=agree,
        parts=("down", "gate+up" if use_gate else "up"),
        matched_cos=float(rsims[rows, cols].mean()) if len(rows) else 0.0, screen=screen,
        log10_p=min(0.0, log10_p), tested_units=int(bl.up.shape[0]),
    )  # fmt: skip


@dataclass(frozen=True)
class PlanCost:
    """Upper bounds, from the role shapes alone, on what :func:`sampled_unit_test` (with every planned layer tested)
    and the sampled tensor comparison read, and on the largest arrays they hold at once."""

    bytes_a: int
    bytes_b: int
    peak_bytes: int
    detail: dict[str, int]

    def fraction(self, size_a: int, size_b: int) -> tuple[float, float]:
        return self.bytes_a / max(1, size_a), self.bytes_b / max(1, size_b)


def plan_cost(a: Any, b: Any, plan: SamplePlan = DEFAULT_PLAN, *, exact_budget: int = EXACT_BUDGET,
              std_rows: int = 8) -> PlanCost:  # fmt: skip
    """The reading plan's size arithmetic for models ``a`` and ``b`` (see :class:`PlanCost`): alignment, B's
    sampled blocks, A's screening rows, the tested layers, the tensor comparison and the std blocks."""

    def isz(m: Any, role: str) -> int:
        from taoke.io.safetensors import DTYPE_BITS

        return max(1, DTYPE_BITS.get(str(m.role_dtype(role)), 16) // 8)

    d_a, d_b = _width(a), _width(b)
    k = min(plan.coords, d_a)
    ks = min(plan.screen_coords, k)
    layers_b, _inner = plan_for(a, b, plan)
    sh_a, sh_b = a.role_shapes(), b.role_shapes()
    vocab_a = int(sh_a["embed"][0]) if "embed" in sh_a else 0
    n_tok = plan.tokens(d_b, vocab_a) if vocab_a else 0
    e_a = isz(a, "embed") if "embed" in sh_a else 2
    e_b = isz(b, "embed") if "embed" in sh_b else 2
    det: dict[str, int] = {"align_a": n_tok * k * e_a, "align_b": n_tok * d_b * e_b}
    b_layers = 0
    for j in layers_b:
        gs = _groups(b, j)
        g0 = gs[0]
        m_units = min(plan.units, g0.units)
        per = isz(b, f"{g0.prefix}.up")
        if len(gs) == 1:
            b_layers += m_units * d_b * per * (2 if g0.gate else 1) + d_b * m_units * per
        else:  # an expert's write vectors: its whole down (the column segments are coalesced)
            b_layers += m_units * d_b * per * (2 if g0.gate else 1) + d_b * g0.units * per + len(gs) * d_b * per
    det["b_layers"] = b_layers
    screen = routers = 0
    largest_pool = 0
    for i in range(int(a.layers)):
        gs = _groups(a, i)
        if not gs:
            continue
        per = isz(a, f"{gs[0].prefix}.down")
        if len(gs) == 1:
            screen += ks * gs[0].units * per
            largest_pool = max(largest_pool, gs[0].units)
        else:
            pool = plan.experts_per_b * plan.experts_per_a
            routers += len(gs) * d_a * per
            screen += len(layers_b) * pool * ks * gs[0].units * per
            largest_pool = max(largest_pool, pool * gs[0].units)
    det["screen"], det["routers"] = screen, routers
    per_a = 2
    a_test = len(layers_b) * (k * largest_pool * per_a + 2 * plan.units * k * per_a)
    det["a_tests"] = a_test
    det["exact"] = exact_budget
    n_attn_a = sum(1 for r, sh in sh_a.items() if ".attn." in r and len(sh) == 2)
    n_attn_b = sum(1 for r, sh in sh_b.items() if ".attn." in r and len(sh) == 2)
    det["std_a"] = n_attn_a * std_rows * d_a * 2 * 4  # an attention row is at most ~4·d wide (fused or MLA)
    det["std_b"] = n_attn_b * std_rows * d_b * 2 * 4
    bytes_a = det["align_a"] + screen + routers + a_test + exact_budget + det["std_a"]
    bytes_b = det["align_b"] + b_layers + exact_budget + det["std_b"]
    n_dense_a = sum(1 for i in range(int(a.layers)) if len(_groups(a, i)) == 1)
    peak = max(
        4 * d_b * d_b + 3 * 4 * 1024 * d_b,  # alignment: the Gram matrix and a chunk of embedding rows (+ bytes)
        n_dense_a * ks * largest_pool  # screening cache (int8)
        + 4 * (k * largest_pool + plan.units * largest_pool + 3 * plan.units * d_b + d_b * plan.units),  # a test
    )  # fmt: skip
    return PlanCost(int(bytes_a), int(bytes_b), int(peak), det)


def _trim() -> None:
    """Hand freed heap pages back to the system (glibc keeps freed blocks below its adaptive mmap threshold, up to
    32 MB each, in the heap: after the alignment's chunked reads that is ~200 MB of RSS nobody uses)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _majority(log10_ps: Sequence[float], planned: int) -> tuple[float, int]:
    """Majority combination over ``planned`` layers with the unobserved ones at p = 1: (log10 p, M)."""
    lp = sorted(log10_ps) + [0.0] * max(0, planned - len(log10_ps))
    n = len(lp)
    m = n // 2 + 1
    t = lp[m - 1]
    log10_binom = (math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1)) / math.log(10)
    return min(0.0, log10_binom + m * t), m


def sampled_unit_test(a: Any, b: Any, ids_a: np.ndarray | None, ids_b: np.ndarray | None, *, rng: np.random.Generator,
                      alpha: float, plan: SamplePlan = DEFAULT_PLAN, sequential: bool = True,
                      progress: Progress | None = None) -> tuple[UnitTestResult | None, SampledAlignment, Reading]:  # fmt: skip
    """Run the sampled test of B (model in question) against A (candidate ancestor); ``ids_*`` are the shared
    token ids (embedding rows of the same strings). Returns the unit-test result (the same record as the full
    test: a per-layer map and a model-level p-value), the alignment and what was read."""
    t_start = time.perf_counter()
    bytes0 = (a.bytes_read, b.bytes_read)
    ra, rb = _Reader(a), _Reader(b)
    d_a, d_b = _width(a), _width(b)
    k = min(plan.coords, d_a)
    t0 = int(rng.integers(0, d_a - k + 1)) // 64 * 64 if d_a > k else 0
    t0 = min(t0, d_a - k)
    coords = (t0, t0 + k)
    plan = SamplePlan(**{**plan.__dict__, "coords": k, "screen_coords": min(plan.screen_coords, k)})
    if not (_embeds_residual(a) and _embeds_residual(b)):
        ids_a = ids_b = None  # an embedding of another width (a vision tower's patches) cannot align residuals
    if ids_a is None or ids_b is None:  # no shared tokens: the stored bases, coordinate for coordinate
        if d_a != d_b:
            raise ValueError(f"residual widths differ ({d_a} vs {d_b}) and nothing aligns them")
        n_tok = 0
        al = SampledAlignment(np.eye(d_b, dtype=np.float32)[:, coords[0] : coords[1]], coords, 0, float("nan"),
                              "identity (no shared tokens)")  # fmt: skip
    else:
        n_tok = plan.tokens(d_b, len(ids_a))
        ta, tb = _choose_tokens(ids_a, ids_b, n_tok, plan.token_run, rng)
        order = np.argsort(ta, kind="stable")
        al = align_sampled(a, b, ra, rb, ta[order], tb[order], coords, progress=progress)
    w = al.W
    layers_b, interior = plan_for(a, b, plan)
    if len(layers_b) > len(interior):  # a shallow model: every layer is tested (the sample is its units)
        sequential = False
    n_a = int(a.layers)
    if not layers_b or not any(_groups(a, i) for i in range(n_a)):
        rd = Reading(a.bytes_read - bytes0[0], b.bytes_read - bytes0[1], a.file_size, b.file_size, 0, 0,
                     "no MLP layers to sample", time.perf_counter() - t_start)  # fmt: skip
        return None, al, rd
    router_cache: dict[int, np.ndarray | None] = {}
    screener = _Screen(a, ra, coords, plan, router_cache)
    screener.load_dense(progress)
    _trim()
    la = math.log10(alpha)
    planned = max(1, len(interior))
    _, m_maj = _majority([], planned)
    log10_binom = (math.lgamma(planned + 1) - math.lgamma(m_maj + 1) - math.lgamma(planned - m_maj + 1)) / math.log(10)
    t_star = (la - log10_binom) / m_maj  # log10 of the per-layer threshold
    matches: list[LayerMatch] = []
    labels: list[str] = []
    columns: list[np.ndarray] = []
    stop = f"all {len(layers_b)} planned layers tested"
    for n_done, j in enumerate(layers_b, start=1):
        # one B layer at a time: read its sampled units, screen every A layer, test the best one
        bl = _read_b_layer(b, rb, j, w, plan, rng)
        sc = screener.scores(bl)
        i = int(np.argmax(sc))
        matches.append(_test_layer(a, ra, i, bl, coords, plan, router_cache, n_a, float(sc[i])))
        columns.append(sc)
        labels.append(bl.label)
        if progress is not None:
            progress("testing sampled layers", n_done / planned)
        inner = [mm for mm in matches if mm.layer_b in interior]
        passed = sum(mm.log10_p <= t_star for mm in inner)
        failed = len(inner) - passed
        if sequential and passed >= m_maj and n_done < planned:
            stop = (f"stopped after {n_done} of {planned} layers: {passed} already at p ≤ 10^{t_star:.1f}, a majority "
                    f"— the remaining layers cannot change the verdict")  # fmt: skip
            break
        if sequential and failed > planned - m_maj and n_done < planned:
            stop = (f"stopped after {n_done} of {planned} layers: {failed} above p = 10^{t_star:.1f}, so no majority "
                    f"can reach alpha")  # fmt: skip
            break
    screen = np.stack(columns, axis=1)
    log10_p, _ = _majority([mm.log10_p for mm in matches if mm.layer_b in interior], planned)
    ut = UnitTestResult(tuple(matches), screen, log10_p, tuple(mm.layer_b for mm in matches if mm.layer_b in interior),
                        null=NULL)  # fmt: skip
    rd = Reading(
        a.bytes_read - bytes0[0], b.bytes_read - bytes0[1], a.file_size, b.file_size, len(layers_b), len(matches), stop,
        time.perf_counter() - t_start,
        {"units_per_layer": plan.units, "coords": k, "tokens": n_tok, "b_layers": list(layers_b),
         "b_units": labels, "threshold_log10_p": round(t_star, 2)},
    )  # fmt: skip
    return ut, al, rd
