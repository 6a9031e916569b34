"""Evidence → verdict, with the calibrated numbers behind it and wording that matches the evidence.

Verdicts (:class:`VerdictKind`, ``Verdict.kind``):

* ``identical`` — every shared role has the same role set and bit-identical sampled rows;
* ``repackaged`` — same roles and shapes, every tensor equal within the precision of the storage formats
  (another format, dtype, quantisation, names or orientation);
* ``derived`` — the hidden-unit agreement test rejects independence at ``alpha`` (default
  :data:`taoke.defaults.ALPHA`) on a majority of interior layers; the layer map says which layers of B come from
  which of A. Also (without a p-value) when at least two weight matrices agree within storage precision on
  informative sampled values but not all tensors match — a partial copy (e.g. an up-cycled MoE that kept attention
  and embeddings); ``taoke eval`` counts how often that fires on independent pairs (never, so far);
* ``independent-same-architecture`` — same architecture, no weight dependence found (architecture reuse is
  legitimate and is not derivation);
* ``unrelated`` — different architectures and no weight dependence;
* ``inconclusive`` — the tests could not run (e.g. no MLP roles, no way to align the bases).

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
    evidence: Evidence

    def to_dict(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "verdict": self.kind,
            "sentence": self.sentence,
            "log10_p": None if self.log10_p is None else round(self.log10_p, 2),
            "alpha": self.alpha,
            "layer_map": [{"layer_b": b, "layer_a": a} for b, a in self.derived_layers],
            "evidence": self.evidence.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        """The verdict of a ``taoke.compare`` JSON document (what :meth:`to_dict` wrote; reports read it back)."""
        return cls(
            VerdictKind(d["verdict"]), str(d["sentence"]), d.get("log10_p"), float(d.get("alpha", DEFAULT_ALPHA)),
            tuple((int(x["layer_b"]), int(x["layer_a"])) for x in d.get("layer_map") or ()),
            Evidence.from_dict(d["evidence"]),
        )  # fmt: skip


def decide(ev: Evidence, *, alpha: float = DEFAULT_ALPHA) -> Verdict:
    """The verdict the evidence supports at significance level ``alpha`` (see the module docstring)."""
    la = math.log10(alpha)
    ex, ut = ev.exact, ev.units
    sig: list[tuple[int, int]] = []
    if ut is not None:
        sig = [(m.layer_b, m.layer_a) for m in ut.matches if m.log10_p <= la]
    if ex is not None and ex.identical:
        renamed = sum(d.renamed_from is not None for d in ex.diffs)
        transposed = sum(d.transposed for d in ex.diffs)
        if renamed or transposed or ev.formats[0] != ev.formats[1]:
            return Verdict(VerdictKind.REPACKAGED,
                           wording.repackaged_bitwise_sentence(ex.compared, ev.formats, renamed, transposed),
                           None, alpha, tuple(sig), ev)  # fmt: skip
        return Verdict(VerdictKind.IDENTICAL, wording.identical_sentence(ex.compared), None, alpha, tuple(sig), ev)
    if ex is not None and ex.repackaged:
        return Verdict(VerdictKind.REPACKAGED, wording.repackaged_sentence(ex.worst), None, alpha, tuple(sig), ev)
    if ut is not None and ut.log10_p <= la:
        return Verdict(VerdictKind.DERIVED, wording.derived_sentence(ut.log10_p, sig, len(ut.matches)),
                       ut.log10_p, alpha, tuple(sig), ev)  # fmt: skip
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
