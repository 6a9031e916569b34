"""Mixed routing: per-query attribution of usage counts. Endpoints count with real tokenizers (the fetched
tokenizer files), a real routing proxy sends each request to one of them at random; the live test routes
between the real SmolLM2 and Gemma-3 llama.cpp servers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taoke.blackbox import ChatClient, ClientConfig, Endpoint, QueryBudget, probe_endpoint
from taoke.blackbox import attribution as at
from taoke.blackbox.models import LlamaServer
from taoke.blackbox.probes import tokenizer as tok
from taoke.blackbox.prompts import user_texts

from .servers import FakeEndpoint, ResellerProxy

CFG = ClientConfig(timeout_s=5, deadline_s=20, max_concurrency=4)


@pytest.fixture(scope="module")
def table() -> dict:
    return tok.load_table()


def _counter(data_dir: Path, table: dict, name: str):  # type: ignore[no-untyped-def]
    e = table["tokenizers"][name]
    return tok._counter(e["backend"], data_dir / e["source"])


def _probe(url: str, cfg: ClientConfig = CFG) -> at.MixtureEvidence:
    with ChatClient(Endpoint(url, "gpt-4o"), config=cfg, budget=QueryBudget(100)) as c:
        rep = probe_endpoint(c, probes=("tokenizer",))
    assert rep.mixture is not None
    return rep.mixture


def test_table_counts_every_probe_text(table: dict) -> None:
    assert table["version"] == tok.TABLE_VERSION and set(user_texts()) <= set(table["texts"])
    names, cols, mat = at.text_counts(table)
    assert mat.shape == (len(names), len(table["strings"]) + len(table["texts"]))


def test_honest_endpoints_are_single(data_dir: Path, table: dict) -> None:
    for name, overhead in (("hf:qwen2_5", 23), ("tiktoken:o200k_base", 7)):
        with FakeEndpoint("ok", count=_counter(data_dir, table, name), overhead=overhead) as srv:
            ev = _probe(srv.base_url)
        assert ev.outcome == "single" and name in ev.components[0].members and ev.components[0].overhead == overhead
        assert ev.repeats_checked == 12 and not ev.repeat_conflicts


def test_router_between_two_tokenizers_is_mixed(data_dir: Path, table: dict) -> None:
    a, b = "hf:qwen2_5", "hf:llama3"
    with FakeEndpoint("ok", count=_counter(data_dir, table, a), overhead=20) as ea, \
            FakeEndpoint("ok", count=_counter(data_dir, table, b), overhead=31) as eb, \
            ResellerProxy([ea.base_url, eb.base_url], weights=(0.5, 0.5), system_prompt=None, seed=3) as px:
        ev = _probe(px.base_url)
        routed = np.asarray(px.routed)
    assert ev.outcome == "mixed" and ev.mixed and ev.repeat_conflicts
    by_tok = {c.members: c for c in ev.components}
    ca = next(c for m, c in by_tok.items() if a in m)
    cb = next(c for m, c in by_tok.items() if b in m)
    assert (ca.overhead, cb.overhead) == (20, 31)
    assert abs(ca.share - np.mean(routed == 0)) < 0.2
    assert "mixed: ≈" in ev.wording


def test_same_tokenizer_two_system_prompts_is_mixed_and_says_so(data_dir: Path, table: dict) -> None:
    count = _counter(data_dir, table, "hf:qwen2_5")
    with FakeEndpoint("ok", count=count, overhead=20) as ea, FakeEndpoint("ok", count=count, overhead=45) as eb, \
            ResellerProxy([ea.base_url, eb.base_url], weights=(0.6, 0.4), system_prompt=None, seed=4) as px:
        ev = _probe(px.base_url)
    assert ev.outcome == "mixed" and "two prompt overheads" in ev.note
    assert {c.overhead for c in ev.components} == {20, 45}


def test_random_usage_is_inconsistent_not_mixed(table: dict) -> None:
    with FakeEndpoint("wrong_usage") as srv:
        ev = _probe(srv.base_url)
    assert ev.outcome == "inconsistent" and not ev.mixed


def test_unknown_tokenizer_is_not_a_mixture_of_known_ones(table: dict) -> None:
    # p50k_base left out of the table: r50k_base explains all but the whitespace-run strings, which SmolLM2's
    # tokenizer happens to explain at another overhead; the repeats agree, so this is no mixture
    names, cols, mat = at.text_counts(table)
    k = names.index("tiktoken:p50k_base")
    keep = {n: e for i, (n, e) in enumerate(table["tokenizers"].items()) if not np.array_equal(mat[i], mat[k])}
    texts = list(table["strings"]) + list(table["texts"])
    obs = [(t, int(mat[k, cols[t]]) + 12) for t in texts] + [(t, int(mat[k, cols[t]]) + 12) for t in texts[:12]]
    ev = at.analyse(obs, dict(table, tokenizers=keep))
    assert not ev.mixed and ev.outcome == "no-fit"
    assert at.analyse(obs, table).outcome == "single"


@pytest.mark.server
@pytest.mark.all_data
def test_live_router_smollm2_gemma(smollm_server: LlamaServer, gemma_server: LlamaServer) -> None:
    with ResellerProxy([smollm_server.base_url, gemma_server.base_url], weights=(0.5, 0.5), seed=0,
                       name="gpt-4o") as px:
        ev = _probe(px.base_url, ClientConfig(timeout_s=120, deadline_s=240, max_concurrency=2))
    assert ev.outcome == "mixed" and ev.queries == 25 + 12
    assert {c.label for c in ev.components} == {"SmolLM2-135M-Instruct", "Gemma-3-270M"}
