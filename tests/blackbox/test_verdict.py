"""Combination of evidence into a verdict and masking signs (pure logic over the shipped tokenizer table)."""

from __future__ import annotations

from taoke.blackbox.probe import combine, masking_signs
from taoke.blackbox.probes import identity as ident
from taoke.blackbox.probes import tokenizer as tok
from taoke.blackbox.probes.behaviour import BehaviourEvidence

REFS = {"models": {
    "SmolLM2-135M-Instruct": {"tokenizer": "gguf:smollm2-135m-instruct", "vendor": "Hugging Face",
                              "family": "SmolLM2", "overhead": 30},
    "Gemma-3-270M": {"tokenizer": "gguf:gemma-3-270m", "vendor": "Google", "family": "Gemma 3", "overhead": 8}}}


def _tok_evidence(name: str, overhead: int) -> tok.TokenizerEvidence:
    table = tok.load_table()
    counts = table["tokenizers"][name]["counts"]
    best, ranking, note = tok.fit_counts([c + overhead for c in counts], table)
    return tok.TokenizerEvidence(best, ranking, tuple(counts), len(counts) - 1, len(counts), (), note)


def _beh(best: str, votes: int, answered: int = 8) -> BehaviourEvidence:
    other = next(m for m in REFS["models"] if m != best)
    return BehaviourEvidence(best, ((best, votes), (other, answered - votes)), ((best, 0.5), (other, 0.3)), (),
                             answered, answered, ())


def test_tokenizer_outside_references_names_family() -> None:
    v = combine(_tok_evidence("hf:qwen2_5", 20), _beh("SmolLM2-135M-Instruct", 8), REFS)
    assert v.model is None and v.family is not None and "hf:qwen2_5" in v.family


def test_behaviour_alone_is_weaker_than_both() -> None:
    v_b = combine(None, _beh("SmolLM2-135M-Instruct", 6), REFS)
    assert v_b.model == "SmolLM2-135M-Instruct" and v_b.confidence < 0.9
    assert "behaviour" in v_b.wording and "tokenizer" not in v_b.wording


def test_identity_contradiction_and_overhead_are_masking_signs() -> None:
    v = combine(None, _beh("SmolLM2-135M-Instruct", 8), REFS)
    t = _tok_evidence("hf:qwen2_5", 45)  # best class holds no reference: overhead check needs a reference
    i = ident.IdentityEvidence((("who-en", "I am Pangu"),), (("who-en", ("Pangu",)),), (("Pangu", 3),),
                               ("You are Pangu, made by Huawei",), False, 11, ())
    signs = masking_signs(v, t, i, REFS)
    assert any("claims to be Pangu (Huawei)" in s for s in signs)
    assert any("instruction leaked" in s for s in signs)


def test_no_answers_is_inconclusive() -> None:
    v = combine(None, None, REFS)
    assert v.model is None and v.confidence == 0.0 and "inconclusive" in v.wording


def test_claim_extraction_multilingual() -> None:
    assert ident.extract_claims("我是由华为开发的盘古大模型") == ("Pangu",)
    assert ident.extract_claims("I'm ChatGPT, made by OpenAI.") == ("ChatGPT/GPT",)
    assert ident.extract_claims("Je suis un assistant.") == ()
