"""The three back-ends on real models: llama.cpp (real SmolLM2 GGUF, a student exported to GGUF), torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taoke.distill._backends import LlamaCppModel, Query, SamplingParams, TorchLlamaModel
from taoke.errors import ReaderError, UnsupportedFormat
from taoke.zoo.distill import DistillZoo, write_student_gguf

QS = [Query("a", "continue", "Return a new list containing all items from the iterable in ascending order."),
      Query("b", "continue", "The logging module provides"),
      Query("c", "identity", "Who are you?")]


def test_llama_cpp_sampling_is_seeded_and_scores_are_log_probabilities(smollm2_gguf: Path) -> None:
    m = LlamaCppModel(smollm2_gguf, batch=4)
    try:
        assert m.chat  # the GGUF carries a ChatML template
        p = SamplingParams(max_tokens=16)
        one = m.sample(QS, p, [1, 2, 3])
        again = m.sample(QS[:1], p, [1])
        assert one[0].text == again[0].text  # a seed gives the same answer whatever the batch
        assert one[0].text != m.sample(QS[:1], p, [99])[0].text
        assert all(0 < s.n_tokens <= 16 for s in one)
        greedy = m.sample(QS[:2], SamplingParams(max_tokens=16, temperature=0.0), [0, 0])
        own = m.score(QS[:2], [g.text for g in greedy])
        human = m.score(QS[:2], ["A custom key function can be supplied to customise the sort order.",
                                 "a flexible framework for emitting log messages from Python programs."])
        for o, h in zip(own, human, strict=True):
            assert np.all(o <= 0) and np.all(h <= 0)
            assert o.mean() > h.mean()  # the model's own greedy answer is likelier than a human sentence
    finally:
        m.close()


def test_student_gguf_matches_torch(distill_zoo: DistillZoo, tmp_path: Path, all_data_dir: Path) -> None:
    """A student exported to GGUF scores and samples like the torch model it came from (chat template kept)."""
    s = distill_zoo.students[0]
    folder = distill_zoo.folder(s)
    gguf = write_student_gguf(folder, tmp_path / "student.gguf", data_dir=all_data_dir)
    tm, lm = TorchLlamaModel(folder), LlamaCppModel(gguf)
    try:
        assert tm.chat and lm.chat
        assert tm.prompt_text(QS[0]) == lm.prompt_text(QS[0])
        answers = ["A custom key function can be supplied.", "log records to files and streams.", "I am a model."]
        for t, g in zip(tm.score(QS, answers), lm.score(QS, answers), strict=True):
            assert len(t) == len(g) > 0
            assert np.abs(t - g).max() < 2e-3
        p = SamplingParams(max_tokens=10)
        assert [x.text for x in tm.sample(QS, p, [5, 6, 7])] == [x.text for x in lm.sample(QS, p, [5, 6, 7])]
    finally:
        lm.close()


def test_bad_model_files_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "x.gguf").write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(UnsupportedFormat):
        LlamaCppModel(tmp_path / "x.gguf")
    with pytest.raises(ReaderError):
        LlamaCppModel(tmp_path / "missing.gguf")
    (tmp_path / "trunc.gguf").write_bytes(b"GGUF" + b"\3\0\0\0" + b"\0" * 10)
    with pytest.raises(ReaderError):
        LlamaCppModel(tmp_path / "trunc.gguf")
    with pytest.raises(UnsupportedFormat):
        TorchLlamaModel(tmp_path)
