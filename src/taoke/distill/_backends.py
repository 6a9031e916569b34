"""Language models as distillation needs them: something that *samples* answers to prompts, and, when its
weights are at hand, *scores* given answers (per-token log-probabilities).

Three back-ends behind one small interface (:class:`LanguageModel`):

* :class:`LlamaCppModel` — a GGUF file run in-process by llama-cpp-python (any architecture llama.cpp runs;
  quantised files as served). Samples with llama.cpp's sampler (seeded per request); scores by evaluating
  prompt + answer once and reading the logits of the answer's positions.
* :class:`TorchLlamaModel` — a Hugging Face Llama folder (``config.json`` + ``model.safetensors`` +
  ``tokenizer.json``) run by taoke's torch Llama (:mod:`taoke.zoo.train`); batched scoring and batched sampling
  (no KV cache: fine for the small students of the distillation zoo, slow for large models).
* :class:`EndpointModel` — an OpenAI-compatible chat endpoint through :class:`taoke.blackbox.client.ChatClient`
  (budget, cache, retries). Samples only: a chat API gives no log-probabilities of text it did not write.

Prompt formats: a *chat* model gets ``[{"role": "user", "content": CHAT_INSTRUCTION + prefix}]`` through its
own chat template; a *completion* model (a base model without a chat template) gets the bare prefix, and an
identity question as ``"Q: …\\nA:"``. Answers are scored in the same format they are sampled in.

Simplifications: llama.cpp decodes ``batch`` sequences together but each token is drawn by numpy on the host
(one logits row copied per sequence and step); the torch sampler recomputes the whole prefix at each step; sampling is temperature + nucleus (top-p) + top-k in every back-end, but the random streams
of llama.cpp and numpy differ, so the same seed gives different text in different back-ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from taoke.distill._prompts import CHAT_INSTRUCTION
from taoke.errors import ReaderError, UnsupportedFormat, UsageError

#: the ChatML template the zoo's students are trained and served with (SmolLM2's, without its system line)
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class SamplingParams:
    """How answers are sampled (the same in every back-end, as far as each allows)."""

    max_tokens: int = 56
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40

    def to_dict(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k}


@dataclass(frozen=True)
class Query:
    """One thing to ask: a passage prefix to continue (``kind="continue"``) or a question (``"identity"``)."""

    key: str  # stable id (passage id, or "id:<n>")
    kind: str  # "continue" | "identity"
    text: str


@dataclass(frozen=True)
class Sample:
    """One sampled answer."""

    key: str
    text: str
    n_tokens: int
    finish_reason: str


class LanguageModel(Protocol):
    """What distillation needs of a model. ``can_score`` is False for endpoints."""

    @property
    def name(self) -> str: ...

    @property
    def chat(self) -> bool: ...

    @property
    def can_score(self) -> bool: ...

    def sample(self, queries: Sequence[Query], params: SamplingParams, seeds: Sequence[int],
               progress: Callable[[int], None] | None = None) -> list[Sample]: ...

    def score(self, queries: Sequence[Query], answers: Sequence[str]) -> list[np.ndarray]: ...

    def close(self) -> None: ...


def messages_for(q: Query) -> list[dict[str, str]]:
    return [{"role": "user", "content": (CHAT_INSTRUCTION + q.text) if q.kind == "continue" else q.text}]


def completion_prompt(q: Query) -> str:
    return q.text if q.kind == "continue" else f"Q: {q.text}\nA:"


def clean_answer(text: str) -> str:
    """What is kept of an answer: surrounding whitespace stripped (a base model continues after a space)."""
    return text.strip()


# -- llama.cpp ------------------------------------------------------------------------------------------------


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ModuleNotFoundError:
        raise UsageError("running a GGUF model needs llama-cpp-python",
                         hint="bash scripts/install.sh server (the portable llama.cpp build; a plain "
                         "pip install of llama-cpp-python compiles for this CPU and can crash on AVX-512/AMX)") from None
    return llama_cpp


_LOG_CALLBACK: Any = None


def _silence_llama_log(L: Any) -> None:
    """Route llama.cpp's log (model load, context sizes) to nowhere; taoke reports its own progress."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is None:
        _LOG_CALLBACK = L.llama_log_callback(lambda _level, _text, _user: None)
        L.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


