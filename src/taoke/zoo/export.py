"""Read a llama-architecture GGUF into Hugging Face layout, and write zoo entries (HF folders, GGUF files).

* :func:`read_llama_gguf` dequantises every tensor of a ``llama`` GGUF with taoke's reader (:mod:`taoke.io.gguf`,
  which dequantises with ``gguf.quants``) and renames it to Hugging Face Llama names, undoing llama.cpp's rotary permutation of
  the Q and K rows (``convert_hf_to_gguf.py`` interleaves the two rotary halves of each head; the inverse is
  ``reshape(n_head, rows/n_head/2, 2, in).swapaxes(1, 2)``). It loads the whole model (SmolLM2-135M: 0.5 GB
  float32), which is what building a derived copy needs anyway.
* :func:`write_hf_folder` writes ``model.safetensors`` (+ ``config.json``, optional ``tokenizer.json`` and
  ``README.md``) in any float dtype.
* :func:`write_llama_gguf` writes the inverse: llama.cpp names, the Q/K permutation re-applied, 2-D weights
  quantised with ``gguf.quants.quantize`` (e.g. Q8_0), 1-D weights F32, and the key/values (tokenizer, chat
  template, hyper-parameters) copied from a source GGUF with ``general.file_type`` set to match.

Files are written to a temporary name and renamed, so an interrupted build never leaves a half file under the
final name.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from taoke.errors import ReaderError, UnsupportedFormat, UsageError
from taoke.zoo.train import LlamaConfig

_GGUF_TO_HF_BLOCK = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GGUF_TO_HF_TOP = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_HF_TO_GGUF_BLOCK = {v: k for k, v in _GGUF_TO_HF_BLOCK.items()}
_HF_TO_GGUF_TOP = {v: k for k, v in _GGUF_TO_HF_TOP.items()}

#: ``general.file_type`` (llama_ftype) for the quantisations :func:`write_llama_gguf` supports
_FILE_TYPES = {"F32": 0, "F16": 1, "Q8_0": 7}


def unpermute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp Q/K row order → Hugging Face order (inverse of :func:`permute_rope`).

    >>> w = np.arange(8.0)[:, None]
    >>> unpermute_rope(permute_rope(w, 2), 2).ravel().tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    """
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """Hugging Face Q/K row order → llama.cpp order (``convert_hf_to_gguf.LlamaModel.permute``)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def copy_gguf_metadata(reader: Any, writer: Any, *, file_type: int) -> None:
    """Copy every typed key/value of a ``gguf.GGUFReader`` into a ``gguf.GGUFWriter`` (architecture and the
    reader's own ``GGUF.*`` keys excluded), recording ``file_type`` as the new ``general.file_type``."""
    import gguf

    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            writer.add_uint32(key, file_type)
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, f.contents(), vtype, sub_type=sub)


def _open_gguf(path: Path):  # -> gguf.GGUFReader
    import gguf

    try:
        return gguf.GGUFReader(str(path))
    except Exception as e:  # noqa: BLE001 - gguf raises ValueError/struct.error/OSError on bad files
        raise ReaderError(f"cannot read GGUF: {type(e).__name__}: {e}", subject=str(path)) from None


def read_llama_gguf(path: Path) -> tuple[LlamaConfig, dict[str, np.ndarray]]:
    """Every tensor of a ``llama`` GGUF, dequantised to float32 under Hugging Face names, and its config.

    Reads through taoke's own GGUF reader (:func:`taoke.io.open_checkpoint`).
    """
    from taoke.io import open_checkpoint

    with open_checkpoint(str(path)) as ck:
        if ck.format != "gguf":
            raise UnsupportedFormat(f"expected a GGUF file, found {ck.format}", subject=str(path))
        md = ck.metadata
        arch = md.get("general.architecture")
        if arch != "llama":
            raise UnsupportedFormat(f"GGUF architecture is {arch!r}, not 'llama'", subject=str(path))
        infos = ck.tensor_infos()
        n_head = int(md["llama.attention.head_count"])
        n_kv = int(md.get("llama.attention.head_count_kv", n_head))
        vocab = md.get("llama.vocab_size") or infos["token_embd.weight"].shape[0]
        cfg = LlamaConfig(
            vocab_size=int(vocab),
            hidden_size=int(md["llama.embedding_length"]),
            num_layers=int(md["llama.block_count"]),
            num_heads=n_head,
            num_kv_heads=n_kv,
            intermediate_size=int(md["llama.feed_forward_length"]),
            rope_theta=float(md.get("llama.rope.freq_base", 10000.0)),
            rms_norm_eps=float(md.get("llama.attention.layer_norm_rms_epsilon", 1e-5)),
            tie_embeddings="output.weight" not in infos,
            max_position=int(md.get("llama.context_length", 2048)),
        )
        state: dict[str, np.ndarray] = {}
        for name in infos:
            hf = gguf_to_hf_name(name)
            if hf is None:
                raise UnsupportedFormat(f"unexpected tensor {name!r} in a llama GGUF", subject=str(path))
            arr = np.asarray(ck.read(name), dtype=np.float32)
            if name.endswith("attn_q.weight"):
                arr = unpermute_rope(arr, n_head)
            elif name.endswith("attn_k.weight"):
                arr = unpermute_rope(arr, n_kv)
            state[hf] = np.ascontiguousarray(arr)
    return cfg, state


