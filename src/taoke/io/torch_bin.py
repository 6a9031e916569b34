"""PyTorch checkpoints (``torch.save``) read without running pickle code and without importing torch.

A ``.bin``/``.pt`` file is either a zip archive (torch ≥ 1.6: ``<prefix>/data.pkl`` + one member per storage,
``<prefix>/data/<key>``, stored uncompressed) or the legacy stream (magic-number pickle, protocol pickle,
sys-info pickle, the object pickle, a pickle of storage keys, then each storage as an int64 element count
followed by its bytes). Both are read the same way:

* each pickle is first *walked* (:func:`_walk_pickle`: :mod:`pickletools` reads the opcodes and builds nothing):
  every length an opcode declares must be followed by that many bytes and every memo index must be below the
  opcode count, because CPython's unpickler allocates what ``BINBYTES8``/``LONG_BINPUT`` declare before reading;
* the object pickle is loaded by :class:`SafeUnpickler`, a :class:`pickle.Unpickler` whose ``find_class``
  answers only an explicit allow-list (the tensor-rebuild functions of ``torch._utils``, the ``torch.*Storage``
  classes, ``torch.<dtype>``, ``torch.Size``, ``collections.OrderedDict``, ``builtins.set``/``frozenset`` and
  ``_codecs.encode`` for bytes) and maps each to a stand-in defined here that builds an inert record
  (:class:`TensorRecord`); any other global raises :class:`UnsafePickle` naming it — e.g. "refusing to
  unpickle global 'posix.system'" — before anything is called. ``persistent_load`` turns
  ``('storage', type, key, location, numel)`` into a :class:`StorageRef`;
* tensor bytes are read lazily: a zip member stored uncompressed is a :class:`SubSource` window of the file
  (data start found from the member's local file header); a deflated member is decompressed with a size bound
  (512 MiB) or refused;
* rows are read by contiguous runs when each row is contiguous (any ``stride[0]``); other layouts (a saved
  transposed view) read the storage span covering the rows and apply ``numpy.lib.stride_tricks.as_strided``.

Nested dictionaries (``{"state_dict": {...}}``, ``{"model": ...}``) are flattened with dotted names; lists and
tuples of tensors get their index as a name part. Non-tensor leaves (epoch counters, strings) are dropped and
counted in ``metadata["non_tensor_leaves"]``. Quantised (``QInt8Storage``…) and sparse tensors are not
supported. Sharded ``pytorch_model.bin.index.json`` checkpoints are opened through
:class:`taoke.io.hf_dir.HFDirCheckpoint`.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from taoke.errors import CorruptFile, UnsafePickle, UnsupportedFormat
from taoke.io.base import ZIP_ERRORS, Checkpoint, RowSelector, TensorInfo, check_shape, gather_rows, numel
from taoke.io.safetensors import FLOAT_DTYPES, to_float32
from taoke.io.source import BytesSource, Source, SubSource

__all__ = ["TorchCheckpoint", "SafeUnpickler", "TensorRecord", "StorageRef"]

_MAX_PICKLE = 256 * 1024 * 1024
_MAX_INFLATE = 512 * 1024 * 1024
_MAX_DEFLATE_RATIO = 1032  # deflate's largest expansion (258-byte matches from 2-bit codes)
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

#: bytes per element of each dtype name a torch checkpoint can carry
ITEMSIZE: Mapping[str, int] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1, "U16": 2, "U32": 4, "U64": 8,
    "C64": 8, "C128": 16,
}  # fmt: skip

#: ``torch.<X>Storage`` class name -> dtype
STORAGE_DTYPES: Mapping[str, str] = {
    "DoubleStorage": "F64", "FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16",
    "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
    "ByteStorage": "U8", "BoolStorage": "BOOL", "ComplexFloatStorage": "C64", "ComplexDoubleStorage": "C128",
    "UntypedStorage": "U8",
}  # fmt: skip

#: ``torch.<dtype>`` attribute name -> dtype
TORCH_DTYPES: Mapping[str, str] = {
    "float64": "F64", "double": "F64", "float32": "F32", "float": "F32", "float16": "F16", "half": "F16",
    "bfloat16": "BF16", "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "int64": "I64", "long": "I64",
    "int32": "I32", "int": "I32", "int16": "I16", "short": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
    "uint16": "U16", "uint32": "U32", "uint64": "U64", "complex64": "C64", "complex128": "C128",
}  # fmt: skip


# -- inert records the stand-ins build ----------------------------------------------------------------
@dataclass(frozen=True)
class _StorageType:
    dtype: str


@dataclass(frozen=True)
class _DType:
    dtype: str


@dataclass(frozen=True)
class _TypeMarker:
    name: str


@dataclass(frozen=True)
class StorageRef:
    """One storage: ``numel`` elements of ``dtype``, starting ``elem_offset`` elements into member ``key``."""

    key: str
    dtype: str
    numel: int
    location: str
    elem_offset: int = 0


@dataclass(frozen=True)
class TensorRecord:
    """A tensor as the pickle describes it: a view into a storage (offset, shape, strides in elements)."""

    storage: StorageRef
    dtype: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, *_: Any) -> TensorRecord:
    if not isinstance(storage, StorageRef):
        raise CorruptFile("tensor rebuilt from something that is not a storage")
    return _record(storage, storage.dtype, storage_offset, size, stride)


def _rebuild_tensor_v3(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any,
                       backward_hooks: Any, dtype: Any, *_: Any) -> TensorRecord:
    if not isinstance(storage, StorageRef) or not isinstance(dtype, _DType):
        raise CorruptFile("_rebuild_tensor_v3 called with a bad storage or dtype")
    return _record(storage, dtype.dtype, storage_offset, size, stride)


def _record(storage: StorageRef, dtype: str, offset: Any, size: Any, stride: Any) -> TensorRecord:
    try:
        shape = tuple(int(d) for d in size)
        strides = tuple(int(s) for s in stride)
        off = int(offset)
    except (TypeError, ValueError):
        raise CorruptFile("tensor with a non-integer shape, stride or offset") from None
    if len(shape) != len(strides) or off < 0 or any(d < 0 for d in shape) or any(s < 0 for s in strides):
        raise CorruptFile(f"tensor with inconsistent shape {list(shape)} / stride {list(strides)}")
    return TensorRecord(storage, dtype, off, shape, strides)


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    if func not in _REBUILDERS:
        raise UnsafePickle("refusing _rebuild_from_type_v2 with a function outside the allow-list")
    return func(*args)


def _codecs_encode(obj: Any, encoding: str = "latin1") -> bytes:
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickle("refusing _codecs.encode with unexpected arguments")
    return obj.encode("latin1")


_REBUILDERS: frozenset[Callable[..., Any]] = frozenset(
    {_rebuild_tensor, _rebuild_tensor_v3, _rebuild_parameter}
)


def _allowed(module: str, name: str) -> Any:
    if module == "__builtin__":
        module = "builtins"
    if module == "torch._utils":
        table: dict[str, Any] = {
            "_rebuild_tensor": _rebuild_tensor,
            "_rebuild_tensor_v2": _rebuild_tensor,
            "_rebuild_tensor_v3": _rebuild_tensor_v3,
            "_rebuild_parameter": _rebuild_parameter,
            "_rebuild_parameter_with_state": _rebuild_parameter,
        }
        return table.get(name)
    if module == "torch._tensor" and name == "_rebuild_from_type_v2":
        return _rebuild_from_type_v2
    if module in ("torch", "torch.storage", "torch.cuda") and name in STORAGE_DTYPES:
        return _StorageType(STORAGE_DTYPES[name])
    if module == "torch" and name in TORCH_DTYPES:
        return _DType(TORCH_DTYPES[name])
    if module == "torch" and name == "Size":
        return tuple
    if (module, name) in (("torch", "Tensor"), ("torch.nn.parameter", "Parameter"), ("torch", "device")):
        return _TypeMarker(f"{module}.{name}")
    if module == "collections" and name == "OrderedDict":
        return OrderedDict
    if module == "builtins" and name in ("set", "frozenset"):
        return {"set": set, "frozenset": frozenset}[name]
    if module == "_codecs" and name == "encode":
        return _codecs_encode
    return None


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals (to inert stand-ins) and records storages."""

    def __init__(self, file: Any, *, subject: str, storage_key: Callable[[tuple[Any, ...]], StorageRef]
                 | None = None) -> None:
        super().__init__(file, encoding="latin1")
        self._subject = subject
        self._storage_key = storage_key

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed(module, name)
        if obj is None:
            raise UnsafePickle(f"refusing to unpickle global '{module}.{name}'", subject=self._subject,
                               hint="the file asks to run code; open it only if you trust it, with torch")
        return obj

    def persistent_load(self, pid: Any) -> Any:
        if self._storage_key is None:
            raise UnsafePickle("pickle asks for a persistent object outside a torch checkpoint",
                               subject=self._subject)
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise CorruptFile(f"unexpected persistent id {str(pid)[:60]!r}", subject=self._subject)
        return self._storage_key(pid)


