"""Alias tables for the stacks inside multimodal and encoder-decoder checkpoints. Immutable data only.

A vision-language checkpoint is first split into components by prefix (:mod:`taoke.roles._components`: the vision
tower under ``vision_tower.``/``vpm.``/``visual.``/``model.vision_model.``, the connector under
``multi_modal_projector.``/``resampler.``/``model.connector.``/``visual.merger.``, the language model under
``language_model.``/``llm.``/``model.text_model.``); an encoder-decoder (T5, BART) into its ``encoder.`` and
``decoder.`` stacks. Each component is then mapped with the same role vocabulary as a language model
(:mod:`taoke.roles._roles`), using the tables below together with the language-model tables of
:mod:`taoke.roles._aliases` (same pattern syntax; a component's prefix is stripped before matching, so the
patterns here start inside the tower).

Vision towers map like encoder stacks: attention ``attn.{q,k,v,o}``, the MLP ``mlp.up``/``mlp.down`` (``fc1``/``fc2``;
gated in Qwen2.5-VL), the two block norms ``norm.attn``/``norm.mlp``, learned position embeddings ``pos_embed``,
the pre/post layer norms ``embed_norm``/``final_norm``. Patch embeddings (convolutions), class embeddings and
pooling heads get no role: the component comparison pairs such tensors by shape and content instead
(:mod:`taoke.whitebox.modules`).

Conflicts are resolved as in :mod:`taoke.roles._aliases` (table order; the wrapper prefix matching most tensors
wins). None of these patterns matches a tensor of the language-model families mapped there.
"""

from __future__ import annotations

from taoke.roles._aliases import Alias, FusedAlias

_V = "[vision_model.]encoder.layers.{bid}."  # CLIP / SigLIP vision encoders (HF), MiniCPM-V vpm, Idefics vision_model
_T = "[vit.]encoder.layer.{bid}."  # HF ViT (shares BERT's output/intermediate names, which map the same)
_Q = "blocks.{bid}."  # Qwen2-VL / Qwen2.5-VL ``visual.blocks``
_C = "blk.{bid}."  # llama.cpp CLIP GGUF (mmproj), after its ``v.`` prefix
_T5 = "block.{bid}.layer."  # T5 encoder / decoder blocks (after the ``encoder.``/``decoder.`` prefix)
_BA = "[model.]layers.{bid}."  # BART / mBART / Marian / Whisper stacks (after the ``encoder.``/``decoder.`` prefix)

VISION_ALIASES: tuple[Alias | FusedAlias, ...] = (
    # ---- CLIP / SigLIP
    Alias("pos_embed", ("[vision_model.]embeddings.position_embedding",), "CLIP, SigLIP vision towers"),
    Alias("embed_norm", ("[vision_model.]pre_layrnorm",), "CLIP vision tower (sic)"),
    Alias("embed_norm", ("[vision_model.]pre_layernorm", "ln_pre"), "CLIP-style towers re-published, Pixtral"),
    Alias("final_norm", ("[vision_model.]post_layernorm",), "CLIP, SigLIP vision towers"),
    Alias("layers.{bid}.attn.q", (_V + "self_attn.q_proj",), "CLIP, SigLIP vision towers"),
    Alias("layers.{bid}.attn.k", (_V + "self_attn.k_proj",), "CLIP, SigLIP vision towers"),
    Alias("layers.{bid}.attn.v", (_V + "self_attn.v_proj",), "CLIP, SigLIP vision towers"),
    Alias("layers.{bid}.attn.o", (_V + "self_attn.out_proj",), "CLIP, SigLIP vision towers"),
    Alias("layers.{bid}.norm.attn", (_V + "layer_norm1",), "CLIP, SigLIP vision towers (pre-norm)"),
    Alias("layers.{bid}.norm.mlp", (_V + "layer_norm2",), "CLIP, SigLIP vision towers (pre-norm)"),
    Alias("layers.{bid}.mlp.up", (_V + "mlp.fc1",), "CLIP, SigLIP vision towers"),
    Alias("layers.{bid}.mlp.down", (_V + "mlp.fc2",), "CLIP, SigLIP vision towers"),
    # ---- ViT (HF ViTModel; output.dense / intermediate.dense / attention.output.dense map as BERT's)
    Alias("layers.{bid}.attn.q", (_T + "attention.attention.query",), "ViT"),
    Alias("layers.{bid}.attn.k", (_T + "attention.attention.key",), "ViT"),
    Alias("layers.{bid}.attn.v", (_T + "attention.attention.value",), "ViT"),
    Alias("layers.{bid}.norm.attn", (_T + "layernorm_before",), "ViT (pre-norm)"),
    Alias("layers.{bid}.norm.mlp", (_T + "layernorm_after",), "ViT (pre-norm)"),
    Alias("final_norm", ("[vit.]layernorm",), "ViT"),
    # ---- Qwen2-VL / Qwen2.5-VL vision transformer
    FusedAlias(("layers.{bid}.attn.q", "layers.{bid}.attn.k", "layers.{bid}.attn.v"), (_Q + "attn.qkv",),
               "Qwen2-VL, Qwen2.5-VL visual", "equal"),
    Alias("layers.{bid}.attn.o", (_Q + "attn.proj",), "Qwen2-VL, Qwen2.5-VL visual"),
    Alias("layers.{bid}.norm.attn", (_Q + "norm1",), "Qwen2-VL, Qwen2.5-VL visual"),
    Alias("layers.{bid}.norm.mlp", (_Q + "norm2",), "Qwen2-VL, Qwen2.5-VL visual"),
    Alias("layers.{bid}.mlp.up", (_Q + "mlp.fc1", _Q + "mlp.up_proj"), "Qwen2-VL (fc1), Qwen2.5-VL (gated)"),
    Alias("layers.{bid}.mlp.gate", (_Q + "mlp.gate_proj",), "Qwen2.5-VL visual"),
    Alias("layers.{bid}.mlp.down", (_Q + "mlp.fc2", _Q + "mlp.down_proj"), "Qwen2-VL, Qwen2.5-VL visual"),
    # ---- llama.cpp CLIP GGUF (mmproj files; attn_q/k/v, ffn_up/down and position_embd map as llama.cpp's)
    Alias("layers.{bid}.attn.o", (_C + "attn_out",), "llama.cpp CLIP GGUF"),
    Alias("layers.{bid}.norm.attn", (_C + "ln1",), "llama.cpp CLIP GGUF"),
    Alias("layers.{bid}.norm.mlp", (_C + "ln2",), "llama.cpp CLIP GGUF"),
    Alias("embed_norm", ("pre_ln",), "llama.cpp CLIP GGUF"),
    Alias("final_norm", ("post_ln",), "llama.cpp CLIP GGUF"),
)  # fmt: skip

