"""Every ground-truth tokenizer relation of MANIFEST §2 (R1–R30 and the negatives), on the real files.

Numbers are taoke's exact measurements (regular = normal + byte tokens after byte normalisation, duplicates
counted once); where they differ from the MANIFEST's in the last digits it is because the MANIFEST counted
``<0xNN>`` byte pieces and their single-character twins separately.
"""

from __future__ import annotations

import time

import pytest

from taoke.tokenizers import compare, shared_token_ids

A = pytest.approx


def _cmp(vocab, a: str, b: str):  # type: ignore[no-untyped-def]
    return compare(vocab(a), vocab(b))


# ------------------------------------------------------------------------------------------------ core set
def test_r1_qwen2_5_qwen3_same_vocab_and_merges(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "lenml-qwen2_5", "lenml-qwen3")
    assert r.relation == "identical-up-to-specials" and r.related
    s = r.stats
    assert s.n_shared == s.n_regular_a == s.n_regular_b == 151643 and s.same_id_share == 1.0
    assert s.merges is not None and s.merges.common_prefix == s.merges.n_a == s.merges.n_b == 151387
    assert {t.text for t in r.specials.only_b} == {"<think>", "</think>", "<tool_response>", "</tool_response>"}
    assert r.specials.same == 22 and not r.specials.only_a


def test_r6_npm_llama2_is_mistral_v1(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "lenml-llama2", "mistral-v1")
    assert r.relation == "identical" and r.stats.jaccard == 1.0
    assert vocab("lenml-llama2").regular[b" the"] == 272


def test_r9_mistral_v1_v2_shift_768(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "mistral-v1", "mistral-v2")
    assert r.relation == "shifted" and r.stats.modal_offset == 768 and r.stats.modal_offset_share == 1.0
    assert r.stats.same_id_share == 0.0 and r.stats.jaccard == 1.0
    assert len(r.specials.only_b) == 768


@pytest.mark.parametrize(("a", "b", "changed"), [("mistral-v2", "mistral-v3", 48), ("mistral-v3", "mistral-v7", 14)])
def test_r10_mistral_v2_v3_v7_same_ids(vocab, a: str, b: str, changed: int) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, a, b)
    assert r.relation == "identical-up-to-specials" and r.specials.n_changed == changed


def test_r10_v7_and_v7m1_identical(vocab) -> None:  # type: ignore[no-untyped-def]
    assert _cmp(vocab, "mistral-v7", "mistral-v7m1").relation == "identical"


def test_r11_tekken_versions_identical(vocab) -> None:  # type: ignore[no-untyped-def]
    assert _cmp(vocab, "tekken-240718", "tekken-240911").relation == "identical"


def test_r12_llama3_extends_cl100k_with_ids_kept(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "tiktoken-cl100k", "lenml-llama3")
    assert r.relation == "extended"
    s = r.stats
    assert s.containment_a_in_b == 1.0 and s.same_id_share == 1.0 and s.jaccard == A(0.7833, abs=1e-4)
    assert s.n_regular_b - s.n_shared == 27744 and s.shared_prefix == 100256
    ia, ib = shared_token_ids(vocab("tiktoken-cl100k"), vocab("lenml-llama3"))
    assert ia.size == 100256 and (ia == ib).all() and ia[-1] == 100255


def test_r18_p50k_extends_r50k(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "tiktoken-r50k", "tiktoken-p50k")
    assert r.relation == "extended" and r.stats.n_regular_b - r.stats.n_shared == 24
    assert all(set(t) <= {" ", "\t"} for t in r.only_b_sample)  # the whitespace-run tokens


def test_r19_whisper_gpt2_is_r50k(vocab) -> None:  # type: ignore[no-untyped-def]
    assert _cmp(vocab, "tiktoken-r50k", "whisper-gpt2").relation == "identical"


def test_r21_whisper_multilingual_differs_from_r50k(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "tiktoken-r50k", "whisper-multilingual")
    assert r.relation == "independent" and not r.related
    assert r.stats.jaccard == A(0.4130, abs=1e-4) and r.stats.same_id_share == A(0.0092, abs=1e-4)


def test_r23_claude_json_and_hf_repackaging(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "anthropic-claude", "lenml-claude")
    assert r.relation == "identical" and r.stats.n_shared == 64995


def test_r30_qwen_contains_cl100k_with_other_ids(vocab) -> None:  # type: ignore[no-untyped-def]
    """Qwen's vocabulary holds 98.9 % of cl100k at other ids: related, not a superset-with-ids like Llama-3."""
    r = _cmp(vocab, "lenml-qwen2_5", "tiktoken-cl100k")
    s = r.stats
    assert s.containment_b_in_a == A(0.9890, abs=1e-4) and s.same_id_share == A(0.0041, abs=1e-4)
    assert s.jaccard == A(0.6492, abs=1e-4)
    assert r.related and r.relation == "overlapping-related"
    assert s.tail_containment == 1.0 and s.modal_offset == 1100 and s.modal_offset_share == A(0.7248, abs=1e-4)
    assert r.p_value is not None and r.p_value < 0.0025


def test_negative_qwen2_5_vs_llama3_shares_cl100k(vocab) -> None:  # type: ignore[no-untyped-def]
    """MANIFEST negative (jacc 0.644, same-id 0.004) — but both descend from cl100k, and the id-offset statistic
    sees it: 65.6 % of shared tokens sit at one offset (+1100), far above every unrelated pair."""
    r = _cmp(vocab, "lenml-qwen2_5", "lenml-llama3")
    assert r.stats.jaccard == A(0.6442, abs=1e-4) and r.stats.same_id_share == A(0.0037, abs=1e-4)
    assert r.related and r.stats.modal_offset_share == A(0.6560, abs=1e-4)


def test_calibration_fields_are_reported(vocab) -> None:  # type: ignore[no-untyped-def]
    r = _cmp(vocab, "tiktoken-r50k", "whisper-multilingual")
    assert {c.statistic for c in r.calibration} == {"tail_containment", "modal_offset_share"}
    for c in r.calibration:
        assert c.null_n >= 100 and 0.0 <= c.fpr_at_threshold <= 0.005 and 0 < c.p_value <= 1
    d = r.to_dict()
    assert d["format"] == "taoke.tokenizer-comparison" and d["relation"] == "independent"


def test_compare_is_fast_on_150k_vocabularies(vocab) -> None:  # type: ignore[no-untyped-def]
    a, b = vocab("lenml-qwen2_5"), vocab("lenml-llama3")
    compare(a, b)  # warms the per-vocabulary caches
    t = time.process_time()  # CPU time: wall time on a shared 2-core machine measures the neighbours
    compare(a, b)
    assert time.process_time() - t < 5.0  # generous bound against a quadratic regression (~0.35 s measured)


def test_comparison_json_reads_back_into_the_same_result(vocab) -> None:  # type: ignore[no-untyped-def]
    """Reports read a saved comparison through ``TokenizerComparison.from_dict``: the inverse of ``to_dict``."""
    import json

    from taoke.serialize import dumps
    from taoke.tokenizers import TokenizerComparison

    r = _cmp(vocab, "lenml-qwen2_5", "lenml-qwen3")
    doc = json.loads(dumps(r.to_dict()))
    again = TokenizerComparison.from_dict(doc)
    assert again.relation == r.relation and again.p_value == r.p_value and again.stats == r.stats
    assert again.specials.n_changed == r.specials.n_changed
    assert json.loads(dumps(again.to_dict())) == doc
