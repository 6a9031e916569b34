"""The canonical vocabulary: every tokenizer format normalised to token *bytes* by id.

A :class:`Vocab` is what all lineage code works on. Token strings are mapped to the bytes they stand for, so that
the same token compares equal whatever the packaging:

* byte-level BPE (GPT-2, tiktoken-as-HF-JSON, Llama-3, Qwen, ...): the GPT-2 byte↔unicode table is inverted
  (``Ġthe`` → ``b" the"``);
* SentencePiece style (``▁`` word marker, ``<0xNN>`` byte fallback): ``▁`` → space, ``<0xNN>`` → that byte;
* tiktoken rank files, Mistral Tekken and Anthropic's ``claude.json``: base64-decoded bytes;
* WordPiece (BERT ``vocab.txt``): a word-initial token gets a leading space and a ``##`` continuation loses its
  marker (``the`` → ``b" the"``, ``##ing`` → ``b"ing"``), bracketed tokens (``[unused0]``) stay as they are —
  the same rule llama.cpp's converter applies, so a BERT GGUF and its ``vocab.txt`` agree.

Simplifications accepted: normalisers (NFC/NFKC, lower-casing) are not applied to token strings; a token whose
string cannot be mapped (a character outside the byte table of a byte-level vocabulary) falls back to its UTF-8
encoding; "regular" tokens are ``NORMAL`` and ``BYTE`` ones — control, user-defined (added), unknown and unused
tokens are kept in ``tokens`` but compared separately as specials.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

import numpy as np


class TokenType(IntEnum):
    """Token types, numbered as GGUF's ``tokenizer.ggml.token_type`` (and SentencePiece) number them."""

    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


REGULAR_TYPES = frozenset({TokenType.NORMAL, TokenType.BYTE})

#: vocabulary kinds
KINDS = ("bpe-bytelevel", "spm-bpe", "spm-unigram", "wordpiece", "tiktoken", "unknown")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte→printable-character table (``openai/gpt-2`` ``encoder.py``).

    >>> _bytes_to_unicode()[ord(" ")]
    'Ġ'
    """
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


BYTE_ENCODER: Mapping[int, str] = _bytes_to_unicode()
BYTE_DECODER: Mapping[str, int] = {c: b for b, c in BYTE_ENCODER.items()}
# str.translate table for the fast path of bytelevel_to_bytes: each table character becomes the one character
# chr(byte), so that the result encodes to those bytes as Latin-1; a character below 256 that is *not* in the
# table becomes U+FFFF, which Latin-1 cannot encode (so does any other character outside the table), sending the
# token to the slow path
_BYTE_TRANSLATE: dict[int, str] = {i: "\uffff" for i in range(256)} | {ord(c): chr(b) for c, b in BYTE_DECODER.items()}


def utf8(text: str) -> bytes:
    """UTF-8 bytes of a token's text, never an error: lone surrogates — a GGUF string decoded with
    ``surrogateescape`` (an invalid UTF-8 byte kept as U+DC80..U+DCFF), a JSON ``"\\udXXX"`` escape — become the
    byte they stand for (``surrogateescape``) or, outside that range, their 3-byte encoding (``surrogatepass``).

    >>> utf8("a\\udce8"), utf8("\\ud800")
    (b'a\\xe8', b'\\xed\\xa0\\x80')
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass")


def bytelevel_to_bytes(token: str) -> bytes:
    """Undo the GPT-2 byte↔unicode mapping; characters outside the table are UTF-8 encoded.

    >>> bytelevel_to_bytes("Ġthe")
    b' the'
    >>> bytelevel_to_bytes("ä¸Ń").decode()
    '中'
    """
    try:
        return token.translate(_BYTE_TRANSLATE).encode("latin-1")
    except UnicodeEncodeError:
        dec = BYTE_DECODER
        out = bytearray()
        for c in token:
            b = dec.get(c)
            if b is None:
                out += utf8(c)
            else:
                out.append(b)
        return bytes(out)


def spm_to_bytes(token: str) -> bytes:
    """SentencePiece piece → bytes: ``<0xNN>`` is that byte, ``▁`` is a space.

    >>> spm_to_bytes("▁the"), spm_to_bytes("<0x0A>")
    (b' the', b'\\n')
    """
    if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
        try:
            return bytes([int(token[3:5], 16)])
        except ValueError:
            pass
    return utf8(token.replace("\u2581", " "))


def is_spm_byte_piece(token: str) -> bool:
    """``<0xNN>`` byte-fallback piece?"""
    if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
        try:
            int(token[3:5], 16)
        except ValueError:
            return False
        return True
    return False


