"""The models taoke can serve as real OpenAI-compatible endpoints for black-box lineage: the fetched GGUFs and the
derivation zoo's models converted to GGUF.

:data:`SERVABLE` is data: for each model its source (a fetched GGUF under ``$TAOKE_DATA``, or a zoo entry),
how it relates to a *known* model (``relation``: ``same`` -- the same weights or the same function at other
numerics; ``derivative`` -- weights computed from the known model's by training, merging, noise or pruning;
``unknown`` -- no known model in its ancestry), the kind of transformation, and the chat format to serve it with.
:data:`KNOWN` lists the models whose behaviour the lineage references hold (:mod:`taoke.blackbox.lineage`);
references are computed from these files in-process, never from an evaluation endpoint.

:func:`servable_gguf` returns a GGUF for any entry, converting a zoo folder on first use (cached under
``$TAOKE_DATA/derived/blackbox/``): tensors renamed to llama.cpp names with the rotary Q/K permutation re-applied
(:mod:`taoke.zoo.export`), 2-D weights quantised (Q8_0 by default, F16 for references), key/values copied from the
real SmolLM2 GGUF with the hyper-parameters replaced by the entry's own and the tokenizer cut to the model's
vocabulary (the zoo's small Llamas use SmolLM2's BPE truncated to 8192 tokens: the first tokens and merges).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taoke.blackbox.models import data_root
from taoke.errors import UsageError

SMOLLM2_GGUF = "weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_GGUF = "weights/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf"
SMOL, GEMMA = "SmolLM2-135M-Instruct", "Gemma-3-270M"
SMOL_TOK, GEMMA_TOK, TINY_TOK = "gguf:smollm2-135m-instruct", "gguf:gemma-3-270m", "zoo:tiny-llama-8k"


@dataclass(frozen=True)
class Servable:
    """One model that can be served. ``source``: a path under ``$TAOKE_DATA`` or ``zoo:<entry>``."""

    name: str
    source: str
    relation: str  # to ``known``: "same" | "derivative" | "unknown"
    kind: str  # original, requantised, function-preserving, fine-tune, continued-pretraining, noise, merge, ...
    known: str | None  # the known model it is (same) or derives from (derivative)
    tokenizer: str
    chat_format: str | None = None
    qtype: str = "Q8_0"  # quantisation of a converted zoo model
    requantise: str | None = None  # serve a re-quantised copy of a fetched GGUF (blackbox.variants)

    @property
    def expected(self) -> str:
        """The lineage outcome a correct probe gives: ``known:<m>``, ``derivative:<m>`` or ``unknown``."""
        return "unknown" if self.relation == "unknown" else f"{'known' if self.relation == 'same' else 'derivative'}:{self.known}"


#: models whose references the lineage probe holds (name -> servable entry built at reference precision)
KNOWN: dict[str, Servable] = {
    SMOL: Servable(SMOL, SMOLLM2_GGUF, "same", "original", SMOL, SMOL_TOK),
    GEMMA: Servable(GEMMA, GEMMA3_GGUF, "same", "original", GEMMA, GEMMA_TOK, chat_format="gemma"),
    **{f"tiny-{k}": Servable(f"tiny-{k}", f"zoo:tiny-{k}", "same", "original", f"tiny-{k}", TINY_TOK, qtype="F16")
       for k in range(4)},
}

#: the evaluation endpoints: every model taoke can serve, with the truth about it
SERVABLE: tuple[Servable, ...] = (
    Servable("smollm2-q4_1", SMOLLM2_GGUF, "same", "original", SMOL, SMOL_TOK),
    Servable("smollm2-q8_0", SMOLLM2_GGUF, "same", "requantised", SMOL, SMOL_TOK, requantise="Q8_0"),
    Servable("smollm2-perm", "zoo:smollm2-perm", "same", "function-preserving", SMOL, SMOL_TOK),
    Servable("smollm2-rotate", "zoo:smollm2-rotate", "same", "function-preserving", SMOL, SMOL_TOK),
    Servable("smollm2-finetune", "zoo:smollm2-finetune", "derivative", "fine-tune", SMOL, SMOL_TOK),
    Servable("smollm2-continued", "zoo:smollm2-continued", "derivative", "continued-pretraining", SMOL, SMOL_TOK),
    Servable("smollm2-merge", "zoo:smollm2-merge", "derivative", "merge", SMOL, SMOL_TOK),
    Servable("smollm2-noise-0.01", "zoo:smollm2-noise-0.01", "derivative", "noise", SMOL, SMOL_TOK),
    Servable("smollm2-noise-0.1", "zoo:smollm2-noise-0.1", "derivative", "noise", SMOL, SMOL_TOK),
    Servable("smollm2-layer-subset", "zoo:smollm2-layer-subset", "derivative", "layer-subset", SMOL, SMOL_TOK),
    Servable("smollm2-stdmatched", "zoo:smollm2-stdmatched", "unknown", "independent", None, SMOL_TOK),
    Servable("gemma-3-270m-q4_k_m", GEMMA3_GGUF, "same", "original", GEMMA, GEMMA_TOK, chat_format="gemma"),
    Servable("gemma-3-270m-q8_0", GEMMA3_GGUF, "same", "requantised", GEMMA, GEMMA_TOK, chat_format="gemma",
             requantise="Q8_0"),
    *(Servable(f"tiny-{k}-q8_0", f"zoo:tiny-{k}", "same", "requantised", f"tiny-{k}", TINY_TOK) for k in range(4)),
    *(Servable(f"tiny-{k}", f"zoo:tiny-{k}", "unknown", "independent", None, TINY_TOK) for k in (4, 5)),
)


def servable(name: str) -> Servable:
    for s in (*SERVABLE, *KNOWN.values()):
        if s.name == name:
            return s
    raise UsageError(f"unknown servable model {name!r}", hint="one of: " + ", ".join(s.name for s in SERVABLE))


def derived_dir(root: Path | None = None) -> Path:
    return (root or data_root()) / "derived" / "blackbox"


def servable_gguf(s: Servable, root: Path | None = None) -> Path:
    """A GGUF file serving ``s`` (converted or re-quantised once, then cached)."""
    root = root or data_root()
    if not s.source.startswith("zoo:"):
        src = root / s.source
        if not src.is_file():
            raise UsageError(f"{s.name}: GGUF not found", subject=str(src), hint="run `taoke zoo fetch --all`")
        if s.requantise:
            from taoke.blackbox.variants import derive_variant

            return derive_variant(src, s.requantise, derived_dir(root) / f"{src.stem}.{s.requantise}.gguf")
        return src
    entry = s.source.removeprefix("zoo:")
    folder = root / "zoo" / entry
    if not (folder / "model.safetensors").is_file():
        raise UsageError(f"{s.name}: zoo entry {entry!r} not built", subject=str(folder),
                         hint="run `taoke zoo build --full`")
    dst = derived_dir(root) / f"{entry}.{s.qtype}.gguf"
    if not dst.exists():
        zoo_to_gguf(folder, dst, template=root / SMOLLM2_GGUF, qtype=s.qtype, name=entry)
    return dst


def zoo_to_gguf(folder: Path, dst: Path, *, template: Path, qtype: str = "Q8_0", name: str | None = None) -> Path:
    """Write the zoo model in ``folder`` (``model.safetensors`` + ``config.json``, Hugging Face Llama names) as a
    llama.cpp GGUF with ``template``'s key/values (tokenizer, chat template), its own hyper-parameters."""
    import gguf
    from gguf.quants import quantize
    from safetensors.numpy import load_file

    from taoke.zoo.export import copy_gguf_metadata, hf_to_gguf_name, permute_rope
    from taoke.zoo.train import LlamaConfig

    cfg = LlamaConfig.from_hf(json.loads((folder / "config.json").read_text()))
    state = load_file(str(folder / "model.safetensors"))
    file_type = {"F32": 0, "F16": 1, "Q8_0": 7}.get(qtype)
    if file_type is None:
        raise UsageError(f"unsupported GGUF type {qtype!r}", hint="F32, F16 or Q8_0")
    reader = gguf.GGUFReader(str(template))
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    w = gguf.GGUFWriter(str(tmp), arch="llama")
    overrides: dict[str, Any] = {
        "general.name": name or folder.name,
        "llama.block_count": cfg.num_layers, "llama.context_length": cfg.max_position,
        "llama.embedding_length": cfg.hidden_size, "llama.feed_forward_length": cfg.intermediate_size,
        "llama.attention.head_count": cfg.num_heads, "llama.attention.head_count_kv": cfg.num_kv_heads,
        "llama.rope.freq_base": float(cfg.rope_theta), "llama.attention.layer_norm_rms_epsilon": float(cfg.rms_norm_eps),
        "llama.vocab_size": cfg.vocab_size, "llama.rope.dimension_count": cfg.head_dim,
    }
    n_tok = len(reader.fields["tokenizer.ggml.tokens"].data)
    cut = cfg.vocab_size < n_tok
    # copy everything, then the overridden scalars and (cut) tokenizer arrays replace the template's
    skip = set(overrides) | ({"tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"} if cut else set())
    _copy_except(reader, w, skip, file_type, copy_gguf_metadata)
    for key, value in overrides.items():
        (w.add_string if isinstance(value, str) else w.add_float32 if isinstance(value, float) else w.add_uint32)(
            key, value)
    if cut:
        from taoke.zoo.corpus import SMOLLM2_FIRST_MERGE_ID

        toks = reader.fields["tokenizer.ggml.tokens"].contents()[: cfg.vocab_size]
        types = reader.fields["tokenizer.ggml.token_type"].contents()[: cfg.vocab_size]
        merges = reader.fields["tokenizer.ggml.merges"].contents()[: cfg.vocab_size - SMOLLM2_FIRST_MERGE_ID]
        w.add_token_list(toks)
        w.add_token_types(types)
        w.add_token_merges(merges)
    qt = getattr(gguf.GGMLQuantizationType, qtype)
    for hf_name, arr in state.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        if hf_name.endswith("q_proj.weight"):
            a = permute_rope(a, cfg.num_heads)
        elif hf_name.endswith("k_proj.weight"):
            a = permute_rope(a, cfg.num_kv_heads)
        if cfg.tie_embeddings and hf_name == "lm_head.weight":
            continue
        gname = hf_to_gguf_name(hf_name)
        if a.ndim == 2 and qtype == "F16":
            w.add_tensor(gname, a.astype(np.float16))
        elif a.ndim == 2 and qtype == "Q8_0":
            w.add_tensor(gname, quantize(a, qt), raw_dtype=qt)
        else:
            w.add_tensor(gname, a)
    from taoke.blackbox.variants import finish_gguf

    return finish_gguf(w, tmp, dst)


def _copy_except(reader: Any, writer: Any, skip: set[str], file_type: int, copy: Any) -> None:
    """:func:`taoke.zoo.export.copy_gguf_metadata` without the keys in ``skip``."""

    class _Filtered:
        fields = {k: f for k, f in reader.fields.items() if k not in skip}

    copy(_Filtered, writer, file_type=file_type)
