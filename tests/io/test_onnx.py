"""ONNX reader on the real int8 MiniLM ONNX (MANIFEST W1) and paraphrase-MiniLM-L3-v2 (all set)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from taoke.errors import CorruptFile
from taoke.io import open_checkpoint
from taoke.io.onnx import OnnxCheckpoint

EMB = "embeddings.word_embeddings.weight"


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a64 @ b64 / np.linalg.norm(a64) / np.linalg.norm(b64))


@pytest.fixture(scope="module")
def int8(minilm_onnx: Path) -> OnnxCheckpoint:
    ck = open_checkpoint(minilm_onnx)
    assert isinstance(ck, OnnxCheckpoint)
    return ck


@pytest.fixture(scope="module")
def f32(minilm_dir: Path):  # type: ignore[no-untyped-def]
    return open_checkpoint(minilm_dir / "model.safetensors")


def test_inventory(int8: OnnxCheckpoint) -> None:
    infos = int8.tensor_infos()
    kinds = Counter(i.dtype for i in infos.values())
    # 107 FLOAT initializers - 38 scales hidden = 69 float tensors; 38 int8 pairs = 38 dequantised tensors
    assert kinds == {"F32": 69, "INT8xSCALE": 38}
    assert not any(n.endswith(("_q", "_scale")) for n in infos)
    assert infos[f"inner.{EMB}"].shape == (30522, 384) and infos[f"inner.{EMB}"].dtype == "INT8xSCALE"
    nw = int8.metadata["non_weight_initializers"]
    assert Counter(v["dtype"] for v in nw.values()) == {"I64": 14, "BOOL": 1}
    assert int8.metadata["n_initializers"] == 160
    fresh = open_checkpoint(int8.path)  # parsed from bytes read through the source (+16 magic bytes)
    assert fresh.file_size <= fresh.bytes_read <= fresh.file_size + 16


def test_float_initializers_bit_identical(int8: OnnxCheckpoint, f32) -> None:  # type: ignore[no-untyped-def]
    same = 0
    for name, info in int8.tensor_infos().items():
        if info.dtype == "F32" and name.startswith("inner."):
            np.testing.assert_array_equal(int8.read(name), f32.read(name[len("inner."):]), err_msg=name)
            same += 1
    assert same == 63


def test_dequantised_embeddings(int8: OnnxCheckpoint, f32) -> None:  # type: ignore[no-untyped-def]
    w = int8.read(f"inner.{EMB}")
    ref = f32.read(EMB)
    assert w.dtype == np.float32
    assert _cos(w, ref) == pytest.approx(0.999973, abs=2e-6)
    assert float(np.abs(w - ref).max()) == pytest.approx(0.0041, abs=2e-4)
    # per-row scale: row reads equal the whole read
    np.testing.assert_array_equal(int8.read(f"inner.{EMB}", [30521, 0, 7]), w[[30521, 0, 7]])
    pos = int8.read("inner.embeddings.position_embeddings.weight")
    assert _cos(pos, f32.read("embeddings.position_embeddings.weight")) > 0.9999


def test_matmul_weights_per_column_scale(int8: OnnxCheckpoint, f32) -> None:  # type: ignore[no-untyped-def]
    mm = int8.metadata["matmul_weights"]
    anon = [n for n, i in int8.tensor_infos().items() if i.dtype == "INT8xSCALE" and n.startswith("val_")]
    assert len(anon) == 36
    assert all(mm[n] == {"op": "MatMul", "transposed": True} for n in anon)
    assert int8.metadata["consumers"]["val_49"] == ["MatMul"]
    assert int8.metadata["consumers"][f"inner.{EMB}"] == ["Gather"]
    # val_49 is layer 0's query weight stored (in, out): the reader does not transpose it
    v = int8.read("val_49")
    q = f32.read("encoder.layer.0.attention.self.query.weight")
    assert v.shape == (384, 384)
    assert _cos(v.T, q) > 0.9997
    assert _cos(v, q) < 0.1
    # the scale is per output column ([1, 384]); a row read must broadcast it the same way
    np.testing.assert_array_equal(int8.read("val_49", [3, 200]), v[[3, 200]])
    ffn = int8.read("val_109")  # intermediate.dense, stored (384, 1536)
    assert ffn.shape == (384, 1536)
    assert _cos(ffn.T, f32.read("encoder.layer.0.intermediate.dense.weight")) > 0.9997


def test_external_data_is_lazy(minilm_onnx: Path, tmp_path: Path, int8: OnnxCheckpoint) -> None:
    model = onnx.load(str(minilm_onnx))
    out = tmp_path / "model.onnx"
    onnx.save_model(model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx_data", size_threshold=1024)
    assert out.stat().st_size < 2_000_000
    ck = open_checkpoint(out)
    assert set(ck.tensor_infos()) == set(int8.tensor_infos())
    assert ck.tensor_infos()[f"inner.{EMB}"].file.endswith("model.onnx_data")
    opened = ck.bytes_read
    rows = ck.read(f"inner.{EMB}", [11, 12])
    np.testing.assert_array_equal(rows, int8.read(f"inner.{EMB}", [11, 12]))
    # 2 rows of int8 codes + the per-row scale vector (30522 float32), nothing else
    assert ck.bytes_read - opened == 2 * 384 + 30522 * 4
    for name in ("val_49", "inner.encoder.layer.3.output.LayerNorm.weight"):
        np.testing.assert_array_equal(ck.read(name), int8.read(name))
    (tmp_path / "model.onnx_data").unlink()
    with pytest.raises(CorruptFile, match="external data file 'model.onnx_data' is missing"):
        open_checkpoint(out)


def test_dequantize_linear_pattern(minilm_onnx: Path, tmp_path: Path, int8: OnnxCheckpoint) -> None:
    """Rewrite the real Cast→Mul dequantisation into standard DequantizeLinear nodes (per-axis)."""
    from onnx import helper, numpy_helper

    model = onnx.load(str(minilm_onnx))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    new_nodes = []
    by_out = {}
    for n in g.node:
        by_out[n.output[0]] = n
    skip = set()
    for n in g.node:
        if n.op_type == "Mul" and n.input[0].endswith("_f") and n.input[1].endswith("_scale"):
            cast = by_out[n.input[0]]
            q, s = cast.input[0], n.input[1]
            scale = numpy_helper.to_array(inits[s])
            axis = 0 if scale.shape[0] != 1 else 1
            flat = numpy_helper.from_array(scale.reshape(-1), s)
            inits[s].CopyFrom(flat)
            skip.add(id(cast))
            new_nodes.append(helper.make_node("DequantizeLinear", [q, s], [n.output[0]], axis=axis))
        elif n.op_type != "Cast" or not n.input[0].endswith("_q"):
            new_nodes.append(n)
    del g.node[:]
    g.node.extend(new_nodes)
    out = tmp_path / "qdq.onnx"
    onnx.save_model(model, str(out))
    ck = open_checkpoint(out)
    assert Counter(i.dtype for i in ck.tensor_infos().values())["INT8xSCALE"] == 38
    for name in (f"inner.{EMB}", "val_49", "val_118"):
        np.testing.assert_array_equal(ck.read(name, [0, 5]), int8.read(name, [0, 5]))


def test_paraphrase_onnx(paraphrase_onnx: Path) -> None:
    ck = open_checkpoint(paraphrase_onnx)
    infos = ck.tensor_infos()
    assert len(infos) == 53
    assert {i.dtype for i in infos.values()} == {"F32"}
    assert sum(i.numel for i in infos.values()) == 17_241_984
    assert ck.config() is None
