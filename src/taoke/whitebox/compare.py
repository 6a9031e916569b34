"""Run every white-box method on two models and collect the evidence (read → evidence; the verdict is in
:mod:`taoke.verdict`).

Order of work, cheapest first: architecture diff (headers), tokenizer relation (vocabularies), tensor-by-tensor
comparison on sampled rows (identical / re-packaged), then — unless the copy is already shown to be re-packaged —
residual alignment on shared-token embedding rows and the hidden-unit agreement test on the MLPs, and the
per-layer std fingerprint for reference.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from taoke import defaults
from taoke.io.base import ModelConfig
from taoke.roles import RoleName
from taoke.whitebox.align import Alignment, align_by_embeddings
from taoke.whitebox.exact import ExactResult, compare_tensors
from taoke.whitebox.mlp import has_mlp, mlp_parts
from taoke.whitebox.source import EvidenceSource
from taoke.whitebox.stdfp import StdFingerprint, std_fingerprint
from taoke.whitebox.units import UnitTestResult, unit_test_streamed

if TYPE_CHECKING:
    from taoke.model import Model
    from taoke.tokenizers import Vocab
    from taoke.whitebox.sampled import Progress

ARCH_KEYS = ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim", "intermediate_size", "norm_type")
ARCH_INFO_KEYS = ("architecture", "vocab_size", "activation", "rope_theta", "max_position", "tie_embeddings",
                  "num_experts")  # fmt: skip


@dataclass(frozen=True)
class ArchDiff:
    rows: tuple[tuple[str, Any, Any], ...]

    @property
    def same_architecture(self) -> bool:
        """Equal on every structural key known on both sides (vocabulary size may differ)."""
        known = [(a, b) for k, a, b in self.rows if k in ARCH_KEYS and a is not None and b is not None]
        return bool(known) and all(a == b for a, b in known)

    def to_dict(self) -> dict[str, object]:
        return {
            "same_architecture": self.same_architecture,
            "fields": {k: {"a": a, "b": b, "same": a == b} for k, a, b in self.rows},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArchDiff:
        return cls(tuple((str(k), v.get("a"), v.get("b")) for k, v in (d.get("fields") or {}).items()))


def arch_diff(ca: ModelConfig, cb: ModelConfig) -> ArchDiff:
    return ArchDiff(tuple((k, getattr(ca, k), getattr(cb, k)) for k in ARCH_KEYS + ARCH_INFO_KEYS))


@dataclass(frozen=True)
class Evidence:
    """Everything measured about a pair; :func:`taoke.verdict.decide` turns it into a verdict."""

    path_a: str
    path_b: str
    arch: ArchDiff
    tokenizer: dict[str, Any] | None
    exact: ExactResult | None
    alignment: Alignment | None
    units: UnitTestResult | None
    stdfp: StdFingerprint | None
    bytes_read: tuple[int, int]
    file_sizes: tuple[int, int]
    seconds: float
    notes: tuple[str, ...] = field(default=())
    formats: tuple[str, str] = ("?", "?")
    reading: dict[str, Any] | None = None  # how much was read and why the unit test stopped (sampled mode)

    def to_dict(self) -> dict[str, object]:
        return {
            "a": self.path_a,
            "b": self.path_b,
            "architecture": self.arch.to_dict(),
            "tokenizer": self.tokenizer,
            "tensors": None if self.exact is None else self.exact.to_dict(),
            "alignment": None if self.alignment is None else self.alignment.to_dict(),
            "unit_test": None if self.units is None else self.units.to_dict(),
            "std_fingerprint": None if self.stdfp is None else self.stdfp.to_dict(),
            "bytes_read": {"a": self.bytes_read[0], "b": self.bytes_read[1]},
            "file_sizes": {"a": self.file_sizes[0], "b": self.file_sizes[1]},
            "seconds": round(self.seconds, 2),
            "formats": {"a": self.formats[0], "b": self.formats[1]},
            "notes": list(self.notes),
            "reading": self.reading,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evidence:
        """The evidence of a ``taoke.compare`` document (the inverse of :meth:`to_dict`, rounding kept)."""

        def pair(key: str, default: Any) -> tuple[Any, Any]:
            x = d.get(key) or {}
            return x.get("a", default), x.get("b", default)

        t, al, ut, sf = d.get("tensors"), d.get("alignment"), d.get("unit_test"), d.get("std_fingerprint")
        return cls(
            str(d["a"]), str(d["b"]), ArchDiff.from_dict(d.get("architecture") or {}), d.get("tokenizer"),
            None if t is None else ExactResult.from_dict(t), None if al is None else Alignment.from_dict(al),
            None if ut is None else UnitTestResult.from_dict(ut), None if sf is None else StdFingerprint.from_dict(sf),
            pair("bytes_read", 0), pair("file_sizes", 0), float(d.get("seconds", 0.0)),
            tuple(str(n) for n in d.get("notes") or ()), pair("formats", "?"), d.get("reading"),
        )  # fmt: skip


def _tokenizer_relation(
    a: EvidenceSource, b: EvidenceSource, notes: list[str]
) -> tuple[dict[str, Any] | None, Vocab | None, Vocab | None]:
    try:
        va, vb = a.tokenizer(), b.tokenizer()
    except Exception as e:  # noqa: BLE001 - a missing tokenizer is a note, not a failure
        notes.append(f"tokenizer unavailable: {str(e).splitlines()[0][:160]}")
        return None, None, None
    if va is None or vb is None:
        notes.append("tokenizer unavailable on at least one side")
        return None, va, vb
    from taoke.tokenizers import compare as tok_compare

    try:
        return tok_compare(va, vb).to_dict(), va, vb
    except Exception as e:  # noqa: BLE001
        notes.append(f"tokenizer comparison failed: {str(e).splitlines()[0][:160]}")
        return None, va, vb


def _shared_ids(
    a: EvidenceSource, b: EvidenceSource, va: Vocab | None, vb: Vocab | None, notes: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    if not (a.has(RoleName.EMBED) and b.has(RoleName.EMBED)):
        notes.append("no embedding role on at least one side: residual alignment impossible")
        return None
    na, nb = a.role_shapes()[RoleName.EMBED][0], b.role_shapes()[RoleName.EMBED][0]
    if va is not None and vb is not None:
        from taoke.tokenizers import shared_token_ids

        ia, ib = shared_token_ids(va, vb)
        keep = (ia < na) & (ib < nb) & _available(a, ia) & _available(b, ib)
        ia, ib = ia[keep], ib[keep]
        if len(ia) >= 256:
            return ia, ib
        notes.append(f"only {len(ia)} shared tokens")
    n = min(na, nb)
    notes.append(f"aligning embeddings by token id (first {n} ids): no usable shared vocabulary")
    ids = np.arange(n)
    ids = ids[_available(a, ids) & _available(b, ids)]
    return ids, ids


def _available(view: EvidenceSource, ids: np.ndarray) -> np.ndarray:
    """Embedding rows a source can serve: all for a model; the anchors for a fingerprint (``taoke.index``)."""
    return np.asarray(view.embed_rows_available(ids), dtype=bool)


def gather_evidence(
    a: EvidenceSource,
    b: EvidenceSource,
    *,
    seed: int = defaults.SEED,
    units: int = defaults.UNITS,
    full: bool = False,
    exhaustive: bool = False,
    alpha: float = defaults.ALPHA,
    progress: Progress | None = None,
) -> Evidence:
    """Measure everything about ``a`` (the candidate ancestor) and ``b`` (the model in question).

    ``units``: hidden units per layer sampled for the agreement test; ``full``: run the unit test even when every
    tensor already matches within storage precision. Most callers want :func:`taoke.compare`, which also opens
    paths and fingerprints and decides the verdict.

    Two models (weights on both sides) are compared on a bounded sample by default (:mod:`taoke.whitebox.sampled`:
    the tensor comparison on the roles of a few layers, the hidden-unit test on sampled units of sampled layers,
    stopped as soon as the decision at ``alpha`` is settled); ``exhaustive=True`` reads every MLP and every role
    (the full test of :mod:`taoke.whitebox.units`). Fingerprints are compared on what they hold, either way.
    ``progress(stage, fraction)`` is called as the work advances."""
    from taoke.model import Model

    if not exhaustive and isinstance(a, Model) and isinstance(b, Model):
        return _gather_sampled(a, b, seed=seed, units=units, full=full, alpha=alpha, progress=progress)
    t0 = time.time()
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    arch = arch_diff(a.config, b.config)
    tok, va, vb = _tokenizer_relation(a, b, notes)
    exact = compare_tensors(a, b, rng=rng)
    alignment: Alignment | None = None
    ut: UnitTestResult | None = None
    if exact.repackaged and not full:
        notes.append("unit test skipped: every tensor matches within storage precision")
    else:
        alignment, ut = _full_unit_test(a, b, va, vb, rng=rng, units=units, notes=notes)
    sfp = None
    try:
        sfp = std_fingerprint(a, b)
    except Exception as e:  # noqa: BLE001 - reference statistic only
        notes.append(f"std fingerprint failed: {e}")
    return Evidence(
        a.path, b.path, arch, tok, exact, alignment, ut, sfp,
        (a.bytes_read, b.bytes_read), (a.file_size, b.file_size), time.time() - t0, tuple(notes),
        (a.weights_format, b.weights_format), _reading_of(a, b),
    )  # fmt: skip


def _reading_of(a: EvidenceSource, b: EvidenceSource) -> dict[str, Any]:
    """How the evidence was read: ``exhaustive`` (two models) or ``fingerprint``; for fingerprints also the
    parameters each checkpoint holds outside the role map (``outside_roles``), which :func:`taoke.verdict.decide`
    needs because a fingerprint holds no tensor outside it (no module comparison is possible)."""
    from taoke.model import Model

    if isinstance(a, Model):
        return {"mode": "exhaustive"}
    outside = [getattr(x, "params_outside_roles", None) for x in (a, b)]
    return {"mode": "fingerprint", **({"outside_roles": outside} if None not in outside else {})}


def _full_unit_test(a: EvidenceSource, b: EvidenceSource, va: Vocab | None, vb: Vocab | None, *,
                    rng: np.random.Generator, units: int, notes: list[str]
                    ) -> tuple[Alignment | None, UnitTestResult | None]:  # fmt: skip
    """The hidden-unit test on every MLP layer (:func:`taoke.whitebox.units.unit_test_streamed`)."""
    alignment: Alignment | None = None
    la, lb, subset = _unit_layers(a, b)
    if not la or not lb or not all(has_mlp(v, i) for v, ls in ((a, la), (b, lb)) for i in ls):
        notes.append("MLP up/down roles (or a fingerprint's units) missing on one side: unit test not possible")
        return None, None
    ids = _shared_ids(a, b, va, vb, notes)
    r: np.ndarray | None = None
    if ids is not None:
        alignment = align_by_embeddings(a, b, ids[0], ids[1], rng=rng)
        r = alignment.R
    elif a.config.hidden_size == b.config.hidden_size:
        notes.append("no alignment: comparing in the stored bases (a rotated copy would be missed)")
    if ids is None and a.config.hidden_size != b.config.hidden_size:
        return alignment, None

    # streamed: one layer of each model in memory at a time (bounded by a layer, not by depth)
    def load_b(j: int, parts: tuple[str, ...] | None) -> dict[str, np.ndarray]:
        p = mlp_parts(b, lb[j], parts)
        return p if r is None else {k: v @ r for k, v in p.items()}

    ut = unit_test_streamed(
        len(la), len(lb), lambda i, parts: mlp_parts(a, la[i], parts), load_b, rng=rng, units=units,
        labels_a=la, labels_b=lb, all_interior=subset,
    )  # fmt: skip
    return alignment, ut


def _gather_sampled(a: Model, b: Model, *, seed: int, units: int, full: bool, alpha: float,
                    progress: Progress | None) -> Evidence:  # fmt: skip
    """The sampled counterpart of :func:`gather_evidence` (see its docstring and :mod:`taoke.whitebox.sampled`)."""
    from dataclasses import replace

    from taoke.whitebox import sampled as smp

    t0 = time.time()
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    arch = arch_diff(a.config, b.config)
    if progress is not None:
        progress("reading tokenizers", 0.0)
    tok, va, vb = _tokenizer_relation(a, b, notes)
    sub_a, sub_b, n_layers = smp.exact_roles(a, b)
    if progress is not None:
        progress("comparing tensors", 0.0)
    exact = compare_tensors(smp.RoleScope(a, sub_a), smp.RoleScope(b, sub_b), rng=rng, rows=smp.EXACT_ROWS)
    n_all = len(a.role_shapes()), len(b.role_shapes())
    if max(n_all) > exact.compared or sub_a != set(a.role_shapes()):
        notes.append(f"tensors compared on the roles of {n_layers} evenly spaced layers and the global roles "
                     f"({exact.compared} of {n_all[0]}/{n_all[1]} roles; the role tables themselves are compared "
                     "whole); --exhaustive compares every role")  # fmt: skip
    alignment: Alignment | None = None
    ut: UnitTestResult | None = None
    reading: dict[str, Any] = {"mode": "sampled"}
    if exact.repackaged and not full:
        notes.append("unit test skipped: every compared tensor matches within storage precision")
    elif not any(smp.groups(a, i) for i in range(a.layers)) or not any(smp.groups(b, j) for j in range(b.layers)):
        # MLPs that do not write back to the width they read (a projector between a vision tower and a language
        # model) have no residual basis for the sampled statistic: they are small, the full test reads them
        notes.append("no MLP writes back to its input width: the hidden-unit test runs on every layer")
        alignment, ut = _full_unit_test(a, b, va, vb, rng=rng, units=units, notes=notes)
    else:
        ids = _shared_ids(a, b, va, vb, notes) if smp.embeds_residual(a) and smp.embeds_residual(b) else None
        if ids is None and smp.width(a) != smp.width(b):
            notes.append("no alignment possible (no embeddings, different widths): unit test not possible")
        else:
            if ids is None:
                notes.append("no alignment: comparing in the stored bases (a rotated copy would be missed)")
            plan = replace(smp.DEFAULT_PLAN, units=units)
            ut, al, rd = smp.sampled_unit_test(a, b, None if ids is None else ids[0], None if ids is None else ids[1],
                                               rng=rng, alpha=alpha, plan=plan, progress=progress)  # fmt: skip
            alignment = Alignment(al.W, al.n_tokens, al.fit_cosine, al.method)
            reading.update(rd.to_dict())
            notes.append(f"hidden-unit test on a sample: {rd.stop}")
    sfp = None
    try:
        sfp = std_fingerprint(smp.SampledStd(a), smp.SampledStd(b))
        notes.append("per-layer std estimated on 8 rows of each attention matrix")
    except Exception as e:  # noqa: BLE001 - reference statistic only
        notes.append(f"std fingerprint failed: {e}")
    reading.update({"bytes_a": a.bytes_read, "bytes_b": b.bytes_read,
                    "fraction_a": round(a.bytes_read / max(1, a.file_size), 6),
                    "fraction_b": round(b.bytes_read / max(1, b.file_size), 6)})  # fmt: skip
    return Evidence(
        a.path, b.path, arch, tok, exact, alignment, ut, sfp,
        (a.bytes_read, b.bytes_read), (a.file_size, b.file_size), time.time() - t0, tuple(notes),
        (a.weights_format, b.weights_format), reading,
    )  # fmt: skip


def _unit_layers(a: EvidenceSource, b: EvidenceSource) -> tuple[list[int], list[int], bool]:
    """Layers the unit test runs on: every layer of a model, a fingerprint's unit layers; when either side keeps
    units on some layers only, both sides use the layers they have in common."""
    kept_a, kept_b = a.unit_layers, b.unit_layers
    la = list(range(a.layers)) if kept_a is None else [int(i) for i in kept_a]
    lb = list(range(b.layers)) if kept_b is None else [int(i) for i in kept_b]
    if len(la) < a.layers or len(lb) < b.layers:
        common = sorted(set(la) & set(lb))
        return common, list(common), True
    return la, lb, False
