"""The attribution audit (`taoke audit`): declared origin vs detected lineage, with a licence checklist.

Public API::

    audit(model, candidates=[...], detections=[...]) -> AuditResult     # .status, .exit_code, .to_dict()
    read_declaration(model) -> Declaration   # what a taoke.open() model declares
    detect(model, candidate) -> Detection    # taoke compare CANDIDATE MODEL, kept for the audit
    assess(declaration, detections, tokenizer) -> AuditResult   # the pure decision
    LICENCES, find_licence(id)               # the immutable, informational licence table
    EXIT_CONSISTENT (0), EXIT_UNDECLARED (10), EXIT_UNSUPPORTED (11), EXIT_INCONCLUSIVE (12)

See :mod:`taoke.audit._audit` for the rules and their simplifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taoke.audit._audit import (
    DISCLAIMER,
    EXIT_CODES,
    EXIT_CONSISTENT,
    EXIT_INCONCLUSIVE,
    EXIT_UNDECLARED,
    EXIT_UNSUPPORTED,
    FORMAT,
    VERSION,
    AuditResult,
    ChecklistItem,
    Declaration,
    Detection,
    Finding,
    assess,
    audit,
    detect,
    ids_match,
    read_declaration,
)
from taoke.audit._licences import LICENCES, Licence, Obligation, find_licence

__all__ = [
    "DISCLAIMER", "EXIT_CODES", "EXIT_CONSISTENT", "EXIT_INCONCLUSIVE", "EXIT_UNDECLARED", "EXIT_UNSUPPORTED",
    "FORMAT", "LICENCES", "VERSION", "AuditResult", "ChecklistItem", "Declaration", "Detection", "Finding",
    "Licence", "Obligation", "assess", "audit", "detect", "find_licence", "ids_match", "read_declaration",
    "report_parts",
]

_CONF = {"undeclared-derivation": "derived", "declared-unsupported": "unrelated"}


def report_parts(d: Mapping[str, Any]) -> dict[str, Any]:
    """The report fields for an audit JSON (used by :func:`taoke.report.build_report`)."""
    from taoke.report._adapt import GENERAL_CAVEATS, _compare_plots, confidence_from_log10_p, p_text
    from taoke.report._model import EvidenceRow, Table

    decl = d.get("declared") or {}
    dets = d.get("detections") or []
    status = str(d.get("status"))
    rows: list[EvidenceRow] = []
    for b in decl.get("bases") or []:
        rows.append(EvidenceRow("declared base", str(b["name"]), None, None, f"declared in {b['source']}",
                                "descriptive"))
    for c in decl.get("scratch_claims") or []:
        rows.append(EvidenceRow("claim of independent training", f"“{c}”", None, None, "README text", "descriptive"))
    for det in dets:
        name = (det.get("ids") or [det.get("location")])[0]
        rows.append(EvidenceRow(f"weights vs {name}", f"{det['verdict']}: {det['sentence']}",
                                p_text(det.get("log10_p")), det.get("log10_p"),
                                d_null(det) or "deterministic storage-precision check (not a statistical test)",
                                "decides"))
    tok = d.get("tokenizer")
    if tok:
        best = tok.get("best") or {}
        rows.append(EvidenceRow("tokenizer family", f"{tok.get('family')}: {tok.get('verdict')}",
                                None if best.get("p_value") is None else f"p = {best['p_value']:.2g}",
                                None, str(tok.get("null") or "reference database"), "supports"))
    # how sure: the deciding detection's p-value
    deciding = [x for x in dets if x["verdict"] in ("derived", "repackaged", "identical", "unrelated",
                                                     "independent-same-architecture")]
    if status == "undeclared-derivation" or status == "declared-unsupported" or deciding:
        det = next((x for x in deciding if x["verdict"] in ("derived", "repackaged", "identical")), None) \
            if status != "declared-unsupported" else next((x for x in deciding if x["verdict"] in
                                                           ("unrelated", "independent-same-architecture")), None)
    else:
        det = None
    if det is not None and det["verdict"] in ("repackaged", "identical"):
        conf, conf_text = "very strong", "the weights are the same within storage precision"
    elif det is not None and det["verdict"] == "derived":
        conf = confidence_from_log10_p(det.get("log10_p"))
        conf_text = f"weight derivation at {p_text(det.get('log10_p'))} (hidden-unit agreement test)"
    elif det is not None:
        conf, conf_text = "none", f"no weight dependence found ({p_text(det.get('log10_p'))}); absence of evidence"
    else:
        conf, conf_text = "not applicable", "no candidate weights were compared"
    tables = [Table("What the model declares", ("item", "value", "where"), tuple(
        [("name", str(decl.get("name") or "—"), str(decl.get("card_source")))] +
        [("base model", b["name"], b["source"]) for b in decl.get("bases") or []] +
        [("licence", str(decl.get("license") or "—"), str(decl.get("license_source") or "—")),
         ("LICENSE/NOTICE file", "yes" if decl.get("has_licence_file") else "no", "model folder")] +
        [("claim", c, "README") for c in decl.get("scratch_claims") or []])),
        Table("Findings", ("finding", "detail"), tuple((f["kind"], f["text"]) for f in d.get("findings") or []))]
    if d.get("licence_checklist"):
        tables.append(Table("Licence obligations of the detected ancestor (informational, not legal advice)",
                            ("licence", "obligation", "status", "text"),
                            tuple((c["licence"], c["obligation"], c["status"], c["url"])
                                  for c in d["licence_checklist"]), str(d.get("disclaimer", DISCLAIMER))))
    plots: tuple[Any, ...] = ()
    if det is not None and det.get("compare"):
        plots = _compare_plots(det["compare"])
    caveats = (DISCLAIMER,
               "Only the candidates given were tested: an ancestor that was not given (or is not in the index) "
               "cannot be detected, so 'consistent' means 'nothing undeclared found among these'.",
               "Names are matched loosely (normalised identifiers containing one another); check the findings "
               "table when a name is ambiguous.",
               "A same-weights relation has no direction: taoke cannot tell which of two identical models came "
               "first; dates and hosting history can.", *GENERAL_CAVEATS,
               *[f"Note from the run: {n}" for n in d.get("notes") or []])
    inputs = [("model", str(d.get("model")))] + [(f"candidate {i}", str(x["location"]))
                                                  for i, x in enumerate(dets, 1)]
    return {"kind": "audit", "title": f"Attribution audit of {str(d.get('model')).rstrip('/').rsplit('/', 1)[-1]}",
            "verdict": status, "sentence": str(d.get("summary")), "confidence": conf, "confidence_text": conf_text,
            "evidence": tuple(rows), "tables": tuple(tables), "plots": plots, "caveats": caveats,
            "inputs": tuple(inputs)}


def d_null(det: Mapping[str, Any]) -> str:
    ut = ((det.get("compare") or {}).get("evidence") or {}).get("unit_test") or {}
    return str(ut.get("null") or "")
