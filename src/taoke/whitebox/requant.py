"""Storage identity: does one tensor hold *exactly* what a re-packaging of the other would hold, block by block?

A tolerance on the relative error ("equal within Q4_1 precision") cannot tell a re-packaged copy from a modified
one whose change is smaller than the lossier format's rounding: a dequantised SmolLM2 with 1.5 % Gaussian noise is
within Q4_1's tolerance of the real Q4_1 file (issue 16). Quantisers and float casts are deterministic, so a real
re-packaging can be checked for *identity* instead, on each quantisation block of the sampled rows:

* **dequantisation identity** — B's float values are A's dequantised blocks, as B's float format rounds them
  (every element of the block lies within half a unit in the last place of B's format, ``F32``/``F16``/``BF16``);
* **re-quantisation identity** — quantising the float side with the quantised file's own quantiser reproduces its
  blocks: llama.cpp's ``ggml_quantize_chunk`` (through the ``libggml-base`` that ``llama-cpp-python`` ships; the
  quantiser ``llama-quantize`` calls) where available, else gguf-py's reference re-implementation
  (``gguf.quants.quantize``: ``Q4_0``, ``Q4_1``, ``Q5_0``, ``Q5_1``, ``Q8_0``, ``BF16``...). Candidates for the
  quantiser's input: the float values, the point of their rounding cell closest to the quantised values (the
  float file may be a rounded copy of the quantiser's input), and their ``F16``/``BF16`` roundings (the quantised
  file may have been made from a rounded copy of an ``F32`` master);
* **cast identity** — two float formats: every element's rounding cells intersect (``F32`` → ``F16`` is a cast).

Two quantised files of different types are checked in both directions (``quantise_B(dequant(A)) == B`` or the
reverse: e.g. a ``Q8_0`` made from the dequantised ``Q4_1``). The share of reproduced blocks is the statistic. A
genuine re-packaging reproduces every block (measured: 100.0 % over the real SmolLM2 ``Q4_1`` and Gemma-3
``Q4_K_M`` files, see ``docs/repackaging.md``); a copy with noise reproduces fewer and fewer blocks as the noise
grows past the float format's rounding (SmolLM2 ``Q4_1``: ~38 % at noise 1e-3 of the weights' RMS, ~0.5 % at 1e-2).
A role reproducing less than :data:`REPRODUCE_MIN` of its blocks is *modified*.

Concessions (stated in every result that meets them): a file quantised with an importance matrix (GGUF
``quantize.imatrix.*`` keys) cannot be re-quantised without that matrix, so only the dequantisation identity can
confirm it; types without an available quantiser (``INT8xSCALE`` ONNX exports, ``F8``, imatrix-only ``IQ`` types,
K-quants without llama-cpp-python) are *untestable* and fall back to the tolerance, with that said; fingerprints
hold scattered cells, not whole blocks, and are untestable; 1-D roles (norms, biases) are left to the tolerance.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import gguf
import gguf.quants
import numpy as np

__all__ = ["REPRODUCE_MIN", "SIMULATED_MIN", "StorageCheck", "check_storage", "imatrix_declared", "quantiser_for"]

#: a role whose testable blocks are reproduced less often than this is modified (measured in docs/repackaging.md:
#: genuine re-packagings reproduce 100 % of their blocks; noise of 3e-4 of the weights' RMS already drops a
#: SmolLM2 Q4_1 role to 87-95 %, so 0.9 sits between the two with margin on the genuine side)
REPRODUCE_MIN = 0.9
#: where a genuine pair cannot reproduce every block (the float side is an F16/BF16 rounding of the quantiser's
#: input, both files made from a finer master), the share it reaches is simulated with masters drawn uniformly in
#: the rounding cells; real masters are not uniform there (measured: masters lying on another quantiser's lattice
#: reproduce up to 14 % fewer blocks than simulated), so a role is modified below this fraction of the simulated share
SIMULATED_MIN = 0.8
FLOAT_TYPES = frozenset({"F64", "F32", "F16", "BF16"})
#: blocks of a float-vs-float comparison (a cast has no blocks; rows are cut in runs of this many elements)
CAST_BLOCK = 32
#: GGUF metadata keys llama-quantize writes when it used an importance matrix
IMATRIX_KEYS = ("quantize.imatrix.file", "quantize.imatrix.dataset", "quantize.imatrix.entries_count",
                "quantize.imatrix.chunks_count")  # fmt: skip

_QT = gguf.GGMLQuantizationType


@dataclass(frozen=True)
class StorageCheck:
    """The storage-identity result of one role (see the module docstring).

    ``blocks`` tested, ``reproduced`` of them reproduced by any identity (``by_dequant`` by the dequantisation
    identity alone); ``method``: ``cast``, ``same-format``, ``dequantise``, ``requantise:<quantiser>`` or
    ``untestable``; ``deviation``: relative RMS difference of the two sampled tensors (a noise estimate);
    ``note``: why a role is untestable, or a limit that applies.
    """

    role: str
    dtypes: tuple[str, str]
    blocks: int
    reproduced: int
    by_dequant: int
    method: str
    deviation: float
    note: str = ""
    expected: float = 1.0  # share a genuine re-packaging reaches here (below 1 only where the float side's rounding
    #                        of the quantiser's input hides blocks: simulated, lower 3-sigma bound)

    @property
    def testable(self) -> bool:
        return self.method != "untestable" and self.blocks > 0

    @property
    def share(self) -> float | None:
        return self.reproduced / self.blocks if self.testable else None

    @property
    def modified(self) -> bool:
        """Testable and reproducing fewer than :data:`REPRODUCE_MIN` of its blocks — or, where the share a genuine
        pair reaches had to be simulated (``expected < 1``), fewer than :data:`SIMULATED_MIN` × :attr:`expected`."""
        s = self.share
        if s is None:
            return False
        return s < (REPRODUCE_MIN if self.expected >= 1.0 else SIMULATED_MIN * self.expected)

    def to_dict(self) -> dict[str, object]:
        return {"role": self.role, "dtypes": list(self.dtypes), "blocks": self.blocks, "reproduced": self.reproduced,
                "by_dequant": self.by_dequant, "method": self.method, "deviation": float(f"{self.deviation:.3g}"),
                "expected": round(self.expected, 4), "note": self.note}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StorageCheck:
        dev = d.get("deviation")
        return cls(str(d["role"]), (str(d["dtypes"][0]), str(d["dtypes"][1])), int(d["blocks"]), int(d["reproduced"]),
                   int(d.get("by_dequant", 0)), str(d["method"]), math.nan if dev is None else float(dev),
                   str(d.get("note", "")), float(d.get("expected", 1.0)))  # fmt: skip


# -- quantisers ---------------------------------------------------------------------------------------------------

Quantiser = Callable[[np.ndarray], np.ndarray]  # float32 rows -> dequantised rows of the same shape


@cache
def _libggml() -> Any | None:
    """llama.cpp's ``libggml-base`` shipped inside llama-cpp-python (None when that package is not installed)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for name in ("libggml-base.so", "libggml-base.dylib", "ggml-base.dll"):
            p = Path(folder) / "lib" / name
            if p.is_file():
                try:
                    lib = ctypes.CDLL(str(p))
                    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
                    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]  # fmt: skip
                    lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
                    lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
                    lib.ggml_quantize_init.argtypes = [ctypes.c_int]
                    return lib
                except (OSError, AttributeError):
                    return None
    return None


