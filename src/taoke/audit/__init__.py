"""The attribution audit (`taoke audit`): declared origin vs detected lineage, with a licence checklist.

Public API::

    audit(model, candidates=[...], detections=[...]) -> AuditResult     # .status, .exit_code, .to_dict()
    read_declaration(model) -> Declaration   # what a taoke.open() model declares
    detect(model, candidate) -> Detection    # taoke compare CANDIDATE MODEL, kept for the audit
    assess(declaration, detections, tokenizer) -> AuditResult   # the pure decision
    LICENCES, find_licence(id)               # the immutable, informational licence table
    EXIT_CONSISTENT (0), EXIT_UNDECLARED (10), EXIT_UNSUPPORTED (11), EXIT_INCONCLUSIVE (12)

See :mod:`taoke.audit._audit` for the rules and their simplifications; the audit's report is drawn by
:mod:`taoke.report` (from ``AuditResult.from_dict``).
"""

from __future__ import annotations

from taoke.audit._audit import (
    DERIVED_KINDS,
    DISCLAIMER,
    EXIT_CODES,
    EXIT_CONSISTENT,
    EXIT_INCONCLUSIVE,
    EXIT_UNDECLARED,
    EXIT_UNSUPPORTED,
    FORMAT,
    INDEPENDENT_KINDS,
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
    "DERIVED_KINDS", "DISCLAIMER", "EXIT_CODES", "EXIT_CONSISTENT", "EXIT_INCONCLUSIVE", "EXIT_UNDECLARED", "EXIT_UNSUPPORTED",
    "FORMAT", "INDEPENDENT_KINDS", "LICENCES", "VERSION", "AuditResult", "ChecklistItem", "Declaration", "Detection", "Finding",
    "Licence", "Obligation", "assess", "audit", "detect", "find_licence", "ids_match", "read_declaration",
]
