"""safetensors reader on the real all-MiniLM-L6-v2 checkpoint and on copies derived from it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from taoke.errors import UnsupportedDtype
from taoke.io import open_checkpoint
from taoke.io.safetensors import SafetensorsCheckpoint, open_sharded, to_float32
from taoke.io.source import LocalSource

EMB = "embeddings.word_embeddings.weight"


@pytest.fixture(scope="module")
def minilm_st(minilm_dir: Path) -> Path:
    return minilm_dir / "model.safetensors"


@pytest.fixture(scope="module")
def reference(minilm_st: Path) -> dict[str, np.ndarray]:
    with safe_open(str(minilm_st), "np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__


def test_minilm_inventory(minilm_st: Path) -> None:
    ck = open_checkpoint(minilm_st)
    assert isinstance(ck, SafetensorsCheckpoint) and ck.format == "safetensors"
    infos = ck.tensor_infos()
    assert len(infos) == 104
    assert sum(i.numel for i in infos.values()) == 22_713_728
    assert infos[EMB].shape == (30522, 384) and infos[EMB].dtype == "F32"
    assert ck.metadata["format"] == "pt"
    # opening reads the header only
    assert ck.bytes_read < 20_000
    assert ck.file_size == os.path.getsize(minilm_st)


def test_values_equal_reference(minilm_st: Path, reference: dict[str, np.ndarray]) -> None:
    ck = open_checkpoint(minilm_st)
    n = 0
    for name, info in ck.tensor_infos().items():
        if info.dtype != "F32":
            continue
        got = ck.read(name)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, reference[name])
        n += 1
    assert n == 103


def test_row_reads_read_only_those_rows(minilm_st: Path, reference: dict[str, np.ndarray]) -> None:
    ck = open_checkpoint(minilm_st)
    header = ck.bytes_read
    rows = [17, 3, 4, 5, 30000, 3]
    got = ck.read(EMB, rows)
    np.testing.assert_array_equal(got, reference[EMB][rows])
    # 3 runs: [3..5], [17], [30000] -> 5 distinct rows of 384 float32
    assert ck.bytes_read - header == 5 * 384 * 4
    before = ck.bytes_read
    got = ck.read(EMB, slice(100, 110))
    np.testing.assert_array_equal(got, reference[EMB][100:110])
    assert ck.bytes_read - before == 10 * 384 * 4
    # a 1-D tensor: a row is one element
    bias = "encoder.layer.0.output.dense.bias"
    np.testing.assert_array_equal(ck.read(bias, [0, 383]), reference[bias][[0, 383]])


def _shard_folder(reference: dict[str, np.ndarray], folder: Path, n_shards: int = 3) -> dict[str, str]:
    """Split the real tensors into shards and write an index.json the way transformers does."""
    names = sorted(reference)
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(n_shards):
        part = names[i::n_shards]
        fname = f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        save_file({k: reference[k] for k in part}, str(folder / fname), metadata={"format": "pt"})
        for k in part:
            weight_map[k] = fname
            total += reference[k].nbytes
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return weight_map


def test_sharded_via_index_and_folder(tmp_path: Path, reference: dict[str, np.ndarray], minilm_dir: Path) -> None:
    weight_map = _shard_folder(reference, tmp_path)
    (tmp_path / "config.json").write_bytes((minilm_dir / "config.json").read_bytes())
    via_index = open_checkpoint(tmp_path / "model.safetensors.index.json")
    via_folder = open_checkpoint(tmp_path)
    assert via_folder.format == "hf"
    for ck in (via_index, via_folder):
        infos = ck.tensor_infos()
        assert set(infos) == set(reference)
        assert sum(i.numel for i in infos.values()) == 22_713_728
        for name, shard in weight_map.items():
            assert os.path.basename(infos[name].file) == shard
        np.testing.assert_array_equal(ck.read(EMB, [1, 2, 30521]), reference[EMB][[1, 2, 30521]])
        for name in ("encoder.layer.5.output.LayerNorm.weight", "pooler.dense.weight"):
            if name in reference:
                np.testing.assert_array_equal(ck.read(name), reference[name])
    assert via_index.metadata["index"]["total_size"] > 0
    assert len(via_index.metadata["shards"]) == 3
    # opening = three headers + the index, nothing else
    fresh = open_checkpoint(tmp_path / "model.safetensors.index.json")
    index_size = (tmp_path / "model.safetensors.index.json").stat().st_size
    assert fresh.bytes_read < index_size + 3 * 8_000


def test_index_source_directly(tmp_path: Path, reference: dict[str, np.ndarray]) -> None:
    _shard_folder(reference, tmp_path, n_shards=2)
    ck = open_sharded(LocalSource(tmp_path / "model.safetensors.index.json"))
    assert len(ck.tensor_infos()) == 104


def test_bf16_f16_f64_copies(tmp_path: Path, reference: dict[str, np.ndarray]) -> None:
    emb = reference[EMB][:2000]
    ln = reference["embeddings.LayerNorm.weight"]
    # BF16 by truncating the low 16 bits of the float32 (round-toward-zero), as a real cast would round
    bf16_bits = (emb.view(np.uint32) >> 16).astype(np.uint16)
    path = tmp_path / "half.safetensors"
    save_file({"emb_f16": emb.astype(np.float16), "ln_f64": ln.astype(np.float64),
               "ids": np.arange(512, dtype=np.int64)[None, :]}, str(path))
    ck = open_checkpoint(path)
    np.testing.assert_array_equal(ck.read("emb_f16"), emb.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(ck.read("ln_f64"), ln)
    with pytest.raises(UnsupportedDtype, match="integer tensors are not weights taoke compares"):
        ck.read("ids")
    # BF16: safetensors.numpy cannot write bfloat16, so write the header for it ourselves
    raw = bf16_bits.tobytes()
    header = json.dumps({"emb_bf16": {"dtype": "BF16", "shape": list(emb.shape),
                                      "data_offsets": [0, len(raw)]}}).encode()
    bpath = tmp_path / "bf16.safetensors"
    bpath.write_bytes(len(header).to_bytes(8, "little") + header + raw)
    got = open_checkpoint(bpath).read("emb_bf16", [0, 1999])
    want = (bf16_bits[[0, 1999]].astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, emb[[0, 1999]], rtol=2**-7)
    with safe_open(str(bpath), "pt") as f:  # the reference library agrees
        ref = f.get_tensor("emb_bf16").float().numpy()
    np.testing.assert_array_equal(open_checkpoint(bpath).read("emb_bf16"), ref)


def test_fp8_tables_match_reference() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    codes = np.arange(256, dtype=np.uint8)
    for name, t in (("F8_E4M3", ml_dtypes.float8_e4m3fn), ("F8_E5M2", ml_dtypes.float8_e5m2)):
        ours = to_float32(codes.tobytes(), name, (256,))
        ref = codes.view(t).astype(np.float32)
        np.testing.assert_array_equal(ours, ref)


def test_fp8_real_tensor_roundtrip(tmp_path: Path, reference: dict[str, np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as save_pt

    w = torch.from_numpy(reference["encoder.layer.0.attention.self.query.weight"].copy())
    path = tmp_path / "fp8.safetensors"
    save_pt({"q8": w.to(torch.float8_e4m3fn), "q5": w.to(torch.float8_e5m2)}, str(path))
    ck = open_checkpoint(path)
    assert ck.info("q8").dtype == "F8_E4M3" and ck.info("q5").dtype == "F8_E5M2"
    np.testing.assert_array_equal(ck.read("q8"), w.to(torch.float8_e4m3fn).float().numpy())
    np.testing.assert_array_equal(ck.read("q5", [7]), w.to(torch.float8_e5m2).float().numpy()[[7]])
