"""GGUF reader: our own header parser over :meth:`Source.read_at`, row-wise reads, gguf-py dequantisation.

GGUF (llama.cpp's format, versions 2 and 3) is a little-endian header -- magic ``GGUF``, version, tensor count,
key/value count, the key/values, the tensor infos (name, dims ``ne``, ggml type, offset) -- then, at the next
multiple of ``general.alignment`` (default 32), the tensor data. We parse the header ourselves instead of using
``gguf.GGUFReader``, which memory-maps the whole file, spends ~10 s and ~650 MB on Gemma-3's 262k-token vocabulary
and fails on a file whose tensor data is cut short (the DeepSeek head part in the data set).

What this module does:

* reads the header through buffered chunks (64 KiB, doubling up to 1 MiB) so that ``bytes_read`` stays close to
  the header size and there are few reads; token arrays are parsed with ``np.frombuffer`` (numbers) or one tight
  loop (strings) and kept out of :attr:`GGUFCheckpoint.metadata` (only their length is recorded there);
* validates every count and length against the bytes left in the file *before* allocating anything (a "lying
  tensor count" of 10**12 costs nothing), rejects unknown value types, misaligned or overlapping tensor offsets,
  ``n_dims > 4``, a dimension larger than the file (:func:`taoke.io.base.check_shape`), dims whose product
  overflows, ``ne0`` that is not a multiple of the type's block size;
* opens a file whose header is complete but whose tensor data is cut short (``truncated`` is then True) and raises
  :class:`~taoke.errors.CorruptFile` only when bytes past the end are actually asked for -- checked before the
  output array is made, so a lying shape (a 6 GB tensor in a 40 KB file) allocates nothing;
* reads only the bytes of the rows asked for. Shapes are in PyTorch order (``shape = reversed(ne)``); a row is an
  index along axis 0. Quant blocks run along ``ne0`` (the innermost dimension), so rows are independent and are
  dequantised with ``gguf.quants.dequantize`` block by block.

Simplifications it accepts: big-endian GGUF files and GGUF v1 are refused (``UnsupportedFormat``); split GGUFs
(``split.count`` > 1) are read one file at a time; strings that are not valid UTF-8 are decoded with
``surrogateescape`` (lossless, re-encode with the same handler to get the bytes back); for a tensor of an unknown
ggml type, ``nbytes`` is the gap to the next tensor (an upper bound) and reading it raises ``UnsupportedDtype``.
llama.cpp's layout conventions (rope-permuted Q/K rows, Gemma's ``1 + w`` norms) are reported in
:attr:`GGUFCheckpoint.layout_notes`, never undone here.

Example::

    >>> ck = GGUFCheckpoint(LocalSource("SmolLM2-135M-Instruct.Q4_1.gguf"))      # doctest: +SKIP
    >>> ck.info("token_embd.weight")                                            # doctest: +SKIP
    TensorInfo(name='token_embd.weight', shape=(49152, 576), dtype='Q8_0', nbytes=30081024, ...)
    >>> ck.read("token_embd.weight", rows=[1, 7]).shape                           # doctest: +SKIP
    (2, 576)
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import gguf
import gguf.quants
import numpy as np

from taoke.errors import CorruptFile, TensorNotFound, UnsupportedDtype, UnsupportedFormat
from taoke.io.base import (
    Checkpoint,
    ModelCard,
    ModelConfig,
    RowSelector,
    TensorInfo,
    check_shape,
    config_float,
    config_int,
    gather_rows,
)
from taoke.io.source import Source

__all__ = ["GGUFCheckpoint", "LAYOUT_FACTS", "SUPPORTED_READ_TYPES"]

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
#: arrays longer than this are kept out of ``metadata`` (as are the tokenizer arrays at any length)
BIG_ARRAY = 1024
#: keys whose arrays always go to the embedded tokenizer, never into ``metadata``
TOKENIZER_ARRAYS = frozenset(
    {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"}
)
_FIRST_CHUNK = 64 << 10
_MAX_CHUNK = 1 << 20
_READ_CHUNK = 16 << 20  # tensor data is dequantised in pieces of at most this many bytes
_ABSURD_END = 1 << 48  # no tensor ends beyond 256 TiB

# GGUF value types (gguf.GGUFValueType): id -> (name, struct format, numpy dtype, size); STRING=8, ARRAY=9
_SCALARS: dict[int, tuple[str, str, str, int]] = {
    0: ("UINT8", "<B", "<u1", 1),
    1: ("INT8", "<b", "<i1", 1),
    2: ("UINT16", "<H", "<u2", 2),
    3: ("INT16", "<h", "<i2", 2),
    4: ("UINT32", "<I", "<u4", 4),
    5: ("INT32", "<i", "<i4", 4),
    6: ("FLOAT32", "<f", "<f4", 4),
    7: ("BOOL", "<?", "<u1", 1),
    10: ("UINT64", "<Q", "<u8", 8),
    11: ("INT64", "<q", "<i8", 8),
    12: ("FLOAT64", "<d", "<f8", 8),
}
_STRING, _ARRAY = 8, 9
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

_QT = gguf.GGMLQuantizationType
_INT_TYPES = frozenset({_QT.I8, _QT.I16, _QT.I32, _QT.I64})
_PLAIN_FLOATS = {_QT.F32: "<f4", _QT.F16: "<f2", _QT.F64: "<f8"}
#: ggml types that :meth:`GGUFCheckpoint.read` turns into float32 (plain floats + what gguf.quants dequantises)
SUPPORTED_READ_TYPES: frozenset[str] = frozenset(
    {t.name for t in _PLAIN_FLOATS} | {t.name for t in getattr(gguf.quants, "_type_traits", {})}
)

#: llama.cpp conversion facts, keyed by GGUF ``general.architecture``. Data, not code: consumers (the roles
#: mapper) undo them. Sources: llama.cpp ``convert_hf_to_gguf.py`` / ``conversion/*.py`` -- classes with
#: ``undo_permute = True`` (``LlamaModel.permute``: rows reshaped to (n_head, 2, head_dim/2, in) and the two
#: middle axes swapped; undo with ``reshape(n_head, head_dim/2, 2, in).swapaxes(1, 2)``), and the Gemma
#: converters, which write RMSNorm weights as ``w + 1``. Not exhaustive: architectures not listed are assumed
#: to be stored as in the Hugging Face checkpoint.
LAYOUT_FACTS: Mapping[str, frozenset[str]] = {
    "rope_permuted_qk": frozenset(
        {
            "llama",
            "deci",
            "granite",
            "granitemoe",
            "granitehybrid",
            "nanbeige",
            "llada",
            "baichuan",
            "internlm2",
        }
    ),
    "norm_plus_one": frozenset({"gemma", "gemma2", "gemma3", "gemma-embedding"}),
}


class _Cursor:
    """Sequential reader over a :class:`Source` that fetches growing chunks and counts nothing itself."""

    def __init__(self, source: Source, offset: int = 0) -> None:
        self.src = source
        self.size = source.size
        self.buf = b""
        self.base = offset  # file offset of buf[0]
        self.pos = 0  # index into buf
        self.chunk = _FIRST_CHUNK

    @property
    def offset(self) -> int:
        return self.base + self.pos

    @property
    def left(self) -> int:
        """Bytes between the cursor and the end of the file."""
        return self.size - self.offset

    def need(self, n: int, what: str) -> None:
        """Make ``n`` bytes available at ``pos``; CorruptFile (before reading anything) if the file is too short."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return
        if n > self.left:
            raise CorruptFile(
                f"{what} at byte {self.offset} needs {n} bytes but only {self.left} are left in the file",
                subject=self.src.name,
                hint="the file is truncated or its header lies",
            )
        end = self.base + len(self.buf)
        want = min(max(n - avail, self.chunk), self.size - end)
        new = self.src.read_at(end, want, what=f"GGUF header ({what})")
        self.buf = self.buf[self.pos :] + new
        self.base += self.pos
        self.pos = 0
        self.chunk = min(self.chunk * 2, _MAX_CHUNK)

    def take(self, n: int, what: str) -> bytes:
        self.need(n, what)
        b = self.buf[self.pos : self.pos + n]
        self.pos += n
        return b

    def u32(self, what: str) -> int:
        self.need(4, what)
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def u64(self, what: str) -> int:
        self.need(8, what)
        (v,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return int(v)

    def string(self, what: str) -> str:
        n = self.u64(f"length of {what}")
        return self.take(n, what).decode("utf-8", "surrogateescape")

    def count(self, n: int, min_item: int, what: str) -> int:
        """Refuse a count of items (each at least ``min_item`` bytes) that cannot fit in the rest of the file."""
        if n * min_item > self.left:
            raise CorruptFile(
                f"{what} claims {n} items (at least {n * min_item} bytes) but only {self.left} bytes are left",
                subject=self.src.name,
                hint="the header lies or the file is truncated",
            )
        return n

    def string_array(self, n: int, what: str) -> list[str]:
        """``n`` length-prefixed strings, in one tight loop over the buffer."""
        self.count(n, 8, what)
        out: list[str] = []
        append = out.append
        unpack = _U64.unpack_from
        buf, pos, end = self.buf, self.pos, len(self.buf)
        for _ in range(n):
            if pos + 8 > end:
                self.pos = pos
                self.need(8, what)
                buf, pos, end = self.buf, self.pos, len(self.buf)
            (ln,) = unpack(buf, pos)
            pos += 8
            if pos + ln > end:
                self.pos = pos
                self.need(ln, what)
                buf, pos, end = self.buf, self.pos, len(self.buf)
            append(buf[pos : pos + ln].decode("utf-8", "surrogateescape"))
            pos += ln
        self.pos = pos
        return out


def _value(cur: _Cursor, vtype: int, key: str, depth: int = 0) -> Any:
    """One value of GGUF type ``vtype``: Python scalar, str, np.ndarray (numeric array) or list (others)."""
    if vtype in _SCALARS:
        tname, fmt, _, size = _SCALARS[vtype]
        cur.need(size, key)
        (v,) = struct.unpack_from(fmt, cur.buf, cur.pos)
        cur.pos += size
        if vtype == 6:  # shortest decimal that round-trips the float32 (1e-05, not 9.99999974738e-06)
            return float(str(np.float32(v)))
        return v
    if vtype == _STRING:
        return cur.string(f"string value of {key}")
    if vtype == _ARRAY:
        if depth > 8:
            raise CorruptFile(f"arrays nested deeper than 8 levels in {key}", subject=cur.src.name)
        itype = cur.u32(f"array item type of {key}")
        n = cur.u64(f"array length of {key}")
        if itype in _SCALARS:
            _, _, dt, size = _SCALARS[itype]
            cur.count(n, size, f"array {key}")
            arr = np.frombuffer(cur.take(n * size, f"array {key}"), dtype=dt)
            return arr.astype(bool) if itype == 7 else arr
        if itype == _STRING:
            return cur.string_array(n, f"string array {key}")
        if itype == _ARRAY:
            cur.count(n, 12, f"nested array {key}")
            return [_value(cur, _ARRAY, key, depth + 1) for _ in range(n)]
        raise CorruptFile(f"unknown array item type {itype} for key {key!r}", subject=cur.src.name)
    raise CorruptFile(
        f"unknown value type {vtype} for key {key!r}",
        subject=cur.src.name,
        hint="not a GGUF v2/v3 file, or a corrupt one",
    )


def _jsonable(v: Any) -> Any:
    """numpy arrays -> lists (small float32 ones with shortest round-trip decimals), nested lists converted."""
    if isinstance(v, np.ndarray):
        if v.dtype == np.float32 and v.size <= BIG_ARRAY:
            return [float(str(x)) for x in v]
        return v.tolist()
    if isinstance(v, list):
        return list(v) if not v or isinstance(v[0], str) else [_jsonable(x) for x in v]
    return v


def _type_name(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return str(v.dtype.name)
    if isinstance(v, list) and v and isinstance(v[0], str):
        return "string"
    return "array" if isinstance(v, list) else type(v).__name__


class GGUFCheckpoint(Checkpoint):
    """A lazily read GGUF v2/v3 file: header parsed at open, tensor rows read on demand.

    Attributes set at open: ``version``, ``alignment``, ``data_offset`` (absolute start of the tensor data),
    ``header_size`` (end of the tensor infos), ``truncated`` (some tensor data lies past the end of the file),
    ``header_bytes_read`` (bytes read to parse the header, chunk overshoot included).
    """

    format = "gguf"

    def __init__(self, source: Source) -> None:
        super().__init__(source.name)
        self._src = source
        self._kv: dict[str, Any] = {}
        self._big: dict[str, Any] = {}
        self._ggml: dict[str, int] = {}  # tensor -> ggml type id
        self._ne: dict[str, tuple[int, ...]] = {}
        self._start: dict[str, int] = {}  # tensor -> absolute byte offset
        self._parse()
        self.header_bytes_read = source.bytes_read

    # -- header -----------------------------------------------------------------------------------------
    def _fail(self, msg: str, hint: str | None = None) -> CorruptFile:
        return CorruptFile(msg, subject=self.path, hint=hint)

    def _parse(self) -> None:
        src = self._src
        cur = _Cursor(src)
        if src.size < 8 or cur.take(4, "magic") != GGUF_MAGIC:
            raise UnsupportedFormat("not a GGUF file (no GGUF magic)", subject=self.path)
        version = cur.u32("version")
        if version & 0xFFFF == 0 and int.from_bytes(version.to_bytes(4, "little"), "big") in (2, 3):
            raise UnsupportedFormat("big-endian GGUF is not supported", subject=self.path)
        if version == 1:
            raise UnsupportedFormat(
                "GGUF v1 is not supported (only v2 and v3)",
                subject=self.path,
                hint="re-convert the model with a current llama.cpp",
            )
        if version not in (2, 3):
            raise UnsupportedFormat(f"unknown GGUF version {version} (expected 2 or 3)", subject=self.path)
        self.version = version
        n_tensors = cur.u64("tensor count")
        n_kv = cur.u64("key/value count")
        # a key/value takes at least 13 bytes (8 key length + 4 type + 1 value), a tensor info 24
        cur.count(n_kv, 13, "key/value count")
        cur.count(n_tensors, 24, "tensor count")
        if n_kv * 13 + n_tensors * 24 > cur.left:
            raise self._fail(
                f"{n_kv} key/values and {n_tensors} tensor infos cannot fit in the {cur.left} bytes left",
                hint="the header lies or the file is truncated",
            )

        for _ in range(n_kv):
            key = cur.string("key")
            if key in self._kv or key in self._big:
                raise self._fail(f"duplicate key {key!r} in the GGUF header")
            vtype = cur.u32(f"value type of {key}")
            v = _value(cur, vtype, key)
            if (vtype == _ARRAY and key in TOKENIZER_ARRAYS) or (
                isinstance(v, list | np.ndarray) and len(v) > BIG_ARRAY
            ):
                self._big[key] = v
                self._kv[key] = {"array_of": _type_name(v), "length": len(v)}
            else:
                self._kv[key] = _jsonable(v)

        align = self._kv.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(align, int) or isinstance(align, bool) or align <= 0 or align & (align - 1):
            raise self._fail(f"general.alignment must be a power of two, got {align!r}")
        self.alignment = align

        raw: list[tuple[str, tuple[int, ...], int, int]] = []
        for i in range(n_tensors):
            name = cur.string(f"name of tensor {i}")
            n_dims = cur.u32(f"n_dims of {name}")
            if n_dims > MAX_DIMS:
                raise self._fail(f"tensor {name!r} has {n_dims} dimensions (GGUF allows at most {MAX_DIMS})")
            ne = tuple(cur.u64(f"dims of {name}") for _ in range(n_dims))
            gtype = cur.u32(f"type of {name}")
            offset = cur.u64(f"offset of {name}")
            raw.append((name, ne, gtype, offset))
        self.header_size = cur.offset
        self.data_offset = -(-self.header_size // align) * align
        self._build_infos(raw)

    def _build_infos(self, raw: list[tuple[str, tuple[int, ...], int, int]]) -> None:
        size = self._src.size
        spans: list[tuple[int, int, str]] = []  # (relative offset, nbytes or -1, name)
        known: dict[str, tuple[str, int]] = {}
        for name, ne, gtype, offset in raw:
            if name in known:
                raise self._fail(f"duplicate tensor name {name!r}")
            check_shape(ne, limit=size, subject=self.path, what=f"tensor {name!r}")
            numel = 1
            for d in ne:
                numel *= d
            if numel >= 1 << 62:
                raise self._fail(f"tensor {name!r} has dims {list(ne)} whose product overflows")
            if offset % self.alignment:
                raise self._fail(
                    f"tensor {name!r} offset {offset} is not a multiple of the alignment {self.alignment}"
                )
            try:
                qt = _QT(gtype)
            except ValueError:
                qt = None
            if qt is None or qt not in gguf.GGML_QUANT_SIZES:
                known[name] = (f"GGML_TYPE_{gtype}", -1)
                spans.append((offset, -1, name))
                continue
            block, tsize = gguf.GGML_QUANT_SIZES[qt]
            ne0 = ne[0] if ne else 1
            if ne0 % block:
                raise self._fail(
                    f"tensor {name!r} ({qt.name}) has ne0={ne0}, not a multiple of the block size {block}"
                )
            nbytes = numel // block * tsize
            if self.data_offset + offset + nbytes > _ABSURD_END:
                raise self._fail(f"tensor {name!r} would end at byte {self.data_offset + offset + nbytes}")
            known[name] = (qt.name, nbytes)
            spans.append((offset, nbytes, name))

        spans.sort()
        for (a, na, name_a), (b, _, name_b) in zip(spans, spans[1:], strict=False):
            if na >= 0 and a + na > b:
                raise self._fail(f"tensors {name_a!r} and {name_b!r} overlap (bytes {a}..{a + na} and {b}..)")
        # unknown types: nbytes is the gap to the next tensor (or to the end of the file), an upper bound
        data_end = max(size - self.data_offset, 0)
        for i, (a, na, name) in enumerate(spans):
            if na < 0:
                nxt = spans[i + 1][0] if i + 1 < len(spans) else max(data_end, a)
                known[name] = (known[name][0], nxt - a)

        end = 0
        for name, ne, gtype, offset in raw:
            dtype, nbytes = known[name]
            shape = tuple(reversed(ne))
            self._infos[name] = TensorInfo(name=name, shape=shape, dtype=dtype, nbytes=nbytes, file=self.path)
            self._ggml[name] = gtype
            self._ne[name] = ne
            self._start[name] = self.data_offset + offset
            end = max(end, self.data_offset + offset + nbytes)
        self.truncated = end > size or (bool(raw) and self.data_offset > size)

    # -- what is in it ----------------------------------------------------------------------------------
    @property
    def metadata(self) -> Mapping[str, Any]:
        """Key/values (a fresh JSON-able dict); big arrays appear as ``{"array_of": type, "length": n}``."""
        return dict(self._kv)

    def array(self, key: str) -> Any:
        """A big array kept out of :attr:`metadata` (numeric ones as read-only np.ndarray), or None."""
        return self._big.get(key)

    @property
    def architecture(self) -> str | None:
        a = self._kv.get("general.architecture")
        return a if isinstance(a, str) else None

    def _arch_kv(self, suffix: str) -> Any:
        arch = self.architecture
        return self._kv.get(f"{arch}.{suffix}") if arch else None

    def config(self) -> ModelConfig:
        """Hyper-parameters from the ``{general.architecture}.*`` keys."""
        arch = self.architecture
        extra: dict[str, Any] = {}

        def scalar(suffix: str) -> int | None:
            v = self._arch_kv(suffix)
            if isinstance(v, list):  # per-layer values (e.g. OpenELM head counts): keep them, report the max
                extra[suffix + ".per_layer"] = v
                ints = [config_int(x) for x in v]
                return max(ints) if ints and None not in ints else None  # type: ignore[type-var]
            return config_int(v)

        d = scalar("embedding_length")
        heads = scalar("attention.head_count")
        head_dim = scalar("attention.key_length")
        if head_dim is None and d and heads:
            head_dim = d // heads
        if self._arch_kv("attention.layer_norm_rms_epsilon") is not None:
            norm_type, eps = "rmsnorm", config_float(self._arch_kv("attention.layer_norm_rms_epsilon"))
        elif self._arch_kv("attention.layer_norm_epsilon") is not None:
            norm_type, eps = "layernorm", config_float(self._arch_kv("attention.layer_norm_epsilon"))
        else:
            norm_type, eps = None, None
        tokens = self._big.get("tokenizer.ggml.tokens")
        emb = self._infos.get("token_embd.weight")
        vocab = emb.shape[0] if emb is not None and emb.shape else scalar("vocab_size")
        if vocab is None and tokens is not None:
            vocab = len(tokens)
        if tokens is not None:
            extra["tokenizer_vocab_size"] = len(tokens)
        used = {
            "embedding_length", "block_count", "attention.head_count", "attention.head_count_kv",
            "feed_forward_length", "context_length", "rope.freq_base", "attention.layer_norm_rms_epsilon",
            "attention.layer_norm_epsilon", "expert_count", "attention.key_length",
        }  # fmt: skip
        prefix = f"{arch}."
        for k, v in self._kv.items():
            if arch and k.startswith(prefix) and k[len(prefix) :] not in used and not isinstance(v, dict):
                extra[k[len(prefix) :]] = v
        if "general.file_type" in self._kv:
            extra["file_type"] = self._kv["general.file_type"]
        tie = None
        if emb is not None:
            tie = "output.weight" not in self._infos
        return ModelConfig(
            architecture=arch,
            hidden_size=d,
            num_layers=scalar("block_count"),
            num_heads=heads,
            num_kv_heads=scalar("attention.head_count_kv"),
            head_dim=head_dim,
            intermediate_size=scalar("feed_forward_length"),
            vocab_size=vocab,
            max_position=scalar("context_length"),
            norm_type=norm_type,
            norm_eps=eps,
            rope_theta=config_float(self._arch_kv("rope.freq_base")),
            tie_embeddings=tie,
            num_experts=scalar("expert_count"),
            source="gguf-metadata",
            extra=extra,
        )

    def card(self) -> ModelCard:
        """Declared provenance from ``general.*``: name, license, base models, tags."""
        kv = self._kv
        bases: list[str] = []
        n_base = kv.get("general.base_model.count")
        if isinstance(n_base, int):
            for i in range(min(n_base, 64)):
                p = f"general.base_model.{i}."
                url, org, name = kv.get(p + "repo_url"), kv.get(p + "organization"), kv.get(p + "name")
                if isinstance(url, str) and url.startswith("https://huggingface.co/"):
                    bases.append(url.removeprefix("https://huggingface.co/").strip("/"))
                elif name:
                    bases.append(f"{org}/{name}" if org else str(name))
                elif url:
                    bases.append(str(url))
        tags = kv.get("general.tags")
        lic = kv.get("general.license")
        return ModelCard(
            name=kv.get("general.name"),
            base_models=tuple(bases),
            license=lic if isinstance(lic, str) else None,
            tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            source="gguf-metadata",
            front_matter={k: v for k, v in kv.items() if k.startswith("general.")},
        )

    def embedded_tokenizer(self) -> dict[str, Any] | None:
        """All ``tokenizer.*`` keys by short name (``tokenizer.ggml.`` / ``tokenizer.`` stripped), or None.

        Always present: ``model``, ``pre``, ``tokens`` (list[str]), ``token_type`` (list[int] | None), ``scores``
        (list[float] | None), ``merges`` (list[str] | None), ``bos_token_id``, ``eos_token_id``,
        ``unknown_token_id``, ``padding_token_id``, ``chat_template``, ``add_bos_token`` (None when absent).
        """
        if "tokenizer.ggml.model" not in self._kv and "tokenizer.ggml.tokens" not in self._big:
            return None
        out: dict[str, Any] = dict.fromkeys(
            ("model", "pre", "tokens", "token_type", "scores", "merges", "bos_token_id", "eos_token_id",
             "unknown_token_id", "padding_token_id", "chat_template", "add_bos_token"),
        )  # fmt: skip
        for k, v in self._kv.items():
            if k.startswith("tokenizer."):
                short = k.removeprefix("tokenizer.ggml.") if k.startswith("tokenizer.ggml.") else k[10:]
                out[short] = _jsonable(self._big[k]) if k in self._big else v
        if out["tokens"] is None:
            out["tokens"] = []
        return out

    @property
    def layout_notes(self) -> dict[str, Any]:
        """llama.cpp storage conventions for this architecture (metadata only; nothing is undone here).

        ``rope_permuted_qk``: ``attn_q``/``attn_k`` rows are permuted per head for llama.cpp's rope
        (undo: ``w.reshape(n_head, head_dim // 2, 2, -1).swapaxes(1, 2).reshape(w.shape)``, with ``n_head`` =
        head_count for Q, head_count_kv for K). ``norm_plus_one``: RMSNorm weights (``*norm.weight``) are
        stored as ``1 + w`` (undo: subtract 1).
        """
        arch = self.architecture or ""
        permuted = arch in LAYOUT_FACTS["rope_permuted_qk"]
        plus_one = arch in LAYOUT_FACTS["norm_plus_one"]
        return {
            "architecture": arch or None,
            "rope_permuted_qk": permuted,
            "rope_permuted_tensors": ["attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias"]
            if permuted
            else [],
            "norm_plus_one": plus_one,
            "norm_plus_one_tensors": ["*norm.weight"] if plus_one else [],
        }

    # -- data -------------------------------------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        return self._src.bytes_read

    @property
    def file_size(self) -> int:
        return self._src.size

    def tensor_data_range(self, name: str) -> tuple[int, int]:
        """Absolute byte range ``(start, end)`` of a tensor's data in the file (may run past EOF if truncated)."""
        info = self.info(name)
        start = self._start[name]
        return start, start + info.nbytes

    def _check_readable(self, name: str) -> _QT:
        info = self.info(name)
        gtype = self._ggml[name]
        try:
            qt = _QT(gtype)
        except ValueError:
            qt = None
        if qt is None or info.dtype.startswith("GGML_TYPE_"):
            raise UnsupportedDtype(
                f"tensor {name!r} has unknown ggml type {gtype}",
                subject=self.path,
                hint="update gguf-py / taoke",
            )
        if qt in _INT_TYPES:
            raise UnsupportedDtype(
                f"tensor {name!r} holds integers ({qt.name}), not weights", subject=self.path
            )
        if qt.name not in SUPPORTED_READ_TYPES:
            raise UnsupportedDtype(
                f"tensor {name!r}: gguf-py {gguf.__name__} cannot dequantise {qt.name}",
                subject=self.path,
                hint="upgrade the gguf package",
            )
        return qt

    def _in_file(self, name: str, start: int, n: int, what: str) -> None:
        """CorruptFile unless bytes ``start..start+n`` lie in the file: checked before anything is sized from them."""
        if start + n > self._src.size:
            raise CorruptFile(
                f"tensor {name!r} ({what}) lies at bytes {start}..{start + n}, past the end of the file "
                f"({self._src.size} bytes)",
                subject=self.path,
                hint="the file is truncated (a partial download or one part of a split file)",
            )

    def _bytes(self, name: str, start: int, n: int, what: str) -> bytes:
        self._in_file(name, start, n, what)
        return self._src.read_at(start, n, what=f"tensor {name}")

    @staticmethod
    def _dequant(raw: bytes, qt: _QT, n_runs: int, run_elems: int) -> np.ndarray:
        """``n_runs`` equally long runs of ``qt`` data -> float32 array of shape (n_runs, run_elems)."""
        if n_runs == 0 or run_elems == 0:
            return np.zeros((n_runs, run_elems), dtype=np.float32)
        arr = np.frombuffer(raw, dtype=np.uint8).reshape(n_runs, -1)
        if qt in _PLAIN_FLOATS:
            return arr.view(_PLAIN_FLOATS[qt]).astype(np.float32)
        return np.asarray(gguf.quants.dequantize(arr, qt), dtype=np.float32)

    def read(self, name: str, rows: RowSelector = None) -> np.ndarray:
        """Tensor ``name`` as float32 in PyTorch order (``reversed(ne)``); only ``rows`` along axis 0 if given.

        Reads only the bytes of those rows. Raises ``UnsupportedDtype`` for integer/unknown types and
        ``CorruptFile`` for rows whose bytes lie past the end of a truncated file.
        """
        if name not in self._infos:
            raise TensorNotFound(f"no tensor named {name!r}", subject=self.path)
        qt = self._check_readable(name)
        info = self._infos[name]
        shape = info.shape
        start = self._start[name]
        block, tsize = gguf.GGML_QUANT_SIZES[qt]
        subject = f"{self.path}:{name}"

        if len(shape) <= 1:  # a row is one element: read the blocks that hold elements a..b
            n = shape[0] if shape else 1

            def read_elems(a: int, b: int) -> np.ndarray:
                if b <= a:
                    return np.empty((0,), dtype=np.float32)
                ba, bb = a // block, -(-b // block)
                raw = self._bytes(name, start + ba * tsize, (bb - ba) * tsize, f"elements {a}..{b}")
                vals = self._dequant(raw, qt, 1, (bb - ba) * block).reshape(-1)
                return vals[a - ba * block : b - ba * block]

            out = gather_rows(read_elems, rows, n, subject=subject)
            return out.reshape(()) if not shape and rows is None else out

        n_rows = shape[0]
        ne0 = shape[-1]
        run_bytes = ne0 // block * tsize  # one ne0-long run
        runs_per_row = 1
        for d in shape[1:-1]:
            runs_per_row *= d
        row_bytes = run_bytes * runs_per_row
        rows_per_piece = max(1, _READ_CHUNK // max(row_bytes, 1))

        def read_rows(a: int, b: int) -> np.ndarray:
            # the rows' bytes must be in the file before an output is sized from the declared shape
            self._in_file(name, start + a * row_bytes, (b - a) * row_bytes, f"rows {a}..{b}")
            out = np.empty((b - a,) + shape[1:], dtype=np.float32)
            flat = out.reshape((b - a) * runs_per_row, ne0)
            for r in range(a, b, rows_per_piece):
                r2 = min(b, r + rows_per_piece)
                raw = self._bytes(name, start + r * row_bytes, (r2 - r) * row_bytes, f"rows {r}..{r2}")
                flat[(r - a) * runs_per_row : (r2 - a) * runs_per_row] = self._dequant(
                    raw, qt, (r2 - r) * runs_per_row, ne0
                )
            return out

        return gather_rows(read_rows, rows, n_rows, subject=subject)

    def close(self) -> None:
        self._src.close()

    def __repr__(self) -> str:
        t = ", truncated" if self.truncated else ""
        return f"<GGUFCheckpoint {self.path!r} v{self.version} {self.architecture} ({len(self._infos)} tensors{t})>"