def _ggml_quantiser(qt: _QT) -> Quantiser | None:
    lib = _libggml()
    if lib is None or qt in (_QT.F32, _QT.F16) or bool(lib.ggml_quantize_requires_imatrix(int(qt))):
        return None
    block, size = gguf.GGML_QUANT_SIZES[qt]

    def q(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        rows, n = x.shape
        out = np.zeros((rows, n // block * size), dtype=np.uint8)
        lib.ggml_quantize_init(int(qt))
        lib.ggml_quantize_chunk(int(qt), x.ctypes.data, out.ctypes.data, 0, rows, n, None)
        return np.asarray(gguf.quants.dequantize(out, qt), dtype=np.float32).reshape(x.shape)

    return q


def _gguf_py_quantiser(qt: _QT) -> Quantiser | None:
    block = gguf.GGML_QUANT_SIZES[qt][0]
    try:  # gguf-py raises NotImplementedError for the types it can only dequantise
        gguf.quants.quantize(np.zeros((1, block), dtype=np.float32), qt)
    except NotImplementedError:
        return None

    def q(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.asarray(gguf.quants.dequantize(gguf.quants.quantize(x, qt), qt), dtype=np.float32).reshape(x.shape)

    return q


@cache
def quantiser_for(dtype: str) -> tuple[str, Quantiser] | None:
    """``(name, quantise-then-dequantise)`` for a ggml quantisation type: llama.cpp's own quantiser when
    llama-cpp-python is installed, else gguf-py's; None when neither can quantise it (e.g. K-quants without
    llama-cpp-python, ``IQ`` types that need an importance matrix).

    >>> quantiser_for("Q8_0")[1](np.full((1, 32), 0.5, dtype=np.float32))[0, :2].tolist()
    [0.5, 0.5]
    """
    qt = _QT.__members__.get(dtype)
    if qt is None:
        return None
    if qt in (_QT.F32, _QT.F16, _QT.F64) or qt not in gguf.GGML_QUANT_SIZES:
        return None
    for name, make in (("ggml", _ggml_quantiser), ("gguf-py", _gguf_py_quantiser)):
        q = make(qt)
        if q is not None:
            return name, q
    return None


def block_size(dtype: str) -> int | None:
    """Elements per block of a ggml type (None for types that are not ggml's)."""
    qt = _QT.__members__.get(dtype)
    return None if qt is None or qt not in gguf.GGML_QUANT_SIZES else int(gguf.GGML_QUANT_SIZES[qt][0])


def imatrix_declared(source: object) -> bool:
    """Whether a GGUF says it was quantised with an importance matrix (then only llama-quantize with that matrix
    reproduces its blocks). Reads the checkpoint metadata of a :class:`~taoke.model.Model` (other sources: False)."""
    meta = getattr(getattr(source, "checkpoint", None), "metadata", None)
    return isinstance(meta, Mapping) and any(k in meta for k in IMATRIX_KEYS)


# -- float rounding -----------------------------------------------------------------------------------------------


def half_ulp(x: np.ndarray, dtype: str) -> np.ndarray:
    """Half a unit in the last place of ``dtype`` at each value of ``x``: the rounding cell's half-width.

    >>> half_ulp(np.array([1.0], dtype=np.float32), "BF16").tolist()
    [0.00390625]
    """
    a = np.abs(np.asarray(x, dtype=np.float32))
    if dtype == "F16":
        return np.spacing(a.astype(np.float16)).astype(np.float32) / 2
    if dtype == "BF16":
        e = np.floor(np.log2(np.maximum(a, np.float32(2.0**-126))))
        return np.exp2(e - 8).astype(np.float32)
    if dtype == "F64":
        return np.zeros_like(a)
    return np.spacing(a) / 2  # F32 and anything read as float32


def round_to(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` rounded to a float format (round to nearest even), returned as float32."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dtype == "F16":
        return x.astype(np.float16).astype(np.float32)
    if dtype == "BF16":
        u = x.view(np.uint32).astype(np.uint64)
        r = ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
        return r.view(np.float32)
    return x


def _cells_meet(a: np.ndarray, da: str, b: np.ndarray, db: str) -> np.ndarray:
    """Elementwise: the rounding cells of ``a`` (format ``da``) and ``b`` (format ``db``) intersect (quantised
    values count as exact)."""
    ha = half_ulp(a, da) if da in FLOAT_TYPES else 0.0
    hb = half_ulp(b, db) if db in FLOAT_TYPES else 0.0
    return np.abs(a.astype(np.float64) - b.astype(np.float64)) <= (ha + hb) * (1 + 1e-6) + 1e-45


def _blocks(mask: np.ndarray, block: int) -> np.ndarray:
    """Per block of ``block`` elements along the last axis: all True."""
    rows = mask.reshape(mask.shape[0], -1)
    n = rows.shape[1]
    if block <= 0 or n % block:
        return np.asarray(rows.all(axis=1))
    return np.asarray(rows.reshape(rows.shape[0], n // block, block).all(axis=2).reshape(-1))


def _deviation(a: np.ndarray, b: np.ndarray) -> float:
    """Relative RMS difference (sums in float64, no BLAS call: cheap on a busy machine)."""
    a64 = a.astype(np.float64)
    d = a64 - b
    return float(np.sqrt(np.sum(d * d)) / max(float(np.sqrt(np.sum(a64 * a64))), 1e-30))


# -- the check ----------------------------------------------------------------------------------------------------


def check_storage(role: str, xa: np.ndarray, da: str, xb: np.ndarray, db: str, *, rng: np.random.Generator,
                  imatrix: tuple[bool, bool] = (False, False)) -> StorageCheck:  # fmt: skip
    """Storage identity of one role from the same whole rows of A (``xa``, stored as ``da``) and B (``xb``, ``db``),
    both float32 in canonical orientation (blocks run along the last axis, as in every GGUF file).
    ``imatrix``: whether each side declares an importance matrix; ``rng`` draws the simulated rounding null."""
    xa = np.asarray(xa, dtype=np.float32).reshape(xa.shape[0], -1)
    xb = np.asarray(xb, dtype=np.float32).reshape(xb.shape[0], -1)
    dev = _deviation(xa, xb)
    dts = (da, db)
    if xa.shape != xb.shape:
        return StorageCheck(role, dts, 0, 0, 0, "untestable", dev, "shapes differ")
    fa, fb = da in FLOAT_TYPES, db in FLOAT_TYPES
    if da == db:  # the same format: a re-packaging holds the same blocks
        blk = block_size(da) if not fa else CAST_BLOCK
        eq = _blocks(xa == xb, blk or CAST_BLOCK)
        return StorageCheck(role, dts, eq.size, int(eq.sum()), 0, "same-format", dev)
    if fa and fb:
        ok = _blocks(_cells_meet(xa, da, xb, db), CAST_BLOCK)
        return StorageCheck(role, dts, ok.size, int(ok.sum()), 0, "cast", dev)
    # at least one side quantised: test the quantised side(s) against the other
    results = []
    for side, (xq, dq, xf, df, imat) in enumerate(((xa, da, xb, db, imatrix[0]), (xb, db, xa, da, imatrix[1]))):
        if dq in FLOAT_TYPES:
            continue
        results.append(_against_quantised(role, side, xq, dq, xf, df, imat, dev, rng))
    testable = [r for r in results if r.testable]
    if not testable:
        return results[0] if len(results) == 1 else _merge_notes(results)
    return max(testable, key=lambda r: (r.reproduced / r.blocks - REPRODUCE_MIN * r.expected, r.by_dequant))


def _merge_notes(results: list[StorageCheck]) -> StorageCheck:
    r = results[0]
    return StorageCheck(r.role, r.dtypes, 0, 0, 0, "untestable", r.deviation, "; ".join(x.note for x in results))


def _reproduced(q: Quantiser, xq: np.ndarray, xf: np.ndarray, df: str, blk: int,
                done: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Blocks of ``xq`` that quantising a candidate input reproduces. Candidates: ``xf``; when ``xf`` is a float
    format, the point of each element's rounding cell nearest to ``xq`` (``xf`` may be a rounded copy of the
    quantiser's input); when ``xf`` is F32, its F16 and BF16 roundings (the quantiser may have read a rounded copy)."""
    ok = np.zeros(xq.size // blk, dtype=bool) if done is None else done.copy()
    cands: list[Callable[[], np.ndarray]] = [lambda: xf]
    if df in FLOAT_TYPES:
        cands.append(lambda: np.clip(xq, xf - half_ulp(xf, df), xf + half_ulp(xf, df)).astype(np.float32))
        if df in ("F32", "F64"):
            cands += [lambda: round_to(xf, "F16"), lambda: round_to(xf, "BF16")]
    for make in cands:
        if ok.all():
            break
        ok |= _blocks(q(make()) == xq, blk)
    return ok


def _against_quantised(role: str, side: int, xq: np.ndarray, dq: str, xf: np.ndarray, df: str, imatrix: bool,
                       dev: float, rng: np.random.Generator) -> StorageCheck:  # fmt: skip
    """Blocks of the quantised side ``xq`` (type ``dq``) reproduced from the other side ``xf`` (type ``df``)."""
    dts = (dq, df) if side == 0 else (df, dq)
    blk = block_size(dq)
    if blk is None or xq.shape[1] % blk:
        return StorageCheck(role, dts, 0, 0, 0, "untestable", dev,
                            f"no quantiser known for {dq}: checked against its precision only")
    by_deq = np.zeros(xq.size // blk, dtype=bool)
    if df in FLOAT_TYPES:  # the float side holds the dequantised blocks, rounded to its float format
        by_deq = _blocks(_cells_meet(xq, "Q", xf, df), blk)
    quant = quantiser_for(dq)
    note = ""
    if imatrix:
        note = f"{dq} was quantised with an importance matrix: only the dequantisation identity can be checked"
        quant = None
    elif quant is None:
        note = f"no quantiser available for {dq} (llama-cpp-python provides llama.cpp's own)"
    if quant is None:
        if by_deq.mean() >= REPRODUCE_MIN:  # the float side is the dequantisation: confirmed without a quantiser
            return StorageCheck(role, dts, by_deq.size, int(by_deq.sum()), int(by_deq.sum()), "dequantise", dev, note)
        return StorageCheck(role, dts, 0, 0, 0, "untestable", dev, note)
    name, q = quant
    if by_deq.all():
        return StorageCheck(role, dts, by_deq.size, by_deq.size, by_deq.size, "dequantise", dev, note)
    ok = _reproduced(q, xq, xf, df, blk, by_deq)
    expected = 1.0
    if ok.mean() < REPRODUCE_MIN and df in ("F16", "BF16"):  # a rounded copy of a finer master may explain it
        expected = _rounding_null(q, xf, df, blk, rng)
    return StorageCheck(role, dts, ok.size, int(ok.sum()), int(by_deq.sum()), f"requantise:{name}", dev, note,
                        expected)  # fmt: skip


def _rounding_null(q: Quantiser, xf: np.ndarray, df: str, blk: int, rng: np.random.Generator) -> float:
    """The share of blocks a *genuine* pair reproduces when the float side is a ``df`` rounding of the quantiser's
    input (both files made from a finer master): simulated with inputs drawn uniformly in ``xf``'s rounding cells,
    quantised, and checked as :func:`_reproduced` checks the real pair; a lower 3-sigma bound of that share."""
    h = half_ulp(xf, df)
    s = (xf + rng.uniform(-1.0, 1.0, size=xf.shape).astype(np.float32) * h).astype(np.float32)
    xq = q(s)
    r = _reproduced(q, xq, xf, df, blk)
    p, n = float(r.mean()), r.size
    return max(0.0, p - 3.0 * math.sqrt(max(p * (1 - p), 1.0 / n) / n))
