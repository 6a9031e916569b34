"""Token counters for every tokenizer format in the fetched data, used to build the tokenizer table.

Backends (field libraries where they exist):
  * HF ``tokenizer.json``: the ``tokenizers`` package, ``encode(s, add_special_tokens=False)``;
  * SentencePiece ``.model``: the ``sentencepiece`` package;
  * GGUF vocabularies (llama.cpp test vocabs and the weights' embedded tokenizers): llama-cpp-python
    ``Llama(path, vocab_only=True).tokenize(..., add_bos=False)`` -- the same code that serves the model;
  * tiktoken-style rank tables (OpenAI ``.tiktoken``, Anthropic's legacy ``claude.json``, Mistral Tekken):
    a small rank-BPE (merge the adjacent pair of lowest rank until none is in the table, as tiktoken does),
    with the split regex run by ``tokenizers``' Oniguruma ``Split`` pre-tokenizer (the ``regex`` module is not
    a dependency). The split patterns of the OpenAI encodings are not in the rank files; they are the published
    constants below.

Only counts are needed, so special tokens are never parsed in probe strings.
"""

from __future__ import annotations

import atexit
import base64
import json
from collections.abc import Callable
from pathlib import Path

from taoke.errors import TokenizerError

GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
CL100K_PAT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
              r"""\s*[\r\n]+|\s+(?!\S)|\s+""")
O200K_PAT = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
TIKTOKEN_PATTERNS = {"r50k_base": GPT2_PAT, "p50k_base": GPT2_PAT, "gpt2": GPT2_PAT, "multilingual": GPT2_PAT,
                     "cl100k_base": CL100K_PAT, "o200k_base": O200K_PAT}

Counter = Callable[[str], int]


class RankBPE:
    """tiktoken-style byte BPE over a rank table.

    >>> RankBPE({b"a": 0, b"b": 1, b"ab": 2}, r"\\S+|\\s+").count("ab ab")
    3
    """

    def __init__(self, ranks: dict[bytes, int], pattern: str) -> None:
        from tokenizers import Regex, pre_tokenizers

        self.ranks = ranks
        self._split = pre_tokenizers.Split(Regex(pattern), behavior="isolated")

    def _piece(self, piece: bytes) -> int:
        if piece in self.ranks:
            return 1
        parts = [piece[i:i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            best, best_i = None, -1
            for i in range(len(parts) - 1):
                r = self.ranks.get(parts[i] + parts[i + 1])
                if r is not None and (best is None or r < best):
                    best, best_i = r, i
            if best is None:
                break
            parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
        return len(parts)

    def count(self, text: str) -> int:
        return sum(self._piece(p.encode("utf-8")) for p, _ in self._split.pre_tokenize_str(text))


def load_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        tok, rank = line.split()
        ranks[base64.b64decode(tok)] = int(rank)
    return ranks


def load_claude_ranks(path: Path) -> tuple[dict[bytes, int], str]:
    d = json.loads(path.read_text(encoding="utf-8"))
    ranks: dict[bytes, int] = {}
    fields = d["bpe_ranks"].split(" ")
    i, nxt = 0, 0
    while i < len(fields):
        if fields[i] == "!":
            nxt = int(fields[i + 1])
            i += 2
            continue
        ranks[base64.b64decode(fields[i])] = nxt
        nxt += 1
        i += 1
    return ranks, d["pat_str"]


def load_tekken_ranks(path: Path) -> tuple[dict[bytes, int], str]:
    d = json.loads(path.read_text(encoding="utf-8"))
    cfg = d["config"]
    n = int(cfg["default_vocab_size"]) - int(cfg.get("default_num_special_tokens", 0))
    ranks = {base64.b64decode(v["token_bytes"]): int(v["rank"]) for v in d["vocab"][:n]}
    return ranks, cfg["pattern"]


def hf_counter(path: Path) -> Counter:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    return lambda s: len(tok.encode(s, add_special_tokens=False).ids)


def spm_counter(path: Path) -> Counter:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(path))
    return lambda s: len(sp.encode(s))


_LLAMA_VOCABS: dict[str, object] = {}


def _llama_vocab(path: str) -> object:
    """A vocab-only llama.cpp model per GGUF path, kept for the process and closed at exit (left to interpreter
    teardown, llama-cpp-python's ``__del__`` runs after its own module globals are gone and prints a traceback)."""
    if path not in _LLAMA_VOCABS:
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise TokenizerError("llama-cpp-python is not installed", subject=path,
                                 hint="bash scripts/install.sh server (portable llama-cpp-python build)") from e
        if not _LLAMA_VOCABS:
            atexit.register(_close_llama_vocabs)
        _LLAMA_VOCABS[path] = Llama(model_path=path, vocab_only=True, verbose=False)
    return _LLAMA_VOCABS[path]


def _close_llama_vocabs() -> None:
    while _LLAMA_VOCABS:
        _path, llm = _LLAMA_VOCABS.popitem()
        close = getattr(llm, "close", None)
        if close is not None:
            close()


def gguf_counter(path: Path) -> Counter:
    llm = _llama_vocab(str(path))
    return lambda s: len(llm.tokenize(s.encode("utf-8"), add_bos=False, special=False))  # type: ignore[attr-defined]


def rank_counter(ranks: dict[bytes, int], pattern: str) -> Counter:
    return RankBPE(ranks, pattern).count
