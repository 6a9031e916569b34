"""The client against small misbehaving servers on 127.0.0.1: every failure mode gives one clear error (or a
partial result) within the configured time, and the API key never reaches logs, cache, errors or reports."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from taoke.blackbox import (
    BudgetSnapshot,
    ChatClient,
    ChatRequest,
    ClientConfig,
    Endpoint,
    EndpointHTTPError,
    EndpointTimeout,
    EndpointUnreachable,
    MalformedResponse,
    QueryBudget,
    ResponseCache,
)
from taoke.cli import main
from taoke.errors import BudgetExceeded, ProbeError, UsageError

from .servers import FakeEndpoint, refused_url

SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"
FAST = ClientConfig(timeout_s=1.0, deadline_s=3.0, max_retries=2, backoff_s=0.05, max_backoff_s=0.2,
                    max_concurrency=2)


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TAOKE_TEST_KEY", SECRET)
    return "TAOKE_TEST_KEY"


def client(url: str, key_env: str = "TAOKE_TEST_KEY", **kw) -> ChatClient:  # type: ignore[no-untyped-def]
    kw.setdefault("config", FAST)
    return ChatClient(Endpoint(url, "m", key_env), **kw)


def test_ok_cache_and_budget(tmp_path: Path, key_env: str) -> None:
    with FakeEndpoint("ok") as srv, client(srv.base_url, cache=ResponseCache(tmp_path),
                                           budget=QueryBudget(5)) as c:
        r1 = c.complete(ChatRequest.user("hello there"))
        r2 = c.complete(ChatRequest.user("hello there"))
        r3 = c.complete(ChatRequest.user("hello there", nonce=1))  # another sample: not a cache hit
        assert r1.text == "I am a helpful assistant." and r1.prompt_tokens == 17 + 2 and not r1.cached
        assert r2.cached and r2.text == r1.text and not r3.cached
        assert c.budget.snapshot() == BudgetSnapshot(charged=2, cached=1, limit=5)
        assert len(srv.requests) == 2 and srv.requests[0]["auth"] == f"Bearer {SECRET}"
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 2 and all(SECRET not in f.read_text() for f in files)


def test_replay_mode(tmp_path: Path, key_env: str) -> None:
    with FakeEndpoint("ok") as srv, client(srv.base_url, cache=ResponseCache(tmp_path)) as c:
        c.complete(ChatRequest.user("recorded"))
        url = srv.base_url
    with client(url, cache=ResponseCache(tmp_path), offline=True) as c:
        assert c.complete(ChatRequest.user("recorded")).cached
        with pytest.raises(ProbeError, match="not in the replay cache"):
            c.complete(ChatRequest.user("never recorded"))
    with pytest.raises(UsageError):
        client(url, offline=True)


def test_server_error_retried_then_reported(key_env: str) -> None:
    with FakeEndpoint("error500") as srv, client(srv.base_url) as c:
        with pytest.raises(EndpointHTTPError, match="HTTP 500") as ei:
            c.complete(ChatRequest.user("x"))
        assert ei.value.status == 500 and ei.value.exit_code == 5
        assert len(srv.requests) == FAST.max_retries + 1 == c.budget.snapshot().charged


def test_rate_limit_honours_retry_after(key_env: str) -> None:
    slept: list[float] = []
    with FakeEndpoint("ratelimit", fail_first=2, retry_after="0.3") as srv, \
            client(srv.base_url, sleep=lambda s: (slept.append(s), time.sleep(s))) as c:
        r = c.complete(ChatRequest.user("x"))
    assert r.text and len(srv.requests) == 3 and slept and min(slept) >= 0.3


def test_rate_limit_beyond_deadline_gives_up_fast(key_env: str) -> None:
    t0 = time.monotonic()
    with FakeEndpoint("ratelimit", retry_after="100") as srv, client(srv.base_url) as c:
        with pytest.raises(EndpointTimeout, match="deadline"):
            c.complete(ChatRequest.user("x"))
    assert time.monotonic() - t0 < 2.0


def test_timeout(key_env: str) -> None:
    t0 = time.monotonic()
    cfg = ClientConfig(timeout_s=0.5, deadline_s=1.2, max_retries=0)
    with FakeEndpoint("slow", sleep_s=5) as srv, client(srv.base_url, config=cfg) as c:
        with pytest.raises(EndpointTimeout, match="no answer within 0.5 s"):
            c.complete(ChatRequest.user("x"))
    assert time.monotonic() - t0 < 2.5


def test_malformed_json(key_env: str) -> None:
    with FakeEndpoint("malformed") as srv, client(srv.base_url) as c:
        with pytest.raises(MalformedResponse, match="not JSON"):
            c.complete(ChatRequest.user("x"))


def test_endless_stream_cut_at_deadline_with_partial_text(key_env: str) -> None:
    cfg = ClientConfig(timeout_s=1.0, deadline_s=1.5, max_retries=0)
    t0 = time.monotonic()
    with FakeEndpoint("endless_stream") as srv, client(srv.base_url, config=cfg) as c:
        with pytest.raises(EndpointTimeout, match="stream still open") as ei:
            c.complete(ChatRequest.user("x", stream=True))
    assert time.monotonic() - t0 < 3.5
    assert ei.value.partial.startswith("la la ")


def test_connection_refused(key_env: str) -> None:
    t0 = time.monotonic()
    with client(refused_url(), budget=QueryBudget(1)) as c:
        with pytest.raises(EndpointUnreachable, match="cannot connect"):
            c.complete(ChatRequest.user("x"))
        # the retries never reached an endpoint: the budget is refunded, so a budget of 1 was enough for all three
        assert c.budget.snapshot().charged == 0
    assert time.monotonic() - t0 < 3.0


def test_budget_exceeded_keeps_partial_results(key_env: str) -> None:
    with FakeEndpoint("ok") as srv, client(srv.base_url, budget=QueryBudget(3)) as c:
        res = c.complete_many([ChatRequest.user(f"q{i}") for i in range(5)])
    ok = [r for r in res if not isinstance(r, ProbeError)]
    errs = [r for r in res if isinstance(r, ProbeError)]
    assert len(ok) == 3 and len(errs) == 2 and all(isinstance(e, BudgetExceeded) for e in errs)
    assert len(srv.requests) == 3


def test_api_key_never_leaks(tmp_path: Path, key_env: str, caplog: pytest.LogCaptureFixture,
                             capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeEndpoint("echo_auth") as srv:
        with client(srv.base_url, cache=ResponseCache(tmp_path)) as c:
            with pytest.raises(EndpointHTTPError) as ei:
                c.complete(ChatRequest.user("x"))
        assert srv.requests[0]["auth"] == f"Bearer {SECRET}"  # the key was really sent...
        assert SECRET not in str(ei.value) and "***" in str(ei.value)  # ...and scrubbed from the error
        rc = main(["probe", srv.base_url, "--model", "m", "--api-key-env", key_env, "--json",
                   "--cache", str(tmp_path), "--timeout", "1", "--deadline", "2"])
    out = capsys.readouterr()
    assert rc == 5 and "HTTP 401" in out.err
    everything = out.out + out.err + caplog.text + "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET not in everything


def test_cli_one_line_error_on_refused(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["probe", refused_url(), "--model", "m", "--timeout", "0.5", "--deadline", "0.3"])
    err = capsys.readouterr().err
    assert rc == 5 and err.count("\n") == 1 and "no query was answered" in err and "Traceback" not in err


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--same", "http://127.0.0.1:1/v1"]) == 2
    assert main(["probe", "ftp://x", "--model", "m"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err


def test_parse_rejects_non_completion(key_env: str) -> None:
    from taoke.blackbox.client import parse_completion

    with pytest.raises(MalformedResponse, match="no choices"):
        parse_completion({"id": 1}, "u")
    with pytest.raises(MalformedResponse, match="error object"):
        parse_completion({"error": {"message": "model not found"}}, "u")
    r = parse_completion(json.loads(json.dumps({"choices": [{"message": {"content": "a"},
                                                              "logprobs": {"content": [
                                                                  {"token": "a", "logprob": -0.1,
                                                                   "top_logprobs": [{"token": "a", "logprob": -0.1}]}]}}],
                                                "usage": {"prompt_tokens": "3"}})), "u")
    assert r.prompt_tokens is None and r.tokens == ("a",) and r.top_logprobs == ((("a", -0.1),),)


def test_library_entry_point_probe_and_replay(tmp_path: Path, key_env: str) -> None:
    import taoke

    with FakeEndpoint("ok") as srv:
        rep = taoke.probe(srv.base_url, model="m", api_key_env=key_env, probes=("tokenizer",), cache=tmp_path)
        url = srv.base_url
    assert rep.queries.charged == 25 + 12 and rep.verdict.wording
    again = taoke.probe(url, model="m", api_key_env=key_env, probes=("tokenizer",), cache=tmp_path, replay=True)
    assert again.queries.charged == 0 and again.queries.cached == 37
    assert again.to_dict()["evidence"]["tokenizer"] == rep.to_dict()["evidence"]["tokenizer"]
