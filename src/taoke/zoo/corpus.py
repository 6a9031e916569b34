"""Real, reproducible, offline text for training and evaluating the zoo's models.

The text is the documentation written into the Python standard library of the running interpreter: every
module, class and function docstring (``ast.get_docstring``) and every full-line ``#`` comment of the ``.py``
files under ``sysconfig.get_paths()["stdlib"]``, walked in sorted order (``test``/``tests``, ``idlelib``,
``lib2to3``, ``turtledemo`` and ``site-packages`` are skipped). It is real English prose about code, present on
every machine that runs taoke, and needs no download. Simplification accepted: the text depends on the Python
version; the corpus records ``sys.version`` and the sha256 of its text so a zoo built elsewhere can be told apart.

Tokenisation uses the SmolLM2 tokenizer rebuilt from the GGUF's embedded vocabulary and merges
(``tokenizer.ggml.tokens`` / ``tokenizer.ggml.merges``) with the ``tokenizers`` package: byte-level BPE with
llama.cpp's ``smollm`` pre-tokenisation (each digit split off, then the GPT-2 regex). The 17 control tokens
(ids 0..16, ``<|endoftext|>`` ...) are special tokens. In SmolLM2's vocabulary merge ``i`` produces token id
``252 + i``, so :func:`smollm2_tokenizer` with ``vocab_size=V`` is the same tokenizer truncated to its first
``V - 252`` merges: a real, smaller tokenizer whose ids are a prefix of SmolLM2's (used by the small
independently trained models, see :mod:`taoke.zoo.train`).

Documents are joined with ``<|endoftext|>`` (id 0) and split into disjoint slices by document
(:func:`split_corpus`): one held-out slice for evaluation and ``n`` training slices, one per model that needs
its own data.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from taoke.errors import ReaderError, UsageError

#: directories of the standard library that are not prose about the library (tests, demos, vendored copies)
SKIP_DIRS = frozenset({"test", "tests", "site-packages", "idlelib", "lib2to3", "turtledemo", "__pycache__"})
#: the id SmolLM2's tokenizer gives the first merge (17 control tokens + 235 byte symbols come first)
SMOLLM2_FIRST_MERGE_ID = 252
EOT_ID = 0


@dataclass(frozen=True)
class Document:
    """One piece of real text and where it came from (path relative to the stdlib root)."""

    source: str
    text: str


@dataclass(frozen=True)
class TokenSlice:
    """Token ids of a run of whole documents (joined by ``<|endoftext|>``) and what they came from."""

    name: str
    tokens: np.ndarray  # int64, 1-D
    n_documents: int
    n_chars: int


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_documents(max_chars: int | None = None, *, root: Path | None = None) -> list[Document]:
    """Docstrings and comments of the standard library, one :class:`Document` per file, in sorted order.

    Stops after ``max_chars`` characters (the last file is kept whole).
    """
    base = root or stdlib_root()
    if not base.is_dir():
        raise ReaderError("Python standard library folder not found", subject=str(base))
    docs: list[Document] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for fname in sorted(filenames):
            if not fname.endswith(".py"):
                continue
            path = Path(dirpath) / fname
            text = _file_prose(path)
            if not text:
                continue
            docs.append(Document(source=str(path.relative_to(base)), text=text))
            total += len(text)
            if max_chars is not None and total >= max_chars:
                return docs
    return docs


def _file_prose(path: Path) -> str:
    try:
        src = path.read_text(encoding="utf-8")
        tree = ast.parse(src)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ""
    parts: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc:
                parts.append(doc.strip())
    comment_lines: list[str] = []
    for line in src.splitlines():
        s = line.strip()
        if s.startswith("#") and not s.startswith("#!") and len(s) > 2:
            comment_lines.append(s.lstrip("#").strip())
        elif comment_lines:
            parts.append("\n".join(comment_lines))
            comment_lines = []
    if comment_lines:
        parts.append("\n".join(comment_lines))
    return "\n\n".join(p for p in parts if p)


def corpus_fingerprint(docs: Sequence[Document]) -> str:
    """sha256 of the documents' text, in order (what a zoo records to say which text it was trained on)."""
    h = hashlib.sha256()
    for d in docs:
        h.update(d.source.encode())
        h.update(b"\0")
        h.update(d.text.encode())
        h.update(b"\0")
    return h.hexdigest()


