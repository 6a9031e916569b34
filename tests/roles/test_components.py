"""Components of multimodal and encoder-decoder checkpoints, and the roles of their stacks, on the tensor-name
layouts the families publish (transformers' module names; shapes at small sizes)."""

from __future__ import annotations

from taoke.roles import ComponentKind, connector_roles, localise, map_tensors, restore_names, split_components

K = ComponentKind


def _llama(prefix: str, layers: int = 2, d: int = 64, f: int = 128, vocab: int = 1000) -> dict[str, tuple[int, ...]]:
    s: dict[str, tuple[int, ...]] = {f"{prefix}embed_tokens.weight": (vocab, d), f"{prefix}norm.weight": (d,)}
    for i in range(layers):
        p = f"{prefix}layers.{i}."
        s |= {p + "self_attn.q_proj.weight": (d, d), p + "self_attn.k_proj.weight": (d // 2, d),
              p + "self_attn.v_proj.weight": (d // 2, d), p + "self_attn.o_proj.weight": (d, d),
              p + "mlp.gate_proj.weight": (f, d), p + "mlp.up_proj.weight": (f, d), p + "mlp.down_proj.weight": (d, f),
              p + "input_layernorm.weight": (d,), p + "post_attention_layernorm.weight": (d,)}  # fmt: skip
    return s


def _clip(prefix: str, layers: int = 2, d: int = 32, f: int = 96, class_embedding: bool = True) -> dict[str, tuple[int, ...]]:
    s: dict[str, tuple[int, ...]] = {f"{prefix}embeddings.patch_embedding.weight": (d, 3, 4, 4),
                                     f"{prefix}embeddings.position_embedding.weight": (17, d),
                                     f"{prefix}post_layernorm.weight": (d,), f"{prefix}post_layernorm.bias": (d,)}  # fmt: skip
    if class_embedding:
        s[f"{prefix}embeddings.class_embedding"] = (d,)
    for i in range(layers):
        p = f"{prefix}encoder.layers.{i}."
        for m in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s |= {p + f"self_attn.{m}.weight": (d, d), p + f"self_attn.{m}.bias": (d,)}
        s |= {p + "layer_norm1.weight": (d,), p + "layer_norm1.bias": (d,), p + "layer_norm2.weight": (d,),
              p + "layer_norm2.bias": (d,), p + "mlp.fc1.weight": (f, d), p + "mlp.fc1.bias": (f,),
              p + "mlp.fc2.weight": (d, f), p + "mlp.fc2.bias": (d,)}  # fmt: skip
    return s


def _kinds(shapes: dict[str, tuple[int, ...]]) -> dict[ComponentKind, str]:
    return {c.kind: c.prefix for c in split_components(shapes)}


def test_vlm_layouts_split_into_components() -> None:
    llava = _llama("language_model.model.") | {"language_model.lm_head.weight": (1000, 64)}
    llava |= _clip("vision_tower.vision_model.") | {"multi_modal_projector.linear_1.weight": (64, 32),
                                                    "multi_modal_projector.linear_2.weight": (64, 64)}  # fmt: skip
    assert _kinds(llava) == {K.LANGUAGE: "language_model.", K.VISION: "vision_tower.", K.PROJECTOR: "multi_modal_projector."}
    new = _llama("model.language_model.") | {"lm_head.weight": (1000, 64)} | _clip("model.vision_tower.vision_model.")
    comps = split_components(new)
    lm = comps[0]
    assert lm.kind is K.LANGUAGE and lm.local["lm_head.weight"] == "lm_head.weight"  # top-level head joins the LM
    assert lm.local["model.language_model.layers.0.mlp.up_proj.weight"] == "layers.0.mlp.up_proj.weight"
    minicpm = _llama("llm.model.") | _clip("vpm.", class_embedding=False) | {"resampler.query": (64, 64),
                                                                            "resampler.kv_proj.weight": (64, 32)}
    assert _kinds(minicpm) == {K.LANGUAGE: "llm.", K.VISION: "vpm.", K.RESAMPLER: "resampler."}
    qwen = _llama("model.") | {"lm_head.weight": (1000, 64), "visual.patch_embed.proj.weight": (32, 3, 2, 14, 14),
                               "visual.blocks.0.attn.qkv.weight": (96, 32), "visual.merger.mlp.0.weight": (128, 128)}
    assert _kinds(qwen) == {K.LANGUAGE: "", K.VISION: "visual.", K.PROJECTOR: "visual.merger."}
    idefics = _llama("model.text_model.") | _clip("model.vision_model.") | {
        "model.connector.modality_projection.proj.weight": (64, 288)}
    assert set(_kinds(idefics)) == {K.LANGUAGE, K.VISION, K.PROJECTOR}


def test_ordinary_models_stay_whole() -> None:
    bert = {"embeddings.word_embeddings.weight": (100, 8), "encoder.layer.0.attention.self.query.weight": (8, 8),
            "pooler.dense.weight": (8, 8)}  # an encoder alone is not an encoder-decoder
    assert [(c.kind, c.prefix) for c in split_components(bert)] == [(K.LANGUAGE, "")]
    assert len(split_components(_llama("model."))) == 1
    gguf = {"token_embd.weight": (100, 8), "blk.0.attn_q.weight": (8, 8), "output_norm.weight": (8,)}
    assert len(split_components(gguf)) == 1


def test_vision_tower_roles() -> None:
    shapes = _llama("language_model.model.") | _clip("vision_tower.vision_model.")
    vis = next(c for c in split_components(shapes) if c.kind is K.VISION)
    rm = restore_names(map_tensors(localise(vis, shapes), method="names"), vis, vis.names)  # no embed: names only
    assert rm.num_layers == 2 and rm.method == "names"
    assert rm["layers.1.attn.o"].name == "vision_tower.vision_model.encoder.layers.1.self_attn.out_proj.weight"
    assert rm["layers.0.mlp.up"].shape == (96, 32) and rm["layers.0.mlp.down"].shape == (32, 96)
    assert rm["layers.0.norm.mlp"].name.endswith("layer_norm2.weight") and "pos_embed" in rm and "final_norm" in rm
    # patch and class embeddings have no role: they are compared by shape and content as leftovers
    assert set(rm.unmapped) == {"vision_tower.vision_model.embeddings.patch_embedding.weight",
                                "vision_tower.vision_model.embeddings.class_embedding"}
    # the whole-checkpoint role map of a VLM is its language model's
    whole = map_tensors(shapes)
    assert whole.num_layers == 2 and whole["layers.0.mlp.up"].name == "language_model.model.layers.0.mlp.up_proj.weight"
    assert whole["embed"].shape == (1000, 64) and any(n.startswith("vision_tower.") for n in whole.unmapped)


def test_connector_roles() -> None:
    shapes = {"multi_modal_projector.linear_1.weight": (64, 32), "multi_modal_projector.linear_1.bias": (64,),
              "multi_modal_projector.linear_2.weight": (64, 64), "multi_modal_projector.linear_2.bias": (64,)}
    c = next(c for c in split_components(shapes | _clip("vision_tower.")) if c.kind is K.PROJECTOR)
    rm = connector_roles(c, shapes)
    assert rm["layers.0.mlp.up"].name.endswith("linear_1.weight") and rm["layers.0.mlp.down"].shape == (64, 64)
    assert "layers.0.mlp.up.bias" in rm and rm.unmapped == ()
    renamed = {"resampler.attn.out_proj.weight": (64, 64), "resampler.kv_proj.weight": (64, 32)}  # order swapped
    c2 = next(c for c in split_components(renamed | _clip("vpm.")) if c.kind is K.RESAMPLER)
    rm2 = connector_roles(c2, renamed)
    assert rm2["layers.0.mlp.up"].name == "resampler.kv_proj.weight"  # the chain in -> hidden -> out, not file order


def _t5(prefix: str, layers: int, decoder: bool, d: int = 32, f: int = 64) -> dict[str, tuple[int, ...]]:
    s: dict[str, tuple[int, ...]] = {f"{prefix}final_layer_norm.weight": (d,)}
    for i in range(layers):
        p = f"{prefix}block.{i}.layer."
        s |= {p + f"0.SelfAttention.{m}.weight": (d, d) for m in "qkvo"} | {p + "0.layer_norm.weight": (d,)}
        ff = "2" if decoder else "1"
        if decoder:
            s |= {p + f"1.EncDecAttention.{m}.weight": (d, d) for m in "qkvo"} | {p + "1.layer_norm.weight": (d,)}
        s |= {p + f"{ff}.DenseReluDense.wi_0.weight": (f, d), p + f"{ff}.DenseReluDense.wi_1.weight": (f, d),
              p + f"{ff}.DenseReluDense.wo.weight": (d, f), p + f"{ff}.layer_norm.weight": (d,)}
    s[f"{prefix}block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = (32, 4)
    return s


def test_t5_encoder_decoder() -> None:
    shapes = {"shared.weight": (500, 32), "lm_head.weight": (500, 32)} | _t5("encoder.", 3, False) | _t5("decoder.", 2, True)
    dec, enc = split_components(shapes)
    assert (dec.kind, enc.kind) == (K.DECODER, K.ENCODER)
    assert enc.local["shared.weight"] == dec.local["shared.weight"] == "embed_tokens.weight"  # both stacks read it
    rd = restore_names(map_tensors(localise(dec, shapes)), dec, dec.names)
    re_ = restore_names(map_tensors(localise(enc, shapes)), enc, enc.names)
    assert (rd.num_layers, re_.num_layers) == (2, 3)
    assert rd["layers.1.xattn.k"].name == "decoder.block.1.layer.1.EncDecAttention.k.weight"
    assert rd["layers.0.norm.xattn"].name == "decoder.block.0.layer.1.layer_norm.weight"
    assert rd["layers.0.norm.mlp"].name == "decoder.block.0.layer.2.layer_norm.weight"
    assert re_["layers.2.norm.mlp"].name == "encoder.block.2.layer.1.layer_norm.weight"  # no cross-attention there
    assert re_["layers.0.mlp.gate"].name.endswith("wi_0.weight") and re_["layers.0.mlp.up"].name.endswith("wi_1.weight")
    assert rd["embed"].name == re_["embed"].name == "shared.weight" and "lm_head" in rd and "final_norm" in re_
    assert re_.unmapped == ("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",)


def test_bart_decoder() -> None:
    shapes: dict[str, tuple[int, ...]] = {"model.shared.weight": (500, 16)}
    for side in ("encoder", "decoder"):
        p = f"model.{side}.layers.0."
        shapes |= {p + f"self_attn.{m}.weight": (16, 16) for m in ("q_proj", "k_proj", "v_proj", "out_proj")}
        shapes |= {p + "self_attn_layer_norm.weight": (16,), p + "fc1.weight": (32, 16), p + "fc2.weight": (16, 32),
                   p + "final_layer_norm.weight": (16,), f"model.{side}.embed_positions.weight": (130, 16)}
        if side == "decoder":
            shapes |= {p + f"encoder_attn.{m}.weight": (16, 16) for m in ("q_proj", "k_proj", "v_proj", "out_proj")}
            shapes[p + "encoder_attn_layer_norm.weight"] = (16,)
    dec = split_components(shapes)[0]
    rm = map_tensors(localise(dec, shapes))
    assert {"layers.0.xattn.o", "layers.0.norm.xattn", "layers.0.mlp.up", "layers.0.norm.mlp", "pos_embed",
            "embed"} <= set(rm.refs)
