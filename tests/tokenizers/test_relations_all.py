"""Ground-truth relations that need the ``--all`` data set (R2–R5, R7, R8, R13–R17, R20, R22, R24–R29, negatives).

Marked slow: loading the 150k–262k-token vocabularies of the --all set takes minutes on 2 busy cores.
"""

from __future__ import annotations

import pytest

from taoke.tokenizers import compare

A = pytest.approx
pytestmark = pytest.mark.slow


def _cmp(vocab, a: str, b: str):  # type: ignore[no-untyped-def]
    return compare(vocab(a), vocab(b))


# ------------------------------------------------------------------------------------------------ --all set
@pytest.mark.parametrize(("a", "b", "relation"), [
    ("lenml-qwen1_5", "lenml-qwen2_5", "identical-up-to-specials"),  # R2
    ("lenml-qwen2_5", "lenml-minicpm_v4_5", "identical-up-to-specials"),  # R3 (MiniCPM flags <unk> special)
    ("lenml-qwen2_5", "gguf-qwen2", "identical-up-to-specials"),  # R4 HF JSON vs GGUF
    ("gguf-qwen2", "gguf-qwen35", "identical"),  # R4
    ("gguf-llama-spm", "gguf-phi-3", "identical-up-to-specials"),  # R8
    ("lenml-llama3", "lenml-llama3_1", "identical"),  # R13
    ("lenml-llama3", "gguf-llama-bpe", "identical"),  # R14
    ("tiktoken-cl100k", "lenml-gpt35turbo", "identical-up-to-specials"),  # R15
    ("tiktoken-o200k", "lenml-gpt4o", "identical-up-to-specials"),  # R16
    ("tiktoken-o200k", "lenml-gptoss", "identical-up-to-specials"),  # R16
    ("tiktoken-r50k", "gguf-gpt-2", "identical-up-to-specials"),  # R20
    ("gguf-gpt-neox", "gguf-mpt", "identical"),  # R22
    ("lenml-gemma3", "gemma3-270m-gguf", "identical-up-to-specials"),  # R24
    ("lenml-gemma3", "gguf-gemma-4", "extended"),  # R25
    ("gguf-starcoder", "gguf-refact", "permuted"),  # R28
    ("gguf-baichuan", "lenml-baichuan2", "overlapping-related"),  # negatives list: baichuan2 ⊃ 99.85 %
    ("minilm-vocab-txt", "gguf-bert-bge", "identical"),  # WordPiece vocab.txt vs BERT GGUF
])
def test_related_pairs_all(vocab, a: str, b: str, relation: str) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, a, b)
    assert r.relation == relation and r.related


def test_r5_deepseek_distill_carries_qwen2_5(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "lenml-qwen2_5", "r1-distill-qwen-7b-gguf")
    assert r.relation == "identical-up-to-specials" and r.size_b == 152064
    only_b = {t.text for t in r.specials.only_b}
    assert {"<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>"} <= only_b
    d = vocab("r1-distill-qwen-7b-gguf")
    assert d.special_map["<｜end▁of▁sentence｜>"] == 151643 and d.special_map["<｜begin▁of▁sentence｜>"] == 151646


def test_r8_phi3_appends_64(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "gguf-llama-spm", "gguf-phi-3")
    assert r.size_b - r.size_a == 64 and len(r.specials.only_b) == 64 and r.stats.shared_prefix == 32000


def test_r7_npm_llama2_vs_real_llama2_is_a_hard_negative(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "lenml-llama2", "gguf-llama-spm")
    assert r.relation == "independent"
    s = r.stats
    assert s.jaccard == A(0.6069, abs=1e-4) and s.same_id_share == A(0.0111, abs=1e-4)
    assert vocab("gguf-llama-spm").regular[b" the"] == 278


def test_r17_cl100k_o200k_not_a_superset(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "tiktoken-cl100k", "tiktoken-o200k")
    s = r.stats
    assert s.jaccard == A(0.3951, abs=1e-4) and s.containment_a_in_b == A(0.8482, abs=1e-4)
    assert s.same_id_share == A(0.0031, abs=1e-4)
    assert r.relation not in ("extended", "identical", "identical-up-to-specials")


def test_r26_gemma1_vs_gemma3_different(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "lenml-gemma", "lenml-gemma3")
    assert r.relation == "independent" and r.stats.same_id_share < 0.001


@pytest.mark.parametrize("other", ["gguf-starcoder", "gguf-gpt-2"])
def test_r27_smollm2_own_vocab(vocab, other: str) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "smollm2-gguf", other)
    assert r.relation == "independent" and r.stats.same_id_share < 0.001


def test_r29_deepseek_coder_mostly_inside_llm(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "gguf-deepseek-llm", "gguf-deepseek-coder")
    s = r.stats
    assert s.containment_b_in_a == A(0.9789, abs=1e-4) and s.same_id_share == A(0.0237, abs=1e-4)
    assert r.related and r.relation == "overlapping-related"


@pytest.mark.parametrize(("a", "b", "jaccard"), [
    ("lenml-llama3", "lenml-deepseek_v3", 0.3813),
    ("lenml-llama2", "lenml-yi", 0.3393),
    ("lenml-yi", "lenml-baichuan2", 0.3870),
    ("lenml-internlm2", "lenml-llama2", 0.2642),
    ("lenml-chatglm3", "lenml-llama2", 0.3391),
    ("tiktoken-cl100k", "gguf-aquila", 0.2512),
])
def test_manifest_negatives_are_independent(vocab, a: str, b: str, jaccard: float) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, a, b)
    assert r.relation == "independent" and not r.related
    assert r.stats.jaccard == A(jaccard, abs=1e-4)
