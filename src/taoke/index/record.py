"""Reading a fingerprint record from bytes someone else made: a bounded ``.npz`` reader and a schema check.

A fingerprint file (:mod:`taoke.index.fingerprint`) is a zip of ``.npy`` members, one of them the JSON header.
``numpy.load`` trusts what it reads: a member's ``.npy`` header that declares shape ``(10**10,)`` makes it allocate
40 GB before it finds the data missing, a deflated member can claim any size, and the header JSON is used field by
field afterwards (``int(h["layers"])``, ``h["roles"][r]["shape"]``, the tokenizer arrays) by the view, the index
and ``taoke compare``. So :func:`read_record` checks, before allocating:

* the archive: at most :data:`MAX_MEMBERS` members named ``*.npy``, each stored or deflated, its declared size at
  most :data:`MAX_RATIO` times its compressed size (deflate's limit) and all together at most :data:`MAX_TOTAL`;
* each member: a valid ``.npy`` header of a plain numeric dtype (no objects, no pickles), whose shape times item
  size is exactly the bytes that follow; only then is the array made (from those bytes);

and :func:`check_record` checks that the header and arrays have the types and shapes their readers use: the
source block, config fields, roles (shape of at most 8 dimensions, each below 2**32), card, parameters, unit
layers, stds, the tokenizer header and its arrays (lengths that add up to the decompressed blobs, token types of
the :class:`~taoke.tokenizers.TokenType` range, specials naming existing ids), the sketches (``desc`` and
``minhash`` of the sizes :mod:`taoke.index.sketch` uses), anchors, exact samples (the shape
:func:`~taoke.index.fingerprint.sample_cells` gives the role) and unit rows (int8 rows with one scale each).

Every failure is one :class:`~taoke.errors.CorruptFile` line naming the file and the field.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from taoke.errors import CorruptFile
from taoke.io.base import ZIP_ERRORS

__all__ = ["read_record", "check_record", "MAX_MEMBERS", "MAX_RATIO", "MAX_TOTAL"]

#: most members a fingerprint archive may have (a 30-layer model with units has ~250)
MAX_MEMBERS = 100_000
#: deflate expands at most ~1032x; a member that claims more lies
MAX_RATIO = 1032
#: most bytes all members may inflate to (a fingerprint is a few MB)
MAX_TOTAL = 1 << 30
#: largest dimension a role may declare (no tensor dimension reaches 2**32)
MAX_DIM = 1 << 32
_NUMERIC_KINDS = frozenset("biuf")
#: what reading one member can raise (RuntimeError: an encrypted member)
_MEMBER_ERRORS: tuple[type[Exception], ...] = (*ZIP_ERRORS, RuntimeError)


def _fail(subject: str, msg: str) -> CorruptFile:
    return CorruptFile(msg, subject=subject, hint="re-create it with `taoke fingerprint MODEL -o FILE`")


def read_record(data: bytes, *, subject: str) -> tuple[Any, dict[str, np.ndarray]]:
    """``(header, arrays)`` of a fingerprint file's bytes, each array checked against the bytes that hold it."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except ZIP_ERRORS as e:
        raise _fail(subject, f"not a fingerprint archive ({type(e).__name__}: {str(e)[:100]})") from None
    if len(infos) > MAX_MEMBERS:
        raise _fail(subject, f"archive has {len(infos)} members (at most {MAX_MEMBERS})")
    total = 0
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _fail(subject, f"member {info.filename[:80]!r} uses compression method {info.compress_type}")
        limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else MAX_RATIO * info.compress_size
        if info.file_size > max(limit, 0) or info.file_size < 0:
            raise _fail(subject, f"member {info.filename[:80]!r} claims {info.file_size} bytes from "
                                 f"{info.compress_size} stored")  # fmt: skip
        total += info.file_size
    if total > MAX_TOTAL:
        raise _fail(subject, f"members add up to {total} bytes (at most {MAX_TOTAL})")
    arrays: dict[str, np.ndarray] = {}
    for info in infos:
        name = info.filename
        if not name.endswith(".npy") or info.is_dir():
            raise _fail(subject, f"member {name[:80]!r} is not an .npy array")
        key = name[:-4]
        if key in arrays:
            raise _fail(subject, f"member {name[:80]!r} appears twice")
        try:
            raw = zf.read(info)
        except _MEMBER_ERRORS as e:
            raise _fail(subject, f"member {name[:80]!r} is unreadable ({type(e).__name__}: {str(e)[:80]})") from None
        arrays[key] = _npy(raw, f"member {name[:80]!r}", subject)
    hdr = arrays.pop("__header__", None)
    if hdr is None:
        raise _fail(subject, "not a taoke fingerprint (no header)")
    if hdr.dtype != np.uint8 or hdr.ndim != 1:
        raise _fail(subject, "the header member is not a byte string")
    try:
        header = json.loads(hdr.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise _fail(subject, f"the header is not JSON ({type(e).__name__})") from None
    return header, arrays


def _npy(raw: bytes, what: str, subject: str) -> np.ndarray:
    """A read-only array over the bytes of one ``.npy`` member, after checking its header against its size."""
    f = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy version {version}")
    except Exception as e:  # noqa: BLE001 - numpy parses the (at most 10 kB) header text with tokenize and
        # ast.literal_eval, which raise ValueError, SyntaxError, tokenize.TokenError, TypeError, ... on garbage
        raise _fail(subject, f"{what} has no valid .npy header ({type(e).__name__})") from None
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype:
        raise _fail(subject, f"{what} has dtype {str(dtype)[:40]}, not a plain number type")
    if len(shape) > 8 or any(not isinstance(d, int) or d < 0 for d in shape):
        raise _fail(subject, f"{what} has an invalid shape {str(shape)[:80]}")
    n = math.prod(shape)
    start = f.tell()
    if n * dtype.itemsize != len(raw) - start:
        raise _fail(subject, f"{what} declares shape {list(shape)[:8]} of {dtype} ({n * dtype.itemsize} bytes) "
                             f"but holds {len(raw) - start}")  # fmt: skip
    arr = np.frombuffer(bytearray(raw[start:]), dtype=dtype, count=n)  # writable, as numpy.load gives it
    return arr.reshape(shape, order="F" if fortran else "C")


# -- the schema ------------------------------------------------------------------------------------------------
_CONFIG_INTS = ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim", "intermediate_size",
                "vocab_size", "max_position", "num_experts")  # fmt: skip
