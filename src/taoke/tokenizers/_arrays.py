"""A :class:`~taoke.tokenizers.Vocab` as named numpy arrays plus a JSON-able header, and back.

This is how a fingerprint (:mod:`taoke.index.fingerprint`) stores the full tokenizer: token bytes and merge pairs
packed into zlib-compressed byte blobs with a length array each (``-1`` marks a missing token), token types as
``uint8``; kind, names, specials, chat template and digests in the header. Lossless: the round trip gives a
``Vocab`` with the same tokens, types, merges, specials and digests.

>>> from taoke.tokenizers import TokenType, Vocab
>>> v = Vocab(kind="bpe-bytelevel", tokens=(b"a", b"b", None), token_types=(TokenType.NORMAL,) * 3, merges=((b"a", b"b"),))
>>> arrays, meta = vocab_to_arrays(v)
>>> vocab_from_arrays(meta, arrays).tokens == v.tokens
True
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from taoke.serialize import jsonable
from taoke.tokenizers._vocab import SpecialToken, TokenType, Vocab

__all__ = ["vocab_from_arrays", "vocab_to_arrays"]


def _pack_bytes(items: list[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    lens = np.fromiter((-1 if t is None else len(t) for t in items), dtype=np.int64, count=len(items))
    blob = b"".join(t for t in items if t is not None)
    return np.frombuffer(zlib.compress(blob, 6), dtype=np.uint8), lens


def _unpack_bytes(blob: np.ndarray, lens: np.ndarray) -> list[bytes | None]:
    raw = zlib.decompress(blob.tobytes())
    out: list[bytes | None] = []
    pos = 0
    for n in lens.tolist():
        if n < 0:
            out.append(None)
        else:
            out.append(raw[pos : pos + n])
            pos += n
    return out


def vocab_to_arrays(v: Vocab) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, header)``: arrays ``tok.bytes``, ``tok.lens``, ``tok.types``, ``tok.merges``, ``tok.merge_lens``
    and the JSON-able rest of the vocabulary."""
    arrays: dict[str, np.ndarray] = {}
    arrays["tok.bytes"], arrays["tok.lens"] = _pack_bytes(list(v.tokens))
    arrays["tok.types"] = np.asarray([int(t) for t in v.token_types], dtype=np.uint8)
    flat: list[bytes | None] = [x for pair in v.merges for x in pair]
    arrays["tok.merges"], arrays["tok.merge_lens"] = _pack_bytes(flat)
    meta = {
        "kind": v.kind,
        "source_format": v.source_format,
        "name": v.name,
        "path": v.path,
        "chat_template": v.chat_template,
        "specials": [[s.id, s.text, int(s.type)] for s in v.specials],
        "meta": jsonable(dict(v.meta)),
        "regular_digest": v.regular_digest,
        "tokens_digest": v.tokens_digest,
    }
    return arrays, meta


def vocab_from_arrays(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Vocab:
    """The :class:`Vocab` that :func:`vocab_to_arrays` stored."""
    tokens = tuple(_unpack_bytes(arrays["tok.bytes"], arrays["tok.lens"]))
    types = tuple(TokenType(int(t)) for t in arrays["tok.types"].tolist())
    flat = _unpack_bytes(arrays["tok.merges"], arrays["tok.merge_lens"])
    merges = tuple((flat[i] or b"", flat[i + 1] or b"") for i in range(0, len(flat), 2))
    specials = tuple(SpecialToken(int(i), str(t), TokenType(int(ty))) for i, t, ty in meta["specials"])
    return Vocab(
        kind=meta["kind"], tokens=tokens, token_types=types, merges=merges, specials=specials,
        chat_template=meta.get("chat_template"), source_format=meta.get("source_format", "?"),
        path=meta.get("path", ""), name=meta.get("name", ""), meta=dict(meta.get("meta") or {}),
    )  # fmt: skip
