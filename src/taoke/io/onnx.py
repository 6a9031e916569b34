"""ONNX model reader: initializers as tensors, int8 weights dequantised, graph roles recorded.

The model is parsed with the ``onnx`` package from bytes read through the :class:`Source` (so they are counted),
then checked before anything is sized from it: names are UTF-8, each initializer's dims (at most the file's size
each) agree with its ``raw_data`` length, typed-field length or external ``length``;
external-data initializers (``data_location = EXTERNAL``) are *not* loaded at open: their ``location``/
``offset``/``length`` are resolved next to the model file (folder or URL base) and rows are read lazily from
there, as for safetensors. Embedded initializers live in the parsed protobuf, so an ONNX file without external
data is read whole once at open (ONNX protobufs are capped at 2 GB; bigger models must use external data).

What is exposed as a tensor:

* FLOAT / FLOAT16 / DOUBLE / BFLOAT16 / FLOAT8E4M3FN / FLOAT8E5M2 initializers, under their own names;
* int8 weights stored as ``<name>_q`` (INT8) + ``<name>_scale`` (FLOAT) and dequantised in the graph by
  ``Cast(<name>_q) → Mul(·, <name>_scale)`` are exposed as ONE tensor named after the ``Mul`` output (by
  convention ``<name>``) with dtype ``"INT8xSCALE"``; value ``float32(q) * scale`` with numpy broadcasting of
  the stored scale (``[rows, 1]`` per row for embeddings, ``[1, cols]`` per output column for MatMul weights in
  the real MiniLM file). The same is done for standard ``DequantizeLinear(x, scale[, zero_point], axis)``
  nodes with an INT8/UINT8 initializer as ``x``: value ``(x - zero_point) * scale``.
  The ``_q``/``_scale`` pieces are hidden.

INT64/BOOL/other integer initializers (shape constants, masks) are not weights: they stay out of
``tensor_infos()`` and are listed in ``metadata["non_weight_initializers"]``.

Graph facts for the roles mapper, without changing any data (the reader never transposes):
``metadata["matmul_weights"] = {name: {"op": "MatMul"|"Gemm", "transposed": bool}}`` for tensors used as the B
input of a MatMul (stored (in, out): transposed relative to a PyTorch Linear) or a Gemm (transposed unless
``transB=1``), looking through one ``Transpose`` node; ``metadata["consumers"] = {name: [op types]}``.
``config()`` returns None: ONNX graphs declare no hyper-parameters.
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from taoke.errors import CorruptFile, UnsupportedDtype, UnsupportedFormat
from taoke.io.base import Checkpoint, RowSelector, TensorInfo, check_shape, gather_rows, numel
from taoke.io.safetensors import to_float32
from taoke.io.source import Source, open_source

__all__ = ["OnnxCheckpoint"]

_MAX_PROTO = 2 * 1024**3

# ONNX TensorProto.DataType -> (taoke dtype name, itemsize)
_FLOATS = {1: ("F32", 4), 10: ("F16", 2), 11: ("F64", 8), 16: ("BF16", 2), 17: ("F8_E4M3", 1), 19: ("F8_E5M2", 1)}
_INT_NAMES = {2: "U8", 3: "I8", 4: "U16", 5: "I16", 6: "I32", 7: "I64", 9: "BOOL", 12: "U32", 13: "U64",
              8: "STRING", 14: "C64", 15: "C128"}


@dataclass(frozen=True)
class _Piece:
    """Where one initializer's bytes are: inside the protobuf (``proto``) or in an external file."""

    name: str
    data_type: int
    shape: tuple[int, ...]
    proto: Any  # onnx.TensorProto (embedded) or None
    ext_source: Source | None = None
    ext_offset: int = 0
    ext_length: int = 0


@dataclass(frozen=True)
class _Dequant:
    q: str
    scale: str
    zero_point: str | None
    axis: int | None  # DequantizeLinear per-axis; None = numpy broadcasting of the stored scale