def smollm2_tokenizer(gguf_path: Path, vocab_size: int | None = None):  # -> tokenizers.Tokenizer
    """The SmolLM2 tokenizer rebuilt from a GGUF's embedded vocab/merges, optionally truncated to ``vocab_size``.

    >>> tok = smollm2_tokenizer(path)          # doctest: +SKIP
    >>> tok.encode("Return the value.").ids    # doctest: +SKIP
    [22812, 260, 1420, 30]
    """
    p = Path(gguf_path)
    try:
        st = p.stat()
    except OSError as e:
        raise ReaderError(f"cannot read GGUF: {e.strerror}", subject=str(p)) from None
    tokens, merges = _gguf_vocab(str(p), st.st_size, st.st_mtime_ns)
    return tokenizer_from_vocab(tokens, merges, vocab_size)


@functools.lru_cache(maxsize=4)
def _gguf_vocab(path: str, size: int, mtime_ns: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tokens, merges) embedded in a GGUF, read with taoke's GGUF reader; cached per file version."""
    from taoke.io import open_checkpoint

    with open_checkpoint(path) as ck:
        emb = ck.embedded_tokenizer()
    if not emb or "tokens" not in emb or "merges" not in emb:
        raise ReaderError("the file has no embedded BPE tokenizer (tokens + merges)", subject=path)
    return tuple(str(t) for t in emb["tokens"]), tuple(str(m) for m in emb["merges"])


def tokenizer_from_vocab(tokens: Sequence[str], merges: Sequence[str], vocab_size: int | None = None):
    """Byte-level BPE ``tokenizers.Tokenizer`` with SmolLM2's pre-tokenisation from a token list and merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE

    n = len(tokens) if vocab_size is None else vocab_size
    if not SMOLLM2_FIRST_MERGE_ID < n <= len(tokens):
        raise UsageError(
            f"vocab_size {vocab_size} out of range ({SMOLLM2_FIRST_MERGE_ID + 1}..{len(tokens)})",
            hint="pick a vocabulary that keeps the byte symbols and at least one merge",
        )
    vocab = {t: i for i, t in enumerate(tokens[:n])}
    pairs: list[tuple[str, str]] = []
    for m in merges[: n - SMOLLM2_FIRST_MERGE_ID]:
        left, _, right = m.partition(" ")
        pairs.append((left, right))
    specials = [t for t in tokens[:SMOLLM2_FIRST_MERGE_ID] if t.startswith("<") and t.endswith(">")]
    model = BPE(vocab=vocab, merges=pairs, unk_token=tokens[EOT_ID], fuse_unk=False)
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def tokenize_documents(tokenizer: object, docs: Sequence[Document], name: str = "text") -> TokenSlice:
    """Encode documents and join them with ``<|endoftext|>`` (id 0), which also opens the slice."""
    encs = tokenizer.encode_batch([d.text for d in docs], add_special_tokens=False)  # type: ignore[attr-defined]
    total = sum(len(e.ids) + 1 for e in encs)
    out = np.empty(total, dtype=np.int64)
    pos = 0
    for e in encs:
        out[pos] = EOT_ID
        out[pos + 1 : pos + 1 + len(e.ids)] = e.ids
        pos += 1 + len(e.ids)
    return TokenSlice(name=name, tokens=out, n_documents=len(docs), n_chars=sum(len(d.text) for d in docs))


def split_corpus(
    docs: Sequence[Document], n_train: int, *, held_out_every: int = 10
) -> tuple[list[Document], list[list[Document]]]:
    """Split documents into a held-out set (every ``held_out_every``-th file) and ``n_train`` disjoint runs.

    The training runs are contiguous blocks of the remaining files with about equal character counts, so each
    independently trained model reads text from other modules than the others.
    """
    if n_train < 1 or held_out_every < 2:
        raise UsageError(f"need n_train >= 1 and held_out_every >= 2 (got {n_train}, {held_out_every})")
    held = [d for i, d in enumerate(docs) if i % held_out_every == held_out_every - 1]
    rest = [d for i, d in enumerate(docs) if i % held_out_every != held_out_every - 1]
    if len(rest) < n_train:
        raise UsageError(f"only {len(rest)} documents for {n_train} training slices", hint="raise max_chars")
    sizes = np.cumsum([len(d.text) for d in rest])
    bounds = np.searchsorted(sizes, np.linspace(0, sizes[-1], n_train + 1)[1:-1])
    parts: list[list[Document]] = []
    start = 0
    for b in list(bounds) + [len(rest)]:
        end = max(int(b), start + 1)
        parts.append(list(rest[start:end]))
        start = end
    if any(not p for p in parts):
        raise UsageError("a training slice came out empty", hint="raise max_chars")
    return held, parts


def python_version() -> str:
    return sys.version.split()[0]
