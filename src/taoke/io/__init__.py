"""Lazy checkpoint readers. ``open_checkpoint(path_or_url)`` sniffs the format by magic bytes.

Formats and the modules that read them:

========================  ============================  =======================================
input                     module                        class
========================  ============================  =======================================
``*.safetensors``         :mod:`taoke.io.safetensors`   ``SafetensorsCheckpoint`` (single file)
``*.safetensors.index``   :mod:`taoke.io.safetensors`   ``SafetensorsCheckpoint`` (sharded)
``*.gguf`` (v2/v3)        :mod:`taoke.io.gguf`          ``GGUFCheckpoint``
``*.bin`` / ``*.pt``      :mod:`taoke.io.torch_bin`     ``TorchCheckpoint`` (no pickle code runs)
``*.onnx``                :mod:`taoke.io.onnx`          ``OnnxCheckpoint``
a folder                  :mod:`taoke.io.hf_dir`        ``HFDirCheckpoint`` (config, card, tokenizer)
``http(s)://…/`` (a /)    :mod:`taoke.io.hf_dir`        ``HFRemoteDirCheckpoint`` (the same, over HTTP)
========================  ============================  =======================================
"""

from __future__ import annotations

import json
import os

from taoke.errors import ReaderError, UnsupportedFormat
from taoke.io.base import Checkpoint, ModelCard, ModelConfig, RowSelector, TensorInfo
from taoke.io.source import LocalSource, Source, open_source

__all__ = [
    "Checkpoint",
    "ModelCard",
    "ModelConfig",
    "RowSelector",
    "Source",
    "LocalSource",
    "TensorInfo",
    "open_checkpoint",
    "sniff_format",
    "open_source",
]


#: an index JSON larger than this is not read to sniff it (the safetensors reader's header limit)
_MAX_INDEX_JSON = 100 * 1024 * 1024


def sniff_format(source: Source) -> str:
    """Name the format of a file from its first bytes: gguf, safetensors, safetensors-index, torch-zip,
    torch-legacy, onnx. Raises :class:`UnsupportedFormat` when nothing matches."""
    head = source.read_at(0, min(16, source.size), what="magic bytes")
    name = source.name.lower()
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] in (2, 3, 4, 5):
        return "torch-legacy"
    if len(head) >= 9:
        n = int.from_bytes(head[:8], "little")
        if head[8:9] == b"{" and 2 <= n <= source.size - 8:
            return "safetensors"
    if name.endswith(".safetensors") and len(head) >= 8:
        return "safetensors"  # a lying header length: let the reader say what is wrong (CorruptFile)
    if name.endswith(".json") and head.lstrip()[:1] == b"{" and source.size <= _MAX_INDEX_JSON:
        try:
            doc = json.loads(source.read_at(0, source.size, what="index json"))
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, dict) and "weight_map" in doc:
            return "safetensors-index"
    if name.endswith(".onnx") or head[:1] == b"\x08":  # ONNX ModelProto starts with field 1 (ir_version)
        return "onnx"
    raise UnsupportedFormat(
        "not a checkpoint taoke can read (expected safetensors, GGUF, PyTorch zip, ONNX or a model folder)",
        subject=source.name,
    )


def open_checkpoint(location: str | os.PathLike[str]) -> Checkpoint:
    """Open a checkpoint lazily: a file, a Hugging Face-style folder, or an ``http(s)://`` URL."""
    loc = os.fspath(location)
    is_url = loc.startswith(("http://", "https://"))
    if not is_url and os.path.isdir(loc):
        from taoke.io.hf_dir import HFDirCheckpoint

        return HFDirCheckpoint(loc)
    if is_url and loc.endswith("/"):
        from taoke.io.hf_dir import HFRemoteDirCheckpoint

        return HFRemoteDirCheckpoint(loc)
    if not is_url and not os.path.exists(loc):
        raise ReaderError("no such file or folder", subject=loc, hint="check the path")
    source = open_source(loc)
    fmt = sniff_format(source)
    if fmt == "gguf":
        from taoke.io.gguf import GGUFCheckpoint

        return GGUFCheckpoint(source)
    if fmt == "safetensors":
        from taoke.io.safetensors import SafetensorsCheckpoint

        return SafetensorsCheckpoint([source])
    if fmt == "safetensors-index":
        from taoke.io.safetensors import open_sharded

        return open_sharded(source)
    if fmt in ("torch-zip", "torch-legacy"):
        from taoke.io.torch_bin import TorchCheckpoint

        return TorchCheckpoint(source)
    if fmt == "onnx":
        from taoke.io.onnx import OnnxCheckpoint

        return OnnxCheckpoint(source)
    raise UnsupportedFormat(f"unknown format {fmt}", subject=loc)  # pragma: no cover
