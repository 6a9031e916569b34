"""Split a checkpoint into components — language model, vision tower, connector (projector or resampler),
encoder and decoder — before mapping roles, so that a multimodal or encoder-decoder checkpoint is judged whole.

A component is a set of tensor names and the *local* names the role mapper sees (the component's prefix stripped),
so each stack maps onto the ordinary role vocabulary (``embed``, ``layers.3.mlp.up``...) with the alias tables of
:mod:`taoke.roles._aliases` and :mod:`taoke.roles._aliases_multimodal`. Which prefix means which component is data
(:data:`COMPONENT_PREFIXES`, one line per family; the longest matching prefix wins):

>>> [c.kind.value for c in split_components(["vpm.encoder.layers.0.mlp.fc1.weight", "resampler.query",
...                                          "llm.model.layers.0.mlp.up_proj.weight", "llm.lm_head.weight"])]
['language-model', 'vision-tower', 'resampler']
>>> split_components(["model.layers.0.mlp.up_proj.weight", "lm_head.weight"])[0].prefix
''

Rules: tensors under a vision/connector prefix form those components; tensors under a language-model prefix, plus
every tensor under no known prefix (``lm_head.weight`` beside ``model.language_model.``, Qwen2-VL's ``model.layers``
beside ``visual.``), form the language model. Without any vision or connector prefix, a checkpoint that has both an
``encoder.`` and a ``decoder.`` stack of numbered layers is split into encoder and decoder (the shared embedding,
``shared.weight``, serves both; ``lm_head`` and other top-level tensors go with the decoder); anything else is one
component, the whole model (a BERT's ``encoder.layer.*`` alone is not a split).

Connectors have no standard layer structure: their roles are assigned here (:func:`connector_roles`) — a chain of
two matrices (``in → hidden → out``, LLaVA's ``linear_1``/``linear_2``, Qwen2-VL's merger ``mlp.0``/``mlp.2``) is
an MLP ``layers.0.mlp.up``/``layers.0.mlp.down`` with its leading norm ``layers.0.norm.mlp``; a single matrix is
``layers.0.mlp.up``; anything else (a resampler's cross-attention) is left to the pairing by shape and content of
:mod:`taoke.whitebox.modules`. Simplifications: audio towers, Gemma-3n's and Llama-4's vision prefixes and
speech/video adapters are not listed; a component prefix is trusted as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from taoke.roles._common import RoleMap, Shape, TensorRef


class ComponentKind(StrEnum):
    LANGUAGE = "language-model"
    VISION = "vision-tower"
    PROJECTOR = "projector"
    RESAMPLER = "resampler"
    ENCODER = "encoder"
    DECODER = "decoder"

    @property
    def slot(self) -> str:
        """What components are paired on: a projector and a resampler both connect the tower to the LM."""
        return "connector" if self in (ComponentKind.PROJECTOR, ComponentKind.RESAMPLER) else self.value

    @property
    def label(self) -> str:
        return self.value.replace("-", " ")


_K = ComponentKind

#: (prefix, kind, who uses it) — the longest matching prefix wins; data, not code
COMPONENT_PREFIXES: tuple[tuple[str, ComponentKind, str], ...] = (
    ("language_model.", _K.LANGUAGE, "LLaVA, LLaVA-NeXT, Mistral3, Gemma 3 (transformers < 4.52)"),
    ("model.language_model.", _K.LANGUAGE, "LLaVA, Qwen2-VL, Gemma 3 (transformers >= 4.52)"),
    ("llm.", _K.LANGUAGE, "MiniCPM-V, InternVL (language_model. in newer releases)"),
    ("model.text_model.", _K.LANGUAGE, "Idefics2/3, SmolVLM"),
    ("text_model.", _K.LANGUAGE, "CLIP, SigLIP (the text tower)"),
    ("vision_tower.", _K.VISION, "LLaVA, Mistral3, Gemma 3 (CLIP / SigLIP / Pixtral)"),
    ("model.vision_tower.", _K.VISION, "LLaVA, Mistral3 (transformers >= 4.52)"),
    ("vpm.", _K.VISION, "MiniCPM-V (SigLIP)"),
    ("visual.", _K.VISION, "Qwen2-VL, Qwen2.5-VL"),
    ("model.visual.", _K.VISION, "Qwen2-VL, Qwen2.5-VL (transformers >= 4.52)"),
    ("vision_model.", _K.VISION, "CLIP, SigLIP, BLIP, InternVL"),
    ("model.vision_model.", _K.VISION, "Idefics2/3, SmolVLM"),
    ("v.", _K.VISION, "llama.cpp CLIP GGUF (mmproj)"),
    ("multi_modal_projector.", _K.PROJECTOR, "LLaVA, Mistral3, Gemma 3"),
    ("model.multi_modal_projector.", _K.PROJECTOR, "LLaVA, Mistral3 (transformers >= 4.52)"),
    ("mm_projector.", _K.PROJECTOR, "LLaVA (original repository)"),
    ("model.mm_projector.", _K.PROJECTOR, "LLaVA (original repository)"),
    ("mlp1.", _K.PROJECTOR, "InternVL"),
    ("model.connector.", _K.PROJECTOR, "Idefics3, SmolVLM (modality_projection), Idefics2 (perceiver)"),
    ("visual.merger.", _K.PROJECTOR, "Qwen2-VL, Qwen2.5-VL (patch merger)"),
    ("model.visual.merger.", _K.PROJECTOR, "Qwen2-VL, Qwen2.5-VL (transformers >= 4.52)"),
    ("mm.", _K.PROJECTOR, "llama.cpp CLIP GGUF (mmproj)"),
    ("resampler.", _K.RESAMPLER, "MiniCPM-V"),
)
#: encoder-decoder stacks, used only when both of a pair are present with numbered layers
ENC_DEC_PREFIXES: tuple[tuple[str, str], ...] = (("encoder.", "decoder."), ("model.encoder.", "model.decoder."))
#: top-level tensors both stacks of an encoder-decoder read (mapped as each stack's ``embed``)
SHARED_EMBEDDINGS = ("shared.weight", "model.shared.weight")


@dataclass(frozen=True)
class Component:
    """One stack of a checkpoint: ``names`` (as stored) and ``local`` (stored name → the name the mapper sees)."""

    kind: ComponentKind
    prefix: str
    names: tuple[str, ...]
    local: Mapping[str, str]

    @property
    def label(self) -> str:
        return self.kind.label


def _layered(names: Iterable[str], prefix: str) -> bool:
    """Whether some name under ``prefix`` has a numbered block (``layers.3``, ``block.0``, ``layer.2``)."""
    import re

    pat = re.compile(re.escape(prefix) + r"(?:.+\.)?(?:layers?|block|blocks|h)\.\d+\.")
    return any(pat.match(n) for n in names)


def split_components(names: Iterable[str]) -> tuple[Component, ...]:
    """The components of a checkpoint (see the module docstring); one component for an ordinary model.
    The language model (or decoder) comes first."""
    names = list(names)
    by_len = sorted(COMPONENT_PREFIXES, key=lambda p: -len(p[0]))
    groups: dict[tuple[ComponentKind, str], list[str]] = {}
    rest: list[str] = []
    for n in names:
        hit = next(((p, k) for p, k, _ in by_len if n.startswith(p)), None)
        if hit is None:
            rest.append(n)
        else:
            groups.setdefault((hit[1], hit[0]), []).append(n)
    if not any(k is not _K.LANGUAGE for k, _ in groups):  # no tower, no connector: not multimodal
        return _enc_dec(names) or (Component(_K.LANGUAGE, "", tuple(names), MappingProxyType({n: n for n in names})),)
    lm_prefixes = [p for k, p in groups if k is _K.LANGUAGE]
    lm_names = [n for k, p in groups if k is _K.LANGUAGE for n in groups[(k, p)]] + rest
    local = {n: _strip(n, lm_prefixes) for n in lm_names}
    out = [Component(_K.LANGUAGE, lm_prefixes[0] if len(lm_prefixes) == 1 else "", tuple(lm_names),
                     MappingProxyType(local))] if lm_names else []  # fmt: skip
    for (k, p), ns in groups.items():
        if k is not _K.LANGUAGE:
            out.append(Component(k, p, tuple(ns), MappingProxyType({n: n[len(p):] for n in ns})))
    return tuple(out)


def _strip(name: str, prefixes: list[str]) -> str:
    for p in sorted(prefixes, key=len, reverse=True):
        if name.startswith(p):
            return name[len(p):]
    return name


def _enc_dec(names: list[str]) -> tuple[Component, ...] | None:
    for pe, pd in ENC_DEC_PREFIXES:
        if _layered(names, pe) and _layered(names, pd):
            enc = [n for n in names if n.startswith(pe)]
            dec = [n for n in names if n.startswith(pd)]
            top = [n for n in names if not n.startswith((pe, pd))]
            shared = [n for n in top if n in SHARED_EMBEDDINGS]
            lenc = {n: n[len(pe):] for n in enc}
            ldec = {n: n[len(pd):] for n in dec} | {n: n for n in top if n not in shared}
            for s in shared[:1]:  # the shared embedding serves a stack that stores no embed_tokens of its own
                if "embed_tokens.weight" not in lenc.values():
                    lenc[s] = "embed_tokens.weight"
                if "embed_tokens.weight" not in ldec.values():
                    ldec[s] = "embed_tokens.weight"
            return (Component(_K.DECODER, pd, tuple(ldec), MappingProxyType(ldec)),
                    Component(_K.ENCODER, pe, tuple(lenc), MappingProxyType(lenc)))  # fmt: skip
    return None


def main_component(names: Iterable[str]) -> Component | None:
    """The component a whole-checkpoint role map describes when the checkpoint is composite (its language model, or
    an encoder-decoder's decoder); None for an ordinary model."""
    comps = split_components(names)
    return comps[0] if len(comps) > 1 else None


def localise(component: Component, shapes: Mapping[str, Shape]) -> dict[str, Shape]:
    """The component's shapes under its local names (what :func:`taoke.roles.map_tensors` is given)."""
    return {component.local[n]: tuple(shapes[n]) for n in component.names if n in shapes}


def restore_names(rm: RoleMap, component: Component, all_names: Iterable[str]) -> RoleMap:
    """A role map built from local names, pointing at the stored names again; every stored tensor outside the
    role set (in the component or not) is unmapped."""
    back = {v: k for k, v in component.local.items()}
    refs = {role: _renamed(ref, back.get(ref.name, ref.name)) for role, ref in rm.refs.items()}
    mapped = {r.name for r in refs.values()}
    unmapped = tuple(n for n in all_names if n not in mapped)
    return RoleMap(MappingProxyType(refs), unmapped, rm.family, rm.method, rm.num_layers,
                   component.prefix + rm.prefix, rm.notes, rm.ambiguous_pairs)  # fmt: skip


def _renamed(ref: TensorRef, name: str) -> TensorRef:
    from dataclasses import replace

    return ref if ref.name == name else replace(ref, name=name)


def connector_roles(component: Component, shapes: Mapping[str, Shape]) -> RoleMap:
    """Roles of a connector (see the module docstring): a two-matrix chain as an MLP, one matrix as ``mlp.up``."""
    mats = [n for n in component.names if len(shapes.get(n, ())) == 2 and n.endswith(".weight")]
    vecs = {n: shapes[n] for n in component.names if len(shapes.get(n, ())) == 1}
    refs: dict[str, TensorRef] = {}
    notes: list[str] = []

    def with_bias(role: str, w: str) -> None:
        refs[role] = TensorRef(w, tuple(shapes[w]))
        b = w[: -len("weight")] + "bias"
        if b in vecs and vecs[b] == (shapes[w][0],):
            refs[role + ".bias"] = TensorRef(b, vecs[b])

    chain = next(((x, y) for x in mats for y in mats if x != y and shapes[y][1] == shapes[x][0]), None)
    if len(mats) == 2 and chain is not None:
        up, down = chain
        with_bias("layers.0.mlp.up", up)
        with_bias("layers.0.mlp.down", down)
        d_in = shapes[up][1]
        norms = [n for n, s in vecs.items() if s == (d_in,) and n.endswith(".weight")]
        if len(norms) == 1:  # the norm in front of the MLP (Qwen2-VL merger ln_q, Idefics2)
            refs["layers.0.norm.mlp"] = TensorRef(norms[0], vecs[norms[0]])
            b = norms[0][: -len("weight")] + "bias"
            if b in vecs:
                refs["layers.0.norm.mlp.bias"] = TensorRef(b, vecs[b])
    elif len(mats) == 1:
        with_bias("layers.0.mlp.up", mats[0])
    else:
        notes.append(f"{len(mats)} matrices in the {component.label}: compared by shape and content, no roles")
    mapped = {r.name for r in refs.values()}
    return RoleMap(MappingProxyType(refs), tuple(n for n in component.names if n not in mapped), "connector",
                   "names" if refs else "none", 1 if refs else 0, component.prefix, tuple(notes))  # fmt: skip
