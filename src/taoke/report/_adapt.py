"""Turn a deciding command's JSON into a :class:`~taoke.report._model.Report`: one adapter per result format.

Known inputs (by their ``format`` field): ``taoke.compare`` (white-box lineage, :mod:`._compare`),
``taoke.tokenizer-comparison`` (:mod:`._tokenizer`), ``taoke-probe-report/1`` and ``taoke-same-model/1``
(black-box, :mod:`._blackbox`), ``taoke.audit`` (attribution audit, :mod:`._audit`), ``taoke.distill``
(distillation evidence, :mod:`._distill`) and ``taoke.report`` itself
(re-rendering). Anything else with a ``format`` (e.g. an index search) becomes a generic report: its
``verdict``/``sentence`` fields if present, and its JSON in an appendix — never an error, never a guessed verdict.

Results with a typed form are read back into it first (``Verdict.from_dict``, ``TokenizerComparison.from_dict``,
``AuditResult.from_dict``), so the adapters read fields, not string keys (the black-box results are still read as
dicts: their types have no ``from_dict`` yet). The "how sure" wording is :func:`taoke.wording.confidence_from_log10_p`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from taoke.errors import UsageError
from taoke.report._blackbox import from_probe, from_same_model
from taoke.report._common import GENERAL_CAVEATS
from taoke.report._inputs import hash_inputs, provenance
from taoke.report._model import FORMAT, InputRef, Provenance, Report
from taoke.report._tokenizer import from_tokenizer


def _from_compare(d: Mapping[str, Any]) -> dict[str, Any]:
    from taoke.report._compare import from_compare
    from taoke.verdict import Verdict

    return from_compare(Verdict.from_dict(d))


def _from_tokenizer(d: Mapping[str, Any]) -> dict[str, Any]:
    from taoke.tokenizers import TokenizerComparison

    return from_tokenizer(TokenizerComparison.from_dict(d))


def _from_audit(d: Mapping[str, Any]) -> dict[str, Any]:
    from taoke.audit import AuditResult
    from taoke.report._audit import from_audit

    return from_audit(AuditResult.from_dict(d))


def _from_distill(d: Mapping[str, Any]) -> dict[str, Any]:
    from taoke.report._distill import from_distill

    return from_distill(d)


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
    "taoke.compare": _from_compare,
    "taoke.audit": _from_audit,
    "taoke.tokenizer-comparison": _from_tokenizer,
    "taoke-probe-report/1": from_probe,
    "taoke-same-model/1": from_same_model,
    "taoke.distill": _from_distill,
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
    parts = ADAPTERS.get(fmt, from_other)(doc)
    default_inputs = parts.pop("inputs")
    refs: tuple[InputRef, ...] = hash_inputs(inputs if inputs is not None else default_inputs,
                                             hash_files=hash_files)
    version = doc.get("version")
    return Report(**parts, inputs=refs, provenance=prov or provenance(command),
                  source_format=fmt if version is None else f"{fmt} v{version}", source=dict(doc))
