"""Small fuzzing seeds derived from the real files of the data set (``$TAOKE_DATA``, ``taoke zoo fetch``).

The real checkpoints are tens to hundreds of MB; a fuzzer mutates small inputs best (libFuzzer's default maximum
length is the largest seed). Each seed here is cut out of a real file, keeping what the readers look at:

* real tensor names, dtypes and values, each tensor cropped to its top-left corner (MiniLM: hidden 384 -> 16,
  1 of 6 layers, 128 of 30,522 vocabulary rows; SmolLM2 GGUF: hidden 576 -> 32, FFN 1536 -> 64, 2 heads,
  quantisation blocks copied verbatim, so Q4_1/Q8_0/Q4_K/Q6_K/Q5_0 data are the real bytes);
* the real headers and metadata (GGUF key/values with their real value types, the tokenizer arrays cut to the
  kept vocabulary; safetensors ``__metadata__``; config.json with the cropped sizes);
* the real tokenizers cut to their first ids (a WordPiece ``tokenizer.json``/``vocab.txt``, a byte-level BPE
  ``tokenizer.json`` with the merges that stay inside the kept vocabulary, a SentencePiece model with its first
  pieces, a Tekken file with its first ranks);
* prefixes of the real files as they are (a header cut short: what a partial download looks like).

``build(dest)`` writes ``dest/<target>/<seed>.bin`` for every fuzz target in :mod:`targets` and returns
``{target: [paths]}``; the seeds are deterministic (a pure function of the data set), so a cached copy is reused
while :data:`SEED_VERSION` is unchanged.
"""

from __future__ import annotations

import functools
import io
import json
import os
import struct
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SEED_VERSION = 2

