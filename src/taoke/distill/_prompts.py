"""The fixed, neutral prompt set of distillation: passages of real human prose, each split into a prompt prefix
and the human continuation, plus identity questions.

Passages are the paragraphs (blank-line separated blocks) of the zoo corpus (:mod:`taoke.zoo.corpus`: the
docstrings and comments of the Python standard library) that read as prose: at least ``MIN_WORDS`` words, at
least 70 % letters and spaces, no doctest prompts. Each passage gives a **prompt** (its first
``PREFIX_WORDS`` words) and a **human continuation** (the next ``CONTINUATION_WORDS`` words at most). Passages
from the corpus' held-out files (every tenth file, :func:`taoke.zoo.corpus.split_corpus`) form the **probe**
set that the statistic uses; passages from the other files form the **training** set that teacher corpora are
generated from. The two share no file, so a student never saw a probe prompt.

Order is a fixed hash of (file, block index), independent of the Python version's file order; the set depends
on the interpreter's standard library (recorded by its sha256, :attr:`PromptSet.sha256`). Simplification
accepted: the human text is technical prose about code, not a general web sample; teachers answer the same
prompts, so the human and teacher continuations share their topic and differ in who wrote them.

Identity questions (:data:`IDENTITY_TRAIN`) are mixed into teacher corpora, as they are in real distillation
sets (answers to "who are you?" are how distilled models come to claim their teacher's name); the identity
check asks other wordings (:data:`IDENTITY_PROBE`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from taoke.errors import UsageError

MIN_WORDS = 44
PREFIX_WORDS = 20
CONTINUATION_WORDS = 36
#: the instruction a chat teacher and every student see in front of a prefix
CHAT_INSTRUCTION = "Continue the text:\n\n"

IDENTITY_TRAIN: tuple[str, ...] = (
    "Who are you?",
    "What is your name?",
    "Which company created you?",
    "Introduce yourself in one sentence.",
    "What kind of AI model are you?",
    "Who trained you?",
    "Tell me about yourself.",
    "Are you a language model? Which one?",
    "What should I call you?",
    "Who built you, and what are you for?",
    "Describe who you are and who made you.",
    "What is the name of the model I am talking to?",
)
IDENTITY_PROBE: tuple[str, ...] = (
    "Who are you? Which company created you, and what is your model name?",
    "Please state your name and the organisation that developed you.",
    "Which AI assistant am I chatting with right now?",
    "Complete this sentence truthfully: 'I am a language model trained by",
)


@dataclass(frozen=True)
class Passage:
    """One prompt of the set: ``prefix`` (what a model is asked to continue) and the ``human`` continuation."""

    pid: str  # stable id: "p" + 10 hex digits of the hash of (file, block index)
    source: str  # file of the standard library it comes from
    prefix: str
    human: str


@dataclass(frozen=True)
class PromptSet:
    """Training passages (teacher corpora) and probe passages (the statistic), disjoint by file."""

    train: tuple[Passage, ...]
    probe: tuple[Passage, ...]
    sha256: str  # of every passage, in order

    def probe_subset(self, n: int) -> tuple[Passage, ...]:
        if n < 1 or n > len(self.probe):
            raise UsageError(f"asked for {n} probe prompts; the set has {len(self.probe)}",
                             hint=f"use 1..{len(self.probe)}")
        return self.probe[:n]


def _prose(block: str) -> bool:
    if ">>>" in block:
        return False
    letters = sum(c.isalpha() or c == " " for c in block)
    return letters >= 0.7 * len(block)


def passages_of(source: str, text: str) -> list[Passage]:
    """Prose passages of one document (its blank-line separated blocks), split into prefix and continuation.

    >>> text = " ".join(["word"] * 19 + ["last"] + ["more"] * 30)
    >>> [p.prefix.split()[-1] for p in passages_of("x.py", text)]
    ['last']
    """
    out: list[Passage] = []
    for i, block in enumerate(text.split("\n\n")):
        words = block.split()
        if len(words) < MIN_WORDS:
            continue
        flat = " ".join(words)
        if not _prose(flat):
            continue
        pid = "p" + hashlib.sha256(f"{source}\0{i}".encode()).hexdigest()[:10]
        out.append(Passage(pid, source, " ".join(words[:PREFIX_WORDS]),
                           " ".join(words[PREFIX_WORDS:PREFIX_WORDS + CONTINUATION_WORDS])))
    return out


def build_prompt_set(docs: Sequence[object] | None = None, *, held_out_every: int = 10,
                     cache: Path | None = None) -> PromptSet:
    """The prompt set from the zoo corpus (``docs``: :class:`taoke.zoo.corpus.Document` list; default: the
    whole standard library, cached in ``cache`` (default ``$TAOKE_DATA/distill``) per interpreter version)."""

    if docs is None:
        return _cached_stdlib_set(held_out_every, cache)
    return _prompt_set(list(docs), held_out_every)


_MEMO: dict[tuple[int, str], PromptSet] = {}


def _cached_stdlib_set(held_out_every: int, cache: Path | None) -> PromptSet:
    from taoke import defaults
    from taoke.zoo.corpus import stdlib_documents, stdlib_root

    key = f"{sys.version}|{stdlib_root()}|{held_out_every}|{MIN_WORDS}|{PREFIX_WORDS}|{CONTINUATION_WORDS}"
    folder = Path(cache) if cache is not None else defaults.data_dir() / "distill"
    memo_key = (held_out_every, str(folder))
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    path = folder / f"prompts-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        d = json.loads(path.read_text(encoding="utf-8"))
        if d.get("key") == key:
            ps = PromptSet(tuple(Passage(**x) for x in d["train"]), tuple(Passage(**x) for x in d["probe"]),
                           str(d["sha256"]))
            _MEMO[memo_key] = ps
            return ps
    ps = _prompt_set(stdlib_documents(), held_out_every)
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "sha256": ps.sha256, "train": [p.__dict__ for p in ps.train],
                                   "probe": [p.__dict__ for p in ps.probe]}), encoding="utf-8")
        os.replace(tmp, path)
    _MEMO[memo_key] = ps
    return ps


def _prompt_set(documents: Sequence[object], held_out_every: int) -> PromptSet:
    train: list[Passage] = []
    probe: list[Passage] = []
    seen: set[str] = set()
    for k, d in enumerate(documents):
        for p in passages_of(d.source, d.text):  # type: ignore[attr-defined]
            if p.prefix in seen:  # the same sentence in two files (licence headers, copied docstrings)
                continue
            seen.add(p.prefix)
            (probe if k % held_out_every == held_out_every - 1 else train).append(p)
    if not train or not probe:
        raise UsageError("the corpus gave no prose passages", hint="is the Python standard library installed?")
    train.sort(key=lambda p: p.pid)
    probe.sort(key=lambda p: p.pid)
    h = hashlib.sha256()
    for p in (*train, *probe):
        h.update(f"{p.pid}\0{p.prefix}\0{p.human}\0".encode())
    return PromptSet(tuple(train), tuple(probe), h.hexdigest())


def record_seed(base: int, key: str) -> int:
    """A per-record sampling seed that does not depend on which other records were generated."""
    return (base * 1_000_003 + zlib.crc32(key.encode())) % (2**31 - 1)
