"""End to end on the fast distillation zoo: held-out students (seeds the null never saw) against both teachers."""

from __future__ import annotations

from pathlib import Path

import pytest

from taoke.distill import LIKELIHOOD, STYLE, WORDING, distill
from taoke.errors import UsageError
from taoke.zoo.distill import TEACHERS, DistillZoo

TEACHER_SPECS = ["zoo:smollm2", "zoo:gemma3"]
LABEL = {"smollm2": TEACHERS["smollm2"].label, "gemma3": TEACHERS["gemma3"].label}


def _heldout(zoo: DistillZoo, kind: str) -> list[str]:
    return [s.name for s in zoo.students if s.kind == kind and s.role == "heldout"]


@pytest.mark.parametrize("kind,teacher", [("A", "smollm2"), ("B", "gemma3")])
def test_held_out_students_are_attributed_to_their_teacher(distill_zoo: DistillZoo, distill_root: Path,
                                                           kind: str, teacher: str) -> None:
    for name in _heldout(distill_zoo, kind):
        r = distill(f"zoo:{name}", TEACHER_SPECS, zoo_subset="fast", root=distill_root, identity=False)
        assert r.statistic == LIKELIHOOD and r.mode == "white-box" and r.null_matched is True
        assert r.verdict == "distilled" and r.attributed == LABEL[teacher], (name, r.sentence)
        assert "not weight derivation" in r.sentence
        ev = {e.teacher: e for e in r.evidence}[LABEL[teacher]]
        # its null holds no student of that teacher
        assert not any(m.startswith(f"fast-{kind}-") for m in ev.null.members)
        assert ev.p_value < ev.threshold == pytest.approx(0.01 / 2)


def test_held_out_human_text_students_are_not_called_distilled(distill_zoo: DistillZoo, distill_root: Path) -> None:
    for name in _heldout(distill_zoo, "H"):
        r = distill(f"zoo:{name}", TEACHER_SPECS, zoo_subset="fast", root=distill_root, identity=False)
        assert r.verdict == "not-detected", (name, r.sentence)
        assert "not a proof" in r.sentence


def test_result_carries_identity_null_and_wording(distill_zoo: DistillZoo, distill_root: Path) -> None:
    name = _heldout(distill_zoo, "A")[0]
    r = distill(f"zoo:{name}", ["zoo:smollm2"], zoo_subset="fast", root=distill_root)
    d = r.to_dict()
    assert d["format"] == "taoke.distill" and d["wording"] == WORDING
    assert d["identity"]["queries"] == 4 and "note" in d["identity"]
    t = d["teachers"][0]
    assert t["null"]["n"] == len(t["null"]["members"]) >= 4 and "regression" in t["null"]["p_value"]
    assert t["references"] == ["Gemma-3-270M (Q4_K_M)"] and t["reference_affinity"] is not None
    assert t["threshold"] == pytest.approx(0.01)


def test_a_student_unlike_the_null_students_is_inconclusive(distill_zoo: DistillZoo, distill_root: Path,
                                                             smollm2_gguf: Path) -> None:
    r = distill(str(smollm2_gguf), ["zoo:gemma3"], zoo_subset="fast", root=distill_root, identity=False,
                probes=8)
    assert r.null_matched is False and r.verdict == "inconclusive" and r.attributed is None


def test_style_statistic_from_samples(distill_zoo: DistillZoo, distill_root: Path) -> None:
    name = _heldout(distill_zoo, "A")[0]
    r = distill(f"zoo:{name}", TEACHER_SPECS, zoo_subset="fast", root=distill_root, identity=False,
                statistic="style")
    assert r.statistic == STYLE and r.mode == "black-box" and r.tokens > 0
    ev = {e.teacher: e for e in r.evidence}
    assert ev[LABEL["smollm2"]].z > ev[LABEL["gemma3"]].z


def test_usage_errors(distill_root: Path, distill_zoo: DistillZoo) -> None:
    with pytest.raises(UsageError):
        distill("zoo:fast-A-s0", [], root=distill_root)
    with pytest.raises(UsageError):
        distill("zoo:fast-A-s0", ["zoo:smollm2"], root=distill_root, alpha=1.5)
    with pytest.raises(UsageError):
        distill("http://127.0.0.1:9/v1#x", ["zoo:smollm2"], root=distill_root, statistic="likelihood")
    with pytest.raises(UsageError):
        distill("zoo:no-such-student", ["zoo:smollm2"], root=distill_root)
