"""Re-quantised copies of a GGUF (for "the same model at another quantisation"): every tensor is dequantised
with ``gguf.quants`` and written again as Q8_0 or F16 with ``gguf.GGUFWriter``; 1-D tensors (norms) and
tensors whose rows do not fit the block size stay F32; all metadata is copied except ``general.file_type``,
which is set to the new type. Results are cached under ``$TAOKE_DATA/derived/blackbox/``.

Concession: requantising from Q4_1 cannot restore precision the Q4_1 file already lost -- the copy is the
*same* model at a different quantisation, which is exactly the relation the same-model test must face.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from taoke.blackbox.models import data_root
from taoke.errors import UsageError

_FILE_TYPE = {"Q8_0": 7, "F16": 1, "Q5_1": 9, "Q5_0": 8, "Q4_0": 2}  # llama_ftype


def derived_dir() -> Path:
    return data_root() / "derived" / "blackbox"


def derive_variant(src: Path, qtype: str, dst: Path | None = None) -> Path:
    """Write (once) ``src`` re-quantised to ``qtype`` (``Q8_0``, ``Q5_1``, ``Q5_0``, ``Q4_0`` or ``F16``); return the path."""
    import gguf

    if qtype not in _FILE_TYPE:
        raise UsageError(f"unsupported target quantisation {qtype!r}", hint="use " + ", ".join(_FILE_TYPE))
    dst = dst or derived_dir() / f"{Path(src).stem}.{qtype}.gguf"
    if dst.exists():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    reader = gguf.GGUFReader(str(src))
    arch = reader.fields["general.architecture"].contents()
    tmp = dst.with_suffix(".tmp")
    w = gguf.GGUFWriter(str(tmp), arch)
    from taoke.zoo.export import copy_gguf_metadata

    copy_gguf_metadata(reader, w, file_type=_FILE_TYPE[qtype])
    target = gguf.GGMLQuantizationType[qtype]
    for t in reader.tensors:
        arr = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
        if arr.ndim < 2:
            w.add_tensor(t.name, arr)
            continue
        if qtype == "F16":
            w.add_tensor(t.name, arr.astype(np.float16))
            continue
        try:
            q = gguf.quants.quantize(arr, target)
        except gguf.quants.QuantError:
            w.add_tensor(t.name, arr)
            continue
        w.add_tensor(t.name, q, raw_dtype=target)
    return finish_gguf(w, tmp, dst)


def finish_gguf(writer: object, tmp: Path, dst: Path) -> Path:
    """Write a ``gguf.GGUFWriter`` filled with key/values and tensors to ``tmp``, then rename it to ``dst``."""
    writer.write_header_to_file()  # type: ignore[attr-defined]
    writer.write_kv_data_to_file()  # type: ignore[attr-defined]
    writer.write_tensors_to_file()  # type: ignore[attr-defined]
    writer.close()  # type: ignore[attr-defined]
    os.replace(tmp, dst)
    return dst
