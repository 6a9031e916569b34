"""End to end against real llama.cpp servers of the fetched GGUFs, directly and behind the reseller proxy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taoke.blackbox import ChatClient, ChatRequest, ClientConfig, Endpoint, QueryBudget, probe_endpoint
from taoke.blackbox.models import LlamaServer
from taoke.blackbox.probes import tokenizer as tok
from taoke.blackbox.same_model import DEFAULT_PROMPTS, same_model_test
from taoke.cli import main

from .servers import ResellerProxy

pytestmark = pytest.mark.server
BUDGET = 100  # tokenizer 25 + 12 repeats, behaviour 8, identity 11, lineage 12 + 3 repeats
CFG = ClientConfig(timeout_s=120, deadline_s=240, max_concurrency=2)


def _client(url: str, budget: int = BUDGET) -> ChatClient:
    return ChatClient(Endpoint(url, "anything"), config=CFG, budget=QueryBudget(budget))


def test_gguf_counts_in_table_match_the_server(smollm_server: LlamaServer, smollm2_gguf: Path) -> None:
    table = tok.load_table()
    count = tok._counter("gguf", smollm2_gguf)
    assert [count(s) for s in table["strings"]] == table["tokenizers"]["gguf:smollm2-135m-instruct"]["counts"]
    with _client(smollm_server.base_url) as c:
        ev = tok.run(c, table)
    assert ev.best is not None and ev.best.members == ("gguf:smollm2-135m-instruct",)
    assert ev.best.mean_abs_residual <= 0.5


@pytest.mark.slow
def test_probe_names_smollm2(smollm_server: LlamaServer) -> None:
    with _client(smollm_server.base_url) as c:
        rep = probe_endpoint(c)
    assert rep.verdict.model == "SmolLM2-135M-Instruct" and rep.verdict.confidence >= 0.9
    assert rep.queries.charged + rep.queries.cached <= BUDGET
    assert not any("system prompt" in m for m in rep.masking)


def test_probe_names_backend_behind_reseller(reseller: ResellerProxy) -> None:
    with _client(reseller.base_url) as c:
        rep = probe_endpoint(c)
    assert rep.reported_models == ("pangu-ultra",)  # the proxy hides the upstream's model path
    assert rep.identity is not None and rep.identity.top_claim == "Pangu"
    assert rep.verdict.model == "SmolLM2-135M-Instruct" and rep.verdict.confidence >= 0.9
    assert any("claims to be Pangu" in m for m in rep.masking)
    assert any("adds or replaces a system prompt" in m for m in rep.masking)


@pytest.mark.slow
@pytest.mark.all_data
def test_probe_names_gemma(gemma_server: LlamaServer) -> None:
    with _client(gemma_server.base_url) as c:
        rep = probe_endpoint(c, probes=("tokenizer", "behaviour"))
    assert rep.verdict.model == "Gemma-3-270M" and rep.verdict.confidence >= 0.9
    assert rep.tokenizer is not None and rep.tokenizer.best is not None
    assert "hf:gemma3" in rep.tokenizer.best.members or "gguf:gemma-3-270m" in rep.tokenizer.best.members


def test_cli_probe_json_through_reseller(reseller: ResellerProxy, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["probe", reseller.base_url, "--model", "pangu-ultra", "--probes", "tokenizer",
               "--budget", "40", "--json", "--concurrency", "2"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["format"] == "taoke-probe-report/1"
    assert out["verdict"]["model"] == "SmolLM2-135M-Instruct" and out["queries"]["charged"] == 25 + 12
    assert any("system prompt" in m for m in out["masking"])  # the injected persona shows in the overhead


def test_server_seed_makes_samples_repeat(smollm_server: LlamaServer) -> None:
    # the trap the sampler avoids (MANIFEST §4): the same seed gives the same sample at temperature 1
    with _client(smollm_server.base_url) as c:
        r = [c.complete(ChatRequest.user("Tell me a fun fact about cats.", max_tokens=12, temperature=1.0,
                                         seed=7, nonce=i)).text for i in range(2)]
    assert r[0] == r[1]


SMALL = dict(prompts=DEFAULT_PROMPTS[:6], n_per_prompt=4, max_tokens=16, n_perm=500)


@pytest.mark.slow
def test_same_model_accepts_smollm2_served_twice(smollm_server: LlamaServer,
                                                 smollm_server_twin: LlamaServer) -> None:
    with _client(smollm_server.base_url) as a, _client(smollm_server_twin.base_url) as b:
        res = same_model_test(a, b, rng=np.random.default_rng(0), logprobs=True, **SMALL)  # type: ignore[arg-type]
    assert res.same and res.p_value >= 0.05
    assert res.queries == (24 + 6 + 9, 24 + 6 + 9) and res.outcome == "same"
    assert res.logprob is not None and res.logprob.top1_agreement == 1.0 and res.logprob.max_abs_logprob_diff < 1e-3


@pytest.mark.slow
@pytest.mark.all_data
def test_same_model_rejects_smollm2_vs_gemma(smollm_server: LlamaServer, gemma_server: LlamaServer) -> None:
    with _client(smollm_server.base_url) as a, _client(gemma_server.base_url) as b:
        res = same_model_test(a, b, rng=np.random.default_rng(0), logprobs=True, **SMALL)  # type: ignore[arg-type]
    assert not res.same and res.p_value < 0.01 and res.outcome == "different"
    assert res.counts is not None and res.counts.same_tokenizer is False
    assert res.logprob is not None and res.logprob.mean_tv > 0.5


def test_same_model_behind_a_persona_is_not_called_different(smollm_server: LlamaServer,
                                                              reseller: ResellerProxy) -> None:
    with _client(smollm_server.base_url, 200) as a, _client(reseller.base_url, 200) as b:
        res = same_model_test(a, b, rng=np.random.default_rng(1), **SMALL)  # type: ignore[arg-type]
    assert res.counts is not None and res.counts.same_tokenizer and res.counts.shift
    assert res.outcome in ("same-model-other-prompt", "other-prompt") and "system prompt" in res.verdict


def test_streaming_matches_non_streaming(smollm_server: LlamaServer) -> None:
    with _client(smollm_server.base_url) as c:
        plain = c.complete(ChatRequest.user("List three fruits.", max_tokens=8))
        streamed = c.complete(ChatRequest.user("List three fruits.", max_tokens=8, stream=True))
    assert streamed.text == plain.text and streamed.finish_reason == "length"
    assert plain.prompt_tokens is not None and streamed.prompt_tokens is None  # the server streams no usage


@pytest.mark.slow
def test_requantised_copy_is_the_same_model(smollm2_gguf: Path, tmp_path: Path) -> None:
    import gguf

    from taoke.blackbox.variants import derive_variant

    dst = derive_variant(smollm2_gguf, "Q8_0", tmp_path / "smollm2.Q8_0.gguf")
    src_r, dst_r = gguf.GGUFReader(str(smollm2_gguf)), gguf.GGUFReader(str(dst))
    assert [t.name for t in src_r.tensors] == [t.name for t in dst_r.tensors]
    assert dst_r.fields["general.file_type"].contents() == 7
    assert dst_r.fields["tokenizer.ggml.tokens"].contents()[:50] == src_r.fields["tokenizer.ggml.tokens"].contents()[:50]
    t_src = next(t for t in src_r.tensors if t.name == "blk.0.attn_q.weight")
    t_dst = next(t for t in dst_r.tensors if t.name == "blk.0.attn_q.weight")
    a = gguf.quants.dequantize(t_src.data, t_src.tensor_type).ravel()
    b = gguf.quants.dequantize(t_dst.data, t_dst.tensor_type).ravel()
    assert t_dst.tensor_type == gguf.GGMLQuantizationType.Q8_0
    assert np.corrcoef(a, b)[0, 1] > 0.999 and not np.array_equal(a, b)


# -- the server decodes multi-token prompts (issue 12) ----------------------------------------------------------
# A llama-cpp-python 0.3.36 compiled natively (GGML_NATIVE) on a CPU with AVX-512 and AMX loads the model and
# serves /v1/models, then dies with SIGSEGV on its first batched decode (>= 2 tokens). Every chat request is such
# a decode; these requests go straight to the server's OpenAI API, without taoke's client.
LONG_PROMPT = " ".join(f"Item {i}: the {w} fox jumps over the lazy dog." for i, w in
                       enumerate(["quick", "slow", "red", "grey", "small", "old", "young", "clever"] * 4))  # fmt: skip


def _llama_diagnosis() -> str:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "check_llama_cpp.py"
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    return (p.stdout + p.stderr).strip()


def test_server_decodes_multi_token_prompts(smollm_server: LlamaServer) -> None:
    import httpx

    url = smollm_server.base_url
    done: list[int] = []
    try:
        with httpx.Client(timeout=120) as h:
            for text in ("Hi", "Name three colours of the rainbow.", LONG_PROMPT):
                r = h.post(f"{url}/chat/completions", json={
                    "model": "x", "messages": [{"role": "user", "content": text}], "max_tokens": 8,
                    "temperature": 0})  # fmt: skip
                r.raise_for_status()
                body = r.json()
                assert body["choices"][0]["message"]["content"].strip(), body
                done.append(int(body["usage"]["prompt_tokens"]))
            r = h.post(f"{url}/completions", json={"prompt": LONG_PROMPT, "max_tokens": 4, "temperature": 0,
                                                   "logprobs": 1})  # fmt: skip
            r.raise_for_status()
            done.append(int(r.json()["usage"]["prompt_tokens"]))
    except httpx.HTTPError as e:
        alive = smollm_server.proc.poll() is None
        pytest.fail(f"the llama.cpp server {'failed' if alive else 'died'} on a multi-token prompt ({e!r}); "
                    f"after {len(done)} requests.\n{_llama_diagnosis()}", pytrace=False)  # fmt: skip
    assert min(done) >= 2 and max(done) > 200  # a two-token prompt and one of several hundred tokens in one batch
    assert smollm_server.proc.poll() is None