_CONFIG_FLOATS = ("norm_eps", "rope_theta")
_CONFIG_STRS = ("architecture", "norm_type", "activation", "source")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class _Checker:
    def __init__(self, subject: str) -> None:
        self.subject = subject

    def fail(self, msg: str) -> CorruptFile:
        return _fail(self.subject, msg)

    def dict_(self, v: Any, what: str, *, optional: bool = False) -> Mapping[str, Any]:
        if v is None and optional:
            return {}
        if not isinstance(v, dict):
            raise self.fail(f"{what} is not an object")
        return v

    def int_(self, v: Any, what: str, *, lo: int = 0, hi: int = 1 << 62, optional: bool = False) -> None:
        if v is None and optional:
            return
        if not _is_int(v) or not lo <= v <= hi:
            raise self.fail(f"{what} is not an integer in [{lo}, {hi}] ({str(v)[:40]})")

    def str_(self, v: Any, what: str, *, optional: bool = False) -> None:
        if v is None and optional:
            return
        if not isinstance(v, str):
            raise self.fail(f"{what} is not a string")

    def array(self, arrays: Mapping[str, np.ndarray], key: str, kinds: str, ndim: int) -> np.ndarray:
        a = arrays.get(key)
        if a is None:
            raise self.fail(f"array {key!r} is missing")
        if a.dtype.kind not in kinds or a.ndim != ndim:
            raise self.fail(f"array {key[:80]!r} is {a.ndim}-D {a.dtype}, expected {ndim}-D of kind {kinds!r}")
        return a


