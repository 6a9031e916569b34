"""Evidence → verdict, with the calibrated numbers behind it and wording that matches the evidence.

Verdicts (:class:`VerdictKind`, ``Verdict.kind``):

* ``identical`` — every shared role has the same role set and bit-identical sampled rows;
* ``repackaged`` — same roles and shapes, every tensor equal within the precision of the storage formats
  (another format, dtype, quantisation, names or orientation), every matrix's sampled blocks reproduced by
  re-quantising or casting (:mod:`taoke.whitebox.requant`), and no module that B holds and A lacks (modules B
  lacks are named in the sentence; the verdict is decided on the shared part);
* ``derived`` — the hidden-unit agreement test rejects independence at ``alpha`` (default
  :data:`taoke.defaults.ALPHA`) on a majority of interior layers; the layer map says which layers of B come from
  which of A. Also (without a p-value) when at least two weight matrices agree within storage precision on
  informative sampled values but not all tensors match — a partial copy (e.g. an up-cycled MoE that kept attention
  and embeddings); ``taoke eval`` counts how often that fires on independent pairs (never, so far). Also (without a
  p-value) a *modified copy*: every tensor within storage precision but matrices whose blocks do not reproduce; and
  a re-packaging of A plus modules A lacks (an added vision tower, a new head);
* ``independent-same-architecture`` — same architecture, no weight dependence found (architecture reuse is
  legitimate and is not derivation);
* ``unrelated`` — different architectures and no weight dependence;
* ``inconclusive`` — the tests could not run (e.g. no MLP roles, no way to align the bases).

A multimodal or encoder-decoder pair is compared component by component (:mod:`taoke.whitebox.components`): each
paired component gets its own verdict (:class:`ComponentVerdict`) and :func:`decide_whole` decides the whole — the
same weights only when every component is and no module is added; derived when any component is related and the
whole is not the same weights; otherwise the language model's (or first component's) independence verdict, with a
p-value Bonferroni-corrected over the components tested.

The sentences are in :mod:`taoke.wording`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from taoke import defaults, wording
from taoke.whitebox.compare import Evidence
from taoke.whitebox.modules import ModuleDiff

FORMAT = "taoke.compare"
VERSION = 1
DEFAULT_ALPHA = defaults.ALPHA


class VerdictKind(StrEnum):
    """The white-box verdicts; the values are the strings of the JSON output."""

    IDENTICAL = "identical"
    REPACKAGED = "repackaged"
    DERIVED = "derived"
    INDEPENDENT_SAME_ARCHITECTURE = "independent-same-architecture"
    UNRELATED = "unrelated"
    INCONCLUSIVE = "inconclusive"

    @property
    def related(self) -> bool:
        """B's weights come from A's (or both from a common ancestor): identical, re-packaged or derived."""
        return self in _RELATED

    @property
    def same_weights(self) -> bool:
        """The same weights (identical or re-packaged)."""
        return self in (VerdictKind.IDENTICAL, VerdictKind.REPACKAGED)

    @property
    def independent(self) -> bool:
        """The tests ran and found no weight dependence."""
        return self in (VerdictKind.INDEPENDENT_SAME_ARCHITECTURE, VerdictKind.UNRELATED)


_RELATED = frozenset({VerdictKind.IDENTICAL, VerdictKind.REPACKAGED, VerdictKind.DERIVED})


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    sentence: str
    log10_p: float | None  # of the deciding test, where there is one
    alpha: float
    derived_layers: tuple[tuple[int, int], ...]  # (layer_b, layer_a) pairs individually significant at alpha
    evidence: Evidence  # of the language model (or the only component): the whole model's for an ordinary pair
    components: tuple[ComponentVerdict, ...] = ()  # per component, for a multimodal or encoder-decoder pair
    modules: ModuleDiff | None = None  # tensors outside the compared roles: matched, extra in B, missing from B
    #: the verdict on the part both hold when the whole is decided by modules one side lacks or by changed tensors
    #: outside the role maps (e.g. ``repackaged`` for "derived: B holds A's weights (re-packaged) and more: …")
    shared_part: VerdictKind | None = None

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "format": FORMAT,
            "version": VERSION,
            "verdict": self.kind,
            "sentence": self.sentence,
            "log10_p": None if self.log10_p is None else round(self.log10_p, 2),
            "alpha": self.alpha,
            "layer_map": [{"layer_b": b, "layer_a": a} for b, a in self.derived_layers],
            "evidence": self.evidence.to_dict(),
        }
        if self.components:
            d["components"] = [c.to_dict() for c in self.components]
        if self.modules is not None:
            d["modules"] = self.modules.to_dict()
        if self.shared_part is not None:
            d["shared_part"] = self.shared_part
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        """The verdict of a ``taoke.compare`` JSON document (what :meth:`to_dict` wrote; reports read it back)."""
        mods = d.get("modules")
        return cls(
            VerdictKind(d["verdict"]), str(d["sentence"]), d.get("log10_p"), float(d.get("alpha", DEFAULT_ALPHA)),
            tuple((int(x["layer_b"]), int(x["layer_a"])) for x in d.get("layer_map") or ()),
            Evidence.from_dict(d["evidence"]), tuple(ComponentVerdict.from_dict(c) for c in d.get("components") or ()),
            None if mods is None else ModuleDiff.from_dict(mods),
            None if d.get("shared_part") is None else VerdictKind(d["shared_part"]),
        )  # fmt: skip


@dataclass(frozen=True)
class ComponentVerdict:
    """One component of a composite pair: which stack (``component``: language-model, vision-tower, connector,
    encoder, decoder), the prefixes it has in A and B (None where that side lacks it), tensor and parameter counts,
    and its own verdict (None when only one side has it)."""

    component: str
    prefix_a: str | None
    prefix_b: str | None
    tensors: tuple[int, int]
    params: tuple[int, int]
    verdict: Verdict | None

    @property
    def label(self) -> str:
        return self.component.replace("-", " ")

    def to_dict(self) -> dict[str, object]:
        return {"component": self.component, "prefix_a": self.prefix_a, "prefix_b": self.prefix_b,
                "tensors": {"a": self.tensors[0], "b": self.tensors[1]},
                "params": {"a": self.params[0], "b": self.params[1]},
                "verdict": None if self.verdict is None else self.verdict.to_dict()}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ComponentVerdict:
        t, p, v = d.get("tensors") or {}, d.get("params") or {}, d.get("verdict")
        return cls(str(d["component"]), d.get("prefix_a"), d.get("prefix_b"), (int(t.get("a", 0)), int(t.get("b", 0))),
                   (int(p.get("a", 0)), int(p.get("b", 0))), None if v is None else Verdict.from_dict(v))  # fmt: skip


def _sampled_of(ev: Evidence) -> int | None:
    """B's layer count when the unit test read a sample of B's layers (None: every layer was tested)."""
    if not ev.reading or ev.reading.get("mode") != "sampled":
        return None
    n = next((b for name, _a, b in ev.arch.rows if name == "num_layers"), None)
    return int(n) if isinstance(n, int) else None


def _from_fingerprints(ev: Evidence) -> bool:
    return ev.reading is not None and ev.reading.get("mode") == "fingerprint"


def _extra_outside_roles(ev: Evidence) -> int:
    """Fingerprints only: how many more parameters B's checkpoint holds than A's outside the role map (0 when
    not more, or unknown). A fingerprint holds no tensor outside the map, so this count is all it can say of
    modules: B holding more there means B is not A's weights alone."""
    if not _from_fingerprints(ev):
        return 0
    out = ev.reading.get("outside_roles") if ev.reading else None
    if not isinstance(out, (list, tuple)) or len(out) != 2 or not all(isinstance(x, int) for x in out):
        return 0
    return max(0, int(out[1]) - int(out[0]))


