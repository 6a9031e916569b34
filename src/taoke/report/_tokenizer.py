"""The report of a tokenizer comparison (``taoke.tokenizer-comparison``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taoke.report._common import GENERAL_CAVEATS, fmt, histogram, log10_or_none
from taoke.report._model import EvidenceRow, Plot, Table
from taoke.wording import confidence_from_log10_p, p_text


def tokenizer_plots(t: Mapping[str, Any]) -> list[Plot]:
    s = t["stats"]
    shared = int(s.get("n_shared", 0))
    same = int(round(shared * float(s.get("same_id_share") or 0.0)))
    out = [Plot("tokenizer-overlap", "Tokenizer overlap", (
        f"Regular tokens of {t.get('a')} (A) and {t.get('b')} (B), compared by their bytes: shared at the same id, "
        "shared at another id, and only in one of them. Special tokens are listed separately."), {
        "name_a": str(t.get("a")), "name_b": str(t.get("b")), "n_a": int(s.get("n_regular_a", 0)),
        "n_b": int(s.get("n_regular_b", 0)), "shared_same_id": same, "shared_moved": shared - same,
        "jaccard": s.get("jaccard"), "specials_a": (t.get("specials") or {}).get("n_a"),
        "specials_b": (t.get("specials") or {}).get("n_b")})]
    cal = t.get("calibration") or []
    if cal:
        try:
            from taoke.tokenizers import load_db

            null = load_db(include_user=False).null
        except Exception:  # noqa: BLE001 - the plot is optional; the table still carries the numbers
            null = None
        if null is not None:
            panels = [{"statistic": c["statistic"], "observed": c["value"], "threshold": c.get("threshold"),
                       "p_value": c.get("p_value"),
                       "null": histogram(null.values.get(c["statistic"], ()), 0.0, 1.0, 50)}
                      for c in cal if c["statistic"] in null.values]
            if panels:
                out.append(Plot("null", "Observed tokenizer statistics against their null", (
                    f"Each statistic of this pair (red line) against the same statistic on {null.n} pairs of "
                    f"unrelated tokenizers ({null.name}); the dotted line is the threshold at the chosen alpha. "
                    f"With {null.n} null pairs the smallest possible p-value is {1 / (null.n + 1):.2g}."),
                    {"panels": panels, "null_name": null.name}))
    return out

def from_tokenizer(d: Mapping[str, Any]) -> dict[str, Any]:
    s = d.get("stats") or {}
    p = d.get("p_value")
    cal = d.get("calibration") or []
    rows = [EvidenceRow(f"tokenizer: {c['statistic']}", f"{c['value']:.4f} (related above {c['threshold']:.4f})",
                        p_text(log10_or_none(c["p_value"])), log10_or_none(c["p_value"]), f"{c['null']} (n = {c['null_n']})",
                        "decides", f"false-positive rate at the threshold {c['fpr_at_threshold']:.2%}")
            for c in cal]
    rows.append(EvidenceRow("shared regular tokens", f"{s.get('n_shared')} (Jaccard {fmt(s.get('jaccard'))}, "
                            f"same id {fmt(s.get('same_id_share'))})", None, None, "descriptive", "descriptive"))
    m = s.get("merges")
    if m:
        rows.append(EvidenceRow("merge list", f"common prefix {m.get('common_prefix')} of {m.get('n_a')}/"
                                f"{m.get('n_b')}; {fmt(m.get('shared_share'))} shared", None, None, "descriptive",
                                "descriptive"))
    related = bool(d.get("related"))
    if related and p is not None:
        conf = confidence_from_log10_p(log10_or_none(p))
        n = cal[0]["null_n"] if cal else 0
        conf_text = (f"p = {p:.2g} against {n} pairs of unrelated tokenizers"
                     + (" — the smallest p-value this null can give" if n and p <= 1.0 / (n + 1) + 1e-12 else ""))
        if str(d.get("relation", "")).startswith("identical"):
            conf, conf_text = "very strong", conf_text + "; the vocabularies are identical token for token"
    else:
        conf, conf_text = "none", "no tokenizer relation beyond what unrelated tokenizers share"
    sp = d.get("specials") or {}
    tables = [Table("Tokenizers", ("", "A", "B"), (
        ("name", str(d.get("a")), str(d.get("b"))), ("kind", str(d.get("kind_a")), str(d.get("kind_b"))),
        ("ids", str(d.get("size_a")), str(d.get("size_b"))),
        ("regular tokens", str(s.get("n_regular_a")), str(s.get("n_regular_b"))),
        ("special tokens", str(sp.get("n_a")), str(sp.get("n_b"))),
        ("chat template", str(d.get("chat_template")), ""))),
    ]
    only = [(x["text"], "B only", str(x["id"])) for x in sp.get("only_b") or []]
    only += [(x["text"], "A only", str(x["id"])) for x in sp.get("only_a") or []]
    only += [(str(x[0]), "moved", f"{x[1]} → {x[2]}") for x in sp.get("moved") or []]
    if only:
        tables.append(Table("Special tokens that differ", ("token", "where", "id"), tuple(only[:60])))
    caveats = ["Reusing a tokenizer is common and legitimate (many models ship Llama's or Qwen's): it shows the "
               "vocabulary was taken over, not the weights. Weight lineage needs `taoke compare`.",
               *GENERAL_CAVEATS]
    return {"kind": "tokenizer-compare", "title": f"Tokenizer of {d.get('b')} against {d.get('a')}",
            "verdict": str(d.get("relation")), "sentence": str(d.get("summary")), "confidence": conf,
            "confidence_text": conf_text, "evidence": tuple(rows), "tables": tuple(tables),
            "plots": tuple(tokenizer_plots(d)) if s else (), "caveats": tuple(caveats), "inputs": ()}
