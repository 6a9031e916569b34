"""The reports of the black-box commands: endpoint identification (``taoke-probe-report/1``) and the
two-endpoint test (``taoke-same-model/1``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taoke.report._common import GENERAL_CAVEATS, log10_or_none
from taoke.report._model import EvidenceRow, Plot, Table
from taoke.wording import confidence_from_log10_p, p_text


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
    if d.get("distillation"):  # `probe --teacher`: behavioural lineage, beside the identification
        from taoke.report._distill import evidence_rows

        rows.extend(evidence_rows(d["distillation"]))
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
    lp = log10_or_none(p)
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
