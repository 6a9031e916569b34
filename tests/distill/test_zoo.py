"""The fast distillation zoo: what it contains, that it is cached, and that corpora resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taoke.distill._prompts import build_prompt_set
from taoke.errors import CorruptFile
from taoke.zoo.distill import (
    KIND_SHARE,
    PLANS,
    DistillZoo,
    build_distill_zoo,
    corpus_queries,
    generate_corpus,
    read_corpus,
    student_plan,
)


def test_fast_zoo_has_every_planned_student_with_its_role(distill_zoo: DistillZoo) -> None:
    plan = PLANS["fast"]
    names = [s.name for s in distill_zoo.students]
    assert names == [n for n, *_ in student_plan("fast")]
    for kind, (n_null, n_held) in plan.students.items():
        mine = [s for s in distill_zoo.students if s.kind == kind]
        assert sum(s.role == "null" for s in mine) == n_null
        assert sum(s.role == "heldout" for s in mine) == n_held
    for s in distill_zoo.students:
        folder = distill_zoo.folder(s)
        assert (folder / "model.safetensors").stat().st_size == s.size
        assert "chat_template" in json.loads((folder / "tokenizer_config.json").read_text())
        assert s.train["train_loss_last"] < s.train["train_loss_first"]  # it learnt something
        if KIND_SHARE[s.kind] == 1.0:
            assert s.teacher_records == s.records and s.teacher is not None
        elif s.kind == "H":
            assert s.teacher_records == 0 and s.teacher is None
        else:
            assert 0 < s.teacher_records < s.records


def test_rebuild_is_a_no_op(distill_zoo: DistillZoo, all_data_dir: Path) -> None:
    again = build_distill_zoo("fast", data_dir=all_data_dir)
    assert [(s.name, s.recipe, s.sha256) for s in again.students] == \
        [(s.name, s.recipe, s.sha256) for s in distill_zoo.students]


def test_corpora_hold_every_answer_the_plan_asks_for(distill_root: Path) -> None:
    prompts = build_prompt_set()
    for teacher in ("smollm2", "gemma3"):
        c = read_corpus(distill_root / "corpora" / f"{teacher}.jsonl")
        keys = [k for k, *_ in corpus_queries(PLANS["fast"], prompts)]
        assert all(k in c.records for k in keys)
        texts = [c.records[k].text for k in keys]
        assert sum(bool(t.strip()) for t in texts) >= 0.9 * len(texts)
        assert len(set(texts)) >= 0.9 * len(texts)  # samples, not one repeated answer


def test_corpus_resumes_after_an_interrupted_write(distill_root: Path, tmp_path: Path, all_data_dir: Path) -> None:
    """Cut the file inside its last record: reading drops the half line, generation redoes only what is missing."""
    (tmp_path / "corpora").mkdir()
    src = distill_root / "corpora" / "smollm2.jsonl"
    prompts = build_prompt_set()
    keys = {k for k, *_ in corpus_queries(PLANS["fast"], prompts)}
    lines = src.read_text(encoding="utf-8").splitlines()
    kept = [lines[0]] + [ln for ln in lines[1:] if json.loads(ln)["key"] in keys]
    last_key = json.loads(kept[-1])["key"]
    dst = tmp_path / "corpora" / "smollm2.jsonl"
    dst.write_text("\n".join(kept[:-1]) + "\n" + kept[-1][: len(kept[-1]) // 2], encoding="utf-8")
    assert last_key not in read_corpus(dst).records
    msgs: list[str] = []
    c = generate_corpus("smollm2", subset="fast", dest=tmp_path, data_dir=all_data_dir, progress=msgs.append)
    assert any("generating 1 answers" in m for m in msgs)
    assert last_key in c.records and keys <= set(read_corpus(dst).records)


def test_a_foreign_file_is_not_read_as_a_corpus(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"format": "other"}\n')
    with pytest.raises(CorruptFile):
        read_corpus(tmp_path / "x.jsonl")
    (tmp_path / "y.jsonl").write_text("")
    with pytest.raises(CorruptFile):
        read_corpus(tmp_path / "y.jsonl")