ENCODER_DECODER_ALIASES: tuple[Alias | FusedAlias, ...] = (
    # ---- T5 / mT5 / Flan-T5 (v1.0 ``wi``; v1.1 gated ``wi_0``/``wi_1``); layer.1 is the decoder's cross-attention
    Alias("embed", ("shared",), "T5, BART (the embedding both stacks share)"),
    Alias("layers.{bid}.attn.q", (_T5 + "0.SelfAttention.q",), "T5"),
    Alias("layers.{bid}.attn.k", (_T5 + "0.SelfAttention.k",), "T5"),
    Alias("layers.{bid}.attn.v", (_T5 + "0.SelfAttention.v",), "T5"),
    Alias("layers.{bid}.attn.o", (_T5 + "0.SelfAttention.o",), "T5"),
    Alias("layers.{bid}.norm.attn", (_T5 + "0.layer_norm",), "T5"),
    Alias("layers.{bid}.xattn.q", (_T5 + "1.EncDecAttention.q",), "T5 decoder"),
    Alias("layers.{bid}.xattn.k", (_T5 + "1.EncDecAttention.k",), "T5 decoder"),
    Alias("layers.{bid}.xattn.v", (_T5 + "1.EncDecAttention.v",), "T5 decoder"),
    Alias("layers.{bid}.xattn.o", (_T5 + "1.EncDecAttention.o",), "T5 decoder"),
    Alias("layers.{bid}.norm.xattn", (_T5 + "1.layer_norm",), "T5 decoder", when_present="EncDecAttention"),
    Alias("layers.{bid}.norm.mlp", (_T5 + "1.layer_norm", _T5 + "2.layer_norm"), "T5 (encoder layer.1, decoder .2)"),
    Alias("layers.{bid}.mlp.up", (_T5 + "1.DenseReluDense.wi", _T5 + "2.DenseReluDense.wi"), "T5 v1.0"),
    Alias("layers.{bid}.mlp.gate", (_T5 + "1.DenseReluDense.wi_0", _T5 + "2.DenseReluDense.wi_0"), "T5 v1.1"),
    Alias("layers.{bid}.mlp.up", (_T5 + "1.DenseReluDense.wi_1", _T5 + "2.DenseReluDense.wi_1"), "T5 v1.1"),
    Alias("layers.{bid}.mlp.down", (_T5 + "1.DenseReluDense.wo", _T5 + "2.DenseReluDense.wo"), "T5"),
    # ---- BART family (self_attn.{q,k,v}_proj map as Llama's)
    Alias("pos_embed", ("embed_positions",), "BART, Whisper"),
    Alias("embed_norm", ("layernorm_embedding",), "BART"),
    Alias("layers.{bid}.attn.o", (_BA + "self_attn.out_proj",), "BART, Whisper"),
    Alias("layers.{bid}.norm.attn", (_BA + "self_attn_layer_norm",), "BART, Whisper"),
    Alias("layers.{bid}.xattn.q", (_BA + "encoder_attn.q_proj",), "BART, Whisper decoders"),
    Alias("layers.{bid}.xattn.k", (_BA + "encoder_attn.k_proj",), "BART, Whisper decoders"),
    Alias("layers.{bid}.xattn.v", (_BA + "encoder_attn.v_proj",), "BART, Whisper decoders"),
    Alias("layers.{bid}.xattn.o", (_BA + "encoder_attn.out_proj",), "BART, Whisper decoders"),
    Alias("layers.{bid}.norm.xattn", (_BA + "encoder_attn_layer_norm",), "BART, Whisper decoders"),
    Alias("layers.{bid}.mlp.up", (_BA + "fc1",), "BART, Whisper"),
    Alias("layers.{bid}.mlp.down", (_BA + "fc2",), "BART, Whisper"),
    Alias("layers.{bid}.norm.mlp", (_BA + "final_layer_norm",), "BART, Whisper (the norm of the MLP block)"),
)  # fmt: skip

MULTIMODAL_ALIASES: tuple[Alias | FusedAlias, ...] = (*VISION_ALIASES, *ENCODER_DECODER_ALIASES)
