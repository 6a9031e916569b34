"""Load any tokenizer into a :class:`~taoke.tokenizers.Vocab`, dispatching on the file's *content*.

Formats read:

=======================================  =====================================================================
input                                    how it is recognised / read
=======================================  =====================================================================
HF ``tokenizer.json``                    JSON with ``model`` and ``added_tokens`` (+ sibling ``tokenizer_config.json``
                                         for the chat template and added-token flags)
SentencePiece ``tokenizer.model``        protobuf; read with the ``sentencepiece`` package
tiktoken rank file (``*.tiktoken``)      text lines ``<base64> <rank>``
Mistral Tekken (``tekken*.json``)        JSON with ``config`` and a ``vocab`` list of ``token_bytes`` (id = rank +
                                         ``default_num_special_tokens``, cut at ``default_vocab_size``)
Anthropic ``claude.json``                JSON with ``bpe_ranks`` (one string ``"! <offset> b64 b64 …"``)
BERT ``vocab.txt``                       one token per line
GGUF (any, vocab-only or with weights)   ``taoke.io.open_checkpoint(path).embedded_tokenizer()``
a folder / any checkpoint                its tokenizer files (``Checkpoint.tokenizer_files()``, else a scan of the
                                         folder), else the tokenizer embedded in the checkpoint
=======================================  =====================================================================

Every load is bounded: files over :data:`MAX_TOKENIZER_BYTES` are refused (a tokenizer is tens of MB), and a
malformed file raises :class:`~taoke.errors.TokenizerError` with one line. Loaded vocabularies are cached by
(path, size, mtime), so comparing one file against many costs one parse.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from taoke.errors import TaokeError, TokenizerError
from taoke.tokenizers._vocab import (
    SpecialToken,
    TokenType,
    Vocab,
    bytelevel_to_bytes,
    is_spm_byte_piece,
    spm_to_bytes,
    utf8,
    wordpiece_to_bytes,
)

MAX_TOKENIZER_BYTES = 256 << 20
_CACHE_SIZE = 24
_cache: OrderedDict[tuple[str, int, int], Vocab] = OrderedDict()

#: file names looked for in a folder, in order of preference
FOLDER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tekken.json",
    "vocab.txt",
    "claude.json",
)


# ------------------------------------------------------------------------------------------------ entry point
def load(location: Any, *, name: str | None = None) -> Vocab:
    """Load a tokenizer from a file, a folder, a GGUF or an open :class:`taoke.io.Checkpoint`.

    >>> v = load("tokenizers/qwen2_5/tokenizer.json")  # doctest: +SKIP
    >>> v.kind, v.size                                   # doctest: +SKIP
    ('bpe-bytelevel', 151665)
    """
    from taoke.io.base import Checkpoint

    if isinstance(location, Vocab):
        return location
    if isinstance(location, Checkpoint):
        return _from_checkpoint(location, name=name)
    path = os.fspath(location)
    if not os.path.exists(path):
        raise TokenizerError("no such file or folder", subject=path, hint="check the path")
    if os.path.isdir(path):
        return _from_folder(path, name=name)
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit if name is None or name == hit.name else _renamed(hit, name)
    vocab = _load_file(path, name=name)
    _cache[key] = vocab
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return vocab


def clear_cache() -> None:
    """Forget every cached vocabulary."""
    _cache.clear()


def _renamed(v: Vocab, name: str) -> Vocab:
    import dataclasses

    return dataclasses.replace(v, name=name)


def _default_name(path: str) -> str:
    base = os.path.basename(path.rstrip("/"))
    if base in ("tokenizer.json", "tokenizer.model", "vocab.txt", "tokenizer_config.json"):
        return os.path.basename(os.path.dirname(os.path.abspath(path))) or base
    return base


#: what reading a tokenizer file of an unexpected shape raises in the loaders below (int() of a dict, .get on a
#: list, a missing key); memory is bounded separately (ids against the entries, see _check_ids)
_SHAPE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)


def _check_ids(n: int, entries: int, path: str, what: str = "token id") -> None:
    """A vocabulary of ``entries`` tokens whose largest id is ``n - 1``: refuse ids that would size the token table
    far beyond what the file lists (real vocabularies are dense: one id per entry, give or take reserved slots)."""
    if n > 10_000_000 or n > 4 * entries + 65536:
        raise TokenizerError(f"implausible {what} {n - 1} for {entries} entries", subject=path)


def _load_file(path: str, *, name: str | None) -> Vocab:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(64)
    if head[:4] == b"GGUF":
        return _from_gguf(path, name=name)
    if size > MAX_TOKENIZER_BYTES:
        raise TokenizerError(
            f"file of {size} bytes is too large for a tokenizer file", subject=path,
            hint="pass the tokenizer file, a GGUF, or the model folder",
        )
    stripped = head.lstrip()
    try:
        if stripped[:1] == b"{":
            return _from_json(path, name=name)
        if _looks_like_tiktoken(path):
            return load_tiktoken(path, name=name)
        if head[:1] == b"\x0a":  # protobuf field 1 (pieces), length-delimited: a SentencePiece model
            return load_sentencepiece(path, name=name)
        if path.lower().endswith(".txt") and _looks_like_text_vocab(path):
            return load_vocab_txt(path, name=name)
    except _SHAPE_ERRORS as e:  # a JSON of the wrong shape ("rank": {}, "id": "x", "config": []) is malformed
        raise TokenizerError(f"malformed tokenizer file ({type(e).__name__}: {str(e)[:80]})", subject=path) from None
    # a weights file: let the checkpoint readers find its tokenizer
    try:
        from taoke.io import open_checkpoint

        ckpt = open_checkpoint(path)
    except TaokeError as e:
        raise TokenizerError(
            "not a tokenizer taoke can read (expected tokenizer.json, tokenizer.model, *.tiktoken, tekken JSON, "
            "claude.json, vocab.txt, a GGUF or a model folder)", subject=path,
        ) from e
    with ckpt:
        return _from_checkpoint(ckpt, name=name)


def _from_checkpoint(ckpt: Any, *, name: str | None) -> Vocab:
    emb = ckpt.embedded_tokenizer()
    if emb:
        return from_gguf_fields(emb, path=str(ckpt.path), name=name)
    files = list(ckpt.tokenizer_files() or [])
    if files:
        return _best_of_files(files, name=name or _default_name(str(ckpt.path)))
    raise TokenizerError(
        "the checkpoint carries no tokenizer", subject=str(ckpt.path),
        hint="pass its tokenizer.json / tokenizer.model, or the model folder that holds it",
    )


def _best_of_files(files: Iterable[str], *, name: str | None) -> Vocab:
    by_base = {os.path.basename(f): f for f in files}
    for cand in FOLDER_FILES:
        if cand in by_base:
            return load(by_base[cand], name=name)
    for f in sorted(by_base.values()):
        low = f.lower()
        if low.endswith((".tiktoken", ".model")) or ("tekken" in low and low.endswith(".json")):
            return load(f, name=name)
    raise TokenizerError("no tokenizer file among " + ", ".join(sorted(by_base)), subject=os.path.dirname(next(iter(by_base.values()), "")))


def _from_folder(path: str, *, name: str | None) -> Vocab:
    name = name or os.path.basename(os.path.abspath(path))
    entries = sorted(os.listdir(path))
    tok_files = [os.path.join(path, e) for e in entries if e in FOLDER_FILES or e.endswith(".tiktoken")
                 or (e.startswith("tekken") and e.endswith(".json"))]
    if tok_files:
        return _best_of_files(tok_files, name=name)
    try:
        from taoke.io import open_checkpoint

        ckpt = open_checkpoint(path)
    except (TaokeError, ImportError) as e:
        ggufs = [os.path.join(path, e) for e in entries if e.endswith(".gguf")]
        if len(ggufs) == 1:
            return load(ggufs[0], name=name)
        raise TokenizerError("the folder holds no tokenizer file", subject=path,
                             hint="expected tokenizer.json, tokenizer.model, vocab.txt, *.tiktoken or one GGUF") from e
    with ckpt:
        return _from_checkpoint(ckpt, name=name)


def _read_json(path: str) -> Any:
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenizerError(f"malformed JSON ({type(e).__name__}: {str(e)[:80]})", subject=path) from None


def _from_json(path: str, *, name: str | None) -> Vocab:
    doc = _read_json(path)
    if not isinstance(doc, dict):
        raise TokenizerError("JSON is not an object", subject=path)
    if "model" in doc and isinstance(doc["model"], dict):
        return load_hf_json(path, doc=doc, name=name)
    if "bpe_ranks" in doc:
        return load_claude_json(path, doc=doc, name=name)
    if isinstance(doc.get("vocab"), list) and "config" in doc:
        return load_tekken(path, doc=doc, name=name)
    raise TokenizerError(
        "JSON is not a tokenizer taoke knows (HF tokenizer.json, Mistral tekken, Anthropic claude.json)",
        subject=path, hint="for a model folder pass the folder",
    )


def _looks_like_tiktoken(path: str) -> bool:
    with open(path, "rb") as f:
        lines = f.read(4096).splitlines()[:8]
    if not lines:
        return False
    for ln in lines:
        parts = ln.split()
        if len(parts) != 2 or not parts[1].isdigit():
            return False
        try:
            base64.b64decode(parts[0], validate=True)
        except (binascii.Error, ValueError):
            return False
    return True


def _looks_like_text_vocab(path: str) -> bool:
    with open(path, "rb") as f:
        chunk = f.read(4096)
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\n" in chunk and b"\x00" not in chunk


def _vocab_from_arrays(
    tokens: list[bytes | None], types: list[TokenType], *, kind: str, merges: Sequence[tuple[bytes, bytes]],
    specials: Sequence[SpecialToken], chat_template: str | None, source_format: str, path: str, name: str | None,
    meta: Mapping[str, Any] | None = None,
) -> Vocab:
    return Vocab(
        kind=kind, tokens=tuple(tokens), token_types=tuple(types), merges=tuple(merges), specials=tuple(specials),
        chat_template=chat_template, source_format=source_format, path=path, name=name or _default_name(path),
        meta=dict(meta or {}),
    )


# ------------------------------------------------------------------------------------------------ HF JSON
def _has_type(node: Any, typ: str) -> bool:
    if isinstance(node, dict):
        if node.get("type") == typ:
            return True
        return any(_has_type(v, typ) for v in node.values())
    if isinstance(node, list):
        return any(_has_type(v, typ) for v in node)
    return False


def load_hf_json(path: str, *, doc: Mapping[str, Any] | None = None, name: str | None = None) -> Vocab:
    """Hugging Face ``tokenizer.json`` (BPE byte-level or SentencePiece-style, Unigram, WordPiece)."""
    doc = doc if doc is not None else _read_json(path)
    model = doc.get("model")
    if not isinstance(model, dict):
        raise TokenizerError("tokenizer.json has no model section", subject=path)
    mtype = model.get("type") or ("Unigram" if isinstance(model.get("vocab"), list) else "BPE")
    raw_vocab = model.get("vocab")
    pairs: list[tuple[str, int]]
    if isinstance(raw_vocab, dict):
        pairs = [(str(t), int(i)) for t, i in raw_vocab.items()]
    elif isinstance(raw_vocab, list):  # Unigram: [[piece, score], ...]
        pairs = [(str(e[0]), i) for i, e in enumerate(raw_vocab)]
    else:
        raise TokenizerError("tokenizer.json model.vocab is missing", subject=path)
    bytelevel = _has_type(doc.get("pre_tokenizer"), "ByteLevel") or _has_type(doc.get("decoder"), "ByteLevel")
    if mtype == "WordPiece":
        kind, conv = "wordpiece", wordpiece_to_bytes
    elif bytelevel:
        kind, conv = "bpe-bytelevel", bytelevel_to_bytes
    elif mtype == "Unigram":
        kind, conv = "spm-unigram", spm_to_bytes
    else:
        kind, conv = "spm-bpe", spm_to_bytes
    added = [a for a in doc.get("added_tokens") or [] if isinstance(a, dict) and "id" in a and "content" in a]
    n = max([i for _, i in pairs] + [int(a["id"]) for a in added] + [-1]) + 1
    if any(i < 0 for _, i in pairs) or any(int(a["id"]) < 0 for a in added):
        raise TokenizerError("negative token id", subject=path)
    _check_ids(n, len(pairs) + len(added), path)
    tokens: list[bytes | None] = [None] * n
    types: list[TokenType] = [TokenType.UNUSED] * n
    spm_like = kind in ("spm-bpe", "spm-unigram")
    memo: dict[str, bytes] = {}
    for t, i in pairs:
        tokens[i] = memo[t] = conv(t)
        types[i] = TokenType.BYTE if (spm_like and is_spm_byte_piece(t)) else TokenType.NORMAL
    specials: list[SpecialToken] = []
    for a in added:
        i, text = int(a["id"]), str(a["content"])
        ty = TokenType.CONTROL if a.get("special") else TokenType.USER_DEFINED
        tokens[i] = spm_to_bytes(text) if spm_like else utf8(text)
        types[i] = ty
        specials.append(SpecialToken(i, text, ty))
    merges = _hf_merges(model.get("merges") or [], conv, memo)
    chat_template = None
    cfg_path = os.path.join(os.path.dirname(path), "tokenizer_config.json")
    meta: dict[str, Any] = {"model_type": mtype}
    if os.path.exists(cfg_path) and os.path.getsize(cfg_path) < MAX_TOKENIZER_BYTES:
        try:
            cfg = _read_json(cfg_path)
        except TokenizerError:
            cfg = {}
        if isinstance(cfg, dict):
            ct = cfg.get("chat_template")
            if isinstance(ct, list):  # named templates
                ct = next((c.get("template") for c in ct if isinstance(c, dict) and c.get("name") == "default"), None)
            chat_template = ct if isinstance(ct, str) else None
            for k in ("bos_token", "eos_token", "tokenizer_class"):
                v = cfg.get(k)
                if isinstance(v, dict):
                    v = v.get("content")
                if isinstance(v, str):
                    meta[k] = v
    return _vocab_from_arrays(tokens, types, kind=kind, merges=merges, specials=specials,
                              chat_template=chat_template, source_format="hf-json", path=path, name=name, meta=meta)


def _hf_merges(raw: Sequence[Any], conv: Any, memo: dict[str, bytes] | None = None) -> list[tuple[bytes, bytes]]:
    """Merges as pairs of bytes; accepts ``"a b"`` strings (qwen2_5) and ``["a", "b"]`` lists (qwen3)."""
    memo = {} if memo is None else memo

    def c(s: str) -> bytes:
        b = memo.get(s)
        if b is None:
            b = memo[s] = conv(s)
        return b

    out: list[tuple[bytes, bytes]] = []
    append = out.append
    get = memo.get
    for m in raw:
        if isinstance(m, str):
            a, sep, b = m.partition(" ")
            if not sep or " " in b:
                continue
        elif isinstance(m, list | tuple) and len(m) == 2:
            a, b = str(m[0]), str(m[1])
        else:
            continue
        # both halves are nearly always tokens of the vocabulary, converted already
        x, y = get(a), get(b)
        append((x if x is not None else c(a), y if y is not None else c(b)))
    return out


# ------------------------------------------------------------------------------------------------ SentencePiece
def load_sentencepiece(path: str, *, name: str | None = None) -> Vocab:
    """SentencePiece ``.model`` file, through the ``sentencepiece`` package."""
    try:
        import sentencepiece as spm
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise TokenizerError("reading a SentencePiece model needs the sentencepiece package", subject=path,
                             hint="pip install sentencepiece") from e
    sp = spm.SentencePieceProcessor()
    try:
        ok = sp.Load(path)
    except (RuntimeError, OSError, ValueError) as e:  # ValueError: a message quoting bytes that are not UTF-8
        raise TokenizerError(f"not a valid SentencePiece model ({type(e).__name__}: {str(e)[:80]})",
                             subject=path) from None
    if not ok:
        raise TokenizerError("not a valid SentencePiece model", subject=path)
    n = sp.GetPieceSize()
    tokens: list[bytes | None] = []
    types: list[TokenType] = []
    specials: list[SpecialToken] = []
    for i in range(n):
        try:
            piece = sp.IdToPiece(i)
        except (RuntimeError, ValueError) as e:
            raise TokenizerError(f"piece {i} is unreadable ({type(e).__name__})", subject=path) from None
        if sp.IsControl(i):
            ty = TokenType.CONTROL
        elif sp.IsUnknown(i):
            ty = TokenType.UNKNOWN
        elif sp.IsUnused(i):
            ty = TokenType.UNUSED
        elif sp.IsByte(i):
            ty = TokenType.BYTE
        else:
            ty = TokenType.NORMAL
        tokens.append(spm_to_bytes(piece))
        types.append(ty)
        if ty not in (TokenType.NORMAL, TokenType.BYTE):
            specials.append(SpecialToken(i, piece, ty))
    kind = "spm-bpe"
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb

        proto = pb.ModelProto()  # type: ignore[attr-defined]
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
        if proto.trainer_spec.model_type == 1:  # UNIGRAM
            kind = "spm-unigram"
        for i, p in enumerate(proto.pieces):  # USER_DEFINED pieces are not flagged by the processor API
            if p.type == 4 and types[i] == TokenType.NORMAL:
                types[i] = TokenType.USER_DEFINED
                specials.append(SpecialToken(i, p.piece, TokenType.USER_DEFINED))
    except Exception:  # noqa: BLE001 - protobuf missing or a newer schema: the kind stays spm-bpe
        pass
    specials.sort(key=lambda s: s.id)
    return _vocab_from_arrays(tokens, types, kind=kind, merges=(), specials=specials, chat_template=None,
                              source_format="sentencepiece", path=path, name=name)


# ------------------------------------------------------------------------------------------------ tiktoken family
def _b64(tok: str | bytes, path: str) -> bytes:
    if tok in ("=", b"="):  # whisper's multilingual.tiktoken writes the empty token as "="
        return b""
    try:
        return base64.b64decode(tok, validate=True)
    except (binascii.Error, ValueError):
        raise TokenizerError(f"bad base64 token {str(tok)[:20]!r}", subject=path) from None


def _ranked(ranked: Iterable[tuple[bytes, int]], path: str, *, offset: int = 0, limit: int | None = None
            ) -> tuple[list[bytes | None], list[TokenType]]:
    pairs = [(t, r + offset) for t, r in ranked]
    if limit is not None:
        pairs = [(t, i) for t, i in pairs if i < limit]
    n = max((i for _, i in pairs), default=-1) + 1
    if any(i < 0 for _, i in pairs):
        raise TokenizerError("negative rank", subject=path)
    _check_ids(n, len(pairs) + min(max(offset, 0), 65536), path, "rank")
    tokens: list[bytes | None] = [None] * n
    types: list[TokenType] = [TokenType.UNUSED] * n
    for t, i in pairs:
        tokens[i] = t
        types[i] = TokenType.NORMAL if t else TokenType.UNUSED
    return tokens, types


def load_tiktoken(path: str, *, name: str | None = None) -> Vocab:
    """tiktoken rank file: ``<base64 token> <rank>`` per line."""
    ranked: list[tuple[bytes, int]] = []
    with open(path, "rb") as f:
        for ln, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].isdigit():
                raise TokenizerError(f"line {ln} is not '<base64> <rank>'", subject=path)
            ranked.append((_b64(parts[0], path), int(parts[1])))
    tokens, types = _ranked(ranked, path)
    return _vocab_from_arrays(tokens, types, kind="tiktoken", merges=(), specials=(), chat_template=None,
                              source_format="tiktoken", path=path, name=name)


def load_tekken(path: str, *, doc: Mapping[str, Any] | None = None, name: str | None = None) -> Vocab:
    """Mistral Tekken JSON: ranks offset by the special-token slots, cut at ``default_vocab_size``."""
    doc = doc if doc is not None else _read_json(path)
    cfg = doc.get("config") or {}
    n_special = int(cfg.get("default_num_special_tokens", 0) or 0)
    limit = cfg.get("default_vocab_size")
    ranked = []
    for e in doc.get("vocab") or []:
        if not isinstance(e, dict) or "token_bytes" not in e or "rank" not in e:
            raise TokenizerError("tekken vocab entry without token_bytes/rank", subject=path)
        ranked.append((_b64(e["token_bytes"], path), int(e["rank"])))
    tokens, types = _ranked(ranked, path, offset=n_special, limit=int(limit) if limit else None)
    specials: list[SpecialToken] = []
    declared = {int(s["rank"]): str(s.get("token_str", "")) for s in doc.get("special_tokens") or []
                if isinstance(s, dict) and "rank" in s}
    for i in range(min(n_special, len(tokens))):
        text = declared.get(i, f"<SPECIAL_{i}>")
        tokens[i] = utf8(text)
        types[i] = TokenType.CONTROL
        specials.append(SpecialToken(i, text, TokenType.CONTROL))
    meta = {"num_vocab_tokens": cfg.get("num_vocab_tokens"), "default_vocab_size": limit,
            "default_num_special_tokens": n_special, "version": cfg.get("version")}
    return _vocab_from_arrays(tokens, types, kind="tiktoken", merges=(), specials=specials, chat_template=None,
                              source_format="tekken", path=path, name=name, meta=meta)


def load_claude_json(path: str, *, doc: Mapping[str, Any] | None = None, name: str | None = None) -> Vocab:
    """Anthropic's ``claude.json``: ``bpe_ranks`` is ``"! <offset> tok tok …"`` (js-tiktoken's compact form)."""
    doc = doc if doc is not None else _read_json(path)
    raw = doc.get("bpe_ranks")
    if not isinstance(raw, str):
        raise TokenizerError("claude.json bpe_ranks is not a string", subject=path)
    ranked: list[tuple[bytes, int]] = []
    for seg in raw.split("!"):
        parts = seg.split()
        if not parts:
            continue
        if not parts[0].isdigit():
            raise TokenizerError("claude.json bpe_ranks segment without an offset", subject=path)
        off = int(parts[0])
        ranked.extend((_b64(t, path), off + k) for k, t in enumerate(parts[1:]))
    tokens, types = _ranked(ranked, path)
    specials = []
    specials_raw = doc.get("special_tokens") or {}
    for text, i in sorted(specials_raw.items(), key=lambda kv: kv[1]):
        i = int(i)
        if i < 0:
            raise TokenizerError("negative special token id", subject=path)
        _check_ids(i + 1, len(tokens) + len(specials_raw), path, "special token id")
        while i >= len(tokens):
            tokens.append(None)
            types.append(TokenType.UNUSED)
        tokens[i] = utf8(str(text))
        types[i] = TokenType.CONTROL
        specials.append(SpecialToken(i, str(text), TokenType.CONTROL))
    return _vocab_from_arrays(tokens, types, kind="tiktoken", merges=(), specials=specials, chat_template=None,
                              source_format="claude-json", path=path, name=name)


# ------------------------------------------------------------------------------------------------ WordPiece
_BERT_SPECIALS = frozenset({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>", "<pad>", "<unk>", "<mask>"})


def load_vocab_txt(path: str, *, name: str | None = None) -> Vocab:
    """BERT ``vocab.txt``: one WordPiece token per line, id = line number."""
    with open(path, "rb") as f:
        try:
            lines = f.read().decode("utf-8").split("\n")
        except UnicodeDecodeError:
            raise TokenizerError("vocab.txt is not UTF-8 text", subject=path) from None
    if lines and lines[-1] == "":
        lines.pop()
    tokens: list[bytes | None] = []
    types: list[TokenType] = []
    specials: list[SpecialToken] = []
    for i, tok in enumerate(lines):
        tok = tok.rstrip("\r")
        tokens.append(wordpiece_to_bytes(tok))
        if tok in _BERT_SPECIALS:
            types.append(TokenType.CONTROL)
            specials.append(SpecialToken(i, tok, TokenType.CONTROL))
        else:
            types.append(TokenType.NORMAL)
    return _vocab_from_arrays(tokens, types, kind="wordpiece", merges=(), specials=specials, chat_template=None,
                              source_format="vocab-txt", path=path, name=name)


# ------------------------------------------------------------------------------------------------ GGUF
_GGUF_KINDS = {"gpt2": "bpe-bytelevel", "llama": "spm-bpe", "gemma4": "spm-bpe", "t5": "spm-unigram",
               "bert": "wordpiece"}


def _guess_gguf_kind(tokens: Sequence[str]) -> str:
    """For a ``tokenizer.ggml.model`` taoke does not know: ``▁`` pieces mean SentencePiece, ``Ġ`` byte-level."""
    sample = tokens[: 20000]
    spm = sum(1 for t in sample if t.startswith("\u2581"))
    bl = sum(1 for t in sample if t.startswith("\u0120"))
    if spm > bl and spm > len(sample) // 20:
        return "spm-bpe"
    if bl > len(sample) // 20:
        return "bpe-bytelevel"
    return "unknown"


def _from_gguf(path: str, *, name: str | None) -> Vocab:
    from taoke.io import open_checkpoint

    try:
        ckpt = open_checkpoint(path)
    except ImportError as e:  # the GGUF reader module is missing from this install
        raise TokenizerError("the GGUF reader is not available", subject=path) from e
    with ckpt:
        emb = ckpt.embedded_tokenizer()
    if not emb:
        raise TokenizerError("the GGUF carries no tokenizer (no tokenizer.ggml.tokens)", subject=path)
    return from_gguf_fields(emb, path=path, name=name)


def from_gguf_fields(fields: Mapping[str, Any], *, path: str, name: str | None = None) -> Vocab:
    """Build a Vocab from the ``embedded_tokenizer()`` dict of a GGUF (keys ``model``, ``tokens``, ...)."""
    model = str(fields.get("model") or "")
    raw_tokens = fields.get("tokens")
    if raw_tokens is None:
        raise TokenizerError("embedded tokenizer has no tokens", subject=path)
    raw_tokens = [t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in raw_tokens]
    n = len(raw_tokens)
    raw_types = fields.get("token_type")
    type_list = [int(x) for x in raw_types] if raw_types is not None else [1] * n
    if len(type_list) != n:
        raise TokenizerError(f"token_type has {len(type_list)} entries for {n} tokens", subject=path)
    kind = _GGUF_KINDS.get(model) or _guess_gguf_kind(raw_tokens)
    spm_like = kind in ("spm-bpe", "spm-unigram", "wordpiece")
    conv = spm_to_bytes if spm_like else bytelevel_to_bytes
    tokens: list[bytes | None] = []
    types: list[TokenType] = []
    specials: list[SpecialToken] = []
    memo: dict[str, bytes] = {}
    for i, (t, ty_raw) in enumerate(zip(raw_tokens, type_list, strict=True)):
        try:
            ty = TokenType(ty_raw)
        except ValueError:
            ty = TokenType.NORMAL
        if ty in (TokenType.NORMAL, TokenType.BYTE):
            b = memo[t] = conv(t)
            tokens.append(b)
        else:
            tokens.append(spm_to_bytes(t) if spm_like else utf8(t))
            specials.append(SpecialToken(i, t, ty))
        types.append(ty)
    merges = _hf_merges(list(fields.get("merges") or []), conv, memo)
    ct = fields.get("chat_template")
    meta = {"gguf_model": model, "gguf_pre": fields.get("pre"),
            "bos_token_id": fields.get("bos_token_id"), "eos_token_id": fields.get("eos_token_id")}
    return _vocab_from_arrays(tokens, types, kind=kind, merges=merges, specials=specials,
                              chat_template=ct if isinstance(ct, str) else None, source_format="gguf", path=path,
                              name=name, meta=meta)