def _storage_from_pid(pid: tuple[Any, ...], subject: str) -> tuple[StorageRef, tuple[Any, ...] | None]:
    """('storage', type, key, location, numel[, view_metadata]) -> StorageRef (+ view metadata)."""
    if len(pid) < 5 or not isinstance(pid[1], _StorageType):
        raise CorruptFile(f"malformed storage id {str(pid)[:80]!r}", subject=subject)
    try:
        numel = int(pid[4])
    except (TypeError, ValueError):
        raise CorruptFile("storage with a non-integer size", subject=subject) from None
    ref = StorageRef(str(pid[2]), pid[1].dtype, numel, str(pid[3]))
    view = pid[5] if len(pid) > 5 and pid[5] is not None else None
    return ref, view


class _SourceFile(io.RawIOBase):
    """A seekable file object over a :class:`Source` (for ``zipfile`` and the legacy stream)."""

    def __init__(self, source: Source) -> None:
        self._src = source
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._src.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        n = min(len(b), max(0, self._src.size - self._pos))
        if n == 0:
            return 0
        data = self._src.read_at(self._pos, n)
        b[:n] = data
        self._pos += n
        return n

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._src.size - self._pos
        n = min(n, max(0, self._src.size - self._pos))
        data = self._src.read_at(self._pos, n) if n else b""
        self._pos += n
        return data

    def readline(self, limit: int | None = -1) -> bytes:
        out = bytearray()
        while limit is None or limit < 0 or len(out) < limit:
            c = self.read(1)
            if not c:
                break
            out += c
            if c == b"\n":
                break
        return bytes(out)


