"""The report of a white-box comparison (``taoke.compare``), built from the typed :class:`~taoke.verdict.Verdict`.

A saved JSON document is read back with :meth:`Verdict.from_dict` first, so the report reads typed fields (the
keys live in one place, the results' ``to_dict``/``from_dict``) and words them with :mod:`taoke.wording`.
"""

from __future__ import annotations

import math
from typing import Any

from taoke.report._common import GENERAL_CAVEATS, fmt, histogram, log10_or_none, short_name
from taoke.report._model import EvidenceRow, Plot, Table
from taoke.report._tokenizer import tokenizer_plots
from taoke.tokenizers import TokenizerComparison
from taoke.verdict import Verdict, VerdictKind
from taoke.whitebox.stdfp import StdFingerprint, published_null
from taoke.wording import confidence_from_log10_p, p_text, tensors_state

PANGU_R = 0.927  # the correlation of the chart that circulated in the Pangu-vs-Qwen case

COMPARE_CAVEATS = {
    VerdictKind.DERIVED: (
        "'Derived' covers fine-tuning, continued pre-training, pruning, merging and model surgery: B's weights were "
        "computed from A's, or both from a common ancestor. It is not in itself wrong; what matters is whether it "
        "was declared and what A's licence requires (see `taoke audit`)."),
    VerdictKind.REPACKAGED: ("'Re-packaged' means the same weights in another format, precision or naming. The "
                             "check compares sampled rows of every shared tensor, not every value."),
    VerdictKind.IDENTICAL: "'Identical' is checked on sampled rows of every shared tensor, not every byte of the files.",
    VerdictKind.INDEPENDENT_SAME_ARCHITECTURE: (
        "No weight dependence was found. That is not proof of independent work: distillation into freshly "
        "initialised weights, training on another model's outputs, or copying data leave no trace in the "
        "weights. Sharing an architecture is common and legitimate."),
    VerdictKind.UNRELATED: (
        "No weight dependence was found. That is not proof of independent work: distillation into freshly "
        "initialised weights or training on another model's outputs leave no trace in the weights."),
    VerdictKind.INCONCLUSIVE: "taoke could not run its weight tests on this pair; nothing is claimed either way.",
}  # fmt: skip


def _confidence(v: Verdict) -> tuple[str, str]:
    ex = v.evidence.exact
    if v.kind.same_weights:
        w = None if ex is None else ex.worst
        how = "bit-identical" if v.kind is VerdictKind.IDENTICAL else "equal within storage precision"
        extra = "" if w is None else (f"; largest relative error {_num(w.rel_err)} against a tolerance of "
                                      f"{w.tolerance} ({w.label}, {'/'.join(w.dtypes)})")  # fmt: skip
        rows = None if w is None else w.rows_compared
        n = 0 if ex is None else ex.compared
        return "very strong", (f"all {n} shared tensors are {how} on sampled rows ({rows} rows per tensor){extra}. "
                               "Independent training cannot produce this.")
    if v.kind is VerdictKind.DERIVED:
        return confidence_from_log10_p(v.log10_p), (
            f"the hidden-unit agreement test gives {p_text(v.log10_p)} against a null of independent training; the "
            f"threshold was alpha = {v.alpha:g}")
    if v.kind.independent:
        return "none", (f"no evidence of derivation: the hidden-unit agreement test gives {p_text(v.log10_p)}, above "
                        f"alpha = {v.alpha:g}. Absence of evidence is not proof of independence (see caveats).")
    return "not applicable", "taoke could not run the weight tests on this pair (see notes)"


def _num(x: float) -> str:
    """A number as its JSON form printed it (``inf`` and ``None`` for the values JSON cannot hold)."""
    return "None" if math.isnan(x) else str(x)


