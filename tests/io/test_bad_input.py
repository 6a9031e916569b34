"""Broken inputs crafted from the real files: each must give the right TaokeError subclass, in one line, fast."""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from taoke.errors import CorruptFile, ReaderError, TaokeError, UnsupportedDtype, UnsupportedFormat
from taoke.io import open_checkpoint

Q0 = "encoder.layer.0.attention.self.query.weight"
K0 = "encoder.layer.0.attention.self.key.weight"


def _split(data: bytes) -> tuple[dict[str, Any], bytes]:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _join(header: dict[str, Any] | bytes, body: bytes) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + body


@pytest.fixture(scope="module")
def st_bytes(minilm_dir: Path) -> bytes:
    return (minilm_dir / "model.safetensors").read_bytes()


def _expect(path: Path, exc: type[TaokeError], match: str, action: Callable[[Any], Any] | None = None) -> None:
    t0 = time.monotonic()
    with pytest.raises(exc, match=match) as ei:
        ck = open_checkpoint(path)
        if action is not None:
            action(ck)
    assert time.monotonic() - t0 < 60  # generous (shared 2-core machine): guards against a hang, not a speed goal
    msg = str(ei.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert isinstance(ei.value, ReaderError)


def _edit(st_bytes: bytes, fn: Callable[[dict[str, Any]], None]) -> bytes:
    header, body = _split(st_bytes)
    fn(header)
    return _join(header, body)


CASES: dict[str, tuple[Callable[[bytes], bytes], type[TaokeError], str]] = {
    "truncated": (lambda b: b[: len(b) // 2], CorruptFile, "past the end of the data"),
    "truncated_in_header": (lambda b: b[:5000], CorruptFile, "points past the end of the file"),
    "header_len_past_eof": (lambda b: (len(b) + 10).to_bytes(8, "little") + b[8:], CorruptFile,
                            "points past the end of the file"),
    "header_len_absurd": (lambda b: (1 << 60).to_bytes(8, "little") + b[8:], CorruptFile, "absurd"),
    "json_garbage": (lambda b: b[:8] + b"{" + b"\x00\xff garbage" * ((int.from_bytes(b[:8], "little") - 1) // 11)
                     + b"}" * ((int.from_bytes(b[:8], "little") - 1) % 11) + b[8 + int.from_bytes(b[:8], "little"):],
                     CorruptFile, "not valid JSON"),
    "overlap": (lambda b: _edit(b, lambda h: h[K0].__setitem__("data_offsets", h[Q0]["data_offsets"])),
                CorruptFile, "overlap"),
    "unknown_dtype": (lambda b: _edit(b, lambda h: h[Q0].__setitem__("dtype", "F7")), UnsupportedDtype,
                      "unknown dtype 'F7'"),
    "size_mismatch": (lambda b: _edit(b, lambda h: h[Q0].__setitem__("shape", [384, 385])), CorruptFile,
                      "does not match shape"),
    "negative_span": (lambda b: _edit(b, lambda h: h[Q0].__setitem__("data_offsets", [-8, 589816])),
                      CorruptFile, "negative or reversed span"),
    "missing_fields": (lambda b: _edit(b, lambda h: h[Q0].pop("shape")), CorruptFile, "lacks dtype/shape"),
    "not_an_object": (lambda b: _join(b"[1, 2, 3]", b""), CorruptFile, "not a JSON object"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_safetensors_broken(case: str, st_bytes: bytes, tmp_path: Path) -> None:
    make, exc, match = CASES[case]
    path = tmp_path / "model.safetensors"
    path.write_bytes(make(st_bytes))
    _expect(path, exc, match)


def test_tensor_in_two_shards(st_bytes: bytes, tmp_path: Path) -> None:
    header, body = _split(st_bytes)
    (tmp_path / "a.safetensors").write_bytes(st_bytes)
    (tmp_path / "b.safetensors").write_bytes(st_bytes)
    wm = dict.fromkeys(k for k in header if k != "__metadata__")
    wm = {k: "a.safetensors" for k in wm} | {Q0: "b.safetensors"}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wm}))
    _expect(tmp_path / "model.safetensors.index.json", CorruptFile, "is in two shards")


def test_index_names_missing_shard(st_bytes: bytes, tmp_path: Path) -> None:
    header, _ = _split(st_bytes)
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(st_bytes)
    wm = {k: "model-00001-of-00002.safetensors" for k in header if k != "__metadata__"}
    wm["lm_head.weight"] = "model-00002-of-00002.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wm}))
    _expect(tmp_path / "model.safetensors.index.json", CorruptFile, "which is missing")
    _expect(tmp_path, CorruptFile, "which is missing")  # the same through the folder


def test_index_lists_absent_tensor(st_bytes: bytes, tmp_path: Path) -> None:
    header, _ = _split(st_bytes)
    (tmp_path / "s.safetensors").write_bytes(st_bytes)
    wm = {k: "s.safetensors" for k in header if k != "__metadata__"} | {"lm_head.weight": "s.safetensors"}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wm}))
    _expect(tmp_path / "model.safetensors.index.json", CorruptFile, "no shard holds it")


def test_index_path_traversal(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "../../etc/passwd"}}))
    _expect(tmp_path / "model.safetensors.index.json", CorruptFile, "invalid shard name")


def test_empty_folder(tmp_path: Path) -> None:
    _expect(tmp_path, UnsupportedFormat, "folder holds no weights")


def test_int_tensor_read(minilm_dir: Path) -> None:
    _expect(minilm_dir / "model.safetensors", UnsupportedDtype, "integer tensors are not weights",
            lambda ck: ck.read("embeddings.position_ids"))


def test_zip_without_data_pkl(minilm_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "pytorch_model.bin"
    with zipfile.ZipFile(path, "w") as z:
        z.write(minilm_dir / "config.json", "archive/config.json")
        z.write(minilm_dir / "vocab.txt", "archive/data/0")
    _expect(path, UnsupportedFormat, "no data.pkl")


def test_truncated_torch_zip(minilm_dir: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    full = tmp_path / "full.bin"
    sd = load_file(str(minilm_dir / "model.safetensors"))
    torch.save({k: v for k, v in sd.items() if k.startswith("encoder.layer.0.")}, str(full))
    data = full.read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[: len(data) - 2000])  # loses the central directory
    _expect(cut, CorruptFile, "not a readable zip")


def test_onnx_truncated(minilm_onnx: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    with open(minilm_onnx, "rb") as f:
        path.write_bytes(f.read(3_000_000))
    _expect(path, CorruptFile, "ONNX")


def test_onnx_garbage(minilm_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    shutil.copy(minilm_dir / "vocab.txt", path)
    _expect(path, CorruptFile, "ONNX")