@contextlib.contextmanager
def _quiet_stderr() -> Any:
    """llama.cpp prints its load log on fd 2 even with verbose=False in some builds; silence it while loading."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


class LlamaCppModel:
    """A GGUF file run in-process by llama.cpp, ``batch`` sequences decoded together (llama.cpp's low-level
    batch API: one context with ``batch`` sequences of at most ``seq_len`` tokens each)."""

    can_score = True

    def __init__(self, path: Path, *, n_threads: int = 1, chat: bool | None = None, name: str | None = None,
                 batch: int = 16, seq_len: int = 256) -> None:
        L = _llama_cpp()
        p = Path(path)
        if not p.is_file():
            raise ReaderError("model file not found", subject=str(p))
        with p.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise UnsupportedFormat("not a GGUF file; llama.cpp runs GGUF only", subject=str(p),
                                        hint="give a GGUF file, a Hugging Face Llama folder or an endpoint URL")
        self._L = L
        self.path = p
        self.name = name or p.stem
        self.batch = batch
        self.seq_len = seq_len
        _silence_llama_log(L)
        with _quiet_stderr():
            L.llama_backend_init()
            self._model = L.llama_model_load_from_file(str(p).encode(), L.llama_model_default_params())
            if not self._model:
                raise ReaderError("llama.cpp could not load the model", subject=str(p),
                                  hint="is it a complete GGUF of an architecture llama.cpp supports?")
            cp = L.llama_context_default_params()
            cp.n_ctx = batch * seq_len
            cp.n_batch = batch * seq_len
            cp.n_ubatch = 512
            cp.n_seq_max = batch
            cp.n_threads = n_threads
            cp.n_threads_batch = n_threads
            self._ctx = L.llama_init_from_model(self._model, cp)
        if not self._ctx:
            L.llama_model_free(self._model)
            raise ReaderError("llama.cpp could not create a context", subject=str(p))
        self._vocab = L.llama_model_get_vocab(self._model)
        self._n_vocab = int(L.llama_vocab_n_tokens(self._vocab))
        self._batch = L.llama_batch_init(batch * seq_len, 0, batch)
        template = self._meta("tokenizer.chat_template")
        self.chat = bool(template) if chat is None else chat
        self._template = template or CHATML_TEMPLATE
        self._add_bos = bool(L.llama_vocab_get_add_bos(self._vocab))
        self._closed = False

    def _meta(self, key: str) -> str | None:
        buf = bytes(1 << 16)
        n = self._L.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf[:n].decode("utf-8", errors="replace") if n > 0 else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        L = self._L
        L.llama_batch_free(self._batch)
        L.llama_free(self._ctx)
        L.llama_model_free(self._model)

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        with contextlib.suppress(Exception):
            self.close()

    # -- text <-> tokens --------------------------------------------------------------------------------------
    def tokenize(self, text: str, *, bos: bool, special: bool) -> list[int]:
        L = self._L
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self._vocab, raw, len(raw), buf, cap, bos and self._add_bos, special)
        if n < 0:
            raise ReaderError("llama.cpp could not tokenize the text", subject=self.name)
        return list(buf[:n])

    def detokenize(self, ids: Sequence[int]) -> str:
        L = self._L
        out = bytearray()
        buf = ctypes.create_string_buffer(256)
        for t in ids:
            n = L.llama_token_to_piece(self._vocab, int(t), buf, 256, 0, False)
            if n > 0:
                out += buf.raw[:n]
        return out.decode("utf-8", errors="replace")

    def prompt_text(self, q: Query) -> str:
        if not self.chat:
            return completion_prompt(q)
        import jinja2

        env = jinja2.Environment(loader=jinja2.BaseLoader(), autoescape=False)
        return env.from_string(self._template).render(messages=messages_for(q), add_generation_prompt=True,
                                                      bos_token="", eos_token="")

    def _prompt_ids(self, q: Query) -> list[int]:
        return self.tokenize(self.prompt_text(q), bos=True, special=True)

    # -- decoding ---------------------------------------------------------------------------------------------
    def _decode(self, items: Sequence[tuple[int, int, int, bool]]) -> dict[tuple[int, int], int]:
        """Decode (seq, pos, token, want_logits) items; returns (seq, pos) -> row of the logits."""
        L = self._L
        b = self._batch
        b.n_tokens = 0
        rows: dict[tuple[int, int], int] = {}
        for seq, pos, tok, want in items:
            i = b.n_tokens
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = want
            b.n_tokens = i + 1
            if want:
                rows[(seq, pos)] = i
        rc = L.llama_decode(self._ctx, b)
        if rc != 0:
            raise ReaderError(f"llama.cpp decode failed (code {rc})", subject=self.name)
        return rows

    def _logits(self, row: int) -> np.ndarray:
        ptr = self._L.llama_get_logits_ith(self._ctx, row)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).astype(np.float64)

    def _clear(self) -> None:
        L = self._L
        L.llama_memory_clear(L.llama_get_memory(self._ctx), True)

    def sample(self, queries: Sequence[Query], params: SamplingParams, seeds: Sequence[int],
               progress: Callable[[int], None] | None = None) -> list[Sample]:
        """Sample answers, ``batch`` at a time; each answer draws from ``default_rng(seed)`` (numpy sampler)."""
        L = self._L
        out: list[Sample] = []
        for b0 in range(0, len(queries), self.batch):
            qs = list(queries[b0 : b0 + self.batch])
            rngs = [np.random.default_rng(int(s)) for s in seeds[b0 : b0 + self.batch]]
            cap = self.seq_len - params.max_tokens
            prompts = [self._prompt_ids(q)[-cap:] for q in qs]
            self._clear()
            rows = self._decode([(s, j, t, j == len(p) - 1) for s, p in enumerate(prompts) for j, t in enumerate(p)])
            last = {s: rows[(s, len(p) - 1)] for s, p in enumerate(prompts)}
            gens: list[list[int]] = [[] for _ in qs]
            fin = ["" for _ in qs]
            for _step in range(params.max_tokens):
                step: list[tuple[int, int, int, bool]] = []
                for s in range(len(qs)):
                    if fin[s]:
                        continue
                    t = _draw(self._logits(last[s]), params, rngs[s])
                    if L.llama_vocab_is_eog(self._vocab, t):
                        fin[s] = "stop"
                        continue
                    gens[s].append(t)
                    if len(gens[s]) >= params.max_tokens:
                        fin[s] = "length"
                        continue
                    step.append((s, len(prompts[s]) + len(gens[s]) - 1, t, True))
                if not step:
                    break
                rows = self._decode(step)
                last = {s: rows[(s, pos)] for s, pos, _t, _w in step}
            for s, q in enumerate(qs):
                out.append(Sample(q.key, clean_answer(self.detokenize(gens[s])), len(gens[s]), fin[s] or "length"))
            if progress is not None:
                progress(len(out))
        return out

    def score(self, queries: Sequence[Query], answers: Sequence[str]) -> list[np.ndarray]:
        """Log-probability (natural log) of each answer token given the prompt, one array per answer."""
        seqs: list[tuple[list[int], int]] = []
        for q, a in zip(queries, answers, strict=True):
            p_ids = self._prompt_ids(q)
            a_ids = self.tokenize(("" if self.chat else " ") + a, bos=False, special=False)
            ids = (p_ids + a_ids)[: self.seq_len]
            seqs.append((ids, len(p_ids)))
        res: list[np.ndarray] = [np.zeros(0)] * len(seqs)
        for b0 in range(0, len(seqs), self.batch):
            chunk = list(range(b0, min(len(seqs), b0 + self.batch)))
            self._clear()
            items = [(s, j, t, j >= n_p - 1 and j < len(ids) - 1)
                     for s, i in enumerate(chunk) for ids, n_p in [seqs[i]] for j, t in enumerate(ids)]
            rows = self._decode(items)
            for s, i in enumerate(chunk):
                ids, n_p = seqs[i]
                if len(ids) <= n_p:
                    continue
                lg = np.stack([self._logits(rows[(s, j)]) for j in range(n_p - 1, len(ids) - 1)])
                res[i] = _token_logprobs(lg, np.asarray(ids[n_p:]))
        return res


def _token_logprobs(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    mx = logits.max(axis=1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))
    return logits[np.arange(len(targets)), targets] - lse


# -- torch Llama folders --------------------------------------------------------------------------------------


class TorchLlamaModel:
    """A Hugging Face Llama folder run by taoke's torch Llama; chat when ``tokenizer_config.json`` has a template."""

    can_score = True

    def __init__(self, folder: Path, *, name: str | None = None, batch_size: int = 32) -> None:
        from taoke.zoo.train import LlamaConfig, _torch, build_model

        f = Path(folder)
        need = [f / "config.json", f / "model.safetensors", f / "tokenizer.json"]
        missing = [p.name for p in need if not p.is_file()]
        if missing:
            raise UnsupportedFormat(f"not a Llama folder taoke can run (missing {', '.join(missing)})",
                                    subject=str(f), hint="give a GGUF file or an endpoint URL instead")
        try:
            conf = json.loads((f / "config.json").read_text())
            if conf.get("model_type") != "llama":
                raise UnsupportedFormat(f"model_type {conf.get('model_type')!r}: only Llama folders run in torch",
                                        subject=str(f), hint="convert it to GGUF and give the GGUF file")
            cfg = LlamaConfig.from_hf(conf)
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer

            state = dict(load_file(str(f / "model.safetensors")))
            if cfg.tie_embeddings and "lm_head.weight" in state:
                state.pop("lm_head.weight")
            self._tok = Tokenizer.from_file(str(f / "tokenizer.json"))
        except (OSError, ValueError, KeyError) as e:
            raise ReaderError(f"cannot read the model folder: {e}", subject=str(f)) from None
        self._torch = _torch()
        self._m = build_model(cfg, state)
        self._m.eval()
        self.cfg = cfg
        self.name = name or f.name
        self.path = f
        tc: dict[str, Any] = {}
        if (f / "tokenizer_config.json").is_file():
            with contextlib.suppress(OSError, ValueError):
                tc = json.loads((f / "tokenizer_config.json").read_text())
        self._template = tc.get("chat_template") if isinstance(tc.get("chat_template"), str) else None
        self.chat = self._template is not None
        self.eos_ids = {i for i in (self._tok.token_to_id("<|im_end|>"), self._tok.token_to_id("<|endoftext|>"))
                        if i is not None}
        self.batch_size = batch_size

    def close(self) -> None:
        return None

    def prompt_text(self, q: Query) -> str:
        if not self.chat:
            return completion_prompt(q)
        import jinja2

        env = jinja2.Environment(loader=jinja2.BaseLoader(), autoescape=False)
        return env.from_string(self._template or CHATML_TEMPLATE).render(
            messages=messages_for(q), add_generation_prompt=True)

    def _ids(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def score(self, queries: Sequence[Query], answers: Sequence[str]) -> list[np.ndarray]:
        torch = self._torch
        seqs: list[tuple[list[int], int]] = []
        for q, a in zip(queries, answers, strict=True):
            p_ids = self._ids(self.prompt_text(q))
            a_ids = self._ids(("" if self.chat else " ") + a)
            ids = (p_ids + a_ids)[: self.cfg.max_position]
            seqs.append((ids, len(p_ids)))
        out: list[np.ndarray] = [np.zeros(0)] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]))
        with torch.no_grad():
            for b in range(0, len(order), self.batch_size):
                idx = order[b : b + self.batch_size]
                L = max(len(seqs[i][0]) for i in idx)
                x = torch.zeros((len(idx), L), dtype=torch.long)
                for r, i in enumerate(idx):
                    x[r, : len(seqs[i][0])] = torch.tensor(seqs[i][0])
                lp = torch.log_softmax(self._m(x[:, :-1]).float(), dim=-1)
                for r, i in enumerate(idx):
                    ids, n_p = seqs[i]
                    tgt = torch.tensor(ids[n_p:])
                    if len(tgt) == 0:
                        continue
                    rows = lp[r, n_p - 1 : len(ids) - 1]
                    out[i] = rows.gather(1, tgt[:, None])[:, 0].double().numpy()
        return out

    def sample(self, queries: Sequence[Query], params: SamplingParams, seeds: Sequence[int],
               progress: Callable[[int], None] | None = None) -> list[Sample]:
        """Batched sampling; each query draws from ``numpy.random.default_rng(seed)`` so results do not depend on
        the batch it ran in."""
        torch = self._torch
        out: list[Sample | None] = [None] * len(queries)
        done_n = 0
        for b in range(0, len(queries), self.batch_size):
            qs = list(range(b, min(len(queries), b + self.batch_size)))
            prompts = [self._ids(self.prompt_text(queries[i])) for i in qs]
            gens: list[list[int]] = [[] for _ in qs]
            finished = ["" for _ in qs]
            rngs = [np.random.default_rng(int(seeds[i])) for i in qs]
            with torch.no_grad():
                for _step in range(params.max_tokens):
                    live = [r for r in range(len(qs)) if not finished[r]]
                    if not live:
                        break
                    seq = [prompts[r] + gens[r] for r in live]
                    L = max(len(s) for s in seq)
                    if L >= self.cfg.max_position:
                        for r in live:
                            finished[r] = "length"
                        break
                    x = torch.zeros((len(live), L), dtype=torch.long)
                    last = []
                    for j, s in enumerate(seq):
                        x[j, : len(s)] = torch.tensor(s)
                        last.append(len(s) - 1)
                    logits = self._m(x)[torch.arange(len(live)), torch.tensor(last)].double().numpy()
                    for j, r in enumerate(live):
                        t = _draw(logits[j], params, rngs[r])
                        if t in self.eos_ids:
                            finished[r] = "stop"
                        else:
                            gens[r].append(t)
                for r in range(len(qs)):
                    if not finished[r]:
                        finished[r] = "length"
            for r, i in enumerate(qs):
                text = self._tok.decode(gens[r], skip_special_tokens=True)
                out[i] = Sample(queries[i].key, clean_answer(text), len(gens[r]), finished[r])
            done_n += len(qs)
            if progress is not None:
                progress(done_n)
        return [s for s in out if s is not None]


