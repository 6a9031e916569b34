"""The client against a hostile endpoint (issue 19, item 4): malformed JSON, endless streams, huge bodies,
compression bombs, wrong ``usage`` types, slow drip, lying lengths. Every case ends within the configured
time, with memory bounded by ``max_body_bytes``, as one ``ProbeError`` (one CLI line, exit 5) or as a parsed
answer whose wrong fields are treated as absent.

Two layers: real HTTP servers on 127.0.0.1 that misbehave at the socket level (:class:`Hostile`), and a seeded
fuzzer that drives the whole client (body reader, decompression, SSE splitter, JSON and schema parsing) through
``httpx.MockTransport`` with generated and mutated answers (``TAOKE_FUZZ_N`` sets the number of cases; the
longer runs are ``benchmarks/blackbox/fuzz_client.py``).
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from taoke.blackbox import (
    ChatClient,
    ChatRequest,
    ChatResponse,
    ClientConfig,
    Endpoint,
    EndpointTimeout,
    EndpointUnreachable,
    MalformedResponse,
)
from taoke.blackbox.client import parse_completion
from taoke.cli import main
from taoke.errors import ProbeError

from .servers import completion

CAP = 1 << 20  # 1 MiB answer limit in these tests
CFG = ClientConfig(timeout_s=1.0, deadline_s=2.0, max_retries=0, max_concurrency=1, max_body_bytes=CAP)
VALID = json.dumps(completion("Hello there.", 21, 3, "m")).encode()


class Hostile:
    """A raw TCP server: reads one HTTP request per connection and answers with ``respond(sock)``."""

    def __init__(self, respond: Callable[[socket.socket], None]) -> None:
        self.respond = respond
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            n = next((int(ln.split(b":")[1]) for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")), 0)
            while len(rest) < n:
                rest += conn.recv(65536)
            self.respond(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def sleep(self, s: float) -> bool:
        """Sleep ``s`` seconds; False when the server is stopping."""
        return not self.stop.wait(s)

    def __enter__(self) -> Hostile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()


def head(status: str = "200 OK", **headers: str) -> bytes:
    hs = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return f"HTTP/1.1 {status}\r\n{hs}\r\n".encode()


def _client(url: str, cfg: ClientConfig = CFG) -> ChatClient:
    return ChatClient(Endpoint(url, "m"), config=cfg)


def _ask(url: str, *, stream: bool = False, cfg: ClientConfig = CFG) -> ChatResponse:
    with _client(url, cfg) as c:
        return c.complete(ChatRequest.user("x", stream=stream))


def _bounded(fn: Callable[[], Any], seconds: float, peak_bytes: int) -> Any:
    """Run ``fn``; assert it returned or raised a ProbeError within ``seconds`` with at most ``peak_bytes`` traced."""
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        try:
            out: Any = fn()
        except ProbeError as e:
            out = e
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    took = time.monotonic() - t0
    assert took < seconds, f"took {took:.1f} s"
    assert peak < peak_bytes, f"peak {peak / 2**20:.1f} MiB"
    return out


# -- socket-level misbehaviour --------------------------------------------------------------------------------


def test_huge_declared_body_refused_without_reading() -> None:
    def respond(s: socket.socket) -> None:
        s.sendall(head(Content_Type="application/json", Content_Length=str(10**11)) + b"{" * 1000)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url), 2.0, 4 * CAP)
    assert isinstance(err, MalformedResponse) and "larger than" in err.message


def test_huge_undeclared_body_cut_at_limit() -> None:
    def respond(s: socket.socket) -> None:
        s.sendall(head(Content_Type="application/json", Connection="close") + b'{"choices": ["')
        block = b"A" * 65536
        for _ in range(2000):  # 128 MiB if nobody stops reading
            s.sendall(block)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url), 3.0, 4 * CAP)
    assert isinstance(err, MalformedResponse) and "byte limit" in err.message


def test_gzip_bomb_is_not_inflated() -> None:
    bomb = gzip.compress(b"\0" * (256 << 20), compresslevel=9)  # 256 MiB of zeros in ~250 kB
    def respond(s: socket.socket) -> None:
        s.sendall(head(Content_Type="application/json", Content_Encoding="gzip",
                       Content_Length=str(len(bomb))) + bomb)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url), 3.0, 4 * CAP)
    assert isinstance(err, MalformedResponse) and "byte limit" in err.message


def test_slow_drip_cut_at_deadline() -> None:
    def respond(s: socket.socket) -> None:
        s.sendall(head(Content_Type="application/json", Content_Length=str(len(VALID))))
        for b in VALID:  # one byte every 0.2 s: each read succeeds, the whole answer takes ~30 s
            s.sendall(bytes([b]))
            if not h.sleep(0.2):
                return
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url), CFG.deadline_s + CFG.timeout_s + 1.0, 4 * CAP)
    assert isinstance(err, EndpointTimeout) and "still arriving" in err.message


def test_fast_endless_stream_cut_by_size() -> None:
    ev = b'data: {"choices": [{"delta": {"content": "la "}}]}\n\n' * 200
    def respond(s: socket.socket) -> None:
        s.sendall(head(Content_Type="text/event-stream", Connection="close"))
        while h.sleep(0):
            s.sendall(ev)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url, stream=True), 3.0, 4 * CAP)
    assert isinstance(err, (MalformedResponse, EndpointTimeout))


def test_stream_line_without_end_cut() -> None:
    def respond(s: socket.socket) -> None:
        s.sendall(head(Content_Type="text/event-stream", Connection="close") + b"data: ")
        while h.sleep(0):
            s.sendall(b"x" * 65536)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url, stream=True), 3.0, 4 * CAP)
    assert isinstance(err, MalformedResponse) and "byte limit" in err.message


def test_content_length_lie_is_a_broken_connection() -> None:
    def respond(s: socket.socket) -> None:
        s.sendall(head(Content_Type="application/json", Content_Length=str(len(VALID) + 500)) + VALID)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url), 3.0, 4 * CAP)
    assert isinstance(err, EndpointUnreachable) and "during the answer" in err.message


def test_silent_server_times_out() -> None:
    def respond(s: socket.socket) -> None:
        h.sleep(10)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url), CFG.timeout_s + 1.5, 4 * CAP)
    assert isinstance(err, EndpointTimeout)


def test_garbage_status_line() -> None:
    def respond(s: socket.socket) -> None:
        s.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n" * 100)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url), 3.0, 4 * CAP)
    assert isinstance(err, EndpointUnreachable)


def test_error_status_with_huge_body_reads_a_snippet_only() -> None:
    def respond(s: socket.socket) -> None:
        s.sendall(head("503 Service Unavailable", Content_Type="text/html", Connection="close"))
        for _ in range(1000):
            s.sendall(b"<p>down</p>" * 6000)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url), 3.0, 4 * CAP)
    assert isinstance(err, ProbeError) and "HTTP 503" in err.message and len(err.one_line()) < 600


HOSTILE_BODIES: dict[str, bytes] = {
    "truncated": VALID[: len(VALID) // 2],
    "deep nesting": b"[" * 200_000,
    "deep object": b'{"a":' * 50_000,
    "not utf-8": b'{"choices": [{"message": {"content": "\xff\xfe"}}]}',
    "html": b"<html><body>Welcome to nginx!</body></html>",
    "json array": b"[1, 2, 3]",
    "null": b"null",
    "content is a number": json.dumps({"choices": [{"message": {"content": 42}}]}).encode(),
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_malformed_bodies(name: str) -> None:
    body = HOSTILE_BODIES[name]
    def respond(s: socket.socket) -> None:
        s.sendall(head(Content_Type="application/json", Content_Length=str(len(body))) + body)
    with Hostile(respond) as h:
        err = _bounded(lambda: _ask(h.base_url), 3.0, 4 * CAP)
    assert isinstance(err, MalformedResponse), (name, err)


@pytest.mark.parametrize("usage", [{"prompt_tokens": "12"}, {"prompt_tokens": 12.5}, {"prompt_tokens": -3},
                                   {"prompt_tokens": True}, {"prompt_tokens": {"n": 1}}, {"prompt_tokens": 10**30},
                                   {"prompt_tokens": None}, "12 tokens", [12]])
def test_wrong_usage_types_are_no_usage(usage: object) -> None:
    obj = completion("ok", 1, 1, "m")
    obj["usage"] = usage
    r = parse_completion(obj, "u")
    assert r.text == "ok" and r.prompt_tokens is None


def test_garbage_logprobs_dropped() -> None:
    obj = completion("ok", 1, 1, "m")
    obj["choices"][0]["logprobs"] = {"content": [
        {"token": "ok", "logprob": -0.1, "top_logprobs": [{"token": "ok", "logprob": -0.1},
                                                          {"token": "no", "logprob": "high"},
                                                          {"token": "nan", "logprob": float("nan")},
                                                          {"token": "pos", "logprob": 3.0}, 7, None]},
        {"token": 5}, "junk"]}
    r = parse_completion(json.loads(json.dumps(obj)), "u")
    assert r.tokens == ("ok",) and r.top_logprobs == ((("ok", -0.1),),)


def test_content_parts_are_text() -> None:
    obj = {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]}
    assert parse_completion(obj, "u").text == "ab"


def test_cli_one_line_for_every_hostile_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    body = HOSTILE_BODIES["deep nesting"]
    def respond(s: socket.socket) -> None:
        s.sendall(head(Content_Type="application/json", Content_Length=str(len(body))) + body)
    with Hostile(respond) as h:
        t0 = time.monotonic()
        rc = main(["probe", h.base_url, "--model", "m", "--timeout", "1", "--deadline", "2", "--budget", "60"])
        took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert rc == 5 and err.count("\n") == 1 and "Traceback" not in err and "not JSON" in err
    assert took < 30


# -- seeded fuzzing of the whole answer path ------------------------------------------------------------------

FUZZ_N = int(os.environ.get("TAOKE_FUZZ_N", "1500"))
SCHEMA_KEYS = ("choices", "usage", "model", "error", "message", "content", "text", "logprobs", "top_logprobs",
               "token", "logprob", "prompt_tokens", "completion_tokens", "finish_reason", "delta", "id")


def _value(rng: np.random.Generator, depth: int = 0) -> Any:
    """A random JSON value biased towards the shape of a chat completion."""
    k = int(rng.integers(0, 10 if depth < 4 else 6))
    if k == 0:
        return None
    if k == 1:
        return bool(rng.integers(0, 2))
    if k == 2:
        return int(rng.choice([0, 1, -1, 7, 2**31, -(2**63), 10**20]))
    if k == 3:
        return float(rng.choice([0.0, -0.5, 1.5, -1e308, 1e-300]))
    if k in (4, 5):
        return str(rng.choice(["", "a", "The ocean", "\u0000", "\ud7ff", "data: [DONE]", "é" * 40]))
    if k in (6, 7):
        return {str(rng.choice(SCHEMA_KEYS)): _value(rng, depth + 1) for _ in range(int(rng.integers(0, 5)))}
    return [_value(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]


def _completion_like(rng: np.random.Generator) -> dict[str, Any]:
    obj = completion(str(_value(rng)), int(rng.integers(0, 500)), int(rng.integers(0, 50)), "m")
    obj["choices"][0]["logprobs"] = {"content": [{"token": "a", "logprob": -0.5,
                                                  "top_logprobs": [{"token": "a", "logprob": -0.5}]}]}
    # replace a few random nodes by random values
    for _ in range(int(rng.integers(0, 4))):
        node: Any = obj
        path = []
        while isinstance(node, (dict, list)) and node and rng.random() < 0.7:
            key = rng.choice(list(node)) if isinstance(node, dict) else int(rng.integers(0, len(node)))
            path.append((node, key))
            node = node[key]
        if path:
            parent, key = path[-1]
            parent[key] = _value(rng)
    return obj


def _mutate(rng: np.random.Generator, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        op = int(rng.integers(0, 4))
        i = int(rng.integers(0, max(1, len(b))))
        if op == 0 and b:
            b[i % len(b)] = int(rng.integers(0, 256))
        elif op == 1:
            b[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8))
        elif op == 2:
            del b[i:i + int(rng.integers(1, 16))]
        else:
            b[i:i] = b[i:i + int(rng.integers(1, 64))] * int(rng.integers(1, 4))
    return bytes(b)


def fuzz_cases(rng: np.random.Generator) -> Iterator[tuple[bool, bytes, dict[str, str]]]:
    """(stream?, body, headers) for one fuzz case."""
    while True:
        stream = bool(rng.integers(0, 3) == 0)
        if stream:
            events = [json.dumps({"model": "m", "choices": [{"delta": {"content": str(_value(rng))},
                                                               "finish_reason": None}]}) for _ in range(3)]
            events.append(json.dumps(_value(rng)))
            text = "".join(f"data: {e}\n\n" for e in events) + "data: [DONE]\n\n"
            body = text.encode()
        else:
            body = json.dumps(_completion_like(rng) if rng.random() < 0.8 else _value(rng)).encode()
        if rng.random() < 0.6:
            body = _mutate(rng, body)
        headers = {"content-type": "text/event-stream" if stream else "application/json"}
        if rng.random() < 0.1:
            body = gzip.compress(body)
            headers["content-encoding"] = "gzip"
            if rng.random() < 0.5:
                body = _mutate(rng, body)
        yield stream, body, headers


def run_fuzz(n: int, seed: int = 0) -> dict[str, int]:
    """``n`` cases through the full client; returns outcome counts. Anything but a ChatResponse or a
    ProbeError propagates (a finding)."""
    rng = np.random.default_rng(seed)
    cases = fuzz_cases(rng)
    current: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        body = current["body"]  # chunked at random points, as a network would
        cuts = sorted({0, len(body), *(int(x) for x in current["cuts"])})
        return httpx.Response(200, content=iter([body[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]),
                              headers=current["headers"])

    counts = {"answer": 0, "error": 0}
    cfg = ClientConfig(timeout_s=1.0, deadline_s=2.0, max_retries=0, max_concurrency=1, max_body_bytes=1 << 16)
    with ChatClient(Endpoint("http://fuzz.invalid/v1", "m"), config=cfg,
                    transport=httpx.MockTransport(handler)) as c:
        for i in range(n):
            stream, body, headers = next(cases)
            current.update(body=body, headers=headers, cuts=rng.integers(0, len(body) + 1, 3))
            try:
                r = c.complete(ChatRequest.user("x", stream=stream, nonce=i))
            except ProbeError as e:
                assert e.one_line().count("\n") == 0
                counts["error"] += 1
                continue
            assert isinstance(r.text, str)
            assert r.prompt_tokens is None or (isinstance(r.prompt_tokens, int) and r.prompt_tokens >= 0)
            assert r.top_logprobs is None or all(lp <= 1e-6 for row in r.top_logprobs for _t, lp in row)
            counts["answer"] += 1
    return counts


def test_fuzz_client_answer_path() -> None:
    counts = run_fuzz(FUZZ_N)
    assert counts["answer"] > FUZZ_N // 10 and counts["error"] > FUZZ_N // 10  # both paths exercised
