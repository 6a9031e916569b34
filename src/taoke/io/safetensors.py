"""Lazy safetensors reader (single file or sharded with ``model.safetensors.index.json``).

The header is parsed here (8-byte little-endian length, then JSON) through :meth:`Source.read_at`, so a file
is never memory-mapped or read whole: :meth:`SafetensorsCheckpoint.read` fetches only the bytes of the rows
asked for. That is what lets a 70B checkpoint (or one behind an HTTP range-request URL) be fingerprinted with a
few hundred MB of RAM.

The header is checked before anything trusts it: its length must fit the file (and stay under 100 MB, the
limit the reference ``safetensors`` library applies), it must be a JSON object of ``{name: {dtype, shape,
data_offsets}}``, every dimension at most the file's size (:func:`taoke.io.base.check_shape`), every span
non-negative, inside the data section, exactly ``numel × itemsize`` bytes long and must not overlap another. Holes between spans are tolerated (the reference library refuses
them; they do no harm to a reader).

Floating dtypes (F64, F32, F16, BF16, F8_E4M3, F8_E5M2) are returned as float32. BF16 is widened by shifting
the 16 bits into the top of a float32; the two FP8 formats use 256-entry lookup tables computed here from the
OCP 8-bit floating point definition (E4M3 "fn": bias 7, no infinities, S.1111.111 is NaN; E5M2: bias 15, IEEE
style infinities/NaN). Integer and boolean tensors are listed but refused on read (:class:`UnsupportedDtype`):
they are token ids, masks or packed quantisation codes, not weights taoke compares.

:func:`to_float32` is shared with the PyTorch and ONNX readers.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Mapping
from typing import Any

import numpy as np

from taoke.errors import CorruptFile, UnsupportedDtype
from taoke.io.base import Checkpoint, RowSelector, TensorInfo, check_shape, gather_rows, numel
from taoke.io.source import Source, open_source

__all__ = ["SafetensorsCheckpoint", "open_sharded", "to_float32", "DTYPE_BITS", "FLOAT_DTYPES"]

#: bits per element of every dtype in the safetensors specification
DTYPE_BITS: Mapping[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "U16": 16,
    "I16": 16,
    "U32": 32,
    "I32": 32,
    "U64": 64,
    "I64": 64,
    "F16": 16,
    "BF16": 16,
    "F32": 32,
    "F64": 64,
    "F8_E4M3": 8,
    "F8_E5M2": 8,
    "F8_E8M0": 8,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "F4": 4,
    "C64": 64,
}

#: dtypes :func:`to_float32` converts
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})

_MAX_HEADER = 100 * 1024 * 1024
_NUMPY = {"F64": "f8", "F32": "f4", "F16": "f2"}


def _fp8_table(exp_bits: int, man_bits: int, *, ieee_special: bool) -> np.ndarray:
    """Value of each of the 256 bytes of an 8-bit float with ``exp_bits``/``man_bits`` (sign bit first).

    ``ieee_special``: the all-ones exponent is inf (mantissa 0) / NaN (E5M2); otherwise (E4M3 "fn") only the
    all-ones byte pattern (per sign) is NaN and the rest of the top binade holds normal numbers.

    >>> t = _fp8_table(4, 3, ieee_special=False)
    >>> float(t[0x38]), float(t[0x7E]), bool(np.isnan(t[0x7F]))
    (1.0, 448.0, True)
    """
    bias = (1 << (exp_bits - 1)) - 1
    out = np.empty(256, dtype=np.float32)
    top = (1 << exp_bits) - 1
    for b in range(256):
        sign = -1.0 if b & 0x80 else 1.0
        e = (b >> man_bits) & top
        m = b & ((1 << man_bits) - 1)
        if ieee_special and e == top:
            v = float("inf") if m == 0 else float("nan")
        elif not ieee_special and e == top and m == (1 << man_bits) - 1:
            v = float("nan")
        elif e == 0:
            v = (m / (1 << man_bits)) * 2.0 ** (1 - bias)
        else:
            v = (1.0 + m / (1 << man_bits)) * 2.0 ** (e - bias)
        out[b] = sign * v
    return out


_FP8 = {
    "F8_E4M3": _fp8_table(4, 3, ieee_special=False),
    "F8_E5M2": _fp8_table(5, 2, ieee_special=True),
}


def to_float32(raw: bytes | memoryview, dtype: str, shape: tuple[int, ...], *, little_endian: bool = True,
               subject: str = "") -> np.ndarray:
    """Decode ``raw`` bytes holding a ``dtype`` array of ``shape`` into a new float32 array.

    >>> to_float32(b"\\x80\\x3f\\x00\\x40", "BF16", (2,)).tolist()
    [1.0, 2.0]
    """
    order = "<" if little_endian else ">"
    if dtype in _NUMPY:
        arr = np.frombuffer(raw, dtype=order + _NUMPY[dtype])
        out = arr.astype(np.float32)
    elif dtype == "BF16":
        u16 = np.frombuffer(raw, dtype=order + "u2")
        out = (u16.astype(np.uint32) << 16).view(np.float32)
    elif dtype in _FP8:
        out = _FP8[dtype][np.frombuffer(raw, dtype=np.uint8)]
    elif dtype in DTYPE_BITS and dtype[0] in "IUB":
        raise UnsupportedDtype(
            f"tensor has dtype {dtype}: integer tensors are not weights taoke compares",
            subject=subject or None,
            hint="integer/bool tensors are token ids, masks or packed codes; compare the float tensors",
        )
    else:
        raise UnsupportedDtype(f"dtype {dtype} is not converted to float", subject=subject or None,
                               hint="taoke reads F64/F32/F16/BF16/F8_E4M3/F8_E5M2")
    return out.reshape(shape)


def _parse_header(source: Source) -> tuple[dict[str, TensorInfo], dict[str, tuple[int, int]], dict[str, str], int]:
    """Parse and validate a safetensors header: (infos, absolute spans, metadata, data start)."""
    name = source.name
    if source.size < 8:
        raise CorruptFile(f"file of {source.size} bytes is too short for a safetensors header", subject=name)
    n = int.from_bytes(source.read_at(0, 8, what="header length"), "little")
    if n > _MAX_HEADER:
        raise CorruptFile(f"header length {n} is absurd (over {_MAX_HEADER} bytes)", subject=name,
                          hint="not a safetensors file, or a corrupt one")
    if 8 + n > source.size:
        raise CorruptFile(f"header length {n} points past the end of the file ({source.size} bytes)",
                          subject=name, hint="the file is truncated; re-download it")
    raw = source.read_at(8, n, what="header")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise CorruptFile(f"header is not valid JSON ({type(e).__name__})", subject=name) from None
    if not isinstance(doc, dict):
        raise CorruptFile("header is not a JSON object", subject=name)
    data_start = 8 + n
    data_len = source.size - data_start
    meta_raw = doc.pop("__metadata__", None) or {}
    if not isinstance(meta_raw, dict):
        raise CorruptFile("__metadata__ is not an object", subject=name)
    metadata = {str(k): str(v) for k, v in meta_raw.items()}
    infos: dict[str, TensorInfo] = {}
    spans: dict[str, tuple[int, int]] = {}
    for tname, entry in doc.items():
        subj = f"{name}:{tname}"
        dtype, shape_raw, offsets = (entry.get(k) for k in ("dtype", "shape", "data_offsets")) if isinstance(
            entry, dict) else (None, None, None)
        if not isinstance(dtype, str) or not isinstance(shape_raw, list) or not isinstance(offsets, list):
            raise CorruptFile("header entry lacks dtype/shape/data_offsets", subject=subj)
        if dtype not in DTYPE_BITS:
            raise UnsupportedDtype(f"unknown dtype {dtype[:40]!r}", subject=subj,
                                   hint="not in the safetensors specification; a newer writer or a corrupt file")
        shape = check_shape(shape_raw, limit=source.size, subject=subj)
        if len(offsets) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in offsets):
            raise CorruptFile(f"data_offsets must be two integers, got {str(offsets)[:60]}", subject=subj)
        begin, end = offsets
        if begin < 0 or end < begin:
            raise CorruptFile(f"negative or reversed span data_offsets=[{begin}, {end}]", subject=subj)
        if end > data_len:
            raise CorruptFile(f"data_offsets end {end} is past the end of the data ({data_len} bytes)",
                              subject=subj, hint="the file is truncated; re-download it")
        want = (numel(shape) * DTYPE_BITS[dtype] + 7) // 8
        if end - begin != want:
            raise CorruptFile(f"span of {end - begin} bytes does not match shape {list(shape)} × {dtype} "
                              f"({want} bytes)", subject=subj)
        infos[tname] = TensorInfo(tname, shape, dtype, end - begin, name)
        spans[tname] = (data_start + begin, data_start + end)
    # overlap check, in file order (empty tensors occupy no bytes and cannot overlap)
    ordered = sorted(spans.items(), key=lambda kv: kv[1])
    prev_name, prev_end = "", -1
    for tname, (begin, end) in ordered:
        if end == begin:
            continue
        if begin < prev_end:
            raise CorruptFile(f"tensors {prev_name!r} and {tname!r} overlap in the file", subject=name)
        prev_name, prev_end = tname, end
    infos = {k: infos[k] for k, _ in ordered}
    return infos, spans, metadata, data_start


class SafetensorsCheckpoint(Checkpoint):
    """One or more safetensors files (shards) read lazily through :class:`Source` objects."""

    format = "safetensors"

    def __init__(self, sources: list[Source], *, path: str | None = None,
                 extra_sources: list[Source] | None = None, index_metadata: Mapping[str, Any] | None = None
                 ) -> None:
        if not sources:
            raise CorruptFile("no safetensors files given", subject=path)
        super().__init__(path or sources[0].name)
        self._sources = list(sources)
        self._extra = list(extra_sources or [])
        self._where: dict[str, tuple[Source, int]] = {}
        for src in self._sources:
            infos, spans, meta, _ = _parse_header(src)
            for tname, info in infos.items():
                if tname in self._infos:
                    raise CorruptFile(f"tensor {tname!r} is in two shards ({self._infos[tname].file} and "
                                      f"{src.name})", subject=self.path)
                self._infos[tname] = info
                self._where[tname] = (src, spans[tname][0])
            for k, v in meta.items():
                self._metadata.setdefault(k, v)
        if index_metadata:
            self._metadata["index"] = dict(index_metadata)
        if len(self._sources) > 1:
            self._metadata["shards"] = [s.name for s in self._sources]

    @property
    def sources(self) -> list[Source]:
        return list(self._sources)

    def read(self, name: str, rows: RowSelector = None) -> np.ndarray:
        info = self.info(name)
        src, start = self._where[name]
        subject = f"{src.name}:{name}"
        if info.dtype not in FLOAT_DTYPES:
            to_float32(b"", info.dtype, (0,), subject=subject)  # raises UnsupportedDtype
        bits = DTYPE_BITS[info.dtype]
        if not info.shape:
            if rows is None:
                return to_float32(src.read_at(start, info.nbytes, what=name), info.dtype, (), subject=subject)
            shape1: tuple[int, ...] = (1,)
        else:
            shape1 = info.shape
        inner = shape1[1:]
        row_bytes = numel(inner) * bits // 8

        def read_run(a: int, b: int) -> np.ndarray:
            raw = src.read_at(start + a * row_bytes, (b - a) * row_bytes, what=name)
            return to_float32(raw, info.dtype, (b - a, *inner), subject=subject)

        return gather_rows(read_run, rows, shape1[0], subject=subject)

    @property
    def bytes_read(self) -> int:
        return sum(s.bytes_read for s in self._sources) + sum(s.bytes_read for s in self._extra)

    @property
    def file_size(self) -> int:
        return sum(s.size for s in self._sources)

    def close(self) -> None:
        for s in self._sources + self._extra:
            s.close()


def _resolve(base: str, shard: str, *, is_url: bool) -> str:
    if is_url:
        return posixpath.join(base, shard)
    return os.path.join(base, shard)


def open_sharded(index_source: Source) -> SafetensorsCheckpoint:
    """Open a ``model.safetensors.index.json``; shards are resolved next to it (folder or URL base)."""
    name = index_source.name
    if index_source.size > _MAX_HEADER:
        raise CorruptFile(f"index of {index_source.size} bytes is too large for an index", subject=name)
    try:
        doc = json.loads(index_source.read_at(0, index_source.size, what="index"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CorruptFile("index is not valid JSON", subject=name) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("weight_map"), dict):
        raise CorruptFile("index has no weight_map object", subject=name,
                          hint="expected a Hugging Face model.safetensors.index.json")
    weight_map: dict[str, str] = doc["weight_map"]
    is_url = name.startswith(("http://", "https://"))
    base = name.rsplit("/", 1)[0] if is_url else os.path.dirname(os.path.abspath(name))
    shard_names: list[str] = []
    for tname, shard in weight_map.items():
        if not isinstance(shard, str) or not shard or shard.startswith("/") or ".." in shard.split("/"):
            raise CorruptFile(f"index maps {tname!r} to an invalid shard name {shard!r}", subject=name)
        if shard not in shard_names:
            shard_names.append(shard)
    if not shard_names:
        raise CorruptFile("index weight_map is empty", subject=name)
    locs = [_resolve(base, shard, is_url=is_url) for shard in shard_names]
    if is_url:  # size probes of all shards at once (a 70B repository has 30 shards, DeepSeek-V3 163)
        from taoke.io.remote import open_sources

        sources: list[Source] = list(open_sources(locs))
    else:
        for shard, loc in zip(shard_names, locs, strict=True):
            if not os.path.isfile(loc):
                raise CorruptFile(f"index names shard {shard!r}, which is missing", subject=name,
                                  hint="download every shard listed in the index")
        sources = [open_source(loc) for loc in locs]
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    ckpt = SafetensorsCheckpoint(sources, path=name, extra_sources=[index_source], index_metadata=meta)
    infos = ckpt.tensor_infos()
    for tname, shard in weight_map.items():
        info = infos.get(tname)
        if info is None:
            raise CorruptFile(f"index lists {tname!r} in {shard!r} but no shard holds it", subject=name)
        if os.path.basename(info.file) != posixpath.basename(shard):
            raise CorruptFile(f"index says {tname!r} is in {shard!r}, but it is in {info.file}", subject=name)
    return ckpt
