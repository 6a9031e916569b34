"""The report of a tokenizer comparison (``taoke.tokenizer-comparison``), built from the typed
:class:`~taoke.tokenizers.TokenizerComparison` (a saved JSON is read back with its ``from_dict``)."""

from __future__ import annotations

from typing import Any

from taoke.report._common import GENERAL_CAVEATS, fmt, histogram, log10_or_none
from taoke.report._model import EvidenceRow, Plot, Table
from taoke.tokenizers import TokenizerComparison
from taoke.wording import confidence_from_log10_p, p_text


def tokenizer_plots(t: TokenizerComparison) -> list[Plot]:
    """The overlap of the two vocabularies and, when calibrated, each statistic against its null."""
    s, sp = t.stats, t.specials
    same = int(round(s.n_shared * float(s.same_id_share or 0.0)))
    out = [Plot("tokenizer-overlap", "Tokenizer overlap", (
        f"Regular tokens of {t.a} (A) and {t.b} (B), compared by their bytes: shared at the same id, "
        "shared at another id, and only in one of them. Special tokens are listed separately."), {
        "name_a": t.a, "name_b": t.b, "n_a": s.n_regular_a, "n_b": s.n_regular_b, "shared_same_id": same,
        "shared_moved": s.n_shared - same, "jaccard": s.jaccard, "specials_a": sp.n_a, "specials_b": sp.n_b})]
    if t.calibration:
        try:
            from taoke.tokenizers import load_db

            null = load_db(include_user=False).null
        except Exception:  # noqa: BLE001 - the plot is optional; the table still carries the numbers
            null = None
        if null is not None:
            panels = [{"statistic": c.statistic, "observed": c.value, "threshold": c.threshold,
                       "p_value": c.p_value, "null": histogram(null.values.get(c.statistic, ()), 0.0, 1.0, 50)}
                      for c in t.calibration if c.statistic in null.values]
            if panels:
                out.append(Plot("null", "Observed tokenizer statistics against their null", (
                    f"Each statistic of this pair (red line) against the same statistic on {null.n} pairs of "
                    f"unrelated tokenizers ({null.name}); the dotted line is the threshold at the chosen alpha. "
                    f"With {null.n} null pairs the smallest possible p-value is {1 / (null.n + 1):.2g}."),
                    {"panels": panels, "null_name": null.name}))
    return out


def from_tokenizer(t: TokenizerComparison) -> dict[str, Any]:
    """The report fields of a tokenizer comparison."""
    s, p, cal = t.stats, t.p_value, t.calibration
    rows = [EvidenceRow(f"tokenizer: {c.statistic}", f"{c.value:.4f} (related above {c.threshold:.4f})",
                        p_text(log10_or_none(c.p_value)), log10_or_none(c.p_value), f"{c.null} (n = {c.null_n})",
                        "decides", f"false-positive rate at the threshold {c.fpr_at_threshold:.2%}")
            for c in cal]  # fmt: skip
    rows.append(EvidenceRow("shared regular tokens", f"{s.n_shared} (Jaccard {fmt(s.jaccard)}, "
                            f"same id {fmt(s.same_id_share)})", None, None, "descriptive", "descriptive"))
    m = s.merges
    if m is not None:
        rows.append(EvidenceRow("merge list", f"common prefix {m.common_prefix} of {m.n_a}/{m.n_b}; "
                                f"{fmt(m.shared_share)} shared", None, None, "descriptive", "descriptive"))
    if t.related and p is not None:
        conf = confidence_from_log10_p(log10_or_none(p))
        n = cal[0].null_n if cal else 0
        conf_text = (f"p = {p:.2g} against {n} pairs of unrelated tokenizers"
                     + (" — the smallest p-value this null can give" if n and p <= 1.0 / (n + 1) + 1e-12 else ""))
        if t.relation.startswith("identical"):
            conf, conf_text = "very strong", conf_text + "; the vocabularies are identical token for token"
    else:
        conf, conf_text = "none", "no tokenizer relation beyond what unrelated tokenizers share"
    sp = t.specials
    tables = [Table("Tokenizers", ("", "A", "B"), (
        ("name", t.a, t.b), ("kind", t.kind_a, t.kind_b), ("ids", str(t.size_a), str(t.size_b)),
        ("regular tokens", str(s.n_regular_a), str(s.n_regular_b)), ("special tokens", str(sp.n_a), str(sp.n_b)),
        ("chat template", t.chat_template, ""))),
    ]  # fmt: skip
    only = [(x.text, "B only", str(x.id)) for x in sp.only_b[:50]]
    only += [(x.text, "A only", str(x.id)) for x in sp.only_a[:50]]
    only += [(str(x[0]), "moved", f"{x[1]} → {x[2]}") for x in sp.moved[:50]]
    if only:
        tables.append(Table("Special tokens that differ", ("token", "where", "id"), tuple(only[:60])))
    caveats = ["Reusing a tokenizer is common and legitimate (many models ship Llama's or Qwen's): it shows the "
               "vocabulary was taken over, not the weights. Weight lineage needs `taoke compare`.",
               *GENERAL_CAVEATS]
    return {"kind": "tokenizer-compare", "title": f"Tokenizer of {t.b} against {t.a}",
            "verdict": t.relation, "sentence": t.summary, "confidence": conf,
            "confidence_text": conf_text, "evidence": tuple(rows), "tables": tuple(tables),
            "plots": tuple(tokenizer_plots(t)), "caveats": tuple(caveats), "inputs": ()}
