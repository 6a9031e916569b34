"""``taoke probe snapshot`` / ``watch``: a baseline, re-tests with a fixed budget, alarms on a swap; the
permutation null keeps its level on an endpoint that samples; replay from the cache; the key is never stored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taoke.blackbox import ChatClient, ClientConfig, Endpoint, QueryBudget
from taoke.blackbox.models import LlamaServer
from taoke.blackbox.prompts import FINGERPRINT_PROMPTS
from taoke.blackbox.watch import COUNT_TEXTS, MAX_CHECK_QUERIES, Sample, Snapshot, check, take_snapshot
from taoke.cli import main
from taoke.cli.probe_cmd import parse_every
from taoke.errors import UsageError

from .servers import FakeEndpoint, ResellerProxy

SECRET = "sk-watch-DO-NOT-STORE-91c2"
FAST = ClientConfig(timeout_s=5, deadline_s=20, max_concurrency=4)
LIVE = ClientConfig(timeout_s=120, deadline_s=240, max_concurrency=2)


def _client(url: str, cfg: ClientConfig = FAST, budget: int | None = None) -> ChatClient:
    return ChatClient(Endpoint(url, "m"), config=cfg, budget=QueryBudget(budget))


def test_snapshot_roundtrip_and_check_budget(tmp_path: Path) -> None:
    with FakeEndpoint("ok", answer="The sky is blue.") as srv, _client(srv.base_url) as c:
        snap = take_snapshot(c, samples=2)
        assert snap.queries == 1 + len(FINGERPRINT_PROMPTS) * 2 + len(COUNT_TEXTS) and not snap.logprobs
        assert [t for t, _n in snap.counts] == list(COUNT_TEXTS)
        path = snap.save(tmp_path / "base.json")
        again = Snapshot.load(path)
        assert again == snap
        with _client(srv.base_url, budget=MAX_CHECK_QUERIES) as c2:
            res = check(c2, again, index=0, rng=np.random.default_rng(0))
    assert res.status == "unchanged" and res.p_value == 1.0
    assert res.queries == 2 * len(FINGERPRINT_PROMPTS) + len(COUNT_TEXTS) <= MAX_CHECK_QUERIES
    with pytest.raises(UsageError, match="max 30"):
        check(c2, again, samples=3, rng=np.random.default_rng(0))


def test_swap_to_another_answer_alarms_as_another_model() -> None:
    with FakeEndpoint("ok", answer="The sky is blue because of Rayleigh scattering.") as a, \
            FakeEndpoint("ok", answer="Sure! Here is a haiku about the sea.") as b, \
            ResellerProxy([a.base_url, b.base_url], system_prompt=None) as px, _client(px.base_url) as c:
        snap = take_snapshot(c, samples=3)
        before = check(c, snap, index=0, rng=np.random.default_rng(1))
        px.switch(1)
        after = check(c, snap, index=1, rng=np.random.default_rng(2))
    assert not before.alarm
    assert after.alarm and after.change == "another model" and after.p_value is not None and after.p_value < 0.002
    assert after.first_word_agreement == 0.0


def test_count_shift_is_a_system_prompt_change() -> None:
    with FakeEndpoint("ok", overhead=17) as a, FakeEndpoint("ok", overhead=40) as b, \
            ResellerProxy([a.base_url, b.base_url], system_prompt=None) as px, _client(px.base_url) as c:
        snap = take_snapshot(c, samples=2)
        px.switch(1)
        res = check(c, snap, index=0, rng=np.random.default_rng(3))
    assert res.alarm and res.count_change == "shift:+23" and res.change == "system prompt"


def test_tokenizer_change_is_seen_on_the_count_texts() -> None:
    # a second tokenizer that counts the English prompts alike (words) but splits Hangul / emoji / Devanagari
    # differently, behind another template overhead: the prompts alone shift uniformly, the count texts do not
    def other(text: str) -> int:
        return len(text.split()) + (3 * len(text) if text in COUNT_TEXTS else 0)

    with FakeEndpoint("ok", overhead=17) as a, FakeEndpoint("ok", overhead=40, count=other) as b, \
            ResellerProxy([a.base_url, b.base_url], system_prompt=None) as px, _client(px.base_url) as c:
        snap = take_snapshot(c, samples=2)
        px.switch(1)
        res = check(c, snap, index=0, rng=np.random.default_rng(3))
        old = Snapshot.from_dict({**snap.to_dict(), "counts": []})  # a snapshot without count texts
        res_old = check(c, old, index=1, rng=np.random.default_rng(4))
    assert res.alarm and res.count_change == "tokenizer" and res.change == "another model"
    # without them the same swap can only be called a uniform shift (what the method can tell from English prompts)
    assert res_old.alarm and res_old.count_change == "shift:+23"


def test_level_holds_on_an_endpoint_that_samples() -> None:
    # the answer is drawn at random per request: baseline and checks are exchangeable, alarms must stay rare
    rng = np.random.default_rng(7)
    words = ["Sure", "Well", "Hello", "Yes", "Okay", "Indeed"]
    snap = Snapshot({"base_url": "x", "model": "m", "api_key_env": "K"}, "t", FINGERPRINT_PROMPTS[:6], 8, False,
                    tuple(tuple(Sample(f"{rng.choice(words)} friend", 20) for _ in range(3)) for _p in range(6)), 0)

    class Sampler:  # a stand-in client: only `check` is exercised here, the network path is tested above
        endpoint = Endpoint("http://x/v1", "m")
        budget = QueryBudget(None)

        def complete_many(self, reqs):  # type: ignore[no-untyped-def]
            from taoke.blackbox.client import ChatResponse

            return [ChatResponse(f"{rng.choice(words)} friend", 20, 2, "stop", "m") for _ in reqs]

    alarms = sum(check(Sampler(), snap, index=i, alpha=0.05, n_perm=200,  # type: ignore[arg-type]
                       rng=np.random.default_rng(i)).alarm for i in range(200))
    assert alarms <= 20  # nominal 5 % of 200 = 10; binomial 99.9 % bound ~ 21


def test_cli_snapshot_watch_replay_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TAOKE_WATCH_KEY", SECRET)
    base, cache = tmp_path / "base.json", tmp_path / "cache"
    common = ["--model", "m", "--api-key-env", "TAOKE_WATCH_KEY", "--cache", str(cache)]
    with FakeEndpoint("ok", answer="Paris is the capital of France.") as a, \
            FakeEndpoint("ok", answer="Bonjour! Je suis un assistant.") as b, \
            ResellerProxy([a.base_url, b.base_url], system_prompt=None) as px:
        assert main(["probe", "snapshot", px.base_url, "--out", str(base), "--samples", "2", *common]) == 0
        assert main(["probe", "watch", px.base_url, "--baseline", str(base), "--checks", "2", "--json", *common]) == 0
        out = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
        assert [r["status"] for r in out[-2:]] == ["unchanged", "unchanged"]
        px.switch(1)
        rc = main(["probe", "watch", px.base_url, "--baseline", str(base), "--checks", "3", "--stop-on-alarm",
                   "--json", *common[:4]])  # no cache: fresh answers
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
        assert rc == 1 and len(lines) == 1 and lines[0]["alarm"] and lines[0]["change"] == "another model"
        url = px.base_url
    # replay the first watch run offline from the cache: same checks, same p-values
    assert main(["probe", "watch", url, "--baseline", str(base), "--checks", "2", "--json", "--replay", *common]) == 0
    replayed = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [r["p_value"] for r in replayed] == [r["p_value"] for r in out[-2:]]
    assert SECRET not in base.read_text() and all(SECRET not in p.read_text() for p in cache.rglob("*.json"))


def test_cli_watch_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "watch", "http://127.0.0.1:9/v1", "--baseline", str(tmp_path / "none.json")]) == 2
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    assert main(["probe", "watch", "http://127.0.0.1:9/v1", "--baseline", str(tmp_path / "bad.json")]) == 2
    assert main(["probe", "watch", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err
    assert parse_every("10m") == 600 and parse_every("1.5h") == 5400 and parse_every("45") == 45
    with pytest.raises(UsageError):
        parse_every("soon")


@pytest.mark.server
@pytest.mark.all_data
def test_live_swap_smollm2_to_gemma(smollm_server: LlamaServer, gemma_server: LlamaServer) -> None:
    prompts = FINGERPRINT_PROMPTS[:4]
    with ResellerProxy([smollm_server.base_url, gemma_server.base_url], system_prompt=None, name="gpt-4o") as px, \
            _client(px.base_url, LIVE) as c:
        snap = take_snapshot(c, prompts=prompts, samples=2, max_tokens=4)
        assert snap.logprobs  # llama.cpp exposes them
        same = check(c, snap, index=0, samples=2, rng=np.random.default_rng(0))
        px.switch(1)
        swapped = check(c, snap, index=1, samples=2, rng=np.random.default_rng(1))
    assert same.status == "unchanged" and same.p_value == 1.0 and same.mean_tv is not None and same.mean_tv < 0.02
    # the 4 English prompts count alike under both tokenizers (a uniform shift by the templates' difference); the
    # count texts (Hangul, emoji, Devanagari) tell the tokenizers apart
    assert swapped.alarm and swapped.change == "another model" and swapped.count_change == "tokenizer"
