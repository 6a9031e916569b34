"""Evidence → verdict, with the calibrated numbers behind it and wording that matches the evidence.

Verdicts (``Verdict.kind``):

* ``identical`` — every shared role has the same role set and bit-identical sampled rows;
* ``repackaged`` — same roles and shapes, every tensor equal within the precision of the storage formats
  (another format, dtype, quantisation, names or orientation);
* ``derived`` — the hidden-unit agreement test rejects independence at ``alpha`` (default 1e-6) on a majority of
  interior layers; the layer map says which layers of B come from which of A. Also (without a p-value) when at
  least two weight matrices agree within storage precision on informative sampled values but not all tensors match — a partial
  copy (e.g. an up-cycled MoE that kept attention and embeddings); ``taoke eval`` counts how often that fires on
  independent pairs (never, so far);
* ``independent-same-architecture`` — same architecture, no weight dependence found (architecture reuse is
  legitimate and is not derivation);
* ``unrelated`` — different architectures and no weight dependence;
* ``inconclusive`` — the tests could not run (e.g. no MLP roles, no way to align the bases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from taoke.whitebox.compare import Evidence

DEFAULT_ALPHA = 1e-6


@dataclass(frozen=True)
class Verdict:
    kind: str
    sentence: str
    log10_p: float | None  # of the deciding test, where there is one
    alpha: float
    derived_layers: tuple[tuple[int, int], ...]  # (layer_b, layer_a) pairs individually significant at alpha
    evidence: Evidence

    def to_dict(self) -> dict[str, object]:
        return {
            "format": "taoke.compare",
            "version": 1,
            "verdict": self.kind,
            "sentence": self.sentence,
            "log10_p": None if self.log10_p is None else round(self.log10_p, 2),
            "alpha": self.alpha,
            "layer_map": [{"layer_b": b, "layer_a": a} for b, a in self.derived_layers],
            "evidence": self.evidence.to_dict(),
        }


def _p_text(log10_p: float) -> str:
    if log10_p > -300:
        return f"p = {10 ** log10_p:.2g}" if log10_p > -4 else f"p < 1e{math.floor(log10_p) + 1}"
    return f"p < 1e{math.floor(log10_p) + 1}"


def _ranges(pairs: list[tuple[int, int]]) -> str:
    if not pairs:
        return "none"
    out, start, prev = [], pairs[0], pairs[0]
    for p in pairs[1:] + [(-9, -9)]:
        if p[0] == prev[0] + 1 and p[1] - prev[1] == p[0] - prev[0]:
            prev = p
            continue
        out.append(f"B{start[0]}←A{start[1]}" if start == prev else f"B{start[0]}-{prev[0]}←A{start[1]}-{prev[1]}")
        start = prev = p
    return ", ".join(out)


def decide(ev: Evidence, *, alpha: float = DEFAULT_ALPHA) -> Verdict:
    la = math.log10(alpha)
    ex, ut = ev.exact, ev.units
    sig: list[tuple[int, int]] = []
    if ut is not None:
        sig = [(m.layer_b, m.layer_a) for m in ut.matches if m.log10_p <= la]
    if ex is not None and ex.identical:
        renamed = sum(" = A:" in d.role for d in ex.diffs)
        transposed = sum(d.transposed for d in ex.diffs)
        if renamed or transposed or ev.formats[0] != ev.formats[1]:
            how = ", ".join(x for x in (f"{ev.formats[0]} → {ev.formats[1]}" if ev.formats[0] != ev.formats[1] else "",
                                        f"{renamed} tensors renamed" if renamed else "",
                                        f"{transposed} transposed" if transposed else "") if x)  # fmt: skip
            return Verdict("repackaged", f"re-packaged: all {ex.compared} tensors bit-identical on sampled rows ({how})",
                           None, alpha, tuple(sig), ev)  # fmt: skip
        return Verdict("identical", f"identical: all {ex.compared} shared tensors bit-identical on sampled rows",
                       None, alpha, tuple(sig), ev)  # fmt: skip
    if ex is not None and ex.repackaged:
        w = ex.worst
        detail = "" if w is None else f" (largest relative error {w.rel_err:.2g} on {w.role}, {w.dtypes[0]}/{w.dtypes[1]})"
        return Verdict("repackaged", f"re-packaged: the same weights within storage precision{detail}",
                       None, alpha, tuple(sig), ev)  # fmt: skip
    if ut is not None and ut.log10_p <= la:
        n_b = len(ut.matches)
        return Verdict(
            "derived",
            f"derived ({_p_text(ut.log10_p)}): B's weights descend from A's, or both from a common ancestor; "
            f"{len(sig)} of {n_b} layers of B match layers of A ({_ranges(sig)})",
            ut.log10_p, alpha, tuple(sig), ev,
        )  # fmt: skip
    shared = ex.shared_matrices if ex is not None else ()
    if len(shared) >= 2:
        unit = "" if ut is None else f"; hidden-unit test {_p_text(ut.log10_p)}"
        return Verdict(
            "derived",
            f"derived (partial copy): {len(shared)} of {ex.compared} compared weight matrices agree within storage "
            f"precision on sampled values — independent training does not produce equal matrices{unit}",
            None, alpha, tuple(sig), ev,
        )  # fmt: skip
    if ut is not None:
        same = ev.arch.same_architecture
        kind = "independent-same-architecture" if same else "unrelated"
        head = ("same architecture, consistent with independent training" if same
                else "unrelated: different architectures, consistent with independent training")  # fmt: skip
        extra = f"; {len(sig)} isolated layer(s) individually significant ({_ranges(sig)})" if sig else ""
        return Verdict(kind, f"{head} ({_p_text(ut.log10_p)}, alpha {alpha:g}){extra}", ut.log10_p, alpha,
                       tuple(sig), ev)  # fmt: skip
    why = "; ".join(ev.notes) or "the weight tests could not run"
    return Verdict("inconclusive", f"inconclusive: {why}", None, alpha, (), ev)
