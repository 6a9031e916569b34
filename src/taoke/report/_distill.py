"""The report of ``taoke distill`` (format ``taoke.distill``, :mod:`taoke.distill`), and the evidence rows an
audit or probe report shows when a teacher candidate was given."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

CAVEATS = (
    "Distillation evidence is behavioural lineage (the student was trained on the teacher's outputs), not weight "
    "derivation: the student's weights owe nothing to the teacher's, and a weight comparison rightly says so.",
    "The p-value is against the control students named in the null; it describes students like them. A student "
    "of another size or training budget is compared with a null that may not describe it.",
    "A result that is not significant is not proof of independence: a small share of teacher text, or a teacher "
    "whose style resembles the controls', can stay below the test's power.",
    "What a model says about itself (identity) is shown beside the test and never counted as evidence.",
)


def _log10(p: float) -> float | None:
    return math.log10(p) if p > 0 else -300.0


def evidence_rows(d: Mapping[str, Any]) -> tuple[Any, ...]:
    """One evidence row per candidate teacher (+ identity) of a ``taoke.distill`` result."""
    from taoke.report._model import EvidenceRow
    from taoke.wording import p_text

    rows = []
    for t in d.get("teachers") or ():
        null = t.get("null") or {}
        lp = _log10(float(t["p_value"]))
        rows.append(EvidenceRow(
            f"trained on {t['teacher']}'s outputs? ({t['statistic']})",
            f"{t['value']:+.4f} (expected of a control student: {t.get('expected', float('nan')):+.4f}; "
            f"z = {t['z']:+.2f})", p_text(lp), lp,
            f"{null.get('n')} {null.get('description', 'control students')}; {null.get('p_value', '')}",
            "decides" if d.get("verdict") != "inconclusive" else "descriptive",
            f"rank p = {t['p_rank']:.3g}; called when p < {t['threshold']:.2g}"))
    ide = d.get("identity")
    if ide:
        claims = ", ".join(f"{k} ×{v}" for k, v in (ide.get("student_claims") or {}).items()) or "no known name"
        rows.append(EvidenceRow("identity (what the student says it is)", claims, None, None,
                                "not calibrated: " + str(ide.get("note", "")), "descriptive",
                                "claims match " + (", ".join(ide.get("confused_with") or []) or "no teacher")))
    return tuple(rows)


def from_distill(d: Mapping[str, Any]) -> dict[str, Any]:
    """Adapter for :func:`taoke.report.build_report` (format ``taoke.distill``)."""
    from taoke.report._model import Plot, Table
    from taoke.wording import confidence_from_log10_p

    student = d.get("student") or {}
    teachers = d.get("teachers") or []
    sig = [t for t in teachers if t.get("significant")]
    best = min(teachers, key=lambda t: t["p_value"]) if teachers else None
    conf = "not applicable" if d.get("verdict") == "inconclusive" or best is None else (
        confidence_from_log10_p(_log10(float(best["p_value"]))) if sig else "none")
    plots = []
    for t in teachers:
        null = t.get("null") or {}
        vals = [float(v) for v in null.get("values", [])]
        if null.get("covariates") is not None:
            a, b = float(null["intercept"]), float(null["slope"])
            vals = [v - (a + b * float(c)) for v, c in zip(vals, null["covariates"], strict=True)]
            me = float(t["value"]) - float(t["expected"])
            caption = ("Excess of the statistic over what the null expects at each model's affinity to reference "
                       "model text: the student under test (first bar) and each control student that did not see "
                       "the teacher.")
        else:
            me = float(t["value"])
            caption = ("The statistic of the student under test (first bar) and of each control student that did "
                       "not see the teacher (the null).")
        plots.append(Plot("bars", f"{t['statistic']} for {t['teacher']}: this student and the control students",
                          caption, {"labels": ["this student", *null.get("members", [])], "values": [me, *vals],
                                    "xlabel": t["statistic"] + (" − expected" if null.get("covariates") else "")}))
    tables = [Table("Candidate teachers", ("teacher", "statistic", "expected if not", "z", "p", "rank p", "called"),
                    tuple((t["teacher"], f"{t['value']:+.4f}", f"{t.get('expected', float('nan')):+.4f}",
                           f"{t['z']:+.2f}", f"{t['p_value']:.2e}", f"{t['p_rank']:.3g}",
                           "yes" if t["significant"] else "no") for t in teachers),
                    "expected: the regression of the control students' statistic on their affinity to the "
                    "reference models' text, at this student's affinity")]
    ide = d.get("identity")
    if ide and ide.get("answers"):
        tables.append(Table("What the student says about itself", ("question", "answer"),
                            tuple((a["question"], a["answer"][:200]) for a in ide["answers"])))
    inputs = [("student", str(student.get("location", "")))]
    inputs += [(f"teacher {i + 1}", str((t.get("model") or {}).get("location", ""))) for i, t in enumerate(teachers)]
    return {"kind": "other", "title": f"Was {student.get('label', 'the model')} trained on another model's outputs?",
            "verdict": str(d.get("verdict")), "sentence": str(d.get("sentence")), "confidence": conf,
            "confidence_text": f"{d.get('statistic')} at family-wise alpha = {d.get('alpha')} over "
                               f"{len(teachers)} candidate teacher(s)",
            "evidence": evidence_rows(d), "tables": tuple(tables), "plots": tuple(plots),
            "caveats": CAVEATS + tuple(str(n) for n in d.get("notes") or ()), "inputs": tuple(inputs)}
