"""Hugging Face-style folders: the real MiniLM folder, and folders assembled from the real artifacts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from taoke.errors import UnsupportedFormat
from taoke.io import open_checkpoint
from taoke.io.hf_dir import HFDirCheckpoint, config_from_dict, parse_front_matter


def test_minilm_folder(minilm_dir: Path) -> None:
    ck = open_checkpoint(minilm_dir)
    assert isinstance(ck, HFDirCheckpoint) and ck.format == "hf"
    assert ck.inner.format == "safetensors"
    assert len(ck.tensor_infos()) == 104
    direct = open_checkpoint(minilm_dir / "model.safetensors")
    np.testing.assert_array_equal(ck.read("embeddings.word_embeddings.weight", [4, 9]),
                                  direct.read("embeddings.word_embeddings.weight", [4, 9]))
    cfg = ck.config()
    assert cfg is not None and cfg.source == "config.json"
    assert (cfg.architecture, cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.num_kv_heads) == ("bert", 384, 6, 12, 12)
    assert (cfg.intermediate_size, cfg.vocab_size, cfg.max_position, cfg.head_dim) == (1536, 30522, 512, 32)
    assert (cfg.norm_type, cfg.norm_eps, cfg.activation) == ("layernorm", 1e-12, "gelu")
    assert cfg.extra["architectures"] == ["BertModel"]
    card = ck.card()
    assert card is not None and card.source == "README.md"
    assert card.license == "apache-2.0"
    assert "sentence-transformers" in card.tags
    assert "all-MiniLM-L6-v2" in card.text and not card.text.startswith("---")
    assert card.front_matter["_name_or_path"] == "nreimers/MiniLM-L6-H384-uncased"
    assert ck.metadata["weights_file"] == "model.safetensors"
    names = {os.path.basename(p) for p in ck.tokenizer_files()}
    assert {"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"} <= names


def _link_folder(src: Path, dst: Path, names: list[str]) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        (dst / n).symlink_to(src / n)


def test_onnx_subfolder_and_generation_config(minilm_dir: Path, minilm_onnx: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    _link_folder(minilm_dir, folder, ["config.json", "tokenizer.json"])
    (folder / "onnx").mkdir()
    (folder / "onnx" / "model.onnx").symlink_to(minilm_onnx)
    (folder / "generation_config.json").write_text(json.dumps({"max_length": 128}))
    (folder / "README.md").write_text("---\nbase_model:\n- sentence-transformers/all-MiniLM-L6-v2\n"
                                      "- nreimers/MiniLM-L6-H384-uncased\nmodel_name: MiniLM int8\n---\n# card\n")
    ck = open_checkpoint(folder)
    assert ck.inner.format == "onnx"
    assert ck.metadata["weights_file"] == os.path.join("onnx", "model.onnx")
    assert ck.metadata["generation_config"] == {"max_length": 128}
    assert ck.metadata["matmul_weights"]["val_49"]["transposed"] is True  # inner metadata passes through
    card = ck.card()
    assert card.base_models == ("sentence-transformers/all-MiniLM-L6-v2", "nreimers/MiniLM-L6-H384-uncased")
    assert card.name == "MiniLM int8" and card.text == "# card\n"


def test_prefers_safetensors_over_onnx(minilm_dir: Path, minilm_onnx: Path, tmp_path: Path) -> None:
    folder = tmp_path / "both"
    _link_folder(minilm_dir, folder, ["model.safetensors"])
    (folder / "model.onnx").symlink_to(minilm_onnx)
    ck = open_checkpoint(folder)
    assert ck.inner.format == "safetensors"
    assert ck.config() is None and ck.card() is None


def test_gguf_folder(smollm2_gguf: Path, tmp_path: Path) -> None:
    (tmp_path / smollm2_gguf.name).symlink_to(smollm2_gguf)
    ck = open_checkpoint(tmp_path)
    assert ck.inner.format == "gguf"
    assert len(ck.tensor_infos()) == 272


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UnsupportedFormat, match="folder holds no weights") as ei:
        open_checkpoint(tmp_path)
    assert ei.value.hint and "\n" not in str(ei.value)


# key names of real config.json files, as published on the Hugging Face hub (abridged to the mapped keys)
LLAMA3_8B = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
             "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "hidden_act": "silu", "rope_theta": 500000.0,
             "tie_word_embeddings": False}
GEMMA3_4B = {"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", "hidden_size": 2560,
             "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
             "intermediate_size": 10240, "rms_norm_eps": 1e-06, "hidden_activation": "gelu_pytorch_tanh",
             "rope_theta": 1000000.0, "vocab_size": 262208}, "vision_config": {"hidden_size": 1152}}
GPT2 = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "n_inner": None,
        "layer_norm_epsilon": 1e-05, "activation_function": "gelu_new", "vocab_size": 50257}
MIXTRAL = {"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
           "num_key_value_heads": 8, "num_local_experts": 8, "rms_norm_eps": 1e-05, "intermediate_size": 14336}
NEOX = {"model_type": "gpt_neox", "hidden_size": 6144, "num_hidden_layers": 44, "num_attention_heads": 64,
        "intermediate_size": 24576, "layer_norm_eps": 1e-05, "rotary_emb_base": 10000, "hidden_act": "gelu",
        "tie_word_embeddings": False, "max_position_embeddings": 2048}


def test_config_key_names() -> None:
    c = config_from_dict(LLAMA3_8B)
    assert (c.num_kv_heads, c.head_dim, c.norm_type, c.rope_theta, c.tie_embeddings) == (8, 128, "rmsnorm", 5e5, False)
    g = config_from_dict(GEMMA3_4B)
    assert (g.architecture, g.hidden_size, g.num_layers, g.head_dim, g.vocab_size) == ("gemma3", 2560, 34, 256, 262208)
    assert g.activation == "gelu_pytorch_tanh" and g.norm_type == "rmsnorm"
    assert g.extra["vision_config"]["hidden_size"] == 1152
    p = config_from_dict(GPT2)
    assert (p.hidden_size, p.num_layers, p.num_heads, p.max_position, p.intermediate_size) == (768, 12, 12, 1024, 3072)
    assert (p.norm_type, p.activation) == ("layernorm", "gelu_new")
    assert config_from_dict(MIXTRAL).num_experts == 8
    n = config_from_dict(NEOX)
    assert (n.rope_theta, n.norm_type, n.num_kv_heads) == (10000.0, "layernorm", 64)


def test_front_matter_edge_cases() -> None:
    assert parse_front_matter("no front matter") == ({}, "no front matter")
    assert parse_front_matter("---\n: : bad yaml [\n---\nbody")[0] == {}
    fm, body = parse_front_matter("---\nbase_model: meta-llama/Meta-Llama-3-8B\n---\n\ntext")
    assert fm == {"base_model": "meta-llama/Meta-Llama-3-8B"} and body == "text"
