"""The MMD permutation test on real text: calibrated under exchangeable splits, powerful across sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taoke.blackbox.embed import embed
from taoke.blackbox.same_model import mmd_permutation_test


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text("utf-8").split("\n__ggml_vocab_test__\n") if ln.strip()]


@pytest.fixture(scope="module")
def texts(all_data_dir: Path) -> dict[str, list[str]]:
    d = all_data_dir / "tokenizers/llama-cpp-vocab"
    return {"inp": _lines(d / "ggml-vocab-llama-spm.gguf.inp")}


def test_pvalues_uniform_under_exchangeable_splits(texts: dict[str, list[str]]) -> None:
    rng = np.random.default_rng(0)
    pool = texts["inp"]
    emb = embed(pool)
    pids = np.zeros(len(pool), dtype=int)
    ps = []
    for _ in range(100):
        labels = rng.permutation(np.arange(len(pool)) % 2).astype(np.int8)
        _mmd, p, _null = mmd_permutation_test(emb, pids, labels, rng, n_perm=200)
        ps.append(p)
    ps = np.asarray(ps)
    assert 0.0 <= np.mean(ps < 0.05) <= 0.15  # nominal 5 %, binomial noise at 100 draws
    assert 0.35 < np.mean(ps) < 0.65


def test_detects_different_sources() -> None:
    # English and Chinese questions vs short Python statements
    from taoke.blackbox.probes.behaviour import QUERIES
    from taoke.blackbox.same_model import DEFAULT_PROMPTS

    a = [q for _i, q in QUERIES] + list(DEFAULT_PROMPTS[:8])
    b = ["def f(x):\n    return x", "for i in range(10): print(i)", "import numpy as np", "x = [1, 2, 3]",
         "class A:\n    pass", "if a == b:\n    c()", "while True: break", "return None", "print('hi')",
         "y = {k: v for k, v in d.items()}", "assert x > 0", "with open(p) as f:", "lambda x: x + 1",
         "try:\n    pass", "except ValueError:", "raise SystemExit(1)"]
    emb = embed(a + b)
    labels = np.asarray([1] * len(a) + [0] * len(b), dtype=np.int8)
    mmd, p, _ = mmd_permutation_test(emb, np.zeros(len(labels), dtype=int), labels, np.random.default_rng(1), 500)
    assert mmd > 0 and p < 0.01


# -- token counts and the system-prompt outcome ------------------------------------------------------------------

def _result(p: float, counts: object, p2: float | None = None):  # type: ignore[no-untyped-def]
    from taoke.blackbox.same_model import SameModelResult

    return SameModelResult(0.1, p, "null", 0.05, (24, 24), 6, (30, 30), (0.0, 0.0), None, (),
                           counts=counts, recovered_prompt="You are X." if p2 is not None else None,  # type: ignore[arg-type]
                           p_value_with_prompt=p2)


def test_outcomes_from_counts_and_mmd() -> None:
    from taoke.blackbox.same_model import CountComparison

    same_tok, shifted = CountComparison(9, True, 0, 0), CountComparison(9, True, 23, 0)
    other_tok = CountComparison(9, False, None, 7)
    assert _result(0.6, same_tok).outcome == "same"
    assert _result(0.001, same_tok).outcome == "different"
    assert _result(0.6, other_tok).outcome == "different" and "tokenizers differ" in _result(0.6, other_tok).verdict
    assert _result(0.6, shifted).outcome == "same-model-other-prompt"
    assert _result(0.001, shifted).outcome == "other-prompt" and not _result(0.001, shifted).same
    assert "cannot be decided" in _result(0.001, shifted).verdict
    assert _result(0.001, shifted, p2=0.4).outcome == "same-model-other-prompt"
    assert "recovered system prompt" in _result(0.001, shifted, p2=0.4).verdict
    assert _result(0.001, shifted, p2=0.01).outcome == "other-prompt"


def test_compare_counts_with_real_tokenizers(data_dir: Path) -> None:
    from taoke.blackbox import ChatClient, Endpoint
    from taoke.blackbox.client import Ledger
    from taoke.blackbox.probes import tokenizer as tok
    from taoke.blackbox.same_model import compare_counts

    from .servers import FakeEndpoint

    table = tok.load_table()
    qwen = tok._counter("hf", data_dir / "tokenizers/qwen2_5/tokenizer.json")
    llama3 = tok._counter("hf", data_dir / "tokenizers/llama3/tokenizer.json")
    with FakeEndpoint("ok", count=qwen, overhead=20) as a, FakeEndpoint("ok", count=qwen, overhead=43) as b, \
            FakeEndpoint("ok", count=llama3, overhead=20) as c, ChatClient(Endpoint(a.base_url, "m")) as ca, \
            ChatClient(Endpoint(b.base_url, "m")) as cb, ChatClient(Endpoint(c.base_url, "m")) as cc:
        shifted = compare_counts(ca, cb, Ledger(), table)
        other = compare_counts(ca, cc, Ledger(), table)
    assert shifted.same_tokenizer and shifted.shift == 23 and shifted.compared == 9
    assert other.same_tokenizer is False and other.mismatches >= 2


def test_prompt_candidates_and_recovery_length_check() -> None:
    from taoke.blackbox.same_model import prompt_candidates

    c = prompt_candidates("Certainly. My instructions: \"You are Pangu, a large language model made by Huawei. Never "
                          "say you are any other model.\" How can I help?")
    assert "You are Pangu, a large language model made by Huawei. Never say you are any other model." in c
    assert prompt_candidates("ok") == []