def gguf_to_hf_name(name: str) -> str | None:
    """``blk.3.attn_q.weight`` → ``model.layers.3.self_attn.q_proj.weight`` (None if not a llama tensor)."""
    if name in _GGUF_TO_HF_TOP:
        return _GGUF_TO_HF_TOP[name]
    parts = name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[2] in _GGUF_TO_HF_BLOCK:
        return f"model.layers.{parts[1]}.{_GGUF_TO_HF_BLOCK[parts[2]]}.{parts[3]}"
    return None


def hf_to_gguf_name(name: str) -> str:
    if name in _HF_TO_GGUF_TOP:
        return _HF_TO_GGUF_TOP[name]
    parts = name.split(".")
    if len(parts) >= 5 and parts[:2] == ["model", "layers"]:
        key = ".".join(parts[3:-1])
        if key in _HF_TO_GGUF_BLOCK:
            return f"blk.{parts[2]}.{_HF_TO_GGUF_BLOCK[key]}.{parts[-1]}"
    raise UsageError(f"no llama.cpp name for tensor {name!r}")


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_safetensors(path: Path, tensors: Mapping[str, np.ndarray], *, dtype: str = "F32") -> None:
    """Write ``tensors`` to one safetensors file, float tensors in ``dtype`` ("F32" or "F16"), atomically."""
    from safetensors.numpy import save_file

    conv: dict[str, np.ndarray] = {}
    for k, v in tensors.items():
        if not np.issubdtype(np.asarray(v).dtype, np.floating):
            conv[k] = np.ascontiguousarray(v)  # integer buffers (e.g. BERT position_ids) kept as they are
            continue
        a = np.ascontiguousarray(v, dtype=np.float32)
        if dtype == "F16":
            a = a.astype(np.float16)
        elif dtype != "F32":
            raise UsageError(f"unsupported output dtype {dtype!r}", hint="use F32 or F16")
        conv[k] = a
    tmp = _tmp(path)
    save_file(conv, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)


def write_hf_folder(
    folder: Path,
    tensors: Mapping[str, np.ndarray],
    config: Mapping[str, Any] | None,
    *,
    dtype: str = "F32",
    tokenizer_json: str | None = None,
    card: str | None = None,
) -> Path:
    """An HF-style model folder: ``model.safetensors`` (+ ``config.json``, ``tokenizer.json``, ``README.md``).

    Returns the path of ``model.safetensors``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(dict(config), indent=2, sort_keys=True) + "\n")
    if tokenizer_json is not None:
        (folder / "tokenizer.json").write_text(tokenizer_json)
    if card is not None:
        (folder / "README.md").write_text(card)
    out = folder / "model.safetensors"
    write_safetensors(out, tensors, dtype=dtype)
    return out


def write_llama_gguf(
    path: Path,
    cfg: LlamaConfig,
    state: Mapping[str, np.ndarray],
    *,
    template_gguf: Path,
    qtype: str = "Q8_0",
) -> Path:
    """A llama.cpp GGUF of ``state`` with metadata copied from ``template_gguf``; 2-D weights in ``qtype``."""
    import gguf

    if qtype not in _FILE_TYPES:
        raise UsageError(f"unsupported GGUF type {qtype!r}", hint=f"one of {sorted(_FILE_TYPES)}")
    src = _open_gguf(template_gguf)
    tmp = _tmp(path)
    writer = gguf.GGUFWriter(str(tmp), arch="llama")
    copy_gguf_metadata(src, writer, file_type=_FILE_TYPES[qtype])
    return finish_llama_gguf(writer, tmp, path, cfg, state, qtype)


def finish_llama_gguf(writer: Any, tmp: Path, path: Path, cfg: LlamaConfig, state: Mapping[str, np.ndarray],
                      qtype: str) -> Path:  # fmt: skip
    """Add ``state`` to a ``gguf.GGUFWriter`` whose metadata is written (llama.cpp names, rotary rows of q/k
    permuted, 2-D weights in ``qtype``), write it to ``tmp`` and move it to ``path``."""
    import gguf
    from gguf.quants import quantize

    qt = getattr(gguf.GGMLQuantizationType, qtype)
    for name, arr in state.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        gname = hf_to_gguf_name(name)
        if name.endswith("q_proj.weight"):
            a = permute_rope(a, cfg.num_heads)
        elif name.endswith("k_proj.weight"):
            a = permute_rope(a, cfg.num_kv_heads)
        if a.ndim == 2 and qtype != "F32":
            if qtype == "F16":
                writer.add_tensor(gname, a.astype(np.float16))
            else:
                writer.add_tensor(gname, quantize(a, qt), raw_dtype=qt)
        else:
            writer.add_tensor(gname, a)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, path)
    return path


def sha256_file(path: Path, *, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()