def decide(ev: Evidence, *, alpha: float = DEFAULT_ALPHA) -> Verdict:
    """The verdict the evidence supports at significance level ``alpha`` (see the module docstring)."""
    la = math.log10(alpha)
    ex, ut = ev.exact, ev.units
    sig: list[tuple[int, int]] = []
    if ut is not None:
        sig = [(m.layer_b, m.layer_a) for m in ut.matches if m.log10_p <= la]
    extra = _extra_outside_roles(ev)
    if ex is not None and ex.identical:
        renamed = sum(d.renamed_from is not None for d in ex.diffs)
        transposed = sum(d.transposed for d in ex.diffs)
        stored_otherwise = bool(renamed or transposed or ev.formats[0] != ev.formats[1])
        if extra > 0:  # fingerprints: B's checkpoint holds more than the compared tensors
            shared = VerdictKind.REPACKAGED if stored_otherwise else VerdictKind.IDENTICAL
            return Verdict(VerdictKind.DERIVED, wording.fingerprint_extra_params_sentence(ex.compared, extra),
                           None, alpha, tuple(sig), ev, shared_part=shared)  # fmt: skip
        if stored_otherwise:
            return Verdict(VerdictKind.REPACKAGED,
                           wording.repackaged_bitwise_sentence(ex.compared, ev.formats, renamed, transposed),
                           None, alpha, tuple(sig), ev)  # fmt: skip
        return Verdict(VerdictKind.IDENTICAL, wording.identical_sentence(ex.compared), None, alpha, tuple(sig), ev)
    if ex is not None and ex.repackaged and _from_fingerprints(ev):
        return Verdict(VerdictKind.DERIVED, wording.fingerprint_within_precision_sentence(ex.worst, ex.compared, extra),
                       None, alpha, tuple(sig), ev)  # fmt: skip
    if ex is not None and ex.repackaged:
        clause = wording.storage_clause(ex)
        return Verdict(VerdictKind.REPACKAGED, wording.repackaged_sentence(ex.worst) + (f"; {clause}" if clause else ""),
                       None, alpha, tuple(sig), ev)  # fmt: skip
    modified = ex is not None and bool(ex.modified)
    if ut is not None and ut.log10_p <= la:
        why = f"; {wording.modified_clause(ex)}" if ex is not None and modified else ""
        sentence = wording.derived_sentence(ut.log10_p, sig, len(ut.matches), _sampled_of(ev))
        return Verdict(VerdictKind.DERIVED, sentence + why,
                       ut.log10_p, alpha, tuple(sig), ev)  # fmt: skip
    if ex is not None and modified and ex.same_role_set and all(d.within for d in ex.diffs):
        return Verdict(VerdictKind.DERIVED, wording.modified_copy_sentence(ex), None, alpha, tuple(sig), ev)
    if ex is not None and len(ex.shared_matrices) >= 2:
        return Verdict(VerdictKind.DERIVED,
                       wording.partial_copy_sentence(len(ex.shared_matrices), ex.compared,
                                                     None if ut is None else ut.log10_p),
                       None, alpha, tuple(sig), ev)  # fmt: skip
    if ut is not None:
        same = ev.arch.same_architecture
        kind = VerdictKind.INDEPENDENT_SAME_ARCHITECTURE if same else VerdictKind.UNRELATED
        return Verdict(kind, wording.independent_sentence(same, ut.log10_p, alpha, sig), ut.log10_p, alpha,
                       tuple(sig), ev)  # fmt: skip
    return Verdict(VerdictKind.INCONCLUSIVE, wording.inconclusive_sentence(ev.notes), None, alpha, (), ev)