class _Tee:
    """A read-only stream over a :class:`_SourceFile` that keeps a copy of what was read (``seen``)."""

    def __init__(self, f: _SourceFile, subject: str) -> None:
        self._f = f
        self._subject = subject
        self.seen = bytearray()

    def _keep(self, b: bytes) -> bytes:
        self.seen += b
        if len(self.seen) > _MAX_PICKLE:
            raise CorruptFile(f"pickle larger than {_MAX_PICKLE} bytes", subject=self._subject)
        return b

    def read(self, n: int = -1) -> bytes:
        return self._keep(self._f.read(min(n, _MAX_PICKLE + 1) if n is not None and n >= 0 else _MAX_PICKLE + 1))

    def readline(self, limit: int | None = -1) -> bytes:
        # text opcodes (GLOBAL's module and name, protocol-0 values) are short lines: one without a newline in
        # 64 KB is refused by the walk instead of being read byte by byte to the end of a large file
        return self._keep(self._f.readline(1 << 16 if limit is None or limit < 0 else min(limit, 1 << 16)))


#: pickle opcodes that store into the memo at an index of the pickle's choosing
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _walk_pickle(f: Any, subject: str) -> None:
    """Walk one pickle's opcodes (:func:`pickletools.genops`, which reads but builds nothing) before unpickling it.

    CPython's unpickler allocates what an opcode declares before it reads: a ``BINBYTES8`` of 10 GB allocates 10 GB
    and then finds 2 KB, a ``LONG_BINPUT`` at memo index 2**31 grows the memo to 2**32 slots (32 GB). The walk
    checks every declared length against the bytes that follow (genops reads them, ``ValueError`` when short) and
    every memo index against the number of opcodes so far (real pickles number them 0, 1, 2, ...), so the
    unpickler's allocations stay below a few times the pickle's size.
    """
    import pickletools

    try:
        for k, (op, arg, _pos) in enumerate(pickletools.genops(f)):
            if op.name in _MEMO_PUTS and isinstance(arg, int) and arg > k:
                raise CorruptFile(f"pickle stores at memo index {arg} after {k} opcodes", subject=subject,
                                  hint="not written by torch.save; a crafted pickle")  # fmt: skip
    except CorruptFile:
        raise
    except (ValueError, EOFError, OverflowError, struct.error, UnicodeError) as e:
        raise CorruptFile(f"malformed pickle ({type(e).__name__}: {str(e)[:80]})", subject=subject) from None