def check_record(header: Any, arrays: Mapping[str, np.ndarray], *, subject: str) -> None:
    """Raise :class:`CorruptFile` unless ``header``/``arrays`` have the types and shapes their readers use."""
    c = _Checker(subject)
    h = c.dict_(header, "the header")
    src = c.dict_(h.get("source"), "source")
    c.str_(src.get("location"), "source.location")
    c.str_(src.get("format"), "source.format")
    c.int_(src.get("file_size"), "source.file_size")
    c.int_(src.get("bytes_read"), "source.bytes_read", optional=True)
    c.str_(h.get("name"), "name", optional=True)
    c.str_(h.get("family"), "family", optional=True)
    c.str_(h.get("role_method"), "role_method", optional=True)
    c.str_(h.get("content_digest"), "content_digest", optional=True)
    c.int_(h.get("layers"), "layers", hi=1 << 20)
    cfg = c.dict_(h.get("config"), "config")
    for k in _CONFIG_INTS:
        c.int_(cfg.get(k), f"config.{k}", lo=-(1 << 62), optional=True)
    for k in _CONFIG_FLOATS:
        if cfg.get(k) is not None and not _is_num(cfg[k]):
            raise c.fail(f"config.{k} is not a number")
    for k in _CONFIG_STRS:
        c.str_(cfg.get(k), f"config.{k}", optional=True)
    if cfg.get("tie_embeddings") is not None and not isinstance(cfg["tie_embeddings"], bool):
        raise c.fail("config.tie_embeddings is not a boolean")
    c.dict_(cfg.get("extra"), "config.extra", optional=True)
    card = h.get("card")
    if card is not None:
        card = c.dict_(card, "card")
        for k in ("name", "license", "source"):
            c.str_(card.get(k), f"card.{k}", optional=True)
        bases = card.get("base_models")
        if bases is not None and not (isinstance(bases, list) and all(isinstance(b, str) for b in bases)):
            raise c.fail("card.base_models is not a list of strings")
    params = c.dict_(h.get("params"), "params", optional=True)
    for k, v in params.items():
        c.int_(v, f"params.{k[:40]}", hi=1 << 40)
    ul = h.get("unit_layers", [])
    if not isinstance(ul, list):
        raise c.fail("unit_layers is not a list")
    for i in ul:
        c.int_(i, "an entry of unit_layers", hi=1 << 20)
    stds = c.dict_(h.get("stds"), "stds", optional=True)
    for k, v in stds.items():
        if not _is_num(v):
            raise c.fail(f"stds[{k[:60]!r}] is not a number")
    roles = c.dict_(h.get("roles"), "roles")
    shapes: dict[str, tuple[int, ...]] = {}
    for role, d in roles.items():
        what = f"roles[{role[:60]!r}]"
        d = c.dict_(d, what)
        shape = d.get("shape")
        if not isinstance(shape, list) or len(shape) > 8 or not all(_is_int(x) and 0 <= x < MAX_DIM for x in shape):
            raise c.fail(f"{what}.shape is not a list of at most 8 dimensions in [0, 2**32)")
        if math.prod(shape) >= 1 << 62:
            raise c.fail(f"{what}.shape {shape} has too many elements")
        for k in ("name", "dtype"):
            c.str_(d.get(k), f"{what}.{k}")
        c.str_(d.get("how"), f"{what}.how", optional=True)
        shapes[role] = tuple(shape)
    _check_tokenizer(c, h.get("tokenizer"), arrays)
    _check_arrays(c, arrays, shapes, ul)


def _check_tokenizer(c: _Checker, meta: Any, arrays: Mapping[str, np.ndarray]) -> None:
    from taoke.tokenizers import TokenType

    if not meta:
        return
    meta = c.dict_(meta, "tokenizer")
    c.str_(meta.get("kind"), "tokenizer.kind")
    for k in ("source_format", "name", "path", "chat_template", "regular_digest", "tokens_digest"):
        c.str_(meta.get(k), f"tokenizer.{k}", optional=True)
    c.dict_(meta.get("meta"), "tokenizer.meta", optional=True)
    lens = c.array(arrays, "tok.lens", "iu", 1)
    types = c.array(arrays, "tok.types", "iu", 1)
    n = len(lens)
    if len(types) != n:
        raise c.fail(f"tok.types has {len(types)} entries for {n} tokens")
    valid = np.asarray(sorted(int(t) for t in TokenType))
    if types.size and not np.isin(types, valid).all():
        raise c.fail("tok.types holds a value that is not a token type")
    _check_blob(c, "tok.bytes", c.array(arrays, "tok.bytes", "u", 1), lens)
    mlens = c.array(arrays, "tok.merge_lens", "iu", 1)
    if len(mlens) % 2:
        raise c.fail("tok.merge_lens has an odd length (merges are pairs)")
    _check_blob(c, "tok.merges", c.array(arrays, "tok.merges", "u", 1), mlens)
    specials = meta.get("specials", [])
    if not isinstance(specials, list):
        raise c.fail("tokenizer.specials is not a list")
    for s in specials:
        if not (isinstance(s, list) and len(s) == 3 and _is_int(s[0]) and 0 <= s[0] < n and isinstance(s[1], str)
                and _is_int(s[2]) and s[2] in valid):  # fmt: skip
            raise c.fail(f"tokenizer.specials entry {str(s)[:60]} is not [id < {n}, text, token type]")