def with_modules(v: Verdict, modules: ModuleDiff | None) -> Verdict:
    """A single-component verdict adjusted for the tensors outside its role sets: modules B adds (or changed ones)
    turn "the same weights" into ``derived``; modules B lacks are named, the verdict stands on the shared part."""
    from dataclasses import replace

    if modules is None:
        return v
    clause = wording.modules_clause(modules.extra, modules.missing)
    if modules.changed and v.kind.same_weights:
        names = ", ".join(d.label for d in modules.changed[:4])
        clause = f"tensors outside the role map differ beyond storage precision: {names}" + (
            f"; {clause}" if clause else "")
    if not clause:
        return replace(v, modules=modules)
    if v.kind.same_weights and (modules.extra or modules.changed):
        how = "bit-identical on sampled rows" if v.kind is VerdictKind.IDENTICAL else "re-packaged"
        return replace(v, kind=VerdictKind.DERIVED, log10_p=None, modules=modules, shared_part=v.kind,
                       sentence=f"derived: B holds A's weights ({how}) and more: {clause}")
    if v.kind is VerdictKind.IDENTICAL:  # B lacks modules: not identical files, the shared part is bit-identical
        return replace(v, kind=VerdictKind.REPACKAGED, modules=modules, shared_part=v.kind,
                       sentence=f"re-packaged: the shared tensors are bit-identical on sampled rows; {clause}")
    return replace(v, modules=modules, sentence=f"{v.sentence}; {clause}")