class OnnxCheckpoint(Checkpoint):
    """An ONNX model's weight initializers, read through a :class:`Source`."""

    format = "onnx"

    def __init__(self, source: Source) -> None:
        super().__init__(source.name)
        import onnx
        from google.protobuf.message import DecodeError

        self._src = source
        self._ext: dict[str, Source] = {}
        if source.size > _MAX_PROTO:
            raise UnsupportedFormat("ONNX protobuf over 2 GB", subject=self.path,
                                    hint="ONNX models this large keep weights as external data; open the .onnx "
                                    "file that references them")
        raw = source.read_at(0, source.size, what="ONNX protobuf")
        try:
            model = onnx.load_model_from_string(raw)
        except (DecodeError, ValueError, RuntimeError) as e:
            raise CorruptFile(f"not a readable ONNX protobuf ({type(e).__name__})", subject=self.path,
                              hint="the file is truncated or not ONNX") from None
        del raw
        _check_utf8(model, self.path)
        graph = model.graph
        if not graph.node and not graph.initializer:
            raise CorruptFile("ONNX model has an empty graph", subject=self.path,
                              hint="the file is truncated or not ONNX")
        self._pieces: dict[str, _Piece] = {}
        for init in graph.initializer:
            self._pieces[init.name] = self._piece(init)
        consumers: dict[str, list[Any]] = defaultdict(list)
        producer: dict[str, Any] = {}
        for node in graph.node:
            for x in node.input:
                if x:
                    consumers[x].append(node)
            for y in node.output:
                producer[y] = node

        # dequantisation patterns: Cast(q) -> Mul(., scale)  and  DequantizeLinear(q, scale[, zp])
        self._dequant: dict[str, _Dequant] = {}
        hidden: set[str] = set()
        for name, piece in self._pieces.items():
            if piece.data_type not in (2, 3):
                continue
            for node in consumers.get(name, []):
                if node.op_type == "Cast" and _has_io(node, 1, 1) and len(consumers.get(node.output[0], [])) == 1:
                    mul = consumers[node.output[0]][0]
                    if mul.op_type == "Mul" and _has_io(mul, 2, 1):
                        other = [x for x in mul.input if x != node.output[0]]
                        if len(other) == 1 and other[0] in self._pieces and self._pieces[other[0]].data_type in _FLOATS:
                            self._dequant[mul.output[0]] = _Dequant(name, other[0], None, None)
                            hidden.update({name, other[0]})
                elif node.op_type == "DequantizeLinear" and _has_io(node, 2, 1) and node.input[0] == name:
                    scale = node.input[1]
                    zp = node.input[2] if len(node.input) > 2 and node.input[2] else None
                    if (scale in self._pieces and self._pieces[scale].data_type in _FLOATS
                            and (zp is None or (zp in self._pieces and self._pieces[zp].data_type in (2, 3)))):
                        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                        self._dequant[node.output[0]] = _Dequant(name, scale, zp, axis)
                        hidden.update({name, scale} | ({zp} if zp else set()))
        # by-name pairs the graph did not show (e.g. a graph pruned of its Cast/Mul)
        for name, piece in self._pieces.items():
            if name.endswith("_q") and piece.data_type == 3 and name not in hidden:
                base = name[:-2]
                scale = base + "_scale"
                if scale in self._pieces and self._pieces[scale].data_type in _FLOATS and base not in self._pieces:
                    self._dequant[base] = _Dequant(name, scale, None, None)
                    hidden.update({name, scale})

        non_weights: dict[str, dict[str, Any]] = {}
        for name, piece in self._pieces.items():
            if name in hidden:
                continue
            if piece.data_type in _FLOATS:
                dt, size = _FLOATS[piece.data_type]
                self._infos[name] = TensorInfo(name, piece.shape, dt, numel(piece.shape) * size, self._file(piece))
            else:
                non_weights[name] = {"dtype": _INT_NAMES.get(piece.data_type, str(piece.data_type)),
                                     "shape": list(piece.shape)}
        for name, dq in self._dequant.items():
            q = self._pieces[dq.q]
            scale = self._pieces[dq.scale]
            self._check_broadcast(name, dq, q.shape, scale.shape)
            nbytes = numel(q.shape) + numel(scale.shape) * _FLOATS.get(scale.data_type, ("", 4))[1]
            self._infos[name] = TensorInfo(name, q.shape, "INT8xSCALE", nbytes, self._file(q))

        # graph roles
        matmul: dict[str, dict[str, Any]] = {}
        for node in graph.node:
            if node.op_type not in ("MatMul", "Gemm") or not _has_io(node, 2, 0):
                continue
            b = node.input[1]
            transposed = True
            if node.op_type == "Gemm":
                transposed = not any(a.name == "transB" and a.i == 1 for a in node.attribute)
            if b not in self._infos and b in producer and producer[b].op_type == "Transpose" and _has_io(
                    producer[b], 1, 1):
                t = producer[b]
                perm = next((list(a.ints) for a in t.attribute if a.name == "perm"), None)
                if t.input[0] in self._infos and perm in (None, [1, 0]):
                    b, transposed = t.input[0], not transposed
            if b in self._infos:
                matmul[b] = {"op": node.op_type, "transposed": transposed}
        cons_types = {name: sorted({n.op_type for n in consumers.get(name, [])})
                      for name in list(self._infos) + list(non_weights)}
        self._metadata = {
            "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "ir_version": int(model.ir_version),
            "opsets": {imp.domain or "ai.onnx": int(imp.version) for imp in model.opset_import},
            "graph_name": graph.name,
            "metadata_props": {p.key: p.value for p in model.metadata_props},
            "n_initializers": len(self._pieces),
            "non_weight_initializers": non_weights,
            "dequantized": {n: {"q": d.q, "scale": d.scale, "zero_point": d.zero_point} for n, d in self._dequant.items()},
            "matmul_weights": matmul,
            "consumers": cons_types,
        }
        self._scale_cache: dict[str, np.ndarray] = {}

    # -- construction helpers -------------------------------------------------------------------------
    def _piece(self, init: Any) -> _Piece:
        """Where an initializer's bytes are, after checking that its dims and its data agree (before any read)."""
        what = f"initializer {init.name[:80]!r}"
        item = _itemsize(init.data_type)
        if init.data_location == 1:  # EXTERNAL
            kv = {e.key: e.value for e in init.external_data}
            loc = kv.get("location", "")
            if not loc or os.path.isabs(loc) or ".." in loc.replace("\\", "/").split("/"):
                raise CorruptFile(f"{what} has an invalid external location {loc[:80]!r}", subject=self.path)
            src = self._ext.get(loc)
            if src is None:
                if self.path.startswith(("http://", "https://")):
                    where = posixpath.join(self.path.rsplit("/", 1)[0], loc)
                else:
                    where = os.path.join(os.path.dirname(os.path.abspath(self.path)), loc)
                    if not os.path.isfile(where):
                        raise CorruptFile(f"external data file {loc!r} is missing", subject=self.path,
                                          hint="keep the external data files next to the .onnx file")
                src = open_source(where)
                self._ext[loc] = src
            shape = check_shape(init.dims, limit=src.size, subject=self.path, what=what)
            want = numel(shape) * item if item else None
            try:
                offset = int(kv.get("offset", "0"))
                length = int(kv.get("length", str(want if want is not None else 0)))
            except ValueError:
                raise CorruptFile(f"{what} has a non-integer external offset or length", subject=self.path) from None
            if offset < 0 or length < 0 or offset + length > src.size:
                raise CorruptFile(f"external data of {what} lies past the end of {loc}", subject=self.path)
            if want is not None and length != want:
                raise CorruptFile(f"external data of {what} is {length} bytes, its dims {list(shape)} need {want}",
                                  subject=self.path)  # fmt: skip
            return _Piece(init.name, init.data_type, shape, None, src, offset, length)
        shape = check_shape(init.dims, limit=self._src.size, subject=self.path, what=what)
        n = numel(shape)
        if init.HasField("raw_data"):
            if item and len(init.raw_data) != n * item:
                raise CorruptFile(f"{what} holds {len(init.raw_data)} bytes, its dims {list(shape)} need {n * item}",
                                  subject=self.path)  # fmt: skip
        elif init.data_type in _TYPED_FIELD:
            got = len(getattr(init, _TYPED_FIELD[init.data_type]))
            if got != n:
                raise CorruptFile(f"{what} holds {got} values, its dims {list(shape)} need {n}", subject=self.path)
        return _Piece(init.name, init.data_type, shape, init)

    def _file(self, piece: _Piece) -> str:
        return piece.ext_source.name if piece.ext_source is not None else self.path

    def _check_broadcast(self, name: str, dq: _Dequant, qshape: tuple[int, ...], sshape: tuple[int, ...]) -> None:
        if dq.axis is not None:
            q = qshape if qshape else (1,)
            if not -len(q) <= dq.axis < len(q):
                raise CorruptFile(f"DequantizeLinear axis {dq.axis} of {name!r} is outside its {len(q)} dimensions",
                                  subject=self.path)  # fmt: skip
            for what, shp in (("scale", sshape), ("zero point", self._pieces[dq.zero_point].shape if dq.zero_point
                                                   else sshape)):  # fmt: skip
                if numel(shp) not in (1, q[dq.axis]):
                    raise CorruptFile(f"{what} of {name!r} {list(shp)} does not fit axis {dq.axis} of {list(q)}",
                                      subject=self.path)  # fmt: skip
            return
        try:
            np.broadcast_shapes(qshape, sshape)
        except ValueError:
            raise CorruptFile(f"scale {list(sshape)} does not broadcast to {name!r} {list(qshape)}",
                              subject=self.path) from None

    # -- reading --------------------------------------------------------------------------------------
    def _raw_rows(self, piece: _Piece, a: int, b: int) -> tuple[bytes | memoryview, tuple[int, ...]]:
        """Bytes of rows a..b of a (raw-stored) initializer, and the shape they form."""
        shape = piece.shape if piece.shape else (1,)
        inner = shape[1:]
        item = _itemsize(piece.data_type) or 1
        row_bytes = numel(inner) * item
        if piece.ext_source is not None:
            return piece.ext_source.read_at(piece.ext_offset + a * row_bytes, (b - a) * row_bytes,
                                            what=piece.name), (b - a, *inner)
        raw = piece.proto.raw_data
        if len(raw) != numel(shape) * item:
            raise CorruptFile(f"initializer {piece.name!r} holds {len(raw)} bytes, expected "
                              f"{numel(shape) * item}", subject=self.path)
        return memoryview(raw)[a * row_bytes : b * row_bytes], (b - a, *inner)

    def _rows_array(self, piece: _Piece, a: int, b: int) -> np.ndarray:
        """Rows a..b as float32 (floats) or as their integer values (int8/uint8 codes)."""
        if piece.ext_source is None and not piece.proto.HasField("raw_data"):
            from onnx import numpy_helper

            full = numpy_helper.to_array(piece.proto)
            full = full.reshape(piece.shape if piece.shape else (1,))
            out = full[a:b]
            return out.astype(np.float32) if out.dtype.kind == "f" else out
        raw, shape = self._raw_rows(piece, a, b)
        if piece.data_type in _FLOATS:
            return to_float32(raw, _FLOATS[piece.data_type][0], shape, subject=f"{self.path}:{piece.name}")
        dt = {2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64}.get(piece.data_type)
        if dt is None:
            raise UnsupportedDtype(f"initializer {piece.name!r} has an unsupported type", subject=self.path)
        return np.frombuffer(raw, dtype=np.dtype(dt).newbyteorder("<")).reshape(shape)

    def _whole(self, name: str) -> np.ndarray:
        arr = self._scale_cache.get(name)
        if arr is None:
            piece = self._pieces[name]
            n = piece.shape[0] if piece.shape else 1
            arr = self._rows_array(piece, 0, n).reshape(piece.shape)
            self._scale_cache[name] = arr
        return arr

    def read(self, name: str, rows: RowSelector = None) -> np.ndarray:
        info = self.info(name)
        dq = self._dequant.get(name)
        if dq is None:
            piece = self._pieces[name]
            if not piece.shape and rows is None:
                return self._rows_array(piece, 0, 1).reshape(())
            n = piece.shape[0] if piece.shape else 1
            return gather_rows(lambda a, b: self._rows_array(piece, a, b), rows, n, subject=f"{self.path}:{name}")
        q = self._pieces[dq.q]
        scale = self._whole(dq.scale).astype(np.float32)
        zp = self._whole(dq.zero_point).astype(np.float32) if dq.zero_point else None
        qshape = q.shape if q.shape else (1,)

        def run(a: int, b: int) -> np.ndarray:
            codes = self._rows_array(q, a, b).astype(np.float32)
            return _apply(codes, scale, zp, dq.axis, a, b, qshape)

        if not info.shape and rows is None:
            return run(0, 1).reshape(())
        return gather_rows(run, rows, qshape[0], subject=f"{self.path}:{name}")

    @property
    def bytes_read(self) -> int:
        return self._src.bytes_read + sum(s.bytes_read for s in self._ext.values())

    @property
    def file_size(self) -> int:
        return self._src.size + sum(s.size for s in self._ext.values())

    def close(self) -> None:
        self._src.close()
        for s in self._ext.values():
            s.close()


