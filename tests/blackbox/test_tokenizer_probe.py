"""Tokenizer inference: the shipped table, the rank-BPE against HF tokenizers, and inference from usage counts
of endpoints whose counts come from real tokenizers (or are wrong)."""

from __future__ import annotations

from pathlib import Path

import pytest

from taoke.blackbox import ChatClient, ClientConfig, Endpoint, QueryBudget
from taoke.blackbox import _tokcount as tc
from taoke.blackbox.probes import tokenizer as tok

from .servers import FakeEndpoint


@pytest.fixture(scope="module")
def table() -> dict:
    return tok.load_table()


def test_shipped_table_covers_core_families(table: dict) -> None:
    names = set(table["tokenizers"])
    for n in ("hf:qwen2_5", "hf:llama3", "tiktoken:cl100k_base", "tiktoken:o200k_base", "spm:mistral-v1",
              "anthropic:claude-legacy", "tekken:240718"):
        assert n in names
    assert table["strings"][0] == tok.BASELINE and len(table["strings"]) == len(tok.PROBE_STRINGS) + 1
    classes = tok.tokenizer_classes(table)
    qwen = next(m for m, _c in classes if "hf:qwen2_5" in m)
    assert "hf:qwen3" in qwen  # R1: same vocab and merges -> indistinguishable by counts
    assert not {"hf:llama3", "tiktoken:cl100k_base"} <= set(next(m for m, _c in classes if "hf:llama3" in m))


def test_table_reproducible_from_core_data(data_dir: Path, table: dict) -> None:
    strings = table["strings"]
    for name, backend, rel in (("hf:qwen2_5", "hf", "tokenizers/qwen2_5/tokenizer.json"),
                               ("tiktoken:cl100k_base", "tiktoken", "tokenizers/tiktoken/cl100k_base.tiktoken"),
                               ("spm:mistral-v1", "spm", "tokenizers/mistral-common/tokenizer.model.v1")):
        count = tok._counter(backend, data_dir / rel)
        assert [count(s) for s in strings] == table["tokenizers"][name]["counts"], name


@pytest.mark.parametrize(("ranks", "hf"), [("cl100k_base", "gpt35turbo"), ("o200k_base", "gpt4o")])
def test_rank_bpe_matches_hf_tokenizer(all_data_dir: Path, ranks: str, hf: str) -> None:
    t = all_data_dir / "tokenizers"
    mine = tc.rank_counter(tc.load_tiktoken_ranks(t / f"tiktoken/{ranks}.tiktoken"), tc.TIKTOKEN_PATTERNS[ranks])
    ref = tc.hf_counter(t / hf / "tokenizer.json")
    extra = ["Hello, world!  It's 2024.", "naïve café 東京", "\n\n   x = 1\n"]
    for s in [*tok.PROBE_STRINGS, *extra]:
        assert mine(s) == ref(s), s


@pytest.mark.parametrize("name", ["hf:qwen2_5", "spm:mistral-v1", "tiktoken:o200k_base"])
def test_infers_tokenizer_behind_endpoint(data_dir: Path, table: dict, name: str) -> None:
    e = table["tokenizers"][name]
    count = tok._counter(e["backend"], data_dir / e["source"])
    with FakeEndpoint("ok", count=count, overhead=23) as srv, \
            ChatClient(Endpoint(srv.base_url, "m"), budget=QueryBudget(40)) as c:
        ev = tok.run(c, table)
    assert ev.best is not None and name in ev.best.members
    assert ev.best.overhead == 23 and ev.best.mean_abs_residual == 0 and ev.best.posterior > 0.99
    assert ev.queries == len(table["strings"]) == 25


def test_wrong_usage_counts_are_caught(table: dict) -> None:
    with FakeEndpoint("wrong_usage") as srv, ChatClient(Endpoint(srv.base_url, "m")) as c:
        ev = tok.run(c, table)
    assert ev.best is None and "no known tokenizer fits" in ev.note


def test_partial_answers_still_fit(data_dir: Path, table: dict) -> None:
    count = tok._counter("hf", data_dir / "tokenizers/qwen2_5/tokenizer.json")
    with FakeEndpoint("ok", count=count) as srv, \
            ChatClient(Endpoint(srv.base_url, "m"), budget=QueryBudget(12),
                       config=ClientConfig(max_concurrency=1)) as c:
        ev = tok.run(c, table)
    assert len(ev.errors) == 13 and ev.n_strings_answered == 11
    assert ev.best is not None and "hf:qwen2_5" in ev.best.members


def test_fit_tolerates_boundary_effects(table: dict) -> None:
    counts = table["tokenizers"]["hf:llama3"]["counts"]
    observed = [c + 30 + (1 if i % 5 == 3 else 0) for i, c in enumerate(counts)]  # +1 merges at some strings
    best, ranking, _note = tok.fit_counts(observed, table)
    assert best is not None and "hf:llama3" in best.members and best.mean_abs_residual < 0.5
    assert ranking[1].mean_abs_residual > 1.0  # the runner-up is clearly worse
