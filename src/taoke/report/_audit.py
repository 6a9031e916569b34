"""The report of an attribution audit (``taoke.audit``), built from the typed :class:`~taoke.audit.AuditResult`."""

from __future__ import annotations

from typing import Any

from taoke.audit import DERIVED_KINDS, DISCLAIMER, INDEPENDENT_KINDS, AuditResult, Detection
from taoke.report._common import GENERAL_CAVEATS
from taoke.report._compare import compare_plots
from taoke.report._model import EvidenceRow, Plot, Table
from taoke.verdict import VerdictKind
from taoke.wording import confidence_from_log10_p, p_text


def _null_of(det: Detection) -> str:
    v = det.comparison()
    return "" if v is None or v.evidence.units is None else v.evidence.units.null


def _deciding(res: AuditResult) -> Detection | None:
    """The detection whose evidence carries the audit's status (its p-value says how sure)."""
    deciding = [x for x in res.detections if x.verdict in DERIVED_KINDS + INDEPENDENT_KINDS]
    if res.status == "declared-unsupported":
        return next((x for x in deciding if x.verdict in INDEPENDENT_KINDS), None)
    if res.status == "undeclared-derivation" or deciding:
        return next((x for x in deciding if x.verdict in DERIVED_KINDS), None)
    return None


def from_audit(res: AuditResult) -> dict[str, Any]:
    """The report fields of an audit."""
    decl = res.declaration
    rows: list[EvidenceRow] = []
    for b, where in decl.bases:
        rows.append(EvidenceRow("declared base", b, None, None, f"declared in {where}", "descriptive"))
    for c in decl.scratch_claims:
        rows.append(EvidenceRow("claim of independent training", f"“{c}”", None, None, "README text", "descriptive"))
    for x in res.detections:
        name = (x.ids or (x.location,))[0]
        rows.append(EvidenceRow(f"weights vs {name}", f"{x.verdict}: {x.sentence}", p_text(x.log10_p),
                                x.log10_p, _null_of(x) or "deterministic storage-precision check (not a "
                                "statistical test)", "decides"))  # fmt: skip
    tok = res.tokenizer
    if tok:
        best = tok.get("best") or {}
        rows.append(EvidenceRow("tokenizer family", f"{tok.get('family')}: {tok.get('verdict')}",
                                None if best.get("p_value") is None else f"p = {best['p_value']:.2g}",
                                None, str(tok.get("null") or "reference database"), "supports"))  # fmt: skip
    if res.distillation is not None:
        from taoke.report._distill import evidence_rows

        rows.extend(evidence_rows(res.distillation))
    det = _deciding(res)
    if det is not None and VerdictKind(det.verdict).same_weights:
        conf, conf_text = "very strong", "the weights are the same within storage precision"
    elif det is not None and det.verdict == VerdictKind.DERIVED:
        conf = confidence_from_log10_p(det.log10_p)
        conf_text = f"weight derivation at {p_text(det.log10_p)} (hidden-unit agreement test)"
    elif det is not None:
        conf, conf_text = "none", f"no weight dependence found ({p_text(det.log10_p)}); absence of evidence"
    else:
        conf, conf_text = "not applicable", "no candidate weights were compared"
    tables = [Table("What the model declares", ("item", "value", "where"), tuple(
        [("name", str(decl.name or "—"), decl.card_source)] +
        [("base model", b, where) for b, where in decl.bases] +
        [("licence", str(decl.license or "—"), str(decl.license_source or "—")),
         ("LICENSE/NOTICE file", "yes" if decl.has_licence_file else "no", "model folder")] +
        [("claim", c, "README") for c in decl.scratch_claims])),
        Table("Findings", ("finding", "detail"), tuple((f.kind, f.text) for f in res.findings))]  # fmt: skip
    if res.checklist:
        tables.append(Table("Licence obligations of the detected ancestor (informational, not legal advice)",
                            ("licence", "obligation", "status", "text"),
                            tuple((c.licence, c.obligation, c.status, c.url) for c in res.checklist), DISCLAIMER))
    plots: tuple[Plot, ...] = ()
    v = None if det is None else det.comparison()
    if v is not None:
        plots = compare_plots(v)
    caveats = (DISCLAIMER,
               "Only the candidates given were tested: an ancestor that was not given (or is not in the index) "
               "cannot be detected, so 'consistent' means 'nothing undeclared found among these'.",
               "Names are matched loosely (normalised identifiers containing one another); check the findings "
               "table when a name is ambiguous.",
               "A same-weights relation has no direction: taoke cannot tell which of two identical models came "
               "first; dates and hosting history can.", *GENERAL_CAVEATS,
               *[f"Note from the run: {n}" for n in res.notes])  # fmt: skip
    inputs = [("model", decl.location)] + [(f"candidate {i}", x.location) for i, x in enumerate(res.detections, 1)]
    return {"kind": "audit", "title": f"Attribution audit of {decl.location.rstrip('/').rsplit('/', 1)[-1]}",
            "verdict": res.status, "sentence": res.summary, "confidence": conf, "confidence_text": conf_text,
            "evidence": tuple(rows), "tables": tuple(tables), "plots": plots, "caveats": caveats,
            "inputs": tuple(inputs)}