def _rows(v: Verdict) -> tuple[EvidenceRow, ...]:
    ev, kind = v.evidence, v.kind
    rows: list[EvidenceRow] = []
    if ev.tokenizer:
        tok = TokenizerComparison.from_dict(ev.tokenizer)
        lp = log10_or_none(tok.p_value)
        rows.append(EvidenceRow(
            "tokenizer relation", f"{tok.relation} (Jaccard {fmt(tok.stats.jaccard)})", p_text(lp), lp,
            tok.calibration[0].null if tok.calibration else "—", "supports", tok.summary))
    ex = ev.exact
    if ex is not None:
        w = ex.worst
        rows.append(EvidenceRow(
            "tensors on sampled rows", f"{ex.compared} shared roles ({ex.roles_a} in A, {ex.roles_b} in B): "
            f"{tensors_state(ex.identical, ex.repackaged)}", None, None,
            "deterministic check against each dtype's storage precision (not a statistical test)",
            "decides" if kind.same_weights else "descriptive",
            "" if w is None else f"worst {w.label}: relative error {_num(w.rel_err)} (tolerance {w.tolerance})"))
    al = ev.alignment
    if al is not None:
        rows.append(EvidenceRow(
            "residual-basis alignment", f"fit cosine {fmt(al.fit_cosine)} on {al.n_tokens} shared tokens",
            None, None, "descriptive: unrelated models also align partly (SmolLM2 vs Gemma-3: 0.54)", "descriptive",
            al.method))
    ut = ev.units
    if ut is not None:
        la = math.log10(v.alpha)
        sig = sum(1 for m in ut.matches if m.log10_p <= la)
        rows.append(EvidenceRow(
            "hidden-unit agreement (MLP units matched through the aligned basis)",
            f"{sig} of {len(ut.matches)} layers of B significant at alpha {v.alpha:g}", p_text(ut.log10_p),
            ut.log10_p, ut.null, "decides" if kind is VerdictKind.DERIVED or kind.independent else "supports",
            "model-level p combines the interior layers (robust to a few converged layers)"))
    sf = ev.stdfp
    if sf is not None:
        r, p = sf.correlation, sf.null_p
        rows.append(EvidenceRow(
            "per-layer std of q/k/v/o (the chart of the Pangu case)",
            "not computable" if r is None else f"r = {r:.4f} over {sf.n_values} values",
            None if p is None else f"p = {p:.2g} (empirical)", log10_or_none(p), sf.null_name, "reference",
            sf.note + "; never used for the verdict"))
    return tuple(rows)


