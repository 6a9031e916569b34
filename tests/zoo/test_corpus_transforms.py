"""Corpus, tokenizer and transforms on real inputs, without building the zoo (fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from taoke.errors import ReaderError, UnsupportedFormat, UsageError
from taoke.zoo.corpus import (
    smollm2_tokenizer,
    split_corpus,
    stdlib_documents,
    tokenize_documents,
)
from taoke.zoo.export import permute_rope, read_llama_gguf, unpermute_rope, write_hf_folder
from taoke.zoo.train import LlamaConfig
from taoke.zoo.transforms import (
    add_noise,
    extend_vocab,
    head_permutation,
    merge,
    permute_bert,
    prune_vocab,
    random_orthogonal,
    remap_layers,
    rename_opaque,
)


@pytest.fixture(scope="module")
def docs() -> list:
    return stdlib_documents(400_000)


@pytest.fixture(scope="module")
def tok(smollm2_gguf: Path):
    return smollm2_tokenizer(smollm2_gguf)


def test_stdlib_corpus_is_deterministic_real_prose(docs) -> None:
    again = stdlib_documents(400_000)
    assert [d.source for d in again] == [d.source for d in docs]
    assert sum(len(d.text) for d in docs) >= 400_000
    text = " ".join(d.text for d in docs)
    assert text.count(" the ") > 1000  # English prose, not code


def test_tokenizer_round_trips_and_truncation_is_a_prefix(docs, tok, smollm2_gguf: Path) -> None:
    sample = docs[3].text[:3000]
    enc = tok.encode(sample, add_special_tokens=False)
    assert tok.decode(enc.ids) == sample
    assert len(enc.ids) < len(sample) / 2.5  # a real BPE compresses English prose
    small = smollm2_tokenizer(smollm2_gguf, vocab_size=8192)
    ids = small.encode(sample, add_special_tokens=False).ids
    assert max(ids) < 8192 and len(ids) > len(enc.ids)
    assert small.decode(ids) == sample
    for i in (0, 17, 300, 8191):
        assert small.id_to_token(i) == tok.id_to_token(i)
    with pytest.raises(UsageError):
        smollm2_tokenizer(smollm2_gguf, vocab_size=100)


def test_split_corpus_is_disjoint(docs, tok) -> None:
    held, parts = split_corpus(docs, 4)
    sources = [d.source for p in [held, *parts] for d in p]
    assert len(sources) == len(set(sources)) == len(docs)
    ts = tokenize_documents(tok, parts[0])
    assert ts.tokens[0] == 0 and (ts.tokens == 0).sum() == len(parts[0])


def test_gguf_read_undoes_the_rope_permutation(smollm2_gguf: Path, tmp_path: Path) -> None:
    w = np.arange(64 * 3, dtype=np.float32).reshape(64, 3)
    np.testing.assert_array_equal(unpermute_rope(permute_rope(w, 4), 4), w)
    assert not np.array_equal(permute_rope(w, 4), w)
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 20)
    with pytest.raises(ReaderError):
        read_llama_gguf(bad)


def test_head_permutation_keeps_gqa_groups() -> None:
    cfg = LlamaConfig(
        vocab_size=10, hidden_size=576, num_layers=1, num_heads=9, num_kv_heads=3, intermediate_size=8
    )
    for seed in range(5):
        q, kv = head_permutation(cfg, np.random.default_rng(seed))
        assert sorted(q.tolist()) == list(range(9)) and sorted(kv.tolist()) == [0, 1, 2]
        for new, old in enumerate(q):
            assert old // 3 == kv[new // 3]  # new head reads the KV head its old self read


def test_random_orthogonal_is_orthogonal() -> None:
    q = random_orthogonal(64, np.random.default_rng(1))
    np.testing.assert_allclose(q @ q.T, np.eye(64), atol=1e-12)


def test_transforms_on_real_minilm(minilm_dir: Path) -> None:
    st = dict(load_file(str(minilm_dir / "model.safetensors")))
    rng = np.random.default_rng(0)
    named, mapping = rename_opaque(st, rng)
    assert list(named) == sorted(named) and list(mapping) == list(st)
    noisy = add_noise(st, 0.1, rng)
    assert noisy["embeddings.position_ids"].dtype == st["embeddings.position_ids"].dtype
    m = merge(st, noisy, 0.5)
    k = "encoder.layer.0.attention.self.query.weight"
    np.testing.assert_allclose(m[k], (st[k] + noisy[k]) / 2, rtol=1e-6)
    perm, rec = permute_bert(st, num_layers=6, num_heads=12, rng=rng)
    pi = np.asarray(rec["ffn"][0])
    np.testing.assert_array_equal(
        perm["encoder.layer.0.output.dense.weight"], st["encoder.layer.0.output.dense.weight"][:, pi]
    )
    with pytest.raises(UsageError):
        merge(st, {k: st[k]}, 0.5)
    with pytest.raises(UsageError):
        add_noise(st, 0.0, rng)


def test_structure_transforms_on_real_embedding(minilm_dir: Path) -> None:
    # a real embedding (all-MiniLM-L6-v2's 30522 x 384 word embeddings) in a Llama-named state
    emb = load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    cfg = LlamaConfig(
        vocab_size=30522, hidden_size=384, num_layers=1, num_heads=12, num_kv_heads=12, intermediate_size=1536
    )
    st = {"model.embed_tokens.weight": emb, "model.layers.0.input_layernorm.weight": np.ones(384, np.float32)}
    c2, s2 = prune_vocab(cfg, st, np.arange(100, 200))
    assert c2.vocab_size == 100 and np.array_equal(s2["model.embed_tokens.weight"], emb[100:200])
    c3, s3 = extend_vocab(cfg, st, 8)
    assert c3.vocab_size == 30530
    np.testing.assert_allclose(s3["model.embed_tokens.weight"][-1], emb.mean(0), rtol=1e-5, atol=1e-7)
    c4, s4 = remap_layers(cfg, st, [0, 0])
    assert c4.num_layers == 2 and "model.layers.1.input_layernorm.weight" in s4
    with pytest.raises(UsageError):
        remap_layers(cfg, st, [3])
    with pytest.raises(UsageError):
        prune_vocab(cfg, st, [5, 5])


def test_written_folder_round_trips(tmp_path: Path, minilm_dir: Path) -> None:
    st = dict(load_file(str(minilm_dir / "model.safetensors")))
    small = {k: v for k, v in st.items() if "layer.0." in k or k.startswith("embeddings.")}
    out = write_hf_folder(tmp_path / "m", small, {"model_type": "bert"}, dtype="F16")
    back = load_file(str(out))
    k = "encoder.layer.0.attention.self.query.weight"
    assert back[k].dtype == np.float16
    np.testing.assert_allclose(back[k].astype(np.float32), small[k], rtol=1e-3, atol=1e-4)
    assert not list(tmp_path.glob("m/.*tmp*"))
    with pytest.raises(UsageError):
        write_hf_folder(tmp_path / "n", small, None, dtype="I8")


def test_non_llama_gguf_is_refused(tmp_path: Path) -> None:
    import gguf

    p = tmp_path / "bert.gguf"
    w = gguf.GGUFWriter(str(p), arch="bert")
    w.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(UnsupportedFormat, match="llama"):
        read_llama_gguf(p)


def test_concurrent_builders_wait_for_each_other(tmp_path: Path, data_dir: Path) -> None:
    import fcntl
    import threading

    from taoke.zoo.build import ZooManifest, build_zoo

    held = threading.Event()

    def hold() -> None:
        with open(tmp_path / ".zoo.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            held.set()
            import time

            time.sleep(1.0)
            fcntl.flock(fh, fcntl.LOCK_UN)

    t = threading.Thread(target=hold)
    t.start()
    held.wait()
    lines: list[str] = []
    m = build_zoo(tmp_path, data_dir=data_dir, only=("minilm-perm",), progress=lines.append)
    t.join()
    assert any("waiting for another build" in s for s in lines)
    assert m.names() == ["smollm2-q4_1", "minilm", "minilm-perm"]
    again = ZooManifest.load(tmp_path)
    assert again.entry("minilm-perm").sha256 == m.entry("minilm-perm").sha256
    assert again.relation("minilm", "minilm-perm").relation == "derived"