def wordpiece_to_bytes(token: str) -> bytes:
    """WordPiece token → bytes, with llama.cpp's convention (word-initial tokens get a space).

    >>> wordpiece_to_bytes("the"), wordpiece_to_bytes("##ing"), wordpiece_to_bytes("[CLS]")
    (b' the', b'ing', b'[CLS]')
    """
    if token.startswith("[") and token.endswith("]"):
        return utf8(token)
    if token.startswith("##"):
        return utf8(token[2:])
    return b" " + utf8(token)


def token_hash64(token: bytes) -> int:
    """A stable 64-bit hash of a token's bytes (blake2b), the same on every platform and Python."""
    return int.from_bytes(hashlib.blake2b(token, digest_size=8).digest(), "little")


@dataclass(frozen=True)
class SpecialToken:
    """An added / control / user-defined token."""

    id: int
    text: str
    type: TokenType

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "type": self.type.name.lower()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpecialToken:
        return cls(int(d["id"]), str(d["text"]), TokenType[str(d["type"]).upper()])


@dataclass(frozen=True, eq=False)
class Vocab:
    """A tokenizer's vocabulary, byte-normalised, by id.

    ``tokens[i]`` is the bytes of token ``i`` (``None`` for an id no token uses); ``token_types[i]`` its
    :class:`TokenType`. ``merges`` holds BPE merges as pairs of bytes, in priority order (empty when the format
    has none, e.g. tiktoken rank files). ``specials`` are the added / control / user-defined tokens with their
    text as written in the file. ``meta`` keeps format details (Tekken's ``default_vocab_size``, GGUF ``pre``).
    """

    kind: str
    tokens: tuple[bytes | None, ...]
    token_types: tuple[TokenType, ...]
    merges: tuple[tuple[bytes, bytes], ...] = ()
    specials: tuple[SpecialToken, ...] = ()
    chat_template: str | None = None
    source_format: str = "?"
    path: str = ""
    name: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    # -- derived views (cached; the dataclass is frozen, cached_property writes the instance dict) ------------
    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def size(self) -> int:
        """Number of ids (the embedding rows a model with this tokenizer needs, at least)."""
        return len(self.tokens)

    @cached_property
    def regular(self) -> dict[bytes, int]:
        """Regular (normal + byte) token bytes → the lowest id carrying them."""
        out: dict[bytes, int] = {}
        for i, (t, ty) in enumerate(zip(self.tokens, self.token_types, strict=True)):
            if t is not None and ty in REGULAR_TYPES and t not in out:
                out[t] = i
        return out

    @cached_property
    def regular_ids(self) -> np.ndarray:
        """Ids of regular tokens, ascending (only the first id of duplicated bytes)."""
        return np.fromiter(sorted(self.regular.values()), dtype=np.int64, count=len(self.regular))

    @cached_property
    def hashes(self) -> dict[int, int]:
        """64-bit hash of each regular token → its id."""
        return {token_hash64(t): i for t, i in self.regular.items()}

    @cached_property
    def special_map(self) -> dict[str, int]:
        return {s.text: s.id for s in self.specials}

    @cached_property
    def regular_digest(self) -> str:
        """sha256 over the regular tokens by id: equal digests = same regular tokens at the same ids."""
        h = hashlib.sha256()
        for i in self.regular_ids.tolist():
            t = self.tokens[i] or b""
            h.update(i.to_bytes(4, "little") + len(t).to_bytes(2, "little") + t)
        return h.hexdigest()

    @cached_property
    def tokens_digest(self) -> str:
        """sha256 over every id's bytes and regular/special flag: equal digests = identical tokenizers.

        Token *types* beyond regular/special are left out: packagings disagree on them (``<unk>`` is UNKNOWN in
        SentencePiece, "special" in HF JSON) without the tokenizer being different.
        """
        h = hashlib.sha256()
        for t, ty in zip(self.tokens, self.token_types, strict=True):
            if t is None:
                h.update(b"\x00\xff\xff\xff\xff")
            else:
                h.update((b"\x01" if ty in REGULAR_TYPES else b"\x02") + len(t).to_bytes(4, "little") + t)
        return h.hexdigest()

    @property
    def n_regular(self) -> int:
        return len(self.regular)

    def describe(self) -> str:
        return f"{self.name or self.path} ({self.kind}, {self.size} ids, {self.n_regular} regular, {len(self.specials)} special)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "kind": self.kind,
            "source_format": self.source_format,
            "size": self.size,
            "n_regular": self.n_regular,
            "n_merges": len(self.merges),
            "specials": [s.to_dict() for s in self.specials],
            "has_chat_template": self.chat_template is not None,
            "regular_digest": self.regular_digest,
            "tokens_digest": self.tokens_digest,
            "meta": dict(self.meta),
        }