def _apply(codes: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, axis: int | None, a: int, b: int,
           qshape: tuple[int, ...]) -> np.ndarray:
    """Dequantise rows a..b of ``codes`` with a scale stored for the whole tensor."""
    def rows_of(p: np.ndarray) -> np.ndarray:
        if axis is not None:
            ax = axis % len(qshape)
            if p.size == 1:
                return p.reshape(())
            shape = [1] * len(qshape)
            shape[ax] = p.size
            p = p.reshape(shape)
        if p.ndim == len(qshape) and p.shape[0] == qshape[0] and qshape[0] != 1:
            return p[a:b]
        return p

    s = rows_of(scale)
    if zp is not None:
        codes = codes - rows_of(zp)
    return (codes * s).astype(np.float32, copy=False)


def _check_utf8(model: Any, path: str) -> None:
    """ONNX strings are UTF-8; protobuf hands an invalid one over as ``bytes``, which no name lookup expects."""
    g = model.graph
    strings: list[Any] = [model.producer_name, model.producer_version, g.name]
    strings += [p.key for p in model.metadata_props] + [p.value for p in model.metadata_props]
    strings += [imp.domain for imp in model.opset_import]
    for init in g.initializer:
        strings.append(init.name)
        strings += [e.key for e in init.external_data] + [e.value for e in init.external_data]
    for node in g.node:
        strings += [node.op_type, *node.input, *node.output, *(a.name for a in node.attribute)]
    if any(not isinstance(x, str) for x in strings):
        raise CorruptFile("ONNX model holds a name that is not valid UTF-8", subject=path,
                          hint="the file is corrupt or not ONNX")


def _has_io(node: Any, n_in: int, n_out: int) -> bool:
    """A node with at least ``n_in`` inputs and ``n_out`` outputs, the first ones named (what the patterns use)."""
    return (len(node.input) >= n_in and all(node.input[:n_in])
            and len(node.output) >= n_out and all(node.output[:n_out]))


#: bytes per element of the ONNX TensorProto data types with a fixed size (floats and integers)
_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2, 17: 1,
             18: 1, 19: 1, 20: 1}
#: the typed repeated field holding an initializer's values when it has no raw_data (onnx.proto: TensorProto)
_TYPED_FIELD = {1: "float_data", 11: "double_data", 7: "int64_data", 12: "uint64_data", 13: "uint64_data",
                **dict.fromkeys((2, 3, 4, 5, 6, 9, 10, 16, 17, 18, 19, 20), "int32_data")}


def _itemsize(data_type: int) -> int:
    return _ITEMSIZE.get(data_type, 0)