def _tables(v: Verdict) -> tuple[Table, ...]:
    ev = v.evidence
    out: list[Table] = []
    rows = tuple((k, fmt(a), fmt(b), "" if a == b or a is None or b is None else "differs")
                 for k, a, b in ev.arch.rows if not (a is None and b is None))  # fmt: skip
    if rows:
        out.append(Table("Architecture (reported separately: reusing an architecture is not derivation)",
                         ("field", "A", "B", ""), rows, f"same architecture: {ev.arch.same_architecture}"))
    if v.components:  # multimodal / encoder-decoder: one verdict and one layer map per component
        out.append(Table(
            "Components (each compared on its own; the verdict decides the whole)",
            ("component", "prefix in A", "prefix in B", "tensors A/B", "verdict", "log10 p"),
            tuple((c.label, "—" if c.prefix_a is None else (c.prefix_a or "(top level)"),
                   "—" if c.prefix_b is None else (c.prefix_b or "(top level)"), f"{c.tensors[0]}/{c.tensors[1]}",
                   ("only in B" if c.prefix_a is None else "only in A") if c.verdict is None else str(c.verdict.kind),
                   "" if c.verdict is None else fmt(c.verdict.log10_p, 1)) for c in v.components)))  # fmt: skip
        for c in v.components:
            if c.verdict is not None:
                out.extend(_layer_map(c.verdict, f" ({c.label})"))
    else:
        out.extend(_layer_map(v, ""))
    mods = v.modules
    if mods is not None and (mods.extra or mods.missing or mods.changed):
        out.append(Table("Modules only one side holds, and tensors outside the role maps that differ",
                         ("side", "component", "module", "tensors", "parameters"),
                         tuple(("only in B", g.component, g.module, str(g.tensors), f"{g.params:,}") for g in mods.extra)
                         + tuple(("only in A", g.component, g.module, str(g.tensors), f"{g.params:,}")
                                 for g in mods.missing)
                         + tuple(("differs", "", d.label, "1", f"rel err {_num(d.rel_err)}") for d in mods.changed)))  # fmt: skip
    ex = ev.exact
    if ex is not None and ex.storage:
        done, tested = ex.blocks
        out.append(Table("Storage identity: blocks reproduced by re-quantising or casting (sampled rows)",
                         ("", "value"), (("blocks reproduced", f"{done:,} of {tested:,}"),
                                         ("matrices modified (blocks not reproduced)", str(len(ex.modified))),
                                         ("matrices checked against precision only", str(len(ex.unverified)))),
                         "a re-packaging reproduces every block; see docs/repackaging.md"))  # fmt: skip
    if ex is not None and ex.diffs:
        worst = sorted(ex.diffs, key=lambda r: -(0.0 if math.isnan(r.rel_err) else r.rel_err))[:12]
        out.append(Table("Tensors with the largest differences (sampled rows)",
                         ("role", "shape", "dtypes A/B", "rows", "relative error", "tolerance", "within"),
                         tuple((r.label, "×".join(map(str, r.shape)), "/".join(r.dtypes), str(r.rows_compared),
                                _num(r.rel_err), str(r.tolerance), "yes" if r.within else "no") for r in worst),
                         f"{len(ex.diffs)} roles compared in all"))  # fmt: skip
    (ba, bb), (fa, fb) = ev.bytes_read, ev.file_sizes
    out.append(Table("Work done", ("", "A", "B"), (
        ("bytes read", f"{ba / 1e6:.1f} MB", f"{bb / 1e6:.1f} MB"),
        ("file size", f"{fa / 1e6:.1f} MB", f"{fb / 1e6:.1f} MB")),
        f"{ev.seconds} s"))  # fmt: skip
    return tuple(out)


def _sampled(v: Verdict) -> bool:
    return (v.evidence.reading or {}).get("mode") == "sampled"


def _layer_map(v: Verdict, what: str) -> tuple[Table, ...]:
    ut = v.evidence.units
    if ut is None or not ut.matches:
        return ()
    lm = set(v.derived_layers)
    which = "each tested (sampled) layer of B" if _sampled(v) else "each layer of B"
    return (Table(
        f"Layer map{what}: {which} against its best-matching layer of A",
        ("B layer", "A layer", "agreeing units", "matched |cos|", "log10 p", "significant"),
        tuple((str(m.layer_b), str(m.layer_a), f"{m.agreement}/{m.units_b}", fmt(m.matched_cos, 3),
               fmt(m.log10_p, 1), "yes" if (m.layer_b, m.layer_a) in lm else "")
              for m in ut.matches)),)  # fmt: skip


def std_plot(sf: StdFingerprint, name_a: str = "A", name_b: str = "B") -> Plot:
    """The per-layer std curves of both models beside the published null of the statistic."""
    null = published_null("pdf")
    r, p = sf.correlation, sf.null_p
    cap = (f"Per-layer standard deviation of the attention projections q, k, v, o of each model (left, middle) "
           f"and their correlation against {sf.null_name} (right). ")
    cap += ("The correlation is not computable for this pair (" + sf.note + ")." if r is None else
            f"Observed r = {r:.4f}: {100 * float(p or 0):.2f}% of unrelated published pairs score at least as "
            "high.")  # fmt: skip
    cap += f" The dashed line marks {PANGU_R}, the value of the Pangu chart, which unrelated pairs also reach."

    def curves(stds: tuple[tuple[float, ...], ...]) -> list[list[float | None]]:
        return [[None if math.isnan(x) else x for x in row] for row in stds]  # as in the JSON: NaN is null

    return Plot("std-fingerprint", "Per-layer std curves and their calibration", cap, {
        "name_a": name_a, "name_b": name_b, "parts": ["q", "k", "v", "o"],
        "stds_a": curves(sf.stds_a), "stds_b": curves(sf.stds_b), "observed": r,
        "reference": PANGU_R, "reference_label": f"Pangu chart {PANGU_R}", "null_name": sf.null_name,
        "null": histogram(null, -1.0, 1.0, 100), "statistic": "Pearson r of per-layer stds",
    })  # fmt: skip