def _flatten(obj: Any, prefix: str, out: dict[str, TensorRecord], counts: dict[str, int]) -> None:
    if isinstance(obj, TensorRecord):
        out[prefix or "tensor"] = obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, counts)
    elif isinstance(obj, list | tuple) and any(isinstance(x, TensorRecord | Mapping | list | tuple) for x in obj):
        for i, v in enumerate(obj):
            _flatten(v, f"{prefix}.{i}" if prefix else str(i), out, counts)
    else:
        counts["non_tensor_leaves"] = counts.get("non_tensor_leaves", 0) + 1


class TorchCheckpoint(Checkpoint):
    """A ``torch.save`` file (zip or legacy), read lazily and without executing pickle code."""

    format = "torch"

    def __init__(self, source: Source) -> None:
        super().__init__(source.name)
        self._src = source
        self._storage_src: dict[str, Source] = {}
        self._storage_base: dict[str, int] = {}  # legacy: byte offset of each storage's data in the file
        self._little = True
        head = source.read_at(0, min(4, source.size), what="magic bytes")
        if head[:4] == b"PK\x03\x04":
            obj = self._load_zip()
            self._metadata["container"] = "zip"
        else:
            obj = self._load_legacy()
            self._metadata["container"] = "legacy"
        records: dict[str, TensorRecord] = {}
        counts: dict[str, int] = {}
        _flatten(obj, "", records, counts)
        self._metadata.update(counts)
        if not records:
            raise UnsupportedFormat("the checkpoint holds no tensors", subject=self.path)
        self._records = records
        for name, rec in records.items():
            self._check_extent(name, rec)
            self._infos[name] = TensorInfo(name, rec.shape, rec.dtype, numel(rec.shape) * ITEMSIZE[rec.dtype],
                                           self.path)

    # -- containers -----------------------------------------------------------------------------------
    def _load_zip(self) -> Any:
        try:
            zf = zipfile.ZipFile(_SourceFile(self._src))
            members = {i.filename: i for i in zf.infolist()}
        except ZIP_ERRORS as e:
            raise CorruptFile(f"not a readable zip archive ({type(e).__name__}: {str(e)[:80]})",
                              subject=self.path) from None
        pkls = sorted((n for n in members if n.endswith("data.pkl") and n.count("/") <= 1), key=len)
        if not pkls:
            raise UnsupportedFormat("zip archive has no data.pkl: not a PyTorch checkpoint", subject=self.path,
                                    hint="expected a file written by torch.save")
        pkl_name = pkls[0]
        prefix = pkl_name[: -len("data.pkl")]
        if prefix + "byteorder" in members:
            order = self._member(members[prefix + "byteorder"]).read_at(0, members[prefix + "byteorder"].file_size)
            self._little = order.strip() != b"big"
        pkl_info = members[pkl_name]
        if pkl_info.file_size > _MAX_PICKLE:
            raise CorruptFile(f"data.pkl of {pkl_info.file_size} bytes is too large", subject=self.path)
        pkl_src = self._member(pkl_info)
        data = pkl_src.read_at(0, pkl_src.size, what="data.pkl")
        refs: dict[str, StorageRef] = {}

        def load_storage(pid: tuple[Any, ...]) -> StorageRef:
            ref, _ = _storage_from_pid(pid, self.path)
            key = ref.key
            if key not in self._storage_src:
                info = members.get(f"{prefix}data/{key}")
                if info is None:
                    raise CorruptFile(f"storage {key!r} has no member {prefix}data/{key}", subject=self.path)
                self._storage_src[key] = self._member(info)
            refs[key] = ref
            return ref

        self._metadata["archive_prefix"] = prefix.rstrip("/")
        return self._unpickle(data, load_storage)

    def _member(self, info: zipfile.ZipInfo) -> Source:
        hdr = self._src.read_at(info.header_offset, 30, what=f"zip local header of {info.filename}")
        sig, _, _, method, _, _, _, _, _, n_name, n_extra = struct.unpack("<4sHHHHHIIIHH", hdr)
        if sig != b"PK\x03\x04":
            raise CorruptFile(f"bad zip local header for {info.filename}", subject=self.path)
        start = info.header_offset + 30 + n_name + n_extra
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise CorruptFile(f"stored member {info.filename} has inconsistent sizes", subject=self.path)
            return SubSource(self._src, start, info.file_size, f"{self.path}!{info.filename}")
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > _MAX_DEFLATE_RATIO * max(
                info.compress_size, 1):
            raise CorruptFile(f"member {info.filename} claims to inflate {info.compress_size} bytes to "
                              f"{info.file_size} (deflate expands at most {_MAX_DEFLATE_RATIO}x)", subject=self.path)
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size <= _MAX_INFLATE:
            raw = self._src.read_at(start, info.compress_size, what=info.filename)
            d = zlib.decompressobj(-15)
            try:
                data = d.decompress(raw, info.file_size)
            except zlib.error:
                raise CorruptFile(f"member {info.filename} does not inflate", subject=self.path) from None
            if len(data) != info.file_size:
                raise CorruptFile(f"member {info.filename} inflates to the wrong size", subject=self.path)
            return BytesSource(data, f"{self.path}!{info.filename}")
        raise UnsupportedFormat(f"zip member {info.filename} is compressed (method {info.compress_type})",
                                subject=self.path, hint="re-save it with torch.save (which stores members "
                                "uncompressed) or as safetensors")

    def _unpickle(self, data: bytes | _SourceFile, load_storage: Callable[[tuple[Any, ...]], StorageRef]) -> Any:
        """The next pickle of ``data`` (bytes, or a stream at its position), walked first by :func:`_walk_pickle`
        and then loaded from exactly the bytes the walk saw."""
        if isinstance(data, bytes):
            _walk_pickle(io.BytesIO(data), self.path)
            f = io.BytesIO(data)
        else:
            tee = _Tee(data, self.path)
            _walk_pickle(tee, self.path)
            f = io.BytesIO(tee.seen)
        try:
            return SafeUnpickler(f, subject=self.path, storage_key=load_storage).load()
        except (UnsafePickle, CorruptFile, UnsupportedFormat) as e:
            if e.subject:
                raise
            raise type(e)(e.message, subject=self.path, hint=e.hint) from None
        except RecursionError:
            raise CorruptFile("pickle nests too deeply", subject=self.path) from None
        except Exception as e:  # malformed pickle streams raise many types
            raise CorruptFile(f"malformed pickle ({type(e).__name__}: {str(e)[:80]})", subject=self.path) from None

    def _load_legacy(self) -> Any:
        f = _SourceFile(self._src)

        def no_storage(pid: tuple[Any, ...]) -> StorageRef:
            raise UnsupportedFormat("a plain pickle, not a PyTorch checkpoint", subject=self.path)

        magic = self._unpickle(f, no_storage)
        if magic != _LEGACY_MAGIC:
            raise UnsupportedFormat("a plain pickle, not a PyTorch checkpoint", subject=self.path,
                                    hint="expected a file written by torch.save")
        self._unpickle(f, no_storage)  # protocol version
        sys_info = self._unpickle(f, no_storage)
        if isinstance(sys_info, dict):
            self._little = bool(sys_info.get("little_endian", True))
        roots: dict[str, StorageRef] = {}
        views: dict[str, StorageRef] = {}

        def load_storage(pid: tuple[Any, ...]) -> StorageRef:
            ref, view = _storage_from_pid(pid, self.path)
            root = roots.setdefault(ref.key, ref)
            if view is None:
                return root
            try:
                view_key, off, size = str(view[0]), int(view[1]), int(view[2])
            except (TypeError, ValueError, IndexError):
                raise CorruptFile("malformed storage view", subject=self.path) from None
            v = StorageRef(root.key, root.dtype, size, root.location, elem_offset=off)
            views[view_key] = v
            return v

        obj = self._unpickle(f, load_storage)
        keys = self._unpickle(f, no_storage)
        if not isinstance(keys, list):
            raise CorruptFile("legacy checkpoint lacks its storage key list", subject=self.path)
        pos = f.tell()
        for key in keys:
            ref = roots.get(str(key))
            if ref is None:
                raise CorruptFile(f"storage key {key!r} is not used by any tensor", subject=self.path)
            n = struct.unpack("<q" if self._little else ">q", self._src.read_at(pos, 8, what="storage size"))[0]
            if n < 0:
                raise CorruptFile(f"storage {key!r} has a negative size", subject=self.path)
            nbytes = n * ITEMSIZE.get(ref.dtype, 1)
            self._storage_src[ref.key] = SubSource(self._src, pos + 8, nbytes, f"{self.path}!storage{key}")
            pos += 8 + nbytes
        return obj

    # -- tensors ---------------------------------------------------------------------------------------
    def _check_extent(self, name: str, rec: TensorRecord) -> None:
        src = self._storage_src.get(rec.storage.key)
        if src is None:
            raise CorruptFile(f"tensor {name!r} points at storage {rec.storage.key!r}, which is missing",
                              subject=self.path)
        item = ITEMSIZE.get(rec.dtype)
        if item is None:
            raise CorruptFile(f"tensor {name!r} has unknown dtype {rec.dtype}", subject=self.path)
        check_shape(rec.shape, limit=self._src.size, subject=self.path, what=f"tensor {name!r}")
        n = numel(rec.shape)
        if n == 0:
            return
        if rec.storage.elem_offset < 0:
            raise CorruptFile(f"tensor {name!r} is a view at a negative storage offset", subject=self.path)
        last = rec.storage.elem_offset * ITEMSIZE.get(rec.storage.dtype, 1) // item + rec.offset + sum(
            (d - 1) * s for d, s in zip(rec.shape, rec.stride, strict=True))
        if (last + 1) * item > src.size:
            raise CorruptFile(f"tensor {name!r} runs past the end of its storage ({src.size} bytes)",
                              subject=self.path, hint="the file is truncated or its pickle lies")
        if n * item > src.size:
            raise UnsupportedFormat(
                f"tensor {name!r} has {n} elements but its storage holds {src.size // item}: a view whose elements "
                "overlap (stride 0 or overlapping strides), which taoke does not expand", subject=self.path,
                hint="save the tensor with .contiguous() or as safetensors",
            )  # fmt: skip

    def read(self, name: str, rows: RowSelector = None) -> np.ndarray:
        info = self.info(name)
        rec = self._records[name]
        subject = f"{self.path}:{name}"
        if rec.dtype not in FLOAT_DTYPES:
            to_float32(b"", rec.dtype, (0,), subject=subject)  # raises UnsupportedDtype
        src = self._storage_src[rec.storage.key]
        item = ITEMSIZE[rec.dtype]
        base = rec.storage.elem_offset * ITEMSIZE.get(rec.storage.dtype, 1) // item + rec.offset
        shape = rec.shape if rec.shape else (1,)
        stride = rec.stride if rec.shape else (1,)
        inner, inner_stride = shape[1:], stride[1:]
        row_elems = numel(inner)
        contiguous_inner = tuple(inner_stride) == tuple(_c_strides(inner)) or row_elems <= 1

        def decode(elem_start: int, n_elems: int) -> np.ndarray:
            raw = src.read_at(elem_start * item, n_elems * item, what=name)
            return to_float32(raw, rec.dtype, (n_elems,), little_endian=self._little, subject=subject)

        def read_run(a: int, b: int) -> np.ndarray:
            if b <= a or row_elems == 0:
                return np.zeros((max(0, b - a), *inner), dtype=np.float32)
            if contiguous_inner and (stride[0] == row_elems or b - a == 1):
                return decode(base + a * stride[0], (b - a) * row_elems).reshape((b - a, *inner))
            if contiguous_inner:
                return np.stack([decode(base + r * stride[0], row_elems).reshape(inner) for r in range(a, b)])
            start = base + a * stride[0]
            span = (b - 1 - a) * stride[0] + sum((d - 1) * s for d, s in zip(inner, inner_stride, strict=True)) + 1
            flat = decode(start, span)
            view = np.lib.stride_tricks.as_strided(
                flat, shape=(b - a, *inner), strides=tuple(s * 4 for s in (stride[0], *inner_stride)),
                writeable=False)
            return np.array(view)

        if not info.shape and rows is None:
            return read_run(0, 1).reshape(())
        return gather_rows(read_run, rows, shape[0], subject=subject)

    @property
    def bytes_read(self) -> int:
        return self._src.bytes_read

    def close(self) -> None:
        self._src.close()


def _c_strides(shape: tuple[int, ...]) -> list[int]:
    out = []
    acc = 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return out[::-1]
