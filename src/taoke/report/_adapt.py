"""Turn a deciding command's JSON into a :class:`~taoke.report._model.Report`.

Known inputs (by their ``format`` field): ``taoke.compare`` (white-box lineage), ``taoke.tokenizer-comparison``,
``taoke-probe-report/1`` (black-box identification), ``taoke-same-model/1`` (two-endpoint test),
``taoke.audit`` (attribution audit) and ``taoke.report`` itself (re-rendering). Anything else with a ``format``
(e.g. an index search, when :mod:`taoke.index` lands) becomes a generic report: its ``verdict``/``sentence``
fields if present, and its JSON in an appendix — never an error, never a guessed verdict.

Wording of "how sure" (:func:`confidence_from_log10_p`): p ≤ 1e-12 very strong, ≤ 1e-6 strong, ≤ 1e-3
moderate, ≤ 0.05 weak, else none. These are reading aids; the p-value and its null are always printed beside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from taoke.errors import UsageError
from taoke.report._inputs import hash_inputs, provenance
from taoke.report._model import FORMAT, EvidenceRow, InputRef, Plot, Provenance, Report, Table

PANGU_R = 0.927  # the correlation of the chart that circulated in the Pangu-vs-Qwen case

GENERAL_CAVEATS = (
    "A p-value says how surprising the observed agreement would be if the two models had been made "
    "independently; it does not say who copied whom or whether both descend from a common ancestor.",
    "Each p-value is only as good as its null: the null each was calibrated against is named in the "
    "evidence table.",
)


def confidence_from_log10_p(log10_p: float | None) -> str:
    """Reading aid for a p-value.

    >>> confidence_from_log10_p(-20.0), confidence_from_log10_p(-2.0), confidence_from_log10_p(None)
    ('very strong', 'weak', 'not applicable')
    """
    if log10_p is None:
        return "not applicable"
    for lim, word in ((-12, "very strong"), (-6, "strong"), (-3, "moderate"), (math.log10(0.05), "weak")):
        if log10_p <= lim:
            return word
    return "none"


def p_text(log10_p: float | None) -> str | None:
    """``p = 0.0023`` or ``p < 1e-7567``.

    >>> p_text(-7567.11), p_text(math.log10(0.0023)), p_text(0.0)
    ('p < 1e-7567', 'p = 0.0023', 'p = 1')
    """
    if log10_p is None:
        return None
    if log10_p > -4:
        return f"p = {10 ** log10_p:.2g}"
    return f"p < 1e{math.floor(log10_p) + 1}"


def _log10(p: float | None) -> float | None:
    if p is None:
        return None
    return None if p <= 0 else round(math.log10(p), 4)


def _histogram(values: Sequence[float], lo: float, hi: float, bins: int) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return {"edges": [round(float(x), 6) for x in edges], "counts": [int(c) for c in counts], "n": int(v.size),
            "max": round(float(v.max()), 4) if v.size else None,
            "p99": round(float(np.quantile(v, 0.99)), 4) if v.size else None,
            "mean": round(float(v.mean()), 4) if v.size else None}


def _f(x: Any, nd: int = 4) -> str:
    return "—" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


# -- compare ----------------------------------------------------------------------------------------------


def _compare_confidence(d: Mapping[str, Any]) -> tuple[str, str]:
    kind, ev = d["verdict"], d["evidence"]
    lp, alpha = d.get("log10_p"), float(d.get("alpha", 1e-6))
    t = ev.get("tensors") or {}
    if kind in ("identical", "repackaged"):
        n = t.get("roles_compared", 0)
        w = t.get("worst") or {}
        rows = w.get("rows_compared")
        how = "bit-identical" if kind == "identical" else "equal within storage precision"
        extra = "" if not w else (f"; largest relative error {w.get('rel_err')} against a tolerance of "
                                  f"{w.get('tolerance')} ({w.get('role')}, {'/'.join(w.get('dtypes', []))})")
        return "very strong", (f"all {n} shared tensors are {how} on sampled rows ({rows} rows per tensor){extra}. "
                               "Independent training cannot produce this.")
    if kind == "derived":
        return confidence_from_log10_p(lp), (f"the hidden-unit agreement test gives {p_text(lp)} against a null of "
                                             f"independent training; the threshold was alpha = {alpha:g}")
    if kind in ("independent-same-architecture", "unrelated"):
        return "none", (f"no evidence of derivation: the hidden-unit agreement test gives {p_text(lp)}, above "
                        f"alpha = {alpha:g}. Absence of evidence is not proof of independence (see caveats).")
    return "not applicable", "taoke could not run the weight tests on this pair (see notes)"


def _compare_rows(d: Mapping[str, Any]) -> tuple[EvidenceRow, ...]:
    ev, kind = d["evidence"], d["verdict"]
    rows: list[EvidenceRow] = []
    tok = ev.get("tokenizer")
    if tok:
        cal = (tok.get("calibration") or [{}])[0]
        rows.append(EvidenceRow(
            "tokenizer relation", f"{tok.get('relation')} (Jaccard {_f((tok.get('stats') or {}).get('jaccard'))})",
            p_text(_log10(tok.get("p_value"))), _log10(tok.get("p_value")),
            cal.get("null", "—"), "supports", str(tok.get("summary", ""))))
    t = ev.get("tensors")
    if t:
        w = t.get("worst") or {}
        state = "identical" if t.get("identical") else ("within storage precision" if t.get("within_precision")
                                                        else "differ")
        rows.append(EvidenceRow(
            "tensors on sampled rows", f"{t.get('roles_compared')} shared roles ({t.get('roles_a')} in A, "
            f"{t.get('roles_b')} in B): {state}", None, None,
            "deterministic check against each dtype's storage precision (not a statistical test)",
            "decides" if kind in ("identical", "repackaged") else "descriptive",
            "" if not w else f"worst {w.get('role')}: relative error {w.get('rel_err')} (tolerance {w.get('tolerance')})"))
    al = ev.get("alignment")
    if al:
        rows.append(EvidenceRow(
            "residual-basis alignment", f"fit cosine {_f(al.get('fit_cosine'))} on {al.get('n_tokens')} shared tokens",
            None, None, "descriptive: unrelated models also align partly (SmolLM2 vs Gemma-3: 0.54)", "descriptive",
            str(al.get("method", ""))))
    ut = ev.get("unit_test")
    if ut:
        layers = ut.get("layers") or []
        alpha = float(d.get("alpha", 1e-6))
        sig = sum(1 for m in layers if m.get("log10_p", 0) <= math.log10(alpha))
        rows.append(EvidenceRow(
            "hidden-unit agreement (MLP units matched through the aligned basis)",
            f"{sig} of {len(layers)} layers of B significant at alpha {alpha:g}", p_text(ut.get("log10_p")),
            ut.get("log10_p"), str(ut.get("null", "")),
            "decides" if kind in ("derived", "independent-same-architecture", "unrelated") else "supports",
            "model-level p combines the interior layers (robust to a few converged layers)"))
    sf = ev.get("std_fingerprint")
    if sf:
        r = sf.get("correlation")
        p = sf.get("p_value_vs_published_unrelated")
        rows.append(EvidenceRow(
            "per-layer std of q/k/v/o (the chart of the Pangu case)",
            "not computable" if r is None else f"r = {r:.4f} over {sf.get('n_values')} values",
            None if p is None else f"p = {p:.2g} (empirical)", _log10(p), str(sf.get("null", "")), "reference",
            str(sf.get("note", "")) + "; never used for the verdict"))
    return tuple(rows)


def _compare_tables(d: Mapping[str, Any]) -> tuple[Table, ...]:
    ev = d["evidence"]
    out: list[Table] = []
    arch = (ev.get("architecture") or {}).get("fields") or {}
    rows = tuple((k, _f(v.get("a")), _f(v.get("b")), "" if v.get("same") or v.get("a") is None or v.get("b") is None
                  else "differs") for k, v in arch.items() if not (v.get("a") is None and v.get("b") is None))
    if rows:
        same = (ev.get("architecture") or {}).get("same_architecture")
        out.append(Table("Architecture (reported separately: reusing an architecture is not derivation)",
                         ("field", "A", "B", ""), rows, f"same architecture: {same}"))
    ut = ev.get("unit_test")
    if ut and ut.get("layers"):
        lm = {(x["layer_b"], x["layer_a"]) for x in d.get("layer_map") or []}
        out.append(Table(
            "Layer map: each layer of B against its best-matching layer of A",
            ("B layer", "A layer", "agreeing units", "matched |cos|", "log10 p", "significant"),
            tuple((str(m["layer_b"]), str(m["layer_a"]), f"{m['agreement']}/{m.get('units_b', '?')}",
                   _f(m.get("matched_cos"), 3), _f(m.get("log10_p"), 1),
                   "yes" if (m["layer_b"], m["layer_a"]) in lm else "")
                  for m in ut["layers"])))
    t = ev.get("tensors")
    if t and t.get("roles"):
        worst = sorted(t["roles"], key=lambda r: -float(r.get("rel_err") or 0))[:12]
        out.append(Table("Tensors with the largest differences (sampled rows)",
                         ("role", "shape", "dtypes A/B", "rows", "relative error", "tolerance", "within"),
                         tuple((r["role"], "×".join(map(str, r.get("shape", []))), "/".join(r.get("dtypes", [])),
                                str(r.get("rows_compared")), str(r.get("rel_err")), str(r.get("tolerance")),
                                "yes" if r.get("within_precision") else "no") for r in worst),
                         f"{len(t['roles'])} roles compared in all"))
    br, fs = ev.get("bytes_read") or {}, ev.get("file_sizes") or {}
    if br:
        out.append(Table("Work done", ("", "A", "B"), (
            ("bytes read", f"{br.get('a', 0) / 1e6:.1f} MB", f"{br.get('b', 0) / 1e6:.1f} MB"),
            ("file size", f"{fs.get('a', 0) / 1e6:.1f} MB", f"{fs.get('b', 0) / 1e6:.1f} MB")),
            f"{ev.get('seconds')} s"))
    return tuple(out)


def std_plot(sf: Mapping[str, Any], name_a: str = "A", name_b: str = "B") -> Plot:
    """The per-layer std curves of both models beside the published null of the statistic."""
    from taoke.whitebox.stdfp import published_null

    null = published_null("pdf")
    r = sf.get("correlation")
    p = sf.get("p_value_vs_published_unrelated")
    cap = (f"Per-layer standard deviation of the attention projections q, k, v, o of each model (left, middle) "
           f"and their correlation against {sf.get('null')} (right). ")
    cap += ("The correlation is not computable for this pair (" + str(sf.get("note", "")) + ")." if r is None else
            f"Observed r = {r:.4f}: {100 * float(p or 0):.2f}% of unrelated published pairs score at least as "
            "high.")
    cap += f" The dashed line marks {PANGU_R}, the value of the Pangu chart, which unrelated pairs also reach."
    return Plot("std-fingerprint", "Per-layer std curves and their calibration", cap, {
        "name_a": name_a, "name_b": name_b, "parts": ["q", "k", "v", "o"],
        "stds_a": sf.get("stds_a") or [], "stds_b": sf.get("stds_b") or [], "observed": r,
        "reference": PANGU_R, "reference_label": f"Pangu chart {PANGU_R}", "null_name": sf.get("null"),
        "null": _histogram(null, -1.0, 1.0, 100), "statistic": "Pearson r of per-layer stds",
    })


def _compare_plots(d: Mapping[str, Any]) -> tuple[Plot, ...]:
    ev = d["evidence"]
    out: list[Plot] = []
    ut = ev.get("unit_test")
    if ut and ut.get("screen"):
        alpha = float(d.get("alpha", 1e-6))
        out.append(Plot("layer-map", "Which layer of B matches which layer of A", (
            "Left: screening similarity of every layer of B (rows) with every layer of A (columns): mean best "
            "|cos| of MLP read-vectors after aligning the bases; circles mark the layer pairs significant at "
            f"alpha = {alpha:g}. Right: −log10 p of each layer of B against its best layer of A; the dashed line "
            "is alpha."), {
            "screen": ut["screen"], "layers": [{"layer_b": m["layer_b"], "layer_a": m["layer_a"],
                                                "log10_p": m["log10_p"]} for m in ut.get("layers") or []],
            "matched": [[x["layer_b"], x["layer_a"]] for x in d.get("layer_map") or []], "alpha": alpha,
        }))
    sf = ev.get("std_fingerprint")
    if sf:
        out.append(std_plot(sf, _name(ev.get("a")), _name(ev.get("b"))))
    tok = ev.get("tokenizer")
    if tok and tok.get("stats"):
        out.extend(_tokenizer_plots(tok))
    return tuple(out)


COMPARE_CAVEATS = {
    "derived": ("'Derived' covers fine-tuning, continued pre-training, pruning, merging and model surgery: B's "
                "weights were computed from A's, or both from a common ancestor. It is not in itself wrong; what "
                "matters is whether it was declared and what A's licence requires (see `taoke audit`)."),
    "repackaged": ("'Re-packaged' means the same weights in another format, precision or naming. The check "
                   "compares sampled rows of every shared tensor, not every value."),
    "identical": "'Identical' is checked on sampled rows of every shared tensor, not every byte of the files.",
    "independent-same-architecture": (
        "No weight dependence was found. That is not proof of independent work: distillation into freshly "
        "initialised weights, training on another model's outputs, or copying data leave no trace in the "
        "weights. Sharing an architecture is common and legitimate."),
    "unrelated": ("No weight dependence was found. That is not proof of independent work: distillation into "
                  "freshly initialised weights or training on another model's outputs leave no trace in the "
                  "weights."),
    "inconclusive": "taoke could not run its weight tests on this pair; nothing is claimed either way.",
}


def from_compare(d: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(d["verdict"])
    conf, conf_text = _compare_confidence(d)
    ev = d["evidence"]
    caveats = [COMPARE_CAVEATS.get(kind, ""), *GENERAL_CAVEATS,
               "The per-layer std correlation (the chart of the Pangu case) is shown for reference only: "
               f"unrelated models reach up to {std_null_max():.3f} on the published null, and a model with random "
               "weights matched to each tensor's mean and std scores ~0.9999. It never decides the verdict.",
               "Results use sampled rows and hidden units with a fixed seed; rerunning the command reproduces "
               "them."]
    caveats += [f"Note from the run: {n}" for n in ev.get("notes") or []]
    return {"kind": "compare", "title": f"Lineage of {_name(ev.get('b'))} with respect to {_name(ev.get('a'))}",
            "verdict": kind, "sentence": str(d["sentence"]), "confidence": conf, "confidence_text": conf_text,
            "evidence": _compare_rows(d), "tables": _compare_tables(d), "plots": _compare_plots(d),
            "caveats": tuple(c for c in caveats if c),
            "inputs": (("A", str(ev.get("a"))), ("B", str(ev.get("b"))))}


def std_null_max() -> float:
    from taoke.whitebox.stdfp import published_null

    return float(published_null("pdf").max())


def _name(path: Any) -> str:
    s = str(path or "?").rstrip("/")
    return s.rsplit("/", 1)[-1] or s


# -- tokenizer comparison ----------------------------------------------------------------------------------


def _tokenizer_plots(t: Mapping[str, Any]) -> list[Plot]:
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
                       "null": _histogram(null.values.get(c["statistic"], ()), 0.0, 1.0, 50)}
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
                        p_text(_log10(c["p_value"])), _log10(c["p_value"]), f"{c['null']} (n = {c['null_n']})",
                        "decides", f"false-positive rate at the threshold {c['fpr_at_threshold']:.2%}")
            for c in cal]
    rows.append(EvidenceRow("shared regular tokens", f"{s.get('n_shared')} (Jaccard {_f(s.get('jaccard'))}, "
                            f"same id {_f(s.get('same_id_share'))})", None, None, "descriptive", "descriptive"))
    m = s.get("merges")
    if m:
        rows.append(EvidenceRow("merge list", f"common prefix {m.get('common_prefix')} of {m.get('n_a')}/"
                                f"{m.get('n_b')}; {_f(m.get('shared_share'))} shared", None, None, "descriptive",
                                "descriptive"))
    related = bool(d.get("related"))
    if related and p is not None:
        conf = confidence_from_log10_p(_log10(p))
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
            "plots": tuple(_tokenizer_plots(d)) if s else (), "caveats": tuple(caveats), "inputs": ()}


# -- black-box probe ---------------------------------------------------------------------------------------


def from_probe(d: Mapping[str, Any]) -> dict[str, Any]:
    v = d.get("verdict") or {}
    ev = d.get("evidence") or {}
    rows: list[EvidenceRow] = []
    plots: list[Plot] = []
    tk = ev.get("tokenizer")
    if tk:
        b = tk.get("best")
        rows.append(EvidenceRow(
            "tokenizer behind the API (prompt-token counts)",
            "no known tokenizer fits" if not b else f"{', '.join(b['members'])}: mean |residual| "
            f"{b['mean_abs_residual']} tokens, template overhead {b['overhead']}",
            None if not b else f"posterior {b['posterior']:.3f}", None,
            "exact token counts of the shipped reference tokenizers (a count that differs by one token "
            "on any string rules a tokenizer out)", "decides" if b else "descriptive", str(tk.get("note", ""))))
        if tk.get("ranking"):
            plots.append(Plot("probe-tokenizer", "Which tokenizer fits the API's token counts", (
                "Mean absolute difference between the prompt-token counts the API reported and the counts of each "
                "candidate tokenizer (after fitting the chat-template overhead); 0 means every string matched "
                "exactly."), {"ranking": [{"members": c["members"], "residual": c["mean_abs_residual"],
                                           "posterior": c["posterior"]} for c in tk["ranking"]]}))
    ide = ev.get("identity")
    if ide:
        tally = ide.get("tally") or {}
        rows.append(EvidenceRow(
            "self-identification", ", ".join(f"{k} ×{n}" for k, n in tally.items()) or "no known name claimed",
            None, None, "not calibrated: answers can be steered by a system prompt", "descriptive",
            "inconsistent answers" if ide.get("inconsistent") else ""))
    beh = ev.get("behaviour")
    if beh:
        rows.append(EvidenceRow(
            "behaviour (nearest reference answers)", f"nearest {beh.get('best')} on {beh.get('vote_share')} of "
            f"{beh.get('answered')} queries", None, None, "nearest-neighbour vote over the shipped references",
            "supports"))
        sims = beh.get("similarity") or {}
        if sims:
            plots.append(Plot("bars", "Similarity of the answers to each reference model",
                              "Mean embedding similarity of the API's answers to each reference model's answers.",
                              {"labels": list(sims), "values": [float(x) for x in sims.values()],
                               "xlabel": "mean cosine similarity"}))
    for s in d.get("masking") or []:
        rows.append(EvidenceRow("masking sign", str(s), None, None, "heuristic", "supports"))
    conf_v = float(v.get("confidence") or 0.0)
    conf = ("very strong" if conf_v >= 0.999 else "strong" if conf_v >= 0.99 else "moderate" if conf_v >= 0.9
            else "weak" if conf_v > 0.5 else "none")
    q = d.get("queries") or {}
    tables = [Table("Endpoint", ("", ""), tuple((k, str(val)) for k, val in (d.get("endpoint") or {}).items()) + (
        ("queries sent", str(q.get("charged"))), ("answered from cache", str(q.get("cached"))),
        ("model field reported", ", ".join(d.get("reported_model_field") or []) or "—")))]
    if ide and ide.get("answers"):
        tables.append(Table("What the API says about itself", ("question", "answer"),
                            tuple((k, str(a)[:200]) for k, a in ide["answers"].items())))
    caveats = ("Black-box evidence is statistical and about the service, not the weights: an API can route "
               "requests to different models over time, and what it served during this probe is all that is "
               "shown.", "Token counts come from the API's own usage field; a provider can pad or rewrite them "
               "(taoke checks their consistency, and no tokenizer fits when they are wrong).",
               "Self-identification is shown but never trusted: a system prompt can make any model claim any name.")
    endpoint = d.get("endpoint") or {}
    return {"kind": "probe", "title": f"Which model is behind {endpoint.get('base_url', 'the endpoint')}?",
            "verdict": str(v.get("model") or v.get("family") or "inconclusive"), "sentence": str(v.get("wording")),
            "confidence": conf, "confidence_text": f"posterior {conf_v:.3f} over the reference models and tokenizers",
            "evidence": tuple(rows), "tables": tuple(tables), "plots": tuple(plots), "caveats": caveats,
            "inputs": (("endpoint", str(endpoint.get("base_url", ""))),)}


def from_same_model(d: Mapping[str, Any]) -> dict[str, Any]:
    p = d.get("p_value")
    lp = _log10(p)
    row = EvidenceRow("maximum mean discrepancy of sampled answers", f"MMD² = {d.get('mmd2'):.4g}", p_text(lp), lp,
                      str(d.get("null")), "decides", f"{d.get('n_per_endpoint')} samples over {d.get('prompts')} "
                      "prompts")
    a, b = d.get("a") or {}, d.get("b") or {}
    same = bool(d.get("same"))
    return {"kind": "same-model", "title": f"Do {a.get('base_url')} and {b.get('base_url')} serve the same model?",
            "verdict": "same" if same else "different", "sentence": str(d.get("verdict")),
            "confidence": "none" if same else confidence_from_log10_p(lp),
            "confidence_text": f"{p_text(lp)} at alpha = {d.get('alpha')}" + (
                " (failing to reject is not proof that the models are the same)" if same else ""),
            "evidence": (row,), "tables": (), "plots": (),
            "caveats": ("Sampling answers tests the service during the probe; routing can change later.",
                        *GENERAL_CAVEATS), "inputs": (("A", str(a.get("base_url"))), ("B", str(b.get("base_url"))))}


# -- generic ----------------------------------------------------------------------------------------------


def from_other(d: Mapping[str, Any]) -> dict[str, Any]:
    verdict = d.get("verdict")
    if isinstance(verdict, Mapping):
        verdict = verdict.get("kind") or verdict.get("wording")
    sentence = d.get("sentence") or d.get("summary") or (verdict if isinstance(verdict, str) else None)
    return {"kind": "index-search" if "index" in str(d.get("format", "")) else "other",
            "title": f"Result of {d.get('format', 'a taoke command')}", "verdict": str(verdict or "see details"),
            "sentence": str(sentence or "this result type has no dedicated report layout; its JSON is attached"),
            "confidence": "not applicable", "confidence_text": "see the attached result", "evidence": (),
            "tables": (), "plots": (), "caveats": GENERAL_CAVEATS, "inputs": ()}


ADAPTERS: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "taoke.compare": from_compare,
    "taoke.tokenizer-comparison": from_tokenizer,
    "taoke-probe-report/1": from_probe,
    "taoke-same-model/1": from_same_model,
}


def build_report(
    doc: Mapping[str, Any],
    *,
    command: str | None = None,
    inputs: Sequence[tuple[str, str]] | None = None,
    hash_files: bool = True,
    prov: Provenance | None = None,
) -> Report:
    """A :class:`Report` from a command's JSON ``doc``.

    ``inputs`` — ``(label, location)`` of what the command read; defaults to the paths named in ``doc``.
    ``command`` — the exact command line (recorded for reproduction). Inputs are hashed unless ``hash_files``
    is false.
    """
    if not isinstance(doc, Mapping) or "format" not in doc:
        raise UsageError("not a taoke result: the JSON has no 'format' field",
                         hint="give the output of a command run with --json, or a report JSON")
    fmt = str(doc["format"])
    if fmt == FORMAT:
        return Report.from_dict(doc)
    if fmt == "taoke.audit":
        from taoke.audit import report_parts

        parts = report_parts(doc)
    else:
        parts = ADAPTERS.get(fmt, from_other)(doc)
    default_inputs = parts.pop("inputs")
    refs: tuple[InputRef, ...] = hash_inputs(inputs if inputs is not None else default_inputs,
                                             hash_files=hash_files)
    version = doc.get("version")
    return Report(**parts, inputs=refs, provenance=prov or provenance(command),
                  source_format=fmt if version is None else f"{fmt} v{version}", source=dict(doc))
