"""The fast zoo, built once from the real SmolLM2 GGUF and all-MiniLM-L6-v2 (cached in ``$TAOKE_DATA/zoo``).

The first run builds it (a few CPU minutes, dominated by the fine-tune and the small independent models); later
runs find every entry up to date. Each test checks a property of the real transformed weights that a wrong
transformation would break.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from tests.deps import require

torch = require("torch")

from safetensors.numpy import load_file  # noqa: E402

from taoke.errors import CorruptFile, UsageError  # noqa: E402
from taoke.zoo.build import build_zoo  # noqa: E402
from taoke.zoo.manifest import FORMAT, VERSION, ZooManifest  # noqa: E402
from taoke.zoo.train import LlamaConfig, build_model, held_out_loss  # noqa: E402

FAST = [
    "smollm2-f32",
    "smollm2-renamed",
    "smollm2-transposed",
    "smollm2-noise-0.01",
    "smollm2-noise-0.1",
    "smollm2-noise-0.3",
    "smollm2-perm",
    "smollm2-rotate",
    "smollm2-layer-subset",
    "smollm2-finetune",
    "smollm2-stdmatched",
    "minilm-noise",
    "minilm-perm",
    "tiny-0",
    "tiny-1",
    "tiny-2",
    "tiny-3",
]


@pytest.fixture(scope="session")
def zoo(data_dir: Path) -> ZooManifest:
    return build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir)


def _load(zoo: ZooManifest, name: str) -> tuple[LlamaConfig, dict[str, np.ndarray]]:
    folder = zoo.path_of(name)
    cfg = LlamaConfig.from_hf(json.loads((folder / "config.json").read_text()))
    return cfg, dict(load_file(str(folder / "model.safetensors")))


@pytest.fixture(scope="session")
def base(zoo: ZooManifest) -> tuple[LlamaConfig, dict[str, np.ndarray]]:
    return _load(zoo, "smollm2-f32")


@pytest.fixture(scope="session")
def text_ids(zoo: ZooManifest) -> np.ndarray:
    """Real held-out text (stdlib docstrings no zoo model trained on) under the tokenizer.json the zoo wrote.

    The held-out files are every 10th file, so those of a prefix of the corpus are a prefix of the held-out set.
    """
    from tokenizers import Tokenizer

    from taoke.zoo.corpus import split_corpus, stdlib_documents, tokenize_documents

    held, _ = split_corpus(stdlib_documents(400_000), 8)
    tok = Tokenizer.from_file(str(zoo.path_of("smollm2-f32") / "tokenizer.json"))
    return tokenize_documents(tok, held).tokens


def _logits(cfg: LlamaConfig, st: dict[str, np.ndarray], ids: np.ndarray) -> np.ndarray:
    model = build_model(cfg, st)
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(ids[None, :].astype(np.int64)))[0].numpy()


# -- the manifest -------------------------------------------------------------------------------------------


def test_manifest_is_versioned_and_labels_pairs(zoo: ZooManifest) -> None:
    raw = json.loads((Path(zoo.root) / "zoo.json").read_text())
    assert raw["format"] == FORMAT and raw["version"] == VERSION
    again = ZooManifest.load(Path(zoo.root))
    assert set(FAST) <= set(again.names())
    again.validate(check_files=True)
    rel = {(p.a, p.b): p.relation for p in again.pairs()}
    rel |= {(b, a): r for (a, b), r in list(rel.items())}
    assert rel[("smollm2-q4_1", "smollm2-f32")] == "repackaged"
    assert rel[("smollm2-renamed", "smollm2-transposed")] == "repackaged"
    assert rel[("smollm2-q4_1", "smollm2-perm")] == "derived"
    assert rel[("smollm2-noise-0.3", "smollm2-rotate")] == "derived"  # siblings
    assert rel[("smollm2-f32", "smollm2-stdmatched")] == "independent"
    assert rel[("tiny-0", "tiny-3")] == "independent"
    assert rel[("tiny-0", "smollm2-f32")] == "unrelated"
    assert rel[("minilm", "minilm-perm")] == "derived"
    assert rel[("minilm-perm", "smollm2-perm")] == "unrelated"
    sub = again.entry("smollm2-layer-subset")
    assert (
        sub.layer_map is not None
        and len(sub.layer_map) == 20
        and list(sub.layer_map) == sorted(sub.layer_map)
    )


def test_recorded_hash_matches_file(zoo: ZooManifest) -> None:
    from taoke.zoo.export import sha256_file

    e = zoo.entry("minilm-perm")
    assert sha256_file(zoo.weights_file("minilm-perm")) == e.sha256
    assert zoo.weights_file("minilm-perm").stat().st_size == e.size


def test_second_build_does_no_work(zoo: ZooManifest, data_dir: Path) -> None:
    mtimes = {n: zoo.weights_file(n).stat().st_mtime_ns for n in FAST}
    lines: list[str] = []
    t0 = time.perf_counter()
    again = build_zoo(Path(zoo.root), subset="fast", data_dir=data_dir, progress=lines.append)
    assert time.perf_counter() - t0 < 300  # generous (shared 2-core machine): re-hashing the zoo takes far longer
    assert any("0 built" in s for s in lines), lines[-1:]
    assert not any(": building" in s for s in lines)
    assert {n: again.weights_file(n).stat().st_mtime_ns for n in FAST} == mtimes


def test_corrupt_manifest_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "zoo.json").write_text('{"format": "taoke.zoo", "version": 99, "entries": []}')
    with pytest.raises(CorruptFile, match="version"):
        ZooManifest.load(tmp_path)
    (tmp_path / "zoo.json").write_text("{not json")
    with pytest.raises(CorruptFile):
        ZooManifest.load(tmp_path)
    with pytest.raises(UsageError):
        build_zoo(tmp_path, subset="huge")  # type: ignore[arg-type]


# -- re-packaged --------------------------------------------------------------------------------------------


def test_renamed_and_transposed_hold_the_same_numbers(zoo: ZooManifest, base) -> None:
    _, st = base
    for name, transposed in (("smollm2-renamed", False), ("smollm2-transposed", True)):
        mapping = json.loads((zoo.path_of(name) / "names.json").read_text())
        _, other = _load(zoo, name)
        assert set(other) == set(mapping.values()) and not set(other) & set(st)
        for old, new in mapping.items():
            want = st[old].T if (transposed and st[old].ndim == 2) else st[old]
            np.testing.assert_array_equal(other[new], want)


# -- derived: function-preserving --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["smollm2-perm", "smollm2-rotate"])
def test_symmetry_transforms_preserve_the_function(
    zoo: ZooManifest, base, text_ids: np.ndarray, name: str
) -> None:
    cfg, st = base
    cfg2, st2 = _load(zoo, name)
    ids = text_ids[:48]
    ref = _logits(cfg, st, ids)
    got = _logits(cfg2, st2, ids)
    scale = float(np.abs(ref).max())
    assert float(np.abs(got - ref).max()) < 1e-4 * scale * 10
    assert (got.argmax(-1) == ref.argmax(-1)).mean() > 0.97
    # ... while the stored weights really changed
    k = "model.layers.5.mlp.up_proj.weight"
    assert not np.allclose(st2[k], st[k])
    if name == "smollm2-rotate":
        assert cfg2.tie_embeddings is False and "lm_head.weight" in st2
        assert np.all(st2["model.layers.3.input_layernorm.weight"] == 1.0)
        assert np.all(st2["model.norm.weight"] == 1.0)
        # the embedding is the base's times an orthogonal matrix: Gram matrices of token rows agree
        e0, e1 = st["model.embed_tokens.weight"][:300], st2["model.embed_tokens.weight"][:300]
        np.testing.assert_allclose(e1 @ e1.T, e0 @ e0.T, atol=1e-4)
    else:
        perm = json.loads((zoo.path_of(name) / "permutation.json").read_text())
        pi = np.asarray(perm["mlp"][5])
        np.testing.assert_array_equal(st2[k], st[k][pi])


# -- derived: noise, layers, fine-tune ----------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.01, 0.1, 0.3])
def test_noise_has_the_labelled_scale(zoo: ZooManifest, base, scale: float) -> None:
    _, st = base
    folder = zoo.path_of(f"smollm2-noise-{scale}")
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "np") as f:
        for k in ("model.layers.0.self_attn.q_proj.weight", "model.layers.29.mlp.down_proj.weight"):
            d = f.get_tensor(k) - st[k]
            assert abs(d.std() / st[k].std() / scale - 1) < 0.02
            assert abs(float(np.corrcoef(d.ravel()[:100000], st[k].ravel()[:100000])[0, 1])) < 0.02


def test_layer_subset_copies_the_mapped_layers(zoo: ZooManifest, base) -> None:
    _, st = base
    cfg2, st2 = _load(zoo, "smollm2-layer-subset")
    lm = zoo.entry("smollm2-layer-subset").layer_map
    assert lm is not None and cfg2.num_layers == len(lm) == 20 and lm[0] == 0 and lm[-1] == 29
    for j, k in enumerate(lm):
        np.testing.assert_array_equal(
            st2[f"model.layers.{j}.mlp.gate_proj.weight"], st[f"model.layers.{k}.mlp.gate_proj.weight"]
        )


def test_finetune_learned_on_held_out_text_and_moved_the_top_layers(zoo: ZooManifest, base, text_ids) -> None:
    cfg, st = base
    _, ft = _load(zoo, "smollm2-finetune")
    e = zoo.entry("smollm2-finetune")
    top = cfg.num_layers - int(e.params["top_layers"])
    assert e.params["result"]["steps"] >= 100
    for k in st:
        moved = float(np.abs(ft[k] - st[k]).max())
        in_top = k.startswith("model.layers.") and int(k.split(".")[2]) >= top
        if in_top and k.endswith("proj.weight"):
            rel = float(np.linalg.norm(ft[k] - st[k]) / np.linalg.norm(st[k]))
            assert rel > 1e-3, (k, rel)
        elif not in_top and k != "model.norm.weight":
            assert moved == 0.0, k  # frozen parameters are bit-identical
    # held-out loss, recomputed here on text the fine-tune never saw (the held-out files of the corpus)
    held = text_ids[: 4 * 96 + 1]
    before = held_out_loss(build_model(cfg, st), held, seq_len=96, max_windows=4)
    after = held_out_loss(build_model(cfg, ft), held, seq_len=96, max_windows=4)
    assert after < before - 0.02, (before, after)


# -- independent controls -----------------------------------------------------------------------------------


def test_independent_small_models_learned_and_differ(zoo: ZooManifest) -> None:
    states = [_load(zoo, f"tiny-{k}") for k in range(4)]
    cfgs = {c for c, _ in states}
    assert len(cfgs) == 1  # one shared architecture: the null is "same architecture, independent weights"
    for k in range(4):
        r = zoo.entry(f"tiny-{k}").params["result"]
        assert r["held_out_after"] < r["held_out_before"] - 1.0
        assert r["held_out_after"] < math.log(states[0][0].vocab_size) - 2.0
    name = "model.layers.1.mlp.up_proj.weight"
    for i in range(4):
        for j in range(i + 1, 4):
            a, b = states[i][1][name].ravel(), states[j][1][name].ravel()
            assert abs(float(np.corrcoef(a, b)[0, 1])) < 0.05
    slices = {zoo.entry(f"tiny-{k}").params["slice"] for k in range(4)}
    assert len(slices) == 4


def test_std_matched_copies_statistics_not_weights(zoo: ZooManifest, base) -> None:
    _, st = base
    _, sm = _load(zoo, "smollm2-stdmatched")
    assert set(sm) == set(st)
    for k in st:
        assert sm[k].shape == st[k].shape
        np.testing.assert_allclose(sm[k].std(), st[k].std(), rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(sm[k].mean(), st[k].mean(), rtol=1e-3, atol=1e-5)
        if st[k].ndim == 2:
            r = float(np.corrcoef(sm[k].ravel()[:200000], st[k].ravel()[:200000])[0, 1])
            assert abs(r) < 0.02, k


# -- MiniLM -------------------------------------------------------------------------------------------------


def _bert_forward(st: dict[str, np.ndarray], ids: np.ndarray, n_layers: int, n_heads: int) -> np.ndarray:
    """Last hidden state of a BERT encoder (post-LN, exact-erf GELU), one unpadded sequence, float64."""
    from scipy.special import erf

    def ln(x: np.ndarray, p: str) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * st[p + ".weight"] + st[p + ".bias"]

    def lin(x: np.ndarray, p: str) -> np.ndarray:
        return x @ st[p + ".weight"].astype(np.float64).T + st[p + ".bias"]

    t = len(ids)
    h = (
        st["embeddings.word_embeddings.weight"][ids]
        + st["embeddings.position_embeddings.weight"][:t]
        + st["embeddings.token_type_embeddings.weight"][0]
    ).astype(np.float64)
    h = ln(h, "embeddings.LayerNorm")
    for i in range(n_layers):
        p = f"encoder.layer.{i}."
        q, k, v = (lin(h, p + f"attention.self.{n}") for n in ("query", "key", "value"))
        d = q.shape[-1] // n_heads
        q, k, v = (x.reshape(t, n_heads, d).transpose(1, 0, 2) for x in (q, k, v))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        ctx = (a @ v).transpose(1, 0, 2).reshape(t, -1)
        h = ln(h + lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        f = lin(h, p + "intermediate.dense")
        f = 0.5 * f * (1 + erf(f / math.sqrt(2)))
        h = ln(h + lin(f, p + "output.dense"), p + "output.LayerNorm")
    return h


def test_minilm_perm_preserves_the_encoder_and_noise_changes_it(zoo: ZooManifest, minilm_dir: Path) -> None:
    from tokenizers import Tokenizer

    from taoke.zoo.corpus import stdlib_documents

    st = dict(load_file(str(minilm_dir / "model.safetensors")))
    perm = dict(load_file(str(zoo.weights_file("minilm-perm"))))
    noisy = dict(load_file(str(zoo.weights_file("minilm-noise"))))
    tok = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    ids = np.asarray(tok.encode(stdlib_documents(2000)[0].text[:400]).ids[:64])
    ref = _bert_forward(st, ids, 6, 12)
    np.testing.assert_allclose(_bert_forward(perm, ids, 6, 12), ref, atol=1e-4)
    assert not np.allclose(
        perm["encoder.layer.2.intermediate.dense.weight"], st["encoder.layer.2.intermediate.dense.weight"]
    )
    assert float(np.abs(_bert_forward(noisy, ids, 6, 12) - ref).max()) > 1e-2
    np.testing.assert_array_equal(perm["embeddings.position_ids"], st["embeddings.position_ids"])
