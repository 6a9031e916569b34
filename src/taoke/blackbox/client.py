"""A small client for OpenAI-compatible ``/chat/completions`` endpoints, built on httpx.

What it does for every probe: a query budget (:mod:`.budget`), a concurrency limit (a thread pool of
``max_concurrency`` workers over one thread-safe ``httpx.Client``), retries with exponential backoff on 429 and
5xx (honouring ``Retry-After`` when it fits inside the deadline), a per-read timeout plus an overall per-request
deadline (a stream that never closes is cut at the deadline and its partial text returned in the error), an
on-disk response cache keyed by the request (:mod:`.cache`), streaming and non-streaming requests, ``logprobs`` /
``top_logprobs`` when offered and ``usage`` token counts.

The API key is read from an environment variable (``api_key_env``) at request time and only ever placed in
the ``Authorization`` header: it is not an attribute of any value taoke returns, it is scrubbed from every
error message, it is not part of the cache key or the cached value, and requests are logged without headers.

Transports: ``transport=None`` talks to the network; any ``httpx.BaseTransport`` may be injected (e.g.
``httpx.MockTransport`` for tests); ``offline=True`` is the replay mode: answers come only from the cache and a
miss is an error, so a recorded probe can be re-run and checked by a third party without the endpoint.

Simplifications: one choice per request (``n=1``); text content only (no tools, images); ``Retry-After`` is read
as seconds (an HTTP date is treated as absent).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from taoke.blackbox._errors import EndpointHTTPError, EndpointTimeout, EndpointUnreachable, MalformedResponse
from taoke.blackbox.budget import QueryBudget
from taoke.blackbox.cache import ResponseCache, request_key
from taoke.errors import ProbeError, UsageError

log = logging.getLogger("taoke.blackbox")

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Endpoint:
    """Where to send requests: ``base_url`` ends before ``/chat/completions`` (e.g. ``http://host:8000/v1``)."""

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise UsageError(f"not an http(s) URL: {self.base_url!r}", subject=self.base_url,
                             hint="give the API base, e.g. http://127.0.0.1:8000/v1")

    @property
    def chat_url(self) -> str:
        u = self.base_url.rstrip("/")
        if u.endswith("/chat/completions"):
            return u
        if not u.endswith("/v1"):
            u += "/v1"
        return u + "/chat/completions"

    def to_dict(self) -> dict[str, str]:
        return {"base_url": self.base_url, "model": self.model, "api_key_env": self.api_key_env}


@dataclass(frozen=True)
class ChatRequest:
    """One chat request. ``nonce`` is local only: it separates repeated samples in the cache and is not sent."""

    messages: tuple[tuple[str, str], ...]
    max_tokens: int = 32
    temperature: float = 0.0
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    stream: bool = False
    nonce: int = 0
    extra: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def user(cls, text: str, *, system: str | None = None, **kw: Any) -> ChatRequest:
        msgs: list[tuple[str, str]] = [] if system is None else [("system", system)]
        msgs.append(("user", text))
        return cls(messages=tuple(msgs), **kw)

    def body(self, model: str) -> dict[str, Any]:
        b: dict[str, Any] = {
            "model": model,
            "messages": [{"role": r, "content": c} for r, c in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if self.seed is not None:
            b["seed"] = self.seed
        if self.logprobs:
            b["logprobs"] = True
            if self.top_logprobs:
                b["top_logprobs"] = self.top_logprobs
        if self.stream:
            b["stream"] = True
        b.update(dict(self.extra))
        return b


@dataclass(frozen=True)
class ChatResponse:
    """The parts of an answer the probes use. ``top_logprobs``: per generated token, (token, logprob) pairs."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    model: str | None
    tokens: tuple[str, ...] | None = None
    top_logprobs: tuple[tuple[tuple[str, float], ...], ...] | None = None
    cached: bool = False
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "finish_reason": self.finish_reason,
                "model": self.model, "cached": self.cached}


@dataclass(frozen=True)
class ClientConfig:
    """Limits of a client. Times in seconds; ``deadline_s`` bounds one request including retries and streams."""

    timeout_s: float = 30.0
    deadline_s: float = 120.0
    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_concurrency: int = 4
    max_body_bytes: int = 8 << 20  # an answer (or a whole stream) larger than this is cut: MalformedResponse


_MAX_COUNT = 10**9  # a token count above this is not a count
_MAX_TOP = 64  # alternatives kept per position
_MAX_FIELD = 200  # characters kept of short string fields (model name, error message)


def _count_or_none(x: Any) -> int | None:
    """A token count: a non-negative int (bool excluded) below 10^9, else None (a wrong type is no count)."""
    return x if isinstance(x, int) and not isinstance(x, bool) and 0 <= x < _MAX_COUNT else None


def _logprob(x: Any) -> float | None:
    """A log-probability: a finite real number <= 0 (small positive float noise allowed), else None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    v = float(x)
    return v if math.isfinite(v) and v <= 1e-6 else None


def _content_text(content: Any) -> str | None:
    """``message.content`` as text: a string, or the text parts of a list of content parts; None otherwise."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        if parts and all(isinstance(t, str) for t in parts):
            return "".join(parts)  # type: ignore[arg-type]
    return None


def _parse_logprobs(lp: Any) -> tuple[tuple[str, ...], tuple[tuple[tuple[str, float], ...], ...]] | None:
    if not isinstance(lp, dict) or not isinstance(lp.get("content"), list):
        return None
    toks: list[str] = []
    tops: list[tuple[tuple[str, float], ...]] = []
    for item in lp["content"]:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            continue
        toks.append(item["token"])
        alts = item.get("top_logprobs")
        row: list[tuple[str, float]] = []
        for a in alts[:_MAX_TOP] if isinstance(alts, list) else ():
            if isinstance(a, dict) and isinstance(a.get("token"), str):
                v = _logprob(a.get("logprob"))
                if v is not None:
                    row.append((a["token"], v))
        tops.append(tuple(row))
    return tuple(toks), tuple(tops)


def parse_completion(obj: Any, subject: str) -> ChatResponse:
    """Turn a (non-streaming) chat completion JSON object into a :class:`ChatResponse`.

    Total over any JSON value: the result is a ``ChatResponse`` or a :class:`MalformedResponse`, never another
    exception (fuzzed in ``tests/blackbox/test_hostile.py``). Fields of the wrong type are treated as absent:
    ``usage`` counts that are not non-negative integers become ``None`` (so the tokenizer probe reports "no
    usage" instead of fitting garbage), log-probabilities that are not finite numbers <= 0 are dropped.
    """
    if not isinstance(obj, dict):
        raise MalformedResponse("answer is not a JSON object", subject=subject)
    if "error" in obj and "choices" not in obj:
        err = obj["error"]
        msg = err.get("message") if isinstance(err, dict) else err
        raise MalformedResponse(f"endpoint returned an error object: {_short(msg)}", subject=subject)
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse("answer has no choices[0]", subject=subject,
                                hint="is this an OpenAI-compatible /chat/completions endpoint?")
    ch = choices[0]
    msg = ch.get("message")
    text = _content_text(msg.get("content")) if isinstance(msg, dict) and msg.get("content") is not None else None
    if text is None and isinstance(msg, dict) and msg.get("content") is not None:
        raise MalformedResponse("choices[0].message.content is not text", subject=subject)
    if text is None:
        raw = ch.get("text", "")
        if not isinstance(raw, str):
            raise MalformedResponse("choices[0].message.content is not a string", subject=subject)
        text = raw
    usage: dict[str, Any] = obj["usage"] if isinstance(obj.get("usage"), dict) else {}
    parsed = _parse_logprobs(ch.get("logprobs"))
    model = obj.get("model")
    finish = ch.get("finish_reason")
    return ChatResponse(
        text=text,
        prompt_tokens=_count_or_none(usage.get("prompt_tokens")),
        completion_tokens=_count_or_none(usage.get("completion_tokens")),
        finish_reason=finish[:_MAX_FIELD] if isinstance(finish, str) else None,
        model=model[:_MAX_FIELD] if isinstance(model, str) else None,
        tokens=parsed[0] if parsed else None,
        top_logprobs=parsed[1] if parsed else None,
    )


def _short(x: Any) -> str:
    return " ".join(str(x)[:_MAX_FIELD].split())


def _loads(data: bytes | str) -> Any:
    """``json.loads`` whose every failure (bad syntax or encoding, nesting too deep) is a ``ValueError``."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8: {e.reason}") from None


class ChatClient:
    """Budgeted, cached, retrying client of one endpoint. Thread-safe; use as a context manager.

    ``complete(req)`` returns a :class:`ChatResponse` or raises a :class:`ProbeError`; ``complete_many(reqs)``
    runs up to ``max_concurrency`` at once and returns a response or the error for each request (partial
    results: one failing request does not lose the others).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        config: ClientConfig | None = None,
        budget: QueryBudget | None = None,
        cache: ResponseCache | None = None,
        transport: httpx.BaseTransport | None = None,
        offline: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.config = config or ClientConfig()
        self.budget = budget or QueryBudget(None)
        self.cache = cache
        self.offline = offline
        if offline and cache is None:
            raise UsageError("replay (offline) mode needs a cache directory", hint="pass --cache DIR")
        self._sleep = sleep
        limits = httpx.Limits(max_connections=max(1, self.config.max_concurrency))
        self._http = httpx.Client(transport=transport, limits=limits, follow_redirects=False,
                                  trust_env=False)
        self._lock = threading.Lock()
        self.seen_models: set[str] = set()  # the ``model`` field of answers (a leak some servers have)
        self.transcript: list[tuple[ChatRequest, ChatResponse]] = []  # every answered request, in completion order

    # -- context management -------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- secrets ------------------------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        return os.environ.get(self.endpoint.api_key_env) or None

    def _scrub(self, text: str) -> str:
        key = self._api_key()
        return text.replace(key, "***") if key else text

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "identity"}
        key = self._api_key()
        if key:
            h["Authorization"] = f"Bearer {key}"
        return h

    # -- requests -----------------------------------------------------------------------------------------
    def complete(self, req: ChatRequest) -> ChatResponse:
        url = self.endpoint.chat_url
        body = req.body(self.endpoint.model)
        key = request_key(url, body, req.nonce)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.budget.note_cached()
                return self._note(req, replace(parse_completion(hit, url), cached=True))
        if self.offline:
            raise ProbeError("request not in the replay cache", subject=url,
                             hint="run once online with the same --cache to record it")
        t0 = time.monotonic()
        deadline = t0 + self.config.deadline_s
        obj = self._send_with_retries(url, body, req.stream, deadline)
        resp = parse_completion(obj, url)
        if resp.model:
            with self._lock:
                self.seen_models.add(resp.model)
        if self.cache is not None:
            self.cache.put(key, obj)
        return self._note(req, replace(resp, elapsed_s=time.monotonic() - t0))

    def _note(self, req: ChatRequest, resp: ChatResponse) -> ChatResponse:
        with self._lock:
            self.transcript.append((req, resp))
        return resp

    def observations(self, start: int = 0) -> list[tuple[str, int | None]]:
        """``(user text, prompt_tokens)`` of the answered requests from ``start`` on that sent a lone user
        message (the queries whose counts :mod:`taoke.blackbox.attribution` can attribute)."""
        with self._lock:
            items = self.transcript[start:]
        return [(req.messages[0][1], resp.prompt_tokens) for req, resp in items
                if len(req.messages) == 1 and req.messages[0][0] == "user"]

    def complete_many(self, reqs: Sequence[ChatRequest]) -> list[ChatResponse | ProbeError]:
        def one(r: ChatRequest) -> ChatResponse | ProbeError:
            try:
                return self.complete(r)
            except ProbeError as e:
                return e

        if len(reqs) <= 1 or self.config.max_concurrency <= 1:
            return [one(r) for r in reqs]
        with ThreadPoolExecutor(max_workers=self.config.max_concurrency) as ex:
            return list(ex.map(one, reqs))

    def _send_with_retries(self, url: str, body: dict[str, Any], stream: bool, deadline: float) -> dict[str, Any]:
        cfg = self.config
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EndpointTimeout(f"no answer within the {cfg.deadline_s:g} s deadline", subject=url,
                                      hint="raise --deadline, or the endpoint is overloaded")
            self.budget.charge(url)
            retry_after: float | None = None
            try:
                log.debug("POST %s model=%s stream=%s attempt=%d", url, body.get("model"), stream, attempt)
                return self._exchange(url, body, stream, deadline)
            except EndpointHTTPError as e:
                if e.status not in _RETRY_STATUS or attempt >= cfg.max_retries:
                    raise
                retry_after = getattr(e, "retry_after", None)
                last: ProbeError = e
            except EndpointUnreachable as e:
                if isinstance(e, _NotSent):  # nothing reached the endpoint: the query is not spent
                    self.budget.refund()
                if attempt >= cfg.max_retries:
                    raise
                last = e
            attempt += 1
            wait = min(cfg.max_backoff_s, cfg.backoff_s * (2 ** (attempt - 1)))
            if retry_after is not None:
                wait = max(wait, retry_after)
            if time.monotonic() + wait >= deadline:
                raise EndpointTimeout(
                    f"gave up after {attempt} attempt(s): next retry in {wait:g} s would pass the "
                    f"{cfg.deadline_s:g} s deadline (last: {last.message})", subject=url,
                    hint="the endpoint is rate-limiting or failing; retry later or raise --deadline")
            log.debug("retrying %s in %.2f s after: %s", url, wait, last.message)
            self._sleep(wait)

    def _http_error(self, url: str, r: httpx.Response, text: str) -> EndpointHTTPError:
        snippet = self._scrub(" ".join(text.split())[:160])
        hint = {401: "check the key in the environment variable " + self.endpoint.api_key_env,
                403: "the key may lack access to this model", 404: "check the URL and --model",
                429: "rate limited: lower --concurrency or wait"}.get(r.status_code,
                                                                      "the endpoint failed; try again later")
        err = EndpointHTTPError(f"HTTP {r.status_code}: {snippet}", status=r.status_code, subject=url, hint=hint)
        ra = r.headers.get("retry-after")
        try:
            err.retry_after = float(ra) if ra is not None else None  # type: ignore[attr-defined]
        except ValueError:
            err.retry_after = None  # type: ignore[attr-defined]
        return err

    def _exchange(self, url: str, body: dict[str, Any], stream: bool, deadline: float) -> dict[str, Any]:
        """One request: send ``body`` and read the answer within ``deadline`` and ``max_body_bytes``.

        The answer is always read incrementally, so a body that never ends, drips one byte at a time or is
        larger than the limit is cut (at most one read timeout past the deadline) instead of filling memory.
        """
        cfg = self.config
        timeout = httpx.Timeout(max(0.01, min(cfg.timeout_s, deadline - time.monotonic())))
        partial: list[str] = []
        try:
            with self._http.stream("POST", url, json=body, headers=self._headers(), timeout=timeout) as r:
                if r.status_code >= 400:
                    raw, _complete = self._read_capped(r, url, deadline, _ERROR_SNIPPET_BYTES, cut_ok=True)
                    raise self._http_error(url, r, raw.decode("utf-8", "replace"))
                if stream:
                    return self._read_stream(r, url, deadline, partial)
                raw, _complete = self._read_capped(r, url, deadline, cfg.max_body_bytes)
        except httpx.TimeoutException as e:
            if partial:
                raise EndpointTimeout(f"stream stalled for {timeout.read:g} s", subject=url,
                                      hint="raise --timeout, or the endpoint hangs", partial="".join(partial)) from None
            raise EndpointTimeout(f"no answer within {timeout.read:g} s ({type(e).__name__})", subject=url,
                                  hint="raise --timeout, or the endpoint hangs") from None
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as e:
            raise _NotSent(f"cannot connect: {self._scrub(str(e)) or type(e).__name__}", subject=url,
                           hint="is the server running and the URL right?") from None
        except httpx.TransportError as e:
            raise EndpointUnreachable(f"connection failed during the answer: {self._scrub(str(e)) or type(e).__name__}",
                                      subject=url, hint="the endpoint dropped the connection; try again") from None
        try:
            obj = _loads(raw)
        except ValueError:
            text = raw[:200].decode("utf-8", "replace")
            raise MalformedResponse(f"answer is not JSON: {self._scrub(' '.join(text.split())[:80])!r}",
                                    subject=url, hint="is this an OpenAI-compatible endpoint?") from None
        if not isinstance(obj, dict):
            raise MalformedResponse("answer is not a JSON object", subject=url)
        return obj

    def _decoded(self, r: httpx.Response, url: str, cap: int, *, what: str = "answer") -> Iterator[bytes]:
        """The body's bytes, decompressed here (never more than ``cap`` bytes in all: a compression bomb is cut
        after ``cap`` bytes of output, not inflated first). More than ``cap`` bytes is a ``MalformedResponse``."""
        enc = r.headers.get("content-encoding", "").strip().lower()
        if enc in ("", "identity"):
            z = None
        elif enc in ("gzip", "x-gzip", "deflate"):
            z = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in enc else zlib.MAX_WBITS)
        else:
            raise MalformedResponse(f"unsupported Content-Encoding {_short(enc)!r}", subject=url,
                                    hint="taoke asks for uncompressed answers (Accept-Encoding: identity)")
        total = 0
        for raw in r.iter_raw():
            try:
                chunk = raw if z is None else z.decompress(raw, cap - total + 1)
            except zlib.error:
                raise MalformedResponse(f"{what} has a corrupt {enc} body", subject=url) from None
            total += len(chunk)
            if total > cap:
                raise _TooLarge(f"{what} larger than the {cap} byte limit (cut)", subject=url,
                                hint="this is not a chat completion; check the URL")
            yield chunk

    def _read_capped(self, r: httpx.Response, url: str, deadline: float, cap: int,
                     cut_ok: bool = False) -> tuple[bytes, bool]:
        """The body, read chunk by chunk: at most ``cap`` bytes (more is an error unless ``cut_ok``) and not past
        ``deadline``. Returns ``(bytes, complete)``."""
        declared = r.headers.get("content-length", "")
        if not cut_ok and declared.isdigit() and int(declared) > cap:
            raise MalformedResponse(f"answer of {int(declared)} bytes is larger than the {cap} byte limit",
                                    subject=url, hint="this is not a chat completion; check the URL")
        buf = bytearray()
        try:
            for chunk in self._decoded(r, url, cap):
                buf += chunk
                if time.monotonic() > deadline:
                    if cut_ok:
                        return bytes(buf), False
                    raise EndpointTimeout(f"answer still arriving at the {self.config.deadline_s:g} s deadline "
                                          f"({len(buf)} bytes received)", subject=url,
                                          hint="the endpoint sends its answer too slowly; raise --deadline")
        except _TooLarge:
            if cut_ok:
                return bytes(buf), False
            raise
        return bytes(buf), True

    def _read_stream(self, r: httpx.Response, url: str, deadline: float, parts: list[str]) -> dict[str, Any]:
        """Read a server-sent-event stream into one completion object, within the deadline and the byte limit.

        ``parts`` collects the text received so far (the caller reports it when the stream fails)."""
        cap = self.config.max_body_bytes
        state: dict[str, Any] = {"finish": None, "model": None, "usage": None, "done": False}
        buf = bytearray()

        def event(line: bytes) -> None:
            line = line.strip()
            if not line.startswith(b"data:"):
                return
            data = line[5:].strip()
            if data == b"[DONE]":
                state["done"] = True
                return
            try:
                ev = _loads(data)
            except ValueError:
                text = data[:80].decode("utf-8", "replace")
                raise MalformedResponse(f"stream event is not JSON: {self._scrub(text)!r}", subject=url) from None
            if not isinstance(ev, dict):
                raise MalformedResponse("stream event is not a JSON object", subject=url)
            if isinstance(ev.get("model"), str):
                state["model"] = ev["model"][:_MAX_FIELD]
            if isinstance(ev.get("usage"), dict):
                state["usage"] = ev["usage"]
            choices = ev.get("choices")
            for ch in choices if isinstance(choices, list) else ():
                if not isinstance(ch, dict):
                    continue
                delta = ch.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
                if isinstance(ch.get("finish_reason"), str):
                    state["finish"] = ch["finish_reason"][:_MAX_FIELD]

        for chunk in self._decoded(r, url, cap, what="stream"):
            if time.monotonic() > deadline:
                raise EndpointTimeout(
                    f"stream still open at the {self.config.deadline_s:g} s deadline ({len(parts)} chunks received)",
                    subject=url, hint="the endpoint never closed the stream; partial text kept", partial="".join(parts))
            buf += chunk
            while not state["done"]:
                i = buf.find(b"\n")
                if i < 0:
                    break
                line = bytes(buf[:i])
                del buf[:i + 1]
                event(line)
            if state["done"]:
                break
        if not state["done"] and buf:
            event(bytes(buf))
        if not state["done"] and state["finish"] is None:
            raise EndpointTimeout("stream ended without [DONE] or a finish_reason", subject=url,
                                  hint="the connection was cut; partial text kept", partial="".join(parts))
        obj: dict[str, Any] = {"model": state["model"], "choices": [
            {"message": {"role": "assistant", "content": "".join(parts)}, "finish_reason": state["finish"]}]}
        if state["usage"] is not None:
            obj["usage"] = state["usage"]
        return obj


class _TooLarge(MalformedResponse):
    """More bytes than ``ClientConfig.max_body_bytes``."""


class _NotSent(EndpointUnreachable):
    """The connection was never made (refused, DNS, TLS): no request reached the endpoint, no query spent."""


_ERROR_SNIPPET_BYTES = 4096


@dataclass
class Ledger:
    """Collects the requests a probe made and what failed, for the report (no secrets, no headers)."""

    errors: list[str] = field(default_factory=list)

    def keep(self, results: Iterable[ChatResponse | ProbeError]) -> list[ChatResponse | None]:
        out: list[ChatResponse | None] = []
        for r in results:
            if isinstance(r, ProbeError):
                self.errors.append(r.one_line())
                out.append(None)
            else:
                out.append(r)
        return out
