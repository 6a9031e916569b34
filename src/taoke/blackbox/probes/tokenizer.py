"""Tokenizer inference from ``usage.prompt_tokens`` on crafted strings.

Each probe string ``s`` is sent alone as the user message (``max_tokens=1``); the endpoint reports
``prompt_tokens(s) = overhead + n_T(s) + e``, where the overhead is the chat template (and any hidden system
prompt) and ``e`` a small boundary effect (a template token next to the content may merge or not). Subtracting
a baseline string's count cancels the overhead, so the observed deltas ``d(s) = p(s) - p(base)`` are compared
with each known tokenizer's ``n_T(s) - n_T(base)`` from a shipped table (``taoke/data/blackbox_tokcounts.json``,
built by ``taoke probe db build``). Tokenizers with identical count vectors on all strings are one class
(e.g. Qwen2.5 = Qwen3 = MiniCPM-V 4.5): the probe cannot tell them apart and says so.

Scoring: the residuals ``r_T(s) = d(s) - (n_T(s) - n_T(base))`` are modelled as independent Laplace(0, b)
with ``b = 0.5`` token; the posterior over classes (uniform prior) is a softmax of ``-sum|r|/b``. A class is
*consistent* when its mean absolute residual is at most ``tolerance`` (default 1 token/string: boundary
merges). If no class is consistent, the verdict is "unknown tokenizer or wrong usage counts" -- a proxy that
rewrites ``usage`` is caught here. The probe also reports the overhead (``p(base) - n_T(base)`` for the best
class): compared with the overhead measured on the real model's own server it reveals an injected system
prompt (see :mod:`taoke.blackbox.probe`).

Cost: ``len(strings) + 1`` queries (1 token generated each); in the shipped table 24 + 1, plus ``repeats``
strings sent a second time (12 in ``taoke probe``) for the mixed-routing test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taoke.blackbox._data import load_versioned_json
from taoke.blackbox.client import ChatClient, ChatRequest, Ledger
from taoke.errors import TokenizerError

TABLE_FORMAT = "taoke-blackbox-tokcounts"
TABLE_VERSION = 2  # 2: ``texts`` and per-tokenizer ``text_counts`` (every probe text, for attribution)
BASELINE = "Hi"

# Crafted to separate tokenizer families: scripts (CJK, Cyrillic, Arabic, Devanagari, Thai, Hangul), digit
# grouping, whitespace runs / indentation, emoji, long rare words, casing, code and JSON punctuation.
PROBE_STRINGS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "1234567890 9876543210 31415926535",
    "人工智能正在改变我们的生活方式，大语言模型的发展日新月异。",
    "東京は日本の首都です。ひらがなとカタカナ。",
    "안녕하세요, 만나서 반갑습니다. 한국어 토큰화 시험.",
    "Привет, как дела? Это проверка токенизатора.",
    "مرحبا بكم في عالم الذكاء الاصطناعي",
    "def f(x):\n    if x:\n        return [i**2 for i in range(x)]\n    return None",
    "a        b\t\t\tc\n\n\n\nd    e",
    "🙂🚀🎉 👩‍💻 ❤️ 🇨🇳",
    '{"url": "https://example.com/path?q=1&r=2", "ok": true, "n": null}',
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "Ça coûte déjà très cher: naïve façade, Größe über Straße, señor año.",
    "नमस्ते, आप कैसे हैं? यह एक परीक्षण है।",
    "∑∫√π ≈ 3.14159 ≤ ∞, ∀x∈ℝ: x² ≥ 0",
    "hahahahahahahahahahahahahahahaha",
    "HELLO World hElLo wOrLd HeLLo",
    "สวัสดีครับ ยินดีต้อนรับสู่ประเทศไทย",
    "0x7fffffff 0xDEADBEEF a1b2c3d4e5f6 2024-01-15T12:30:00Z",
    "tokenization tokenizer Tokenizers TOKENIZED detokenize",
    "if (a != b && c <= d) { x += y >> 2; } // comment",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
    "你好，世界！我是一个语言模型。请问你是谁？",
    "    four spaces\n\ttab\n        eight spaces",
)


def _data_sources(root: Path) -> list[tuple[str, str, Path]]:
    """(name, backend, path) for every tokenizer in the fetched data set that exists on disk."""
    t = root / "tokenizers"
    out: list[tuple[str, str, Path]] = []
    for d in sorted(p for p in t.iterdir() if p.is_dir()):
        if (d / "tokenizer.json").exists():
            out.append((f"hf:{d.name}", "hf", d / "tokenizer.json"))
    for f in sorted((t / "tiktoken").glob("*.tiktoken")) + sorted((t / "whisper-tiktoken").glob("*.tiktoken")):
        prefix = "tiktoken" if f.parent.name == "tiktoken" else "whisper"
        out.append((f"{prefix}:{f.stem}", "tiktoken", f))
    if (t / "anthropic-claude/claude.json").exists():
        out.append(("anthropic:claude-legacy", "claude", t / "anthropic-claude/claude.json"))
    mc = t / "mistral-common"
    for f in sorted(mc.glob("*.model.v*")):
        out.append((f"spm:mistral-{f.name.rsplit('.', 1)[-1]}", "spm", f))
    for f in sorted(mc.glob("tekken_*.json")):
        out.append((f"tekken:{f.stem.split('_', 1)[1]}", "tekken", f))
    for f in sorted((t / "llama-cpp-vocab").glob("ggml-vocab-*.gguf")):
        out.append((f"gguf-vocab:{f.stem.removeprefix('ggml-vocab-')}", "gguf", f))
    tiny = root / "zoo" / "tiny-0" / "tokenizer.json"  # the zoo's small Llamas: SmolLM2's BPE cut to 8192 tokens
    if tiny.exists():
        out.append(("zoo:tiny-llama-8k", "hf", tiny))
    w = root / "weights"
    for name, rel in (("gguf:smollm2-135m-instruct", "smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"),
                      ("gguf:gemma-3-270m", "gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf")):
        if (w / rel).exists():
            out.append((name, "gguf", w / rel))
    return out


def _counter(backend: str, path: Path) -> Callable[[str], int]:
    from taoke.blackbox import _tokcount as tc

    if backend == "hf":
        return tc.hf_counter(path)
    if backend == "spm":
        return tc.spm_counter(path)
    if backend == "gguf":
        return tc.gguf_counter(path)
    if backend == "tiktoken":
        return tc.rank_counter(tc.load_tiktoken_ranks(path), tc.TIKTOKEN_PATTERNS[path.stem])
    if backend == "claude":
        return tc.rank_counter(*tc.load_claude_ranks(path))
    if backend == "tekken":
        return tc.rank_counter(*tc.load_tekken_ranks(path))
    raise TokenizerError(f"unknown backend {backend}", subject=str(path))


def build_table(data_root: Path, *, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Count every probe string (and the baseline) under every tokenizer in ``data_root``; return the table.

    Tokenizers that fail to load are listed under ``skipped`` with the reason (never silently dropped).
    """
    from taoke.blackbox.prompts import user_texts

    strings = [BASELINE, *PROBE_STRINGS]
    texts = list(user_texts())
    entries: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name, backend, path in _data_sources(data_root):
        try:
            count = _counter(backend, path)
            counts = [int(count(s)) for s in strings]
            text_counts = [int(count(s)) for s in texts]
        except Exception as e:  # noqa: BLE001 - a tokenizer a backend cannot read is reported, not fatal
            skipped[name] = f"{type(e).__name__}: {str(e)[:120]}"
            log(f"skip {name}: {skipped[name]}")
            continue
        entries[name] = {"backend": backend, "source": str(path.relative_to(data_root)), "counts": counts,
                         "text_counts": text_counts}
        log(f"{name}: {counts[:6]}...")
    return {"format": TABLE_FORMAT, "version": TABLE_VERSION, "baseline": BASELINE, "strings": strings,
            "texts": texts, "tokenizers": entries, "skipped": skipped}