def decide_whole(parts: tuple[ComponentVerdict, ...], modules: ModuleDiff, *, alpha: float = DEFAULT_ALPHA) -> Verdict:
    """The verdict on a composite pair from its components' verdicts (see the module docstring)."""
    paired = [c for c in parts if c.verdict is not None]
    if not paired:
        raise ValueError("decide_whole needs at least one component present on both sides")
    main = next((c for c in paired if c.component in ("language-model", "decoder")), paired[0])
    mv = main.verdict
    assert mv is not None
    kinds = [c.verdict.kind for c in paired if c.verdict is not None]
    clause = wording.modules_clause(modules.extra, modules.missing)
    same = all(k.same_weights for k in kinds)
    if modules.changed and same:  # only then does it decide (independent models differ everywhere anyway)
        clause = "; ".join(x for x in (f"tensors outside the role maps differ: "
                                       f"{', '.join(d.label for d in modules.changed[:4])}", clause) if x)  # fmt: skip
    added = bool(modules.extra or modules.changed)
    ps = [c.verdict.log10_p for c in paired if c.verdict is not None and c.verdict.log10_p is not None]
    k10 = math.log10(len(paired))
    if same and not added:
        kind = (VerdictKind.IDENTICAL if all(k is VerdictKind.IDENTICAL for k in kinds) and modules.same_set
                else VerdictKind.REPACKAGED)  # fmt: skip
        lp = None
    elif any(k.related for k in kinds):
        kind = VerdictKind.DERIVED
        rel = [c.verdict.log10_p for c in paired if c.verdict is not None and c.verdict.kind is VerdictKind.DERIVED
               and c.verdict.log10_p is not None]  # fmt: skip
        lp = min(min(rel) + k10, 0.0) if rel else None
    elif all(k is VerdictKind.INCONCLUSIVE for k in kinds):
        kind, lp = VerdictKind.INCONCLUSIVE, None
    else:
        kind = mv.kind if mv.kind.independent else next(k for k in kinds if k.independent)
        lp = min(min(ps) + k10, 0.0) if ps else None
    summary = tuple((c.label, c.verdict.kind.value, c.verdict.log10_p) for c in paired if c.verdict is not None)
    sentence = wording.whole_sentence(kind.value, summary, clause)
    shared = None
    if same and not kind.same_weights:
        shared = VerdictKind.IDENTICAL if all(k is VerdictKind.IDENTICAL for k in kinds) else VerdictKind.REPACKAGED
    return Verdict(kind, sentence, lp, alpha, mv.derived_layers, mv.evidence, parts, modules, shared)