#: the multi-file targets: the first byte of an input picks the file its remaining bytes replace
HF_VARIANTS: tuple[tuple[str, str], ...] = (
    ("bert", "config.json"),
    ("bert", "tokenizer.json"),
    ("bert", "tokenizer_config.json"),
    ("bert", "special_tokens_map.json"),
    ("bert", "README.md"),
    ("bert", "generation_config.json"),
    ("vocab", "vocab.txt"),
    ("bpe", "tokenizer.json"),
    ("spm", "tokenizer.model"),
    ("tekken", "tekken.json"),
    ("tiktoken", "tokenizer.tiktoken"),
    ("torch-index", "pytorch_model.bin.index.json"),
)
#: the fingerprint whose members the member-mode inputs of the fingerprint target replace
FP_BASE = "bert-u4"
SHARD_FILES = ("model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


def data_root() -> Path:
    return Path(os.environ.get("TAOKE_DATA", Path.home() / ".cache" / "taoke-data"))


def default_dest() -> Path:
    return Path(os.environ.get("TAOKE_FUZZ_SEEDS", Path.home() / ".cache" / "taoke-fuzz" / f"seeds-v{SEED_VERSION}"))


# -- writers ---------------------------------------------------------------------------------------------------
def safetensors_bytes(tensors: Sequence[tuple[str, str, tuple[int, ...], bytes]],
                      metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors file from (name, dtype, shape, raw little-endian bytes), tensors in the order given."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = metadata
    off = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return len(h).to_bytes(8, "little") + h + b"".join(t[3] for t in tensors)


def _bf16(x: np.ndarray) -> bytes:
    u = np.ascontiguousarray(x, dtype="<f4").view("<u4")
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()


_GGUF_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def _gguf_str(s: str | bytes) -> bytes:
    b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_bytes(kvs: Sequence[tuple[str, int, Any, int | None]], tensors: Sequence[tuple[str, tuple[int, ...], int, bytes]],
               alignment: int = 32) -> bytes:
    """A GGUF v3 file from key/values ``(key, value type, value, item type for arrays)`` and tensors
    ``(name, ne, ggml type, raw bytes)``."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for key, vtype, value, itype in kvs:
        out += _gguf_str(key) + struct.pack("<I", vtype)
        if vtype == 8:
            out += _gguf_str(value)
        elif vtype == 9:
            assert itype is not None
            out += struct.pack("<IQ", itype, len(value))
            for v in value:
                out += _gguf_str(v) if itype == 8 else struct.pack(_GGUF_SCALAR[itype], v)
        else:
            out += struct.pack(_GGUF_SCALAR[vtype], value)
    offsets = []
    off = 0
    for _name, _ne, _gt, raw in tensors:
        offsets.append(off)
        off += len(raw) + (-len(raw) % alignment)
    for (name, ne, gtype, _raw), o in zip(tensors, offsets, strict=True):
        out += _gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", gtype, o)
    out += b"\0" * (-len(out) % alignment)
    for _name, _ne, _gt, raw in tensors:
        out += raw + b"\0" * (-len(raw) % alignment)
    return bytes(out)


# -- MiniLM (safetensors, bert) --------------------------------------------------------------------------------
_MINI_BERT = {"hidden": 16, "inter": 32, "vocab": 128, "pos": 16, "layers": 1, "heads": 2}


def _crop_dims(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    m = _MINI_BERT
    out = []
    for d in shape:
        if d == 384:
            out.append(m["hidden"])
        elif d == 1536:
            out.append(m["inter"])
        elif d == 30522:
            out.append(m["vocab"])
        elif d == 512:
            out.append(m["pos"])
        else:
            out.append(d)
    return tuple(out)


def minilm_tensors(dtype: str = "F32") -> list[tuple[str, str, tuple[int, ...], bytes]]:
    """Real MiniLM tensors of layers 0-1 and the embeddings, each cropped to its top-left corner."""
    path = data_root() / "weights" / "all-minilm-l6-v2" / "model.safetensors"
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        out = []
        for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            if name.startswith("encoder.layer.") and int(name.split(".")[2]) >= _MINI_BERT["layers"]:
                continue
            shape = tuple(e["shape"])
            a, b = e["data_offsets"]
            f.seek(8 + n + a)
            np_dt = {"F32": "<f4", "I64": "<i8"}[e["dtype"]]
            arr = np.frombuffer(f.read(b - a), dtype=np_dt).reshape(shape)
            small = shape and _crop_dims(name, shape)
            arr = arr[tuple(slice(0, d) for d in small)] if shape else arr
            if e["dtype"] == "I64":
                out.append((name, "I64", arr.shape, np.ascontiguousarray(arr).tobytes()))
            elif dtype == "F32":
                out.append((name, "F32", arr.shape, np.ascontiguousarray(arr, dtype="<f4").tobytes()))
            elif dtype == "F16":
                out.append((name, "F16", arr.shape, np.ascontiguousarray(arr, dtype="<f2").tobytes()))
            else:
                out.append((name, "BF16", arr.shape, _bf16(arr)))
    return out


def minilm_config() -> dict[str, Any]:
    cfg = json.loads((data_root() / "weights" / "all-minilm-l6-v2" / "config.json").read_text())
    m = _MINI_BERT
    cfg.update(hidden_size=m["hidden"], intermediate_size=m["inter"], vocab_size=m["vocab"],
               max_position_embeddings=m["pos"], num_hidden_layers=m["layers"], num_attention_heads=m["heads"])
    return cfg


def wordpiece_tokenizer_json(n: int = 128) -> bytes:
    doc = json.loads((data_root() / "weights" / "all-minilm-l6-v2" / "tokenizer.json").read_text())
    doc["model"]["vocab"] = {t: i for t, i in doc["model"]["vocab"].items() if i < n}
    doc["added_tokens"] = [a for a in doc["added_tokens"] if a["id"] < n]
    return json.dumps(doc, ensure_ascii=False).encode()


def vocab_txt(n: int = 128) -> bytes:
    lines = (data_root() / "weights" / "all-minilm-l6-v2" / "vocab.txt").read_bytes().splitlines(keepends=True)
    return b"".join(lines[:n])


def bpe_tokenizer_json(n: int = 300) -> tuple[bytes, bytes]:
    """Qwen2.5's byte-level BPE tokenizer.json cut to ids < n (merges kept when all three pieces stay), and its
    tokenizer_config.json (chat template) as is."""
    d = data_root() / "tokenizers" / "qwen2_5"
    doc = json.loads((d / "tokenizer.json").read_text())
    vocab = {t: i for t, i in doc["model"]["vocab"].items() if i < n}
    merges = []
    for m in doc["model"]["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    doc["model"]["vocab"] = vocab
    doc["model"]["merges"] = merges
    doc["added_tokens"] = [dict(a, id=n + k) for k, a in enumerate(doc["added_tokens"][:4])]
    cfg = (d / "tokenizer_config.json").read_bytes() if (d / "tokenizer_config.json").exists() else b"{}"
    try:
        cj = json.loads(cfg)
        cj["added_tokens_decoder"] = {}
        cfg = json.dumps(cj, ensure_ascii=False).encode()
    except ValueError:
        pass
    return json.dumps(doc, ensure_ascii=False).encode(), cfg


def spm_model(n: int = 300) -> bytes:
    """The Mistral v1 SentencePiece model with its first ``n`` pieces (control, byte and normal pieces)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    m.ParseFromString((data_root() / "tokenizers" / "mistral-common" / "tokenizer.model.v1").read_bytes())
    del m.pieces[n:]
    return m.SerializeToString()


def tekken_json(n: int = 300) -> bytes:
    doc = json.loads((data_root() / "tokenizers" / "mistral-common" / "tekken_240718.json").read_text())
    doc["vocab"] = doc["vocab"][:n]
    cfg = doc.get("config", {})
    nspecial = int(cfg.get("default_num_special_tokens", 0) or 0)
    cfg["default_vocab_size"] = n + nspecial
    if isinstance(doc.get("special_tokens"), list):
        doc["special_tokens"] = doc["special_tokens"][:nspecial]
    return json.dumps(doc, ensure_ascii=False).encode()


def tiktoken_file(n: int = 300) -> bytes:
    lines = (data_root() / "tokenizers" / "tiktoken" / "cl100k_base.tiktoken").read_bytes().splitlines(keepends=True)
    return b"".join(lines[:n])


def readme(limit: int = 2048) -> bytes:
    return (data_root() / "weights" / "all-minilm-l6-v2" / "README.md").read_bytes()[:limit]


# -- SmolLM2 / Gemma-3 / DeepSeek (GGUF) -----------------------------------------------------------------------
def _gguf_kvs(path: Path) -> list[tuple[str, int, Any, int | None]]:
    """The key/values of a GGUF file with their value types, as stored (a walk over the header)."""
    with open(path, "rb") as f:
        head = f.read(64 << 20)
    pos = 24
    n_kv = struct.unpack_from("<Q", head, 16)[0]

    def string() -> bytes:
        nonlocal pos
        (n,) = struct.unpack_from("<Q", head, pos)
        pos += 8 + n
        return head[pos - n : pos]

    def scalar(t: int) -> Any:
        nonlocal pos
        fmt = _GGUF_SCALAR[t]
        (v,) = struct.unpack_from(fmt, head, pos)
        pos += struct.calcsize(fmt)
        return v

    kvs: list[tuple[str, int, Any, int | None]] = []
    for _ in range(n_kv):
        key = string().decode()
        (vtype,) = struct.unpack_from("<I", head, pos)
        pos += 4
        if vtype == 8:
            kvs.append((key, 8, string(), None))
        elif vtype == 9:
            itype, n = struct.unpack_from("<IQ", head, pos)
            pos += 12
            vals = [string() if itype == 8 else scalar(itype) for _ in range(n)]
            kvs.append((key, 9, vals, itype))
        else:
            kvs.append((key, vtype, scalar(vtype), None))
    return kvs


def _gguf_crop(path: Path, name: str, rows: int, cols: int | None) -> tuple[tuple[int, ...], int, bytes]:
    """Tensor ``name`` of a GGUF file cropped to ``rows`` rows (along the last ne) and ``cols`` elements of ne0
    (whole quantisation blocks copied verbatim)."""
    import gguf

    gtype, ne_t, start = _gguf_layout(path)[name]
    ne = list(ne_t)
    block, tsize = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(gtype)]
    keep_cols = min(ne[0], cols or ne[0])
    keep_cols -= keep_cols % block
    row_bytes = ne[0] // block * tsize
    keep_rows = 1 if len(ne) == 1 else min(ne[1], rows)
    with open(path, "rb") as f:
        f.seek(start)
        raw = f.read(keep_rows * row_bytes)
    keep_rows = min(keep_rows, len(raw) // row_bytes)
    m = np.frombuffer(raw[: keep_rows * row_bytes], dtype=np.uint8).reshape(keep_rows, row_bytes)
    m = m[:, : keep_cols // block * tsize]
    return ((keep_cols,) if len(ne) == 1 else (keep_cols, keep_rows)), gtype, m.tobytes()


def _cut_kvs(kvs: list[tuple[str, int, Any, int | None]], n_tokens: int,
             overrides: dict[str, Any]) -> list[tuple[str, int, Any, int | None]]:
    out = []
    for key, vtype, value, itype in kvs:
        if key in overrides:
            value = overrides[key]
        elif vtype == 9 and key.startswith("tokenizer.ggml.") and key != "tokenizer.ggml.merges":
            value = value[:n_tokens]
        elif key == "tokenizer.ggml.merges":
            value = value[:32]
        elif vtype == 9 and len(value) > 64:
            value = value[:64]
        out.append((key, vtype, value, itype))
    return out


#: (GGUF name, Hugging Face name, rows, columns) of the cropped SmolLM2
_SMOL_PLAN = [
    ("token_embd.weight", "model.embed_tokens.weight", 64, 32), ("output_norm.weight", "model.norm.weight", 1, 32),
    ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight", 1, 32),
    ("blk.0.ffn_norm.weight", "model.layers.0.post_attention_layernorm.weight", 1, 32),
    ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", 32, 32),
    ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", 16, 32),
    ("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight", 16, 32),
    ("blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight", 32, 32),
    ("blk.0.ffn_gate.weight", "model.layers.0.mlp.gate_proj.weight", 64, 32),
    ("blk.0.ffn_up.weight", "model.layers.0.mlp.up_proj.weight", 64, 32),
    ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight", 32, 64),
]


def smollm2_gguf() -> bytes:
    """SmolLM2-135M-Instruct Q4_1 cut to one layer of hidden 32, FFN 64, 2 heads (1 kv), 64 tokens."""
    r = _SMOL()
    kvs = _gguf_kvs(r)
    over = {"llama.block_count": 1, "llama.embedding_length": 32, "llama.feed_forward_length": 64,
            "llama.attention.head_count": 2, "llama.attention.head_count_kv": 1, "llama.rope.dimension_count": 16,
            "llama.vocab_size": 64}
    tensors = [(g, *_gguf_crop(r, g, rows, cols)) for g, _hf, rows, cols in _SMOL_PLAN]
    return gguf_bytes(_cut_kvs(kvs, 64, over), tensors)


def gemma3_gguf() -> bytes:
    """Gemma-3-270M Q4_K_M: the real header (tokens cut to 64) with the first tensors cut to 4 rows each
    (K-quant blocks of 256, Q5_0, Q6_K, Q8_0 and F32 data as stored)."""
    r = data_root() / "weights" / "gemma-3-270m-q4_k_m" / "gemma-3-270m-q4_k_m.gguf"
    kvs = _gguf_kvs(r)
    over = {"gemma3.block_count": 1}
    names = [n for n in _gguf_names(r) if not n.startswith("blk.") or n.startswith("blk.0.")]
    tensors = [(n, *_gguf_crop(r, n, 4, 256)) for n in names]
    return gguf_bytes(_cut_kvs(kvs, 64, over), tensors)


def deepseek_head_gguf() -> bytes:
    """The DeepSeek-R1-Distill-Qwen-7B head part (a split file whose tensor data is cut short): its header with
    tokens cut to 64 and the first 12 tensors at 2 rows, the last one's data cut in half (``truncated``)."""
    path = data_root() / "weights" / "deepseek-r1-distill-qwen-7b-q4_k_m-head" / "model_part_0000"
    kvs = _gguf_kvs(path)
    tensors = [(n, *_gguf_crop(path, n, 2, None)) for n in _gguf_names(path)[:12]]
    blob = gguf_bytes(_cut_kvs(kvs, 64, {"qwen2.block_count": 1}), tensors)
    return blob[: len(blob) - len(tensors[-1][3]) // 2]


@functools.lru_cache(maxsize=4)
def _gguf_layout(path: Path) -> dict[str, tuple[int, tuple[int, ...], int]]:
    """name -> (ggml type, ne, absolute data offset), in file order, from taoke's own header parser."""
    from taoke.io import open_checkpoint

    with open_checkpoint(path) as ck:
        return {n: (ck._ggml[n], ck._ne[n], ck._start[n]) for n in ck.tensor_infos()}


def _gguf_names(path: Path) -> list[str]:
    return list(_gguf_layout(path))


def _SMOL() -> Path:  # noqa: N802
    return data_root() / "weights" / "smollm2-135m-instruct-q4_1" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _dequant_rows(name: str, ne: tuple[int, ...], gtype: int, raw: bytes) -> np.ndarray:
    import gguf
    import gguf.quants

    qt = gguf.GGMLQuantizationType(gtype)
    arr = np.frombuffer(raw, dtype=np.uint8).reshape(ne[1] if len(ne) > 1 else 1, -1)
    if qt == gguf.GGMLQuantizationType.F32:
        return arr.view("<f4").reshape(tuple(reversed(ne)))
    return np.asarray(gguf.quants.dequantize(arr, qt), dtype=np.float32).reshape(tuple(reversed(ne)))


def smollm2_safetensors() -> bytes:
    """The SmolLM2 GGUF seed dequantised and stored as BF16 safetensors under Hugging Face llama names."""
    r = _SMOL()
    tensors = []
    for g, hf, rows, cols in _SMOL_PLAN:
        ne, gt, raw = _gguf_crop(r, g, rows, cols)
        arr = _dequant_rows(g, ne, gt, raw)
        tensors.append((hf, "BF16", arr.shape, _bf16(arr)))
    return safetensors_bytes(tensors, {"format": "pt"})


def smollm2_config() -> dict[str, Any]:
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 64,
            "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 100000.0, "hidden_act": "silu",
            "tie_word_embeddings": True, "torch_dtype": "bfloat16"}


# -- PyTorch -----------------------------------------------------------------------------------------------------
def torch_files() -> dict[str, bytes]:
    """``torch.save`` of the cropped MiniLM state dict: zip (F32, with a transposed view and an F16/BF16 copy),
    legacy stream, nested under ``state_dict``."""
    import torch

    sd = {}
    for name, dtype, shape, raw in minilm_tensors("F32"):
        np_dt = "<i8" if dtype == "I64" else "<f4"
        sd[name] = torch.from_numpy(np.frombuffer(raw, dtype=np_dt).reshape(shape).copy())
    out: dict[str, bytes] = {}

    def save(obj: Any, **kw: Any) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf, **kw)
        return buf.getvalue()

    small = {k: v for i, (k, v) in enumerate(sd.items()) if i < 12}
    out["minilm-zip"] = save(small)
    out["minilm-legacy"] = save(small, _use_new_zipfile_serialization=False)
    mixed = dict(list(small.items())[:6])
    q = sd["encoder.layer.0.attention.self.query.weight"]
    mixed["transposed.weight"] = q.t()
    mixed["half.weight"] = q.half()
    mixed["bf16.weight"] = q.bfloat16()
    mixed["shared.view"] = q[2:6]
    out["mixed-zip"] = save({"state_dict": mixed, "epoch": 3})
    out["mixed-legacy"] = save({"state_dict": mixed, "epoch": 3}, _use_new_zipfile_serialization=False)
    return out


# -- ONNX --------------------------------------------------------------------------------------------------------
def onnx_crop(path: Path, cap: int = 16, keep_nodes: int | None = None) -> bytes:
    """The real ONNX model with every initializer cropped to ``cap`` per dimension (values kept) and, if given,
    only the first ``keep_nodes`` nodes plus the initializers they use."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    g = m.graph
    if keep_nodes is not None:
        nodes = list(g.node)[:keep_nodes]
        used = {x for n in nodes for x in n.input}
        del g.node[keep_nodes:]
        keep = [i for i in g.initializer if i.name in used]
        del g.initializer[:]
        g.initializer.extend(keep)
    new = []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        arr = arr[tuple(slice(0, cap) for _ in arr.shape)] if arr.ndim else arr
        t = numpy_helper.from_array(np.ascontiguousarray(arr), init.name)
        new.append(t)
    del g.initializer[:]
    g.initializer.extend(new)
    return m.SerializeToString()


# -- fingerprint and index ---------------------------------------------------------------------------------------
def npz_members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def npz_stored(members: Sequence[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


# -- the seed sets ---------------------------------------------------------------------------------------------
def _write_folder(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def hf_base_files() -> dict[str, dict[str, bytes]]:
    """The fixed files of each HF-folder variant (the fuzzed file is added on top)."""
    bert_st = safetensors_bytes(minilm_tensors("F32"), {"format": "pt"})
    cfg = json.dumps(minilm_config(), indent=2).encode()
    real = data_root() / "weights" / "all-minilm-l6-v2"
    bpe, bpe_cfg = bpe_tokenizer_json()
    llama_st = smollm2_safetensors()
    llama_cfg = json.dumps(smollm2_config(), indent=2).encode()
    bert = {"model.safetensors": bert_st, "config.json": cfg, "tokenizer.json": wordpiece_tokenizer_json(),
            "tokenizer_config.json": (real / "tokenizer_config.json").read_bytes(),
            "special_tokens_map.json": (real / "special_tokens_map.json").read_bytes(), "README.md": readme(),
            "generation_config.json": b'{"pad_token_id": 0, "transformers_version": "4.8.2"}\n'}
    shard_a = torch_files()["minilm-zip"]
    return {
        "bert": bert,
        "vocab": {"model.safetensors": bert_st, "config.json": cfg, "vocab.txt": vocab_txt()},
        "bpe": {"model.safetensors": llama_st, "config.json": llama_cfg, "tokenizer.json": bpe,
                "tokenizer_config.json": bpe_cfg},
        "spm": {"model.safetensors": llama_st, "config.json": llama_cfg, "tokenizer.model": spm_model()},
        "tekken": {"model.safetensors": llama_st, "config.json": llama_cfg, "tekken.json": tekken_json()},
        "tiktoken": {"model.safetensors": llama_st, "config.json": llama_cfg, "tokenizer.tiktoken": tiktoken_file()},
        "torch-index": {"pytorch_model-00001-of-00001.bin": shard_a, "config.json": cfg,
                        "pytorch_model.bin.index.json": json.dumps(_torch_index(shard_a)).encode()},
    }


def _torch_index(shard: bytes) -> dict[str, Any]:
    names = _torch_names(shard)
    return {"metadata": {"total_size": len(shard)}, "weight_map": dict.fromkeys(names, "pytorch_model-00001-of-00001.bin")}


def _torch_names(data: bytes) -> list[str]:
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        from taoke.io import open_checkpoint

        with open_checkpoint(f.name) as ck:
            return list(ck.tensor_infos())


def sharded_files() -> dict[str, bytes]:
    ts = minilm_tensors("F16")
    half = len(ts) // 2
    a = safetensors_bytes(ts[:half], {"format": "pt"})
    b = safetensors_bytes(ts[half:], {"format": "pt"})
    index = {"metadata": {"total_size": len(a) + len(b)},
             "weight_map": {**{t[0]: SHARD_FILES[1] for t in ts[:half]}, **{t[0]: SHARD_FILES[2] for t in ts[half:]}}}
    return {SHARD_FILES[0]: json.dumps(index, indent=2).encode(), SHARD_FILES[1]: a, SHARD_FILES[2]: b}


def fingerprint_files(work: Path) -> dict[str, bytes]:
    """Light and unit fingerprints of two cropped real models, made by :func:`taoke.index.fingerprint.make_fingerprint`."""
    from taoke.index.fingerprint import make_fingerprint

    base = hf_base_files()
    out = {}
    for variant, units in (("bert", 4), ("bpe", 0)):
        folder = work / f"fp-{variant}"
        _write_folder(folder, base[variant])
        fp = make_fingerprint(str(folder), units=units, name=f"mini-{variant}")
        out[f"{variant}-u{units}"] = fp.to_bytes()
    return out


def index_files(work: Path, fps: dict[str, bytes]) -> dict[str, bytes]:
    """A current-schema index holding the seed fingerprints, and the same as a version-1 file (migrations)."""
    import sqlite3

    from taoke.index.fingerprint import Fingerprint
    from taoke.index.store import _V1, IndexStore

    out = {}
    cur = work / "index-v3.db"
    for p in work.glob("index-v*"):
        p.unlink()
    with IndexStore(cur) as st:
        st.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for name, data in fps.items():
            st.add(Fingerprint.from_bytes(data, subject=name), name=name)
        st.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        st.con.execute("PRAGMA journal_mode = DELETE")
        st.con.execute("PRAGMA page_size = 1024")
        st.con.execute("VACUUM")
    out["v3"] = cur.read_bytes()
    v1 = work / "index-v1.db"
    con = sqlite3.connect(v1)
    con.execute("PRAGMA page_size = 1024")
    con.executescript(_V1)
    for i, (name, data) in enumerate(sorted(fps.items())[:1], start=1):
        fp = Fingerprint.from_bytes(data, subject=name)
        con.execute("INSERT INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (i, name, "seed", 0.0, fp.header.get("family"), fp.header.get("layers"), None, None, None,
                     fp.header.get("content_digest"), None, 0, 0, len(data), json.dumps(fp.header)))
        con.execute("INSERT INTO blobs VALUES (?, ?)", (i, data))
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    out["v1"] = v1.read_bytes()
    return out


def build(dest: Path | None = None, *, force: bool = False) -> dict[str, list[Path]]:
    """Write every target's seeds under ``dest`` (default :func:`default_dest`); reuse a complete earlier build."""
    dest = Path(dest or default_dest())
    done = dest / ".complete"
    if done.exists() and not force:
        return {d.name: sorted(d.glob("*.bin")) for d in sorted(dest.iterdir()) if d.is_dir()}
    sets: dict[str, dict[str, bytes]] = {}
    real = data_root() / "weights"
    st_real = (real / "all-minilm-l6-v2" / "model.safetensors")
    with open(st_real, "rb") as f:
        st_prefix = f.read(16384)
    sets["safetensors"] = {
        "minilm-f32": safetensors_bytes(minilm_tensors("F32"), {"format": "pt"}),
        "minilm-f16": safetensors_bytes(minilm_tensors("F16"), {"format": "pt"}),
        "smollm2-bf16": smollm2_safetensors(),
        "minilm-real-prefix": st_prefix,
    }
    sets["safetensors-sharded"] = {f"{i}-{n}": bytes([i]) + data for i, (n, data) in enumerate(sharded_files().items())}
    g_smol = smollm2_gguf()
    with open(real / "smollm2-135m-instruct-q4_1" / "SmolLM2-135M-Instruct.Q4_1.gguf", "rb") as f:
        g_prefix = f.read(8192)
    sets["gguf"] = {"smollm2-q4_1": g_smol, "gemma3-q4_k_m": gemma3_gguf(), "deepseek-head-truncated": deepseek_head_gguf(),
                    "smollm2-real-prefix": g_prefix}
    sets["torch"] = torch_files()
    onnx_sets = {"minilm-int8": onnx_crop(real / "all-minilm-l6-v2-int8-onnx" / "model.onnx", keep_nodes=60)}
    para = real / "paraphrase-minilm-l3-v2-onnx" / "paraphrase-MiniLM-L3-v2.onnx"
    if para.exists():
        onnx_sets["paraphrase-minilm-l3"] = onnx_crop(para, keep_nodes=60)
    sets["onnx"] = onnx_sets
    base = hf_base_files()
    sets["hf-folder"] = {f"{i:02d}-{v}-{fname.replace('.', '_')}": bytes([i]) + base[v][fname]
                         for i, (v, fname) in enumerate(HF_VARIANTS)}
    with tempfile.TemporaryDirectory(prefix="taoke-seeds-") as tmp:
        fps = fingerprint_files(Path(tmp))
        dbs = index_files(Path(tmp), fps)
    fp_set: dict[str, bytes] = {f"file-{name}": b"\0" + data for name, data in fps.items()}
    for k, (member, mdata) in enumerate(npz_members(fps[FP_BASE])):
        fp_set[f"member-{k:02d}-{member.removesuffix('.npy')}"] = bytes([1 + k]) + mdata
    sets["fingerprint"] = fp_set
    sets["index-db"] = dbs
    out: dict[str, list[Path]] = {}
    for target, seeds in sets.items():
        d = dest / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.bin"):
            old.unlink()
        out[target] = []
        for name, data in seeds.items():
            p = d / f"{name}.bin"
            p.write_bytes(data)
            out[target].append(p)
    (dest / "hf-base").mkdir(exist_ok=True)
    for v, files in base.items():
        _write_folder(dest / "hf-base" / v, files)
    _write_folder(dest / "sharded-base", sharded_files())
    (dest / "fingerprint-base.tkfp").write_bytes(fps[FP_BASE])
    done.write_text(json.dumps({t: len(v) for t, v in out.items()}))
    return out


def seeds_for(target: str, dest: Path | None = None) -> list[Path]:
    return build(dest)[target]


Builder = Callable[[], bytes]

if __name__ == "__main__":  # pragma: no cover - manual use: python benchmarks/fuzz/seeds.py [DEST]
    import sys

    res = build(Path(sys.argv[1]) if len(sys.argv) > 1 else None, force=True)
    for t, ps in res.items():
        print(t, [(p.name, p.stat().st_size) for p in ps])
