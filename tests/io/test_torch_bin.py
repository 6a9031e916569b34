"""PyTorch .bin reader: real MiniLM tensors saved with torch.save, read back without torch or pickle code."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from taoke.errors import CorruptFile, UnsafePickle, UnsupportedDtype, UnsupportedFormat
from taoke.io import open_checkpoint
from taoke.io.torch_bin import TorchCheckpoint
from tests.deps import require

torch = require("torch")

EMB = "embeddings.word_embeddings.weight"
Q = "encoder.layer.0.attention.self.query.weight"


@pytest.fixture(scope="module")
def state_dict(minilm_dir: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    sd = load_file(str(minilm_dir / "model.safetensors"))
    extra = dict(sd)
    extra["q_transposed"] = sd[Q].t()  # non-contiguous view sharing query.weight's storage
    extra["emb_rows"] = sd[EMB][100:200]  # shares the embedding storage at an offset
    extra["emb_cols"] = sd[EMB][:50, 10:20]  # strided rows
    extra["k_bf16"] = sd["encoder.layer.1.attention.self.key.weight"].to(torch.bfloat16)
    extra["v_f16"] = sd["encoder.layer.1.attention.self.value.weight"].to(torch.float16)
    return extra


@pytest.fixture(scope="module")
def saved_files(state_dict: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for kind in ("zip", "legacy"):
        path = tmp_path_factory.mktemp("torch") / f"pytorch_model_{kind}.bin"
        torch.save({"state_dict": state_dict, "epoch": 3}, str(path), _use_new_zipfile_serialization=kind == "zip")
        out[kind] = path
    return out


@pytest.fixture(params=["zip", "legacy"])
def saved(request: pytest.FixtureRequest, saved_files: dict[str, Path]) -> Path:
    return saved_files[request.param]


def test_reader_does_not_import_torch(minilm_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    path = tmp_path / "m.bin"
    torch.save(load_file(str(minilm_dir / "model.safetensors")), str(path))
    code = ("import sys; from taoke.io import open_checkpoint; c = open_checkpoint(sys.argv[1]); "
            f"c.read({EMB!r}, [5]); assert 'torch' not in sys.modules, 'torch imported'; print(len(c.tensor_infos()))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "104"


def test_values_match(saved: Path, state_dict: dict[str, object]) -> None:
    ck = open_checkpoint(saved)
    assert isinstance(ck, TorchCheckpoint) and ck.format == "torch"
    assert ck.metadata["non_tensor_leaves"] == 1  # the epoch counter
    infos = ck.tensor_infos()
    assert len(infos) == 104 + 5
    assert infos[f"state_dict.{EMB}"].shape == (30522, 384)
    assert infos["state_dict.q_transposed"].shape == (384, 384)
    for name, t in state_dict.items():
        full = f"state_dict.{name}"
        if t.dtype == torch.int64:
            with pytest.raises(UnsupportedDtype):
                ck.read(full)
            continue
        want = t.float().numpy()
        np.testing.assert_array_equal(ck.read(full), want, err_msg=name)
        rows = [1, 0, 1] if t.shape[0] < 4 else [7, 2, 3, 2]
        np.testing.assert_array_equal(ck.read(full, rows), want[rows], err_msg=name)
    np.testing.assert_array_equal(ck.read("state_dict.q_transposed"),
                                  ck.read(f"state_dict.{Q}").T)


def test_row_read_is_lazy(saved: Path) -> None:
    ck = open_checkpoint(saved)
    opened = ck.bytes_read
    assert opened < 64_000  # central directory + data.pkl (zip) or pickles + 8-byte sizes (legacy)
    ck.read(f"state_dict.{EMB}", [5, 6, 29999])
    assert ck.bytes_read - opened == 3 * 384 * 4


def test_deflated_members_inflate(state_dict: dict[str, object], tmp_path: Path) -> None:
    small = {k: v for k, v in state_dict.items() if k.startswith("encoder.layer.0.")}
    stored = tmp_path / "stored.bin"
    torch.save(small, str(stored))
    out = tmp_path / "deflated.bin"
    with zipfile.ZipFile(stored) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    ck = open_checkpoint(out)
    assert len(ck.tensor_infos()) == len(small)
    for name, t in small.items():
        np.testing.assert_array_equal(ck.read(name, [9]), t.numpy()[[9]])


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_zip_pickle_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"w": _Evil(marker)}, protocol=2)
    path = tmp_path / "evil.bin"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")
    with pytest.raises(UnsafePickle, match=r"refusing to unpickle global '(posix|os)\.system'") as ei:
        open_checkpoint(path)
    assert "\n" not in str(ei.value)
    assert not marker.exists()


def test_malicious_plain_pickle_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Evil(marker), protocol=4))
    with pytest.raises(UnsafePickle, match=r"refusing to unpickle global '(posix|os)\.system'"):
        open_checkpoint(path)
    assert not marker.exists()


def test_other_globals_refused(tmp_path: Path) -> None:
    # a real torch.save of a tensor subclass-free object that needs a non-allow-listed global
    path = tmp_path / "odd.bin"
    torch.save({"w": torch.zeros(2), "fn": json.dumps}, str(path))
    with pytest.raises(UnsafePickle, match="json.dumps"):
        open_checkpoint(path)


def test_plain_pickle_without_tensors(tmp_path: Path) -> None:
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": [1, 2, 3]}, protocol=2))
    with pytest.raises(UnsupportedFormat, match="plain pickle"):
        open_checkpoint(path)


def test_zip_without_data_pkl(tmp_path: Path, saved_files: dict[str, Path]) -> None:
    saved = saved_files["zip"]
    path = tmp_path / "nodata.bin"
    with zipfile.ZipFile(saved) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            if not info.filename.endswith("data.pkl"):
                zout.writestr(info, zin.read(info.filename))
    with pytest.raises(UnsupportedFormat, match="no data.pkl"):
        open_checkpoint(path)


def test_missing_storage_member(tmp_path: Path, saved_files: dict[str, Path]) -> None:
    saved = saved_files["zip"]
    path = tmp_path / "nostorage.bin"
    with zipfile.ZipFile(saved) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            if not info.filename.endswith("/data/0"):
                zout.writestr(info, zin.read(info.filename))
    with pytest.raises(CorruptFile, match="storage '0'"):
        open_checkpoint(path)


def test_truncated_legacy(tmp_path: Path, saved_files: dict[str, Path]) -> None:
    saved = saved_files["legacy"]
    data = saved.read_bytes()
    path = tmp_path / "trunc.bin"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFile):
        open_checkpoint(path)


def test_sharded_bin_folder(tmp_path: Path, state_dict: dict[str, object], minilm_dir: Path) -> None:
    names = sorted(k for k in state_dict if "." in k)  # the 104 original tensors
    weight_map = {}
    for i, part in enumerate((names[::2], names[1::2])):
        fname = f"pytorch_model-{i + 1:05d}-of-00002.bin"
        torch.save({k: state_dict[k] for k in part}, str(tmp_path / fname))
        weight_map.update(dict.fromkeys(part, fname))
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (tmp_path / "config.json").write_bytes((minilm_dir / "config.json").read_bytes())
    ck = open_checkpoint(tmp_path)
    assert ck.format == "hf" and ck.inner.format == "torch"
    assert len(ck.tensor_infos()) == 104
    np.testing.assert_array_equal(ck.read(EMB, [0, 30521]), state_dict[EMB].numpy()[[0, 30521]])
    assert ck.config().hidden_size == 384