def _check_blob(c: _Checker, key: str, blob: np.ndarray, lens: np.ndarray) -> None:
    """The zlib blob ``key`` inflates to exactly the sum of the non-negative ``lens`` (decompression bounded)."""
    if blob.dtype != np.uint8:
        raise c.fail(f"{key} is not a byte string")
    if lens.size and int(lens.min()) < -1:
        raise c.fail(f"{key[:-1] if key.endswith('s') else key} lengths below -1")
    want = int(lens[lens > 0].sum()) if lens.size else 0
    if want > MAX_TOTAL:
        raise c.fail(f"{key} claims {want} bytes")
    d = zlib.decompressobj()
    try:
        got = d.decompress(blob.tobytes(), want + 1)
    except zlib.error:
        raise c.fail(f"{key} is not a zlib stream") from None
    if len(got) != want or not d.eof:
        raise c.fail(f"{key} holds {len(got)}{'+' if not d.eof else ''} bytes, its lengths add up to {want}")


def _check_arrays(c: _Checker, arrays: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]],
                  unit_layers: list[int]) -> None:  # fmt: skip
    from taoke.index.fingerprint import sample_cells
    from taoke.index.sketch import DESC_DIM, NUM_PERM

    if "desc" in arrays:
        a = c.array(arrays, "desc", "f", 1)
        if a.shape != (DESC_DIM,):
            raise c.fail(f"desc has shape {a.shape}, expected ({DESC_DIM},)")
    for key in arrays:  # precomputed descriptors (taoke.index.sketch.descriptors takes them as they are)
        if key.startswith("desc.") and c.array(arrays, key, "f", 1).shape != (DESC_DIM,):
            raise c.fail(f"{key[:40]} has shape {arrays[key].shape}, expected ({DESC_DIM},)")
        if key.startswith("ch.") and c.array(arrays, key, "f", 2).shape[0] != 2:
            raise c.fail(f"channel profile {key[:40]} has shape {arrays[key].shape}, expected (2, d)")
    if "minhash" in arrays:
        a = c.array(arrays, "minhash", "iu", 1)
        if a.shape != (NUM_PERM,):
            raise c.fail(f"minhash has shape {a.shape}, expected ({NUM_PERM},)")
    if "anchor.ids" in arrays or "anchor.emb" in arrays:
        ids = c.array(arrays, "anchor.ids", "iu", 1)
        if ids.size and int(ids.min()) < 0:
            raise c.fail("anchor.ids holds a negative id")
        if "anchor.emb" in arrays:
            emb = c.array(arrays, "anchor.emb", "f", 2)
            if emb.shape[0] != ids.shape[0]:
                raise c.fail(f"anchor.emb has {emb.shape[0]} rows for {ids.shape[0]} anchor ids")
    for key in arrays:
        if key.startswith("s."):
            role = key[2:]
            shape = shapes.get(role)
            if shape is None:
                raise c.fail(f"sample {key[:80]!r} is of a role the header does not list")
            a = c.array(arrays, key, "f", 1 if len(shape) <= 1 else 2)
            if len(shape) <= 1:
                want: tuple[int, ...] = (shape[0] if shape else 1,)
            else:
                rows, cols = sample_cells(role, shape)
                want = (len(rows), 0 if cols is None else len(cols))
            if a.shape != want:
                raise c.fail(f"sample {key[:80]!r} has shape {a.shape}, its role's shape {list(shape)} gives {want}")
    for layer in unit_layers:
        if f"u.{layer}.up" not in arrays:
            raise c.fail(f"unit layer {layer} has no u.{layer}.up rows")
    for key in arrays:
        if key.startswith("u."):
            q = c.array(arrays, key, "i", 2)
            s = c.array(arrays, "us." + key[2:], "f", 1)
            if q.dtype != np.int8 or s.shape[0] != q.shape[0]:
                raise c.fail(f"unit rows {key[:80]!r} are {q.dtype} {q.shape} with {s.shape[0]} scales")