def _draw(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    """Temperature, top-k then top-p (nucleus) sampling from one row of logits."""
    if params.temperature <= 0:
        return int(np.argmax(logits))
    z = logits / params.temperature
    k = min(params.top_k, len(z)) if params.top_k > 0 else len(z)
    top = np.argpartition(-z, k - 1)[:k]
    top = top[np.argsort(-z[top])]
    p = np.exp(z[top] - z[top[0]])
    p /= p.sum()
    keep = int(np.searchsorted(np.cumsum(p), params.top_p) + 1)
    p = p[:keep] / p[:keep].sum()
    return int(top[rng.choice(len(p), p=p)])


# -- endpoints ------------------------------------------------------------------------------------------------


class EndpointModel:
    """An OpenAI-compatible chat endpoint (sampling only)."""

    can_score = False
    chat = True

    def __init__(self, client: Any, *, name: str | None = None) -> None:
        self.client = client
        self.name = name or client.endpoint.model

    def close(self) -> None:
        self.client.close()

    def score(self, queries: Sequence[Query], answers: Sequence[str]) -> list[np.ndarray]:
        raise UsageError("an endpoint cannot score text it did not write", subject=self.name,
                         hint="give the weights (GGUF file or Llama folder) for the likelihood statistic")

    def sample(self, queries: Sequence[Query], params: SamplingParams, seeds: Sequence[int],
               progress: Callable[[int], None] | None = None) -> list[Sample]:
        from taoke.blackbox.client import ChatRequest
        from taoke.errors import ProbeError

        reqs = [ChatRequest(messages=tuple((m["role"], m["content"]) for m in messages_for(q)),
                            max_tokens=params.max_tokens, temperature=params.temperature,
                            nonce=int(s), extra=(("top_p", params.top_p),))
                for q, s in zip(queries, seeds, strict=True)]
        res = self.client.complete_many(reqs)
        out: list[Sample] = []
        for q, r in zip(queries, res, strict=True):
            if isinstance(r, ProbeError):
                raise r
            out.append(Sample(q.key, clean_answer(r.text), int(r.completion_tokens or 0), r.finish_reason or ""))
        if progress is not None:
            progress(len(out))
        return out