def compare_plots(v: Verdict) -> tuple[Plot, ...]:
    """The figures of a comparison: layer map, std curves, tokenizer overlap (what the evidence supports)."""
    ev = v.evidence
    out: list[Plot] = []
    ut = ev.units
    if ut is not None and ut.screen.size:
        screen = ut.screen
        rows_b = list(range(screen.shape[1]))
        if screen.shape[1] == len(ut.matches):  # one column per tested B layer (every layer, or the sample's)
            order = sorted(range(len(ut.matches)), key=lambda j: ut.matches[j].layer_b)
            screen, rows_b = screen[:, order], [ut.matches[j].layer_b for j in order]
        if _sampled(v):
            left = (f"Left: screening similarity of each tested layer of B (rows; a sample of {len(rows_b)} layers, "
                    "the others were not read) with every layer of A (columns): mean best |cos| of sampled MLP "
                    "write-vectors after aligning the bases")  # fmt: skip
            right = "Right: −log10 p of each tested layer of B against its best layer of A"
        else:
            left = ("Left: screening similarity of every layer of B (rows) with every layer of A (columns): mean best "
                    "|cos| of MLP read-vectors after aligning the bases")  # fmt: skip
            right = "Right: −log10 p of each layer of B against its best layer of A"
        out.append(Plot("layer-map", "Which layer of B matches which layer of A", (
            f"{left}; circles mark the layer pairs significant at alpha = {v.alpha:g}. {right}; the dashed line "
            "is alpha."), {
            "screen": screen.tolist(), "rows_b": rows_b,
            "layers": [{"layer_b": m.layer_b, "layer_a": m.layer_a, "log10_p": m.log10_p} for m in ut.matches],
            "matched": [[b, a] for b, a in v.derived_layers], "alpha": v.alpha,
        }))  # fmt: skip
    if ev.stdfp is not None:
        out.append(std_plot(ev.stdfp, short_name(ev.path_a), short_name(ev.path_b)))
    if ev.tokenizer:
        out.extend(tokenizer_plots(TokenizerComparison.from_dict(ev.tokenizer)))
    return tuple(out)


def std_null_max() -> float:
    return float(published_null("pdf").max())


def from_compare(v: Verdict) -> dict[str, Any]:
    """The report fields of a comparison."""
    conf, conf_text = _confidence(v)
    ev = v.evidence
    caveats = [COMPARE_CAVEATS.get(v.kind, ""), *GENERAL_CAVEATS,
               "The per-layer std correlation (the chart of the Pangu case) is shown for reference only: "
               f"unrelated models reach up to {std_null_max():.3f} on the published null, and a model with random "
               "weights matched to each tensor's mean and std scores ~0.9999. It never decides the verdict.",
               "Results use sampled rows and hidden units with a fixed seed; rerunning the command reproduces "
               "them."]  # fmt: skip
    caveats += [f"Note from the run: {n}" for n in ev.notes]
    return {"kind": "compare", "title": f"Lineage of {short_name(ev.path_b)} with respect to {short_name(ev.path_a)}",
            "verdict": str(v.kind), "sentence": v.sentence, "confidence": conf, "confidence_text": conf_text,
            "evidence": _rows(v), "tables": _tables(v), "plots": compare_plots(v),
            "caveats": tuple(c for c in caveats if c), "inputs": (("A", ev.path_a), ("B", ev.path_b))}
