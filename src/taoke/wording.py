"""Every sentence taoke prints about a verdict, in one place: p-values, layer ranges, verdict sentences, the
tokenizer-relation ladder and the "how sure" reading aid.

Rules (GUIDE): wording matches the evidence — "derived (p < 1e-12)", "consistent with independent training",
"inconclusive" — and every sentence is literally true ("bit-identical on sampled rows", not "the same file").
The verdict logic (:mod:`taoke.verdict`, :mod:`taoke.tokenizers`) decides; this module only words.

>>> p_text(-7567.11), p_text(math.log10(0.0023)), p_text(0.0), p_text(None)
('p < 1e-7567', 'p = 0.0023', 'p = 1', None)
>>> layer_ranges([(0, 0), (1, 1), (2, 2), (5, 9)])
'B0-2←A0-2, B5←A9'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from taoke.tokenizers import PairStats, SpecialsDiff
    from taoke.whitebox.exact import ExactResult, RoleDiff
    from taoke.whitebox.modules import ModuleGroup

__all__ = [
    "confidence_from_log10_p", "derived_sentence", "identical_sentence", "inconclusive_sentence",
    "independent_sentence", "layer_ranges", "modified_clause", "modified_copy_sentence", "modules_clause",
    "fingerprint_extra_params_sentence", "fingerprint_within_precision_sentence", "p_text",
    "partial_copy_sentence", "repackaged_bitwise_sentence", "repackaged_sentence", "storage_clause",
    "tensors_state", "tokenizer_sentence", "whole_sentence",
]  # fmt: skip


# -- numbers ------------------------------------------------------------------------------------------------


@overload
def p_text(log10_p: float) -> str: ...
@overload
def p_text(log10_p: None) -> None: ...
@overload
def p_text(log10_p: float | None) -> str | None: ...
def p_text(log10_p: float | None) -> str | None:
    """``p = 0.0023`` above 1e-4, else ``p < 1e-7567`` (the bound's next power of ten); None for no test."""
    if log10_p is None:
        return None
    if log10_p > -4:
        return f"p = {10 ** log10_p:.2g}"
    return f"p < 1e{math.floor(log10_p) + 1}"


def layer_ranges(pairs: Sequence[tuple[int, int]]) -> str:
    """``(layer_b, layer_a)`` pairs as runs: ``B0-2←A0-2`` where consecutive layers map to consecutive layers."""
    if not pairs:
        return "none"
    items = list(pairs)
    out, start, prev = [], items[0], items[0]
    for p in items[1:] + [(-9, -9)]:
        if p[0] == prev[0] + 1 and p[1] - prev[1] == p[0] - prev[0]:
            prev = p
            continue
        out.append(f"B{start[0]}←A{start[1]}" if start == prev else f"B{start[0]}-{prev[0]}←A{start[1]}-{prev[1]}")
        start = prev = p
    return ", ".join(out)


def confidence_from_log10_p(log10_p: float | None) -> str:
    """Reading aid for a p-value: p ≤ 1e-12 very strong, ≤ 1e-6 strong, ≤ 1e-3 moderate, ≤ 0.05 weak, else none.
    (The p-value and its null are always printed beside it.)

    >>> confidence_from_log10_p(-20.0), confidence_from_log10_p(-2.0), confidence_from_log10_p(None)
    ('very strong', 'weak', 'not applicable')
    """
    if log10_p is None:
        return "not applicable"
    for lim, word in ((-12, "very strong"), (-6, "strong"), (-3, "moderate"), (math.log10(0.05), "weak")):
        if log10_p <= lim:
            return word
    return "none"


def tensors_state(identical: bool, within_precision: bool) -> str:
    """How the sampled tensors compare, in three words at most."""
    return "identical" if identical else ("within storage precision" if within_precision else "differ")


# -- white-box verdict sentences (taoke.verdict.decide) -------------------------------------------------------


def identical_sentence(compared: int) -> str:
    return f"identical: all {compared} shared tensors bit-identical on sampled rows"


def repackaged_bitwise_sentence(compared: int, formats: tuple[str, str], renamed: int, transposed: int) -> str:
    """Bit-identical values stored differently (another format, names or orientation)."""
    how = ", ".join(x for x in (f"{formats[0]} → {formats[1]}" if formats[0] != formats[1] else "",
                                f"{renamed} tensors renamed" if renamed else "",
                                f"{transposed} transposed" if transposed else "") if x)  # fmt: skip
    return f"re-packaged: all {compared} tensors bit-identical on sampled rows ({how})"


def repackaged_sentence(worst: RoleDiff | None) -> str:
    """Equal within the storage precision of both files."""
    detail = "" if worst is None else (f" (largest relative error {worst.rel_err:.2g} on {worst.label}, "
                                       f"{worst.dtypes[0]}/{worst.dtypes[1]})")  # fmt: skip
    return f"re-packaged: the same weights within storage precision{detail}"


FINGERPRINT_LIMIT = ("a fingerprint holds scattered cells of the tensors in the role map, so storage identity "
                     "(re-quantising blocks) and tensors outside the map were not checked; `taoke compare` on the "
                     "two checkpoint files decides")


def fingerprint_within_precision_sentence(worst: RoleDiff | None, compared: int, extra_params: int) -> str:
    """Two fingerprints whose sampled values agree within storage precision but not bit for bit: a re-packaging or
    a copy changed by less than that precision (noise hidden in quantisation tolerance); which one, a fingerprint
    cannot tell."""
    detail = "" if worst is None else (f" (largest relative error {worst.rel_err:.2g} on {worst.label}, "
                                       f"{worst.dtypes[0]}/{worst.dtypes[1]})")  # fmt: skip
    more = f"; B's checkpoint has {extra_params:,} more parameters outside them than A's" if extra_params > 0 else ""
    return (f"derived (copy within storage precision): all {compared} compared tensors agree with A's within "
            f"storage precision on the fingerprinted cells{detail}{more} — A's weights re-packaged, or changed by "
            f"less than that precision; {FINGERPRINT_LIMIT}")


def fingerprint_extra_params_sentence(compared: int, extra_params: int) -> str:
    """Two fingerprints bit-identical on every sampled cell, B's checkpoint larger outside the role map."""
    return (f"derived (A's weights and more): all {compared} compared tensors are bit-identical on the fingerprinted "
            f"cells, and B's checkpoint has {extra_params:,} more parameters than A's in tensors outside them "
            f"(modules A lacks, such as a head, a vision tower or a pooler); {FINGERPRINT_LIMIT}")


def derived_sentence(log10_p: float, significant: Sequence[tuple[int, int]], layers_b: int,
                     of_total: int | None = None) -> str:  # fmt: skip
    """``layers_b``: the layers of B tested; ``of_total``: B's layer count when only a sample of them was tested."""
    tested = (f"{len(significant)} of the {layers_b} tested layers of B (a sample of its {of_total})"
              if of_total is not None and of_total > layers_b else f"{len(significant)} of {layers_b} layers of B")
    return (f"derived ({p_text(log10_p)}): B's weights descend from A's, or both from a common ancestor; "
            f"{tested} match layers of A ({layer_ranges(significant)})")


def partial_copy_sentence(shared: int, compared: int, unit_log10_p: float | None) -> str:
    unit = "" if unit_log10_p is None else f"; hidden-unit test {p_text(unit_log10_p)}"
    return (f"derived (partial copy): {shared} of {compared} compared weight matrices agree within storage "
            f"precision on sampled values — independent training does not produce equal matrices{unit}")


def independent_sentence(same_architecture: bool, log10_p: float, alpha: float,
                         significant: Sequence[tuple[int, int]]) -> str:  # fmt: skip
    head = ("same architecture, consistent with independent training" if same_architecture
            else "unrelated: different architectures, consistent with independent training")  # fmt: skip
    extra = (f"; {len(significant)} isolated layer(s) individually significant ({layer_ranges(significant)})"
             if significant else "")  # fmt: skip
    return f"{head} ({p_text(log10_p)}, alpha {alpha:g}){extra}"


def storage_clause(ex: ExactResult) -> str:
    """What the storage-identity test showed for a re-packaging (taoke.whitebox.requant), or ``""``."""
    done, tested = ex.blocks
    parts = []
    if tested:
        parts.append(f"re-quantising or casting reproduces {100 * done / tested:.1f}% of {tested:,} sampled blocks")
    if ex.unverified:
        why = ex.unverified[0].note or "no quantiser for the type"
        parts.append(f"{len(ex.unverified)} matri{'ces' if len(ex.unverified) > 1 else 'x'} checked against "
                     f"storage precision only ({why}): a change below that precision cannot be excluded there")
    return "; ".join(parts)


def modified_clause(ex: ExactResult) -> str:
    """Why a copy within storage precision is not a re-packaging (matrices whose blocks do not reproduce)."""
    mod = ex.modified
    if not mod:
        return ""
    done, tested = sum(c.reproduced for c in mod), sum(c.blocks for c in mod)
    dev = sorted(c.deviation for c in mod)[len(mod) // 2]
    fmts = sorted({c.dtypes[0] if c.dtypes[0] not in ("F32", "F16", "BF16") else c.dtypes[1] for c in mod})
    return (f"not a re-packaging: {len(mod)} matri{'ces' if len(mod) > 1 else 'x'} within storage precision do "
            f"not reproduce ({100 * done / max(tested, 1):.1f}% of {tested:,} {'/'.join(fmts)} blocks re-quantised "
            f"or cast, a re-packaging reproduces them all); median relative difference {dev:.2g}, a modified copy")


def modified_copy_sentence(ex: ExactResult) -> str:
    """Derived without a p-value: every matrix within precision, blocks not reproduced."""
    return f"derived (modified copy): {modified_clause(ex)}"


def modules_clause(extra: Sequence[ModuleGroup], missing: Sequence[ModuleGroup], *, limit: int = 4) -> str:
    """``B also carries modules A lacks: ...; B lacks A's ...`` (empty when both are empty)."""

    def names(gs: Sequence[ModuleGroup]) -> str:
        shown = ", ".join(g.label for g in gs[:limit])
        return shown + (f" and {len(gs) - limit} more" if len(gs) > limit else "")

    parts = []
    if extra:
        parts.append(f"B carries modules A lacks: {names(extra)}")
    if missing:
        parts.append(f"B lacks A's {names(missing)}")
    return "; ".join(parts)


def whole_sentence(kind: str, parts: Sequence[tuple[str, str, float | None]], modules: str) -> str:
    """The verdict on a composite checkpoint from its components' ``(component, verdict, log10_p)``."""
    words = {"identical": "bit-identical", "repackaged": "re-packaged", "derived": "derived",
             "independent-same-architecture": "independent", "unrelated": "unrelated",
             "inconclusive": "inconclusive"}  # fmt: skip
    each = ", ".join(f"{c} {words.get(v, v)}" + (f" ({p_text(lp)})" if lp is not None and v != "inconclusive" else "")
                     for c, v, lp in parts)  # fmt: skip
    head = {"identical": "identical", "repackaged": "re-packaged", "derived": "derived",
            "independent-same-architecture": "same architecture, consistent with independent training",
            "unrelated": "unrelated: consistent with independent training",
            "inconclusive": "inconclusive"}.get(kind, kind)  # fmt: skip
    return f"{head}: {each}" + (f"; {modules}" if modules else "")


def inconclusive_sentence(notes: Sequence[str]) -> str:
    why = "; ".join(notes) or "the weight tests could not run"
    return f"inconclusive: {why}"


# -- tokenizer relations (taoke.tokenizers): one ladder, worded for a pair or for a database match ---------------


def tokenizer_sentence(relation: str, s: PairStats, sp: SpecialsDiff, p: float | None, *, a: str = "A",
                       b: str = "B", size_a: int = 0, null_n: int = 0, entry: str | None = None) -> str:  # fmt: skip
    """The summary of a tokenizer relation (see :mod:`taoke.tokenizers._compare` for the relations).

    Worded for a pair (``taoke tokenizer compare A B``: B's relation to A, ``a``/``b`` their names, ``p`` the
    smaller calibrated p-value against ``null_n`` unrelated pairs), or, when ``entry`` names a database entry, for
    one match of ``taoke tokenizer identify`` (statistics estimated from the entry's sketch, hence ``≈``).
    """
    m = entry is not None
    if p is None:
        ptxt = "uncalibrated"
    else:
        ptxt = f"p ≤ {p:.2g}" if m else f"p ≤ {p:.3g} against {null_n} unrelated pairs"
    if not sp.n_changed:
        spec = ""
    elif m:
        spec = (f" with {sp.n_changed} special tokens changed (+{sp.n_only_b} / -{sp.n_only_a} / "
                f"{sp.n_moved} moved)")
    else:
        spec = (f"; {sp.n_changed} special tokens differ (+{sp.n_only_b} only in {b}, -{sp.n_only_a} only "
                f"in {a}, {sp.n_moved} moved)")
    if relation == "identical":
        return f"identical to {entry}" if m else f"{b} is the same tokenizer as {a} ({size_a} ids, every token equal)"
    if relation == "identical-up-to-specials":
        return (f"{entry}'s vocabulary{spec}" if m
                else f"{b} carries {a}'s vocabulary ({s.n_regular_a} regular tokens at the same ids){spec}")
    if relation == "shifted":
        return (f"{entry}'s vocabulary with ids shifted by {s.modal_offset:+d}{spec}" if m
                else f"{b} is {a}'s vocabulary with every id shifted by {s.modal_offset:+d}{spec}")
    if relation == "extended":
        return (f"{entry} extended: all its tokens at the same ids, ~{s.n_regular_b - s.n_shared} tokens added{spec}"
                if m else f"{b} extends {a}: all {s.n_regular_a} of its tokens at the same ids, plus "
                f"{s.n_regular_b - s.n_shared} new ones{spec}")
    if relation == "pruned":
        return (f"{entry} pruned to {s.n_regular_b} regular tokens, ids kept{spec}" if m
                else f"{b} is {a} pruned: {s.n_regular_b} of its {s.n_regular_a} tokens kept at their ids{spec}")
    if relation == "permuted":
        return (f"{entry}'s tokens (Jaccard ≈ {s.jaccard:.3f}) with ids reordered ({ptxt})" if m
                else f"{b} has {a}'s tokens (Jaccard {s.jaccard:.4f}) with ids reordered "
                f"({s.same_id_share:.1%} at the same id; {ptxt})")
    if relation == "shared-prefix":
        return (f"shares at least the first {s.shared_prefix} ids of {entry}, then diverges ({ptxt})" if m
                else f"{b} shares {a}'s first {s.shared_prefix} ids, then diverges ({ptxt})")
    if relation == "overlapping-related":
        return (f"related to {entry} ({ptxt}): ≈{s.containment_a_in_b:.1%} of it contained, "
                f"{s.modal_offset_share:.1%} of shared tokens at one id offset" if m
                else f"{a} and {b} are related ({ptxt}): {s.containment_a_in_b:.1%} of {a} in {b}, "
                f"{s.containment_b_in_a:.1%} of {b} in {a}, {s.same_id_share:.1%} of shared tokens at the same id")
    ptxt = ptxt.replace("≤", "=")
    return (f"independent of {entry} (Jaccard ≈ {s.jaccard:.3f}; {ptxt})" if m
            else f"{a} and {b} look independently trained (Jaccard {s.jaccard:.3f}, tail containment "
            f"{s.tail_containment:.3f}; {ptxt})")
