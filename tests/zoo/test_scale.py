"""Generated scale checkpoints (taoke.zoo.scale): exact bytes over HTTP, valid safetensors, the twins' algebra."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import deserialize

from taoke.io.remote import HttpSource
from taoke.zoo import scale
from taoke.zoo.scale_server import serve_scale


@pytest.fixture(scope="module")
def tiny_written(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("scale")
    specs = [*scale.pair_specs("tiny-llama")[:2], *scale.pair_specs("tiny-moe")[:2]]
    return {s.name: scale.write_local(s, out / s.name).folder for s in specs}


def test_virtual_server_serves_the_written_bytes(tiny_written: dict[str, Path]) -> None:
    """Every file the HTTP server generates on demand equals, byte for byte, the copy written to disk (any range,
    any batching), and the written copy is a valid checkpoint for the reference safetensors library."""
    rng = np.random.default_rng(0)
    with serve_scale(list(tiny_written)) as (base, _state):
        for name, folder in tiny_written.items():
            files = [p for p in folder.iterdir() if not p.name.startswith(".")]
            assert {p.name for p in files} == set(scale.scale_model(name).files)
            for p in files:
                data = p.read_bytes()
                src = HttpSource(f"{base}/{name}/{p.name}")
                assert src.size == len(data)
                spans = [(int(a), int(rng.integers(1, min(len(data) - a, 200_000) + 1)))
                         for a in rng.integers(0, len(data), size=25)]  # fmt: skip
                assert src.read_ranges(spans) == [data[a : a + n] for a, n in spans]
                if p.name.endswith(".safetensors"):  # the reference library parses and validates the file
                    tensors = dict(deserialize(data))
                    model = scale.scale_model(name)
                    for tname, t in list(tensors.items())[:6]:
                        entry = next(e for e in model.entries if e.name == tname)
                        assert t["dtype"].upper() == entry.dtype and list(t["shape"]) == list(entry.shape)
                        r, c = entry.tensor.rc
                        assert bytes(t["data"]) == scale._encode(entry.tensor.block(0, r, 0, c), entry.dtype)
                src.close()
            index = json.loads((folder / "model.safetensors.index.json").read_text())
            assert set(index["weight_map"]) == {e.name for e in scale.scale_model(name).entries}


def test_derived_twin_is_the_parent_permuted_and_rotated(data_dir: Path) -> None:
    """Without noise or low-rank update, a twin's MLP rows are exactly its parent's rows at the permuted units,
    norm gain folded, rotated: the same vectors up to an orthogonal map (norms and Gram matrices equal)."""
    a, _b, _c = scale.pair_specs("tiny-llama")
    der = scale.Derivation(layers=(0, 2, 3), permute=True, rotate=True, seed=3)
    b = scale.ScaleSpec("t-b", a.arch, parent=a, derivation=der)
    ma, mb = scale.ScaleModel(a), scale.ScaleModel(b)
    up_a = ma.tensor("model.layers.2.mlp.up_proj.weight")
    gain = ma.tensor("model.layers.2.post_attention_layernorm.weight")
    up_b = mb.tensor("model.layers.1.mlp.up_proj.weight")
    n, d = up_a.rc
    xa = up_a.block(0, n, 0, d) * gain.block(0, 1, 0, d)
    xb = up_b.block(0, n, 0, d)
    perm = mb.unit_perm(1, np.arange(n))
    assert sorted(perm.tolist()) == list(range(n))
    pa = xa[perm]
    np.testing.assert_allclose(np.linalg.norm(xb, axis=1), np.linalg.norm(pa, axis=1), rtol=1e-4)
    np.testing.assert_allclose(xb[:40] @ xb[:40].T, pa[:40] @ pa[:40].T, rtol=1e-3, atol=1e-4)
    assert np.abs((xb[:40] * pa[:40]).sum(1)).max() < 0.9 * (np.linalg.norm(pa[:40], axis=1) ** 2).max()  # rotated
    np.testing.assert_array_equal(mb.tensor("model.layers.1.post_attention_layernorm.weight").block(0, 1, 0, d), 1.0)


def test_moe_twin_permutes_experts(data_dir: Path) -> None:
    a, _b, _c = scale.pair_specs("tiny-moe")
    der = scale.Derivation(permute=True, rotate=False, seed=5)
    ma, mb = scale.ScaleModel(a), scale.ScaleModel(scale.ScaleSpec("m-b", a.arch, parent=a, derivation=der))
    layer = a.arch.dense_layers
    ep = mb.expert_perm(layer, np.arange(a.arch.experts))
    assert sorted(ep.tolist()) == list(range(a.arch.experts)) and (ep != np.arange(a.arch.experts)).any()
    for e in (0, 5):
        xa = ma.tensor(f"model.layers.{layer}.mlp.experts.{int(ep[e])}.down_proj.weight").block(0, 256, 0, 64)
        xb = mb.tensor(f"model.layers.{layer}.mlp.experts.{e}.down_proj.weight").block(0, 256, 0, 64)
        # same columns (units), in another order
        assert sorted(map(tuple, np.round(xa.T, 5).tolist())) == sorted(map(tuple, np.round(xb.T, 5).tolist()))


def test_any_range_is_the_same_bytes(data_dir: Path) -> None:
    """Values do not depend on how a range was cut (noise, low-rank and rotation are computed per element in a
    fixed order): single rows, row fragments and big blocks agree."""
    _a, b, _c = scale.pair_specs("tiny-llama")
    m = scale.ScaleModel(b)
    shard = m.shard_names[0]
    whole = b"".join(m.iter_file(shard, chunk=1 << 20))
    rng = np.random.default_rng(1)
    for start in rng.integers(0, len(whole) - 5000, size=40):
        n = int(rng.integers(1, 5000))
        assert m.read(shard, int(start), int(start) + n) == whole[start : start + n]
