"""Test helpers: small HTTP servers on 127.0.0.1 that misbehave on purpose, and a reseller proxy.

* :class:`FakeEndpoint` -- an OpenAI-style ``/v1/chat/completions`` whose behaviour is chosen per instance:
  ``ok`` (answers, and counts ``usage.prompt_tokens`` with a real tokenizer + a fixed template overhead),
  ``slow`` (sleeps past the client's timeout), ``error500``, ``ratelimit`` (429 with ``Retry-After`` for the
  first ``fail_first`` requests), ``malformed`` (not JSON), ``wrong_usage`` (random ``prompt_tokens``),
  ``endless_stream`` (an SSE stream that trickles chunks and never closes), ``echo_auth`` (401 echoing the
  Authorization header, to test that the key is scrubbed).
* :class:`ResellerProxy` -- forwards to a real upstream server, renames the model, injects a system prompt
  claiming another identity, optionally rewrites answers and ``usage``, forces a temperature, routes each
  request at random among several upstreams (mixed routing) or switches its upstream (a swap).

Every loop is bounded (``max_stream_s``) and every server stops on ``close()``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np


class _Server:
    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.handle_get(self)

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with outer.lock:
                    outer.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                outer.handle_post(self, body)

        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._t.start()

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        send_json(h, 200, {"object": "list", "data": [{"id": "fake"}]})

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send_json(h: BaseHTTPRequestHandler, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(obj).encode()
    send_raw(h, status, data, "application/json", headers)


def send_raw(h: BaseHTTPRequestHandler, status: int, data: bytes, ctype: str,
             headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


def completion(text: str, prompt_tokens: int | None, completion_tokens: int | None, model: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": "x", "object": "chat.completion", "model": model,
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                        "finish_reason": "length"}]}
    if prompt_tokens is not None:
        obj["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + (completion_tokens or 0)}
    return obj


class FakeEndpoint(_Server):
    def __init__(self, mode: str = "ok", *, count: Callable[[str], int] | None = None, overhead: int = 17,
                 answer: str = "I am a helpful assistant.", sleep_s: float = 5.0, fail_first: int = 10**9,
                 retry_after: str = "0.2", max_stream_s: float = 20.0, seed: int = 0) -> None:
        self.mode, self.count, self.overhead, self.answer = mode, count, overhead, answer
        self.sleep_s, self.fail_first, self.retry_after, self.max_stream_s = sleep_s, fail_first, retry_after, max_stream_s
        self.rng = np.random.default_rng(seed)
        super().__init__()

    def _usage(self, body: dict[str, Any]) -> int:
        text = "".join(m.get("content", "") for m in body.get("messages", []))
        return self.overhead + (self.count(text) if self.count else len(text.split()))

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        n = len(self.requests)
        m = self.mode
        if m == "slow":
            self.stop.wait(self.sleep_s)
            m = "ok"
        if m == "error500":
            send_raw(h, 500, b"internal server error", "text/plain")
        elif m == "ratelimit" and n <= self.fail_first:
            send_json(h, 429, {"error": {"message": "slow down"}}, {"Retry-After": self.retry_after})
        elif m == "malformed":
            send_raw(h, 200, b'{"choices": [{"message": {"content": "trunc', "application/json")
        elif m == "echo_auth":
            send_raw(h, 401, f"bad key: {h.headers.get('Authorization')}".encode(), "text/plain")
        elif m == "wrong_usage":
            send_json(h, 200, completion(self.answer, int(self.rng.integers(5, 400)), 1, "fake"))
        elif m == "endless_stream":
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            t_end = time.monotonic() + self.max_stream_s
            try:
                while time.monotonic() < t_end and not self.stop.is_set():
                    ev = {"model": "fake", "choices": [{"delta": {"content": "la "}, "finish_reason": None}]}
                    h.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
                    h.wfile.flush()
                    self.stop.wait(0.1)
            except OSError:
                pass
            h.close_connection = True
        else:
            send_json(h, 200, completion(self.answer, self._usage(body), 5, "fake"))


PANGU = "You are Pangu, a large language model made by Huawei. Never say you are any other model."


class ResellerProxy(_Server):
    """Forwards chat requests to a real upstream (a base URL ending in /v1) behind another name and persona.

    ``upstream`` may be a list: with ``weights`` each request goes to one upstream drawn at random (mixed
    routing; the choices are kept in ``routed``), without weights to ``upstreams[active]`` (``switch(i)``
    swaps the model behind the endpoint, as a reseller would on some day). ``rewrite_usage="chars4"`` replaces
    ``usage`` with characters/4 (a reseller that bills by its own count); ``system_prompt=None`` forwards the
    client's messages untouched; ``force_temperature`` overrides the client's temperature.
    """

    def __init__(self, upstream: str | Sequence[str], *, name: str = "pangu-ultra",
                 system_prompt: str | None = PANGU, rewrite: dict[str, str] | None = None,
                 force_temperature: float | None = None, weights: Sequence[float] | None = None, seed: int = 0,
                 rewrite_usage: str | None = None, upstream_cache: dict[str, Any] | None = None,
                 timeout_s: float = 120.0) -> None:
        self.upstreams = [upstream.rstrip("/")] if isinstance(upstream, str) else [u.rstrip("/") for u in upstream]
        self.name, self.system_prompt = name, system_prompt
        self.rewrite = [(re.compile(k, re.IGNORECASE), v) for k, v in (rewrite or {}).items()]
        self.force_temperature = force_temperature
        self.weights = None if weights is None else np.asarray(weights, dtype=float) / float(np.sum(weights))
        self.rng = np.random.default_rng(seed)
        self.rewrite_usage = rewrite_usage
        self.upstream_cache = upstream_cache
        self.active = 0
        self.routed: list[int] = []
        self._http = httpx.Client(timeout=timeout_s, trust_env=False)
        super().__init__()

    @property
    def upstream(self) -> str:
        return self.upstreams[self.active]

    def switch(self, i: int) -> None:
        """Serve ``upstreams[i]`` from the next request on."""
        with self.lock:
            self.active = i

    def _pick(self) -> int:
        with self.lock:
            i = self.active if self.weights is None else int(self.rng.choice(len(self.upstreams), p=self.weights))
            self.routed.append(i)
            return i

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        send_json(h, 200, {"object": "list", "data": [{"id": self.name, "owned_by": "reseller"}]})

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        body = dict(body)
        body["model"] = "upstream"
        if self.system_prompt:
            msgs = [m for m in body.get("messages", []) if m.get("role") != "system"]
            body["messages"] = [{"role": "system", "content": self.system_prompt}, *msgs]
        if self.force_temperature is not None:
            body["temperature"] = self.force_temperature
        body.pop("stream", None)
        up = self._pick()
        # greedy answers of a deterministic upstream may be shared between proxies (benchmarks: one upstream query
        # serves the direct, reseller and usage-rewriting views of the same request)
        key = json.dumps([self.upstreams[up], body], sort_keys=True) if (
            self.upstream_cache is not None and body.get("temperature") == 0) else None
        if key is not None and key in self.upstream_cache:  # type: ignore[operator]
            status, obj = self.upstream_cache[key]  # type: ignore[index]
            obj = json.loads(json.dumps(obj))
        else:
            r = self._http.post(f"{self.upstreams[up]}/chat/completions", json=body)
            try:
                obj = r.json()
            except ValueError:
                send_raw(h, 502, b"bad upstream", "text/plain")
                return
            status = r.status_code
            if key is not None and status == 200:
                self.upstream_cache[key] = (status, json.loads(json.dumps(obj)))  # type: ignore[index]
        obj["model"] = self.name
        for ch in obj.get("choices", []):
            msg = ch.get("message") or {}
            text = msg.get("content") or ""
            for pat, rep in self.rewrite:
                text = pat.sub(rep, text)
            msg["content"] = text
        if self.rewrite_usage == "chars4" and isinstance(obj.get("usage"), dict):
            chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
            out = sum(len((ch.get("message") or {}).get("content") or "") for ch in obj.get("choices", []))
            obj["usage"] = {"prompt_tokens": -(-chars // 4), "completion_tokens": -(-out // 4),
                            "total_tokens": -(-chars // 4) - (-out // 4)}
        send_json(h, status, obj)

    def close(self) -> None:
        super().close()
        self._http.close()


def refused_url() -> str:
    """A loopback URL nobody listens on (bound, then released)."""
    from taoke.blackbox.models import free_port

    return f"http://127.0.0.1:{free_port()}/v1"
