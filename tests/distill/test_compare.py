"""Done-when: weight comparison of every distilled student against its teacher stays independent (no false
"derived"): a student trained on a teacher's answers shares no weights with it."""

from __future__ import annotations

from pathlib import Path

import pytest

import taoke
from taoke.zoo.distill import TEACHERS, DistillZoo


@pytest.mark.parametrize("teacher", sorted(TEACHERS))
def test_every_student_is_independent_of_every_teacher(distill_zoo: DistillZoo, all_data_dir: Path,
                                                        teacher: str) -> None:
    gguf = all_data_dir / TEACHERS[teacher].path
    for s in distill_zoo.students:
        v = taoke.compare(gguf, distill_zoo.folder(s))
        assert v.kind.independent, (s.name, teacher, v.kind, v.sentence)


def test_two_students_of_one_teacher_are_independent_of_each_other(distill_zoo: DistillZoo) -> None:
    a = [s for s in distill_zoo.students if s.kind == "A"]
    v = taoke.compare(distill_zoo.folder(a[0]), distill_zoo.folder(a[1]))
    assert v.kind == taoke.verdict.VerdictKind.INDEPENDENT_SAME_ARCHITECTURE, v.sentence
