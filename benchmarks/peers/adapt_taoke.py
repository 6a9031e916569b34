"""taoke (this repository): ``taoke compare A B`` — :func:`taoke.zoo.evaluate.evaluate` on the single pair,
which calls :func:`taoke.whitebox.compare.gather_evidence` and :func:`taoke.verdict.decide` as the CLI does.

Verdict: identical / repackaged / derived → related; independent-same-architecture / unrelated → not related;
inconclusive → abstention (wrong either way). Score: the hidden-unit test's −log10 p (∞ when every tensor
matched and the test was skipped), as ``taoke eval`` scores it. Bytes: taoke's own counter (``bytes_read``).
"""

from __future__ import annotations

import math
from pathlib import Path

from _common import Outcome, missing

TOOL = "taoke"
VENV = "taoke"
CLAIM = "roles + exact tensors + embedding alignment + hidden-unit agreement test, calibrated verdict"
RELATED = {"identical", "repackaged", "derived"}
NOT_RELATED = {"independent-same-architecture", "unrelated"}


def available() -> str | None:
    return missing("taoke")


def compare(a: Path, b: Path, truth: str = "derived", transform: str = "") -> Outcome:
    from taoke.zoo.evaluate import evaluate

    (r,) = evaluate(None, [], extra=[(str(a), str(b), truth, transform)])
    related = True if r.verdict in RELATED else False if r.verdict in NOT_RELATED else None
    score = r.unit_score
    if score is not None and math.isinf(score):
        score = 1e6  # re-packaged: the unit test was skipped (as `taoke eval` caps it)
    return Outcome(
        related,
        r.verdict,
        score,
        r.bytes_read,
        {"log10_p": r.log10_p, "std_corr": r.std_corr, "strict_correct": r.correct},
    )