def load_table(path: Path | None = None) -> dict[str, Any]:
    """The shipped table (or ``path``), checked for format and version."""
    return load_versioned_json("blackbox_tokcounts.json", path, fmt=TABLE_FORMAT, version=TABLE_VERSION,
                               what="tokenizer count table", error=TokenizerError,
                               hint="rebuild it with `taoke probe db build`")


def tokenizer_classes(table: dict[str, Any]) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
    """Group tokenizers whose count vectors are identical: [(member names, counts)], in table order."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for name, e in table["tokenizers"].items():
        groups.setdefault(tuple(e["counts"]), []).append(name)
    return [(tuple(names), counts) for counts, names in groups.items()]


@dataclass(frozen=True)
class ClassFit:
    """How well one tokenizer class explains the observed counts."""

    members: tuple[str, ...]
    mean_abs_residual: float
    posterior: float
    overhead: int

    def to_dict(self) -> dict[str, Any]:
        return {"members": list(self.members), "mean_abs_residual": round(self.mean_abs_residual, 3),
                "posterior": self.posterior, "overhead": self.overhead}


@dataclass(frozen=True)
class TokenizerEvidence:
    """Result of the tokenizer probe. ``best`` is None when no class is consistent (or no usage was reported)."""

    best: ClassFit | None
    ranking: tuple[ClassFit, ...]
    observed: tuple[int | None, ...]
    n_strings_answered: int
    queries: int
    errors: tuple[str, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best.to_dict() if self.best else None,
                "ranking": [c.to_dict() for c in self.ranking[:5]],
                "observed_prompt_tokens": list(self.observed), "strings_answered": self.n_strings_answered,
                "queries": self.queries, "errors": list(self.errors), "note": self.note}


def fit_counts(observed: list[int | None], table: dict[str, Any], *, scale: float = 0.5,
               tolerance: float = 1.0) -> tuple[ClassFit | None, tuple[ClassFit, ...], str]:
    """Score every tokenizer class against observed prompt-token counts (index 0 = baseline)."""
    if observed[0] is None:
        return None, (), "baseline request failed or reported no usage: tokenizer probe inconclusive"
    idx = [i for i in range(1, len(observed)) if observed[i] is not None]
    if len(idx) < 3:
        return None, (), f"only {len(idx)} probe strings answered with usage: inconclusive"
    base = observed[0]
    fits: list[tuple[float, tuple[str, ...], int]] = []
    for members, counts in tokenizer_classes(table):
        res = [abs((observed[i] - base) - (counts[i] - counts[0])) for i in idx]  # type: ignore[operator]
        fits.append((float(sum(res)), members, base - counts[0]))
    lo = min(f[0] for f in fits)
    weights = [math.exp(-(f[0] - lo) / scale) for f in fits]
    z = sum(weights)
    ranked = sorted(
        (ClassFit(m, s / len(idx), w / z, ov) for (s, m, ov), w in zip(fits, weights, strict=True)),
        key=lambda c: c.mean_abs_residual)
    best = ranked[0]
    if best.mean_abs_residual > tolerance:
        return None, tuple(ranked), (
            f"no known tokenizer fits (best {best.members[0]}: {best.mean_abs_residual:.1f} tokens/string off): "
            "unknown tokenizer, or the endpoint's usage counts are wrong")
    note = f"consistent with {', '.join(best.members)} (mean |residual| {best.mean_abs_residual:.2f})"
    if best.overhead < 0:
        note += "; negative template overhead: usage counts look inconsistent"
    return best, tuple(ranked), note


def repeat_strings(table: dict[str, Any], k: int) -> list[str]:
    """The ``k`` probe strings whose counts differ most across the table's tokenizer classes (the repeats that
    most likely expose two backends: :mod:`taoke.blackbox.attribution`)."""
    import numpy as np

    counts = np.asarray([c for _m, c in tokenizer_classes(table)], dtype=np.float64)[:, 1:]
    order = np.argsort(-counts.std(axis=0), kind="stable")[:k]
    return [table["strings"][1 + int(i)] for i in sorted(order)]


def run(client: ChatClient, table: dict[str, Any] | None = None, *, tolerance: float = 1.0,
        repeats: int = 0) -> TokenizerEvidence:
    """Send the baseline and every probe string once, then ``repeats`` of them a second time (for the mixed-
    routing test); fit the first pass's counts to the table."""
    table = table or load_table()
    strings: list[str] = list(table["strings"])
    reqs = [ChatRequest.user(s, max_tokens=1, temperature=0.0) for s in strings]
    reqs += [ChatRequest.user(s, max_tokens=1, temperature=0.0, nonce=1) for s in repeat_strings(table, repeats)]
    before = client.budget.snapshot()
    ledger = Ledger()
    results = ledger.keep(client.complete_many(reqs))[:len(strings)]
    after = client.budget.snapshot()
    observed = [r.prompt_tokens if r is not None else None for r in results]
    if all(r is not None and r.prompt_tokens is None for r in results if r is not None) and any(results):
        note = "endpoint reports no usage.prompt_tokens: tokenizer probe not possible"
        best: ClassFit | None = None
        ranking: tuple[ClassFit, ...] = ()
    else:
        best, ranking, note = fit_counts(observed, table, tolerance=tolerance)
    spent = (after.charged - before.charged) + (after.cached - before.cached)
    return TokenizerEvidence(best, ranking, tuple(observed), sum(o is not None for o in observed[1:]),
                             spent, tuple(ledger.errors), note)
