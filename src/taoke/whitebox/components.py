"""Compare two checkpoints component by component and decide the whole — the layer above
:func:`taoke.whitebox.compare.gather_evidence`.

A checkpoint is split into components (:func:`taoke.roles.split_components`: language model, vision tower,
connector, encoder, decoder; one component for an ordinary model). Each component is a :class:`ComponentModel` —
the same checkpoint seen through the component's own role map — so every white-box method runs on it unchanged:
the tensor comparison with its storage-identity test, the hidden-unit agreement test on its MLPs (a vision
tower's ``fc1``/``fc2`` units too), the per-layer map of its stack. Components are paired by slot (a projector and
a resampler are both connectors; an ordinary model pairs with the other side's language model); each pair gets
its own verdict (:func:`taoke.verdict.decide`); tensors outside the role maps are paired by shape and content
(:mod:`taoke.whitebox.modules`); components only one side has are extra or missing modules; and
:func:`taoke.verdict.decide_whole` decides the whole.

An ordinary pair (one component each) gets exactly :func:`taoke.verdict.decide` on the two models, then
:func:`taoke.verdict.with_modules` for the tensors outside the role map. Fingerprints are compared as they are
(a fingerprint keeps the role map of the whole checkpoint: its language model).

Concessions: a vision tower has no vocabulary, so its hidden units are matched in the stored bases (a tower whose
residual stream was rotated would be missed: the unit test then finds nothing and says so through its p-value);
a connector's roles exist only for chains of at most two matrices (:func:`taoke.roles._components.connector_roles`);
components are paired by slot, one per slot (two vision towers on one side are not supported).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from taoke import defaults
from taoke.errors import RoleError
from taoke.io.base import ModelConfig
from taoke.model import Model, infer_config
from taoke.roles import (
    Component,
    ComponentKind,
    RoleMap,
    connector_roles,
    localise,
    map_tensors,
    restore_names,
    split_components,
)
from taoke.whitebox.modules import ModuleDiff, compare_leftovers, group_modules

if TYPE_CHECKING:
    from taoke.tokenizers import Vocab
    from taoke.verdict import Verdict
    from taoke.whitebox.source import EvidenceSource

__all__ = ["ComponentModel", "compare_sources", "components_of"]


class ComponentModel(Model):
    """One component of a checkpoint as a :class:`~taoke.model.Model` (an evidence source): the parent's checkpoint
    with the component's role map and configuration; closing it leaves the parent open."""

    def __init__(self, parent: Model, component: Component, roles: RoleMap, config: ModelConfig | None) -> None:
        super().__init__(parent.checkpoint, config=config)
        self.parent = parent
        self.component = component
        self.__dict__["roles"] = roles  # the cached_property's slot: this view's role map

    @property
    def path(self) -> str:
        return f"{self.parent.path}#{self.component.kind.value}"

    def tokenizer(self) -> Vocab | None:
        kind = self.component.kind
        text = kind in (ComponentKind.LANGUAGE, ComponentKind.DECODER, ComponentKind.ENCODER)
        return self.parent.tokenizer() if text else None

    def close(self) -> None:  # the parent owns the checkpoint
        return None


@dataclass(frozen=True)
class _Part:
    component: Component
    view: Model


def components_of(model: Model) -> tuple[_Part, ...]:
    """The components of an opened model (the model itself when it has one)."""
    infos = model.checkpoint.tensor_infos()
    comps = split_components(infos)
    if len(comps) == 1 and comps[0].prefix == "" and comps[0].kind is ComponentKind.LANGUAGE:
        return (_Part(comps[0], model),)
    shapes = {n: tuple(int(x) for x in i.shape) for n, i in infos.items()}
    out = []
    for c in comps:
        roles = _roles_of(model, c, shapes)
        out.append(_Part(c, ComponentModel(model, c, roles, _config_of(model, c, roles))))
    return tuple(out)


def _roles_of(model: Model, c: Component, shapes: dict[str, tuple[int, ...]]) -> RoleMap:
    if c.kind.slot == "connector":
        return connector_roles(c, shapes)
    try:
        # a vision tower has no token embedding, which the shape fallback needs: its roles come from names only
        rm = map_tensors(localise(c, shapes), model.declared_config if c.kind is ComponentKind.LANGUAGE else None,
                         layout_notes=getattr(model.checkpoint, "layout_notes", None),
                         method="names" if c.kind is ComponentKind.VISION else "auto")  # fmt: skip
    except RoleError as e:
        from types import MappingProxyType

        return RoleMap(MappingProxyType({}), c.names, "unknown", "none", 0, c.prefix, (e.message,))
    return restore_names(rm, c, c.names)


def _config_of(model: Model, c: Component, roles: RoleMap) -> ModelConfig | None:
    """The declared configuration of a language model; the inferred one (hidden size filled from the first layer)
    for every other component."""
    declared = model.declared_config
    if c.kind is ComponentKind.LANGUAGE and declared is not None and declared.hidden_size:
        return declared
    cfg = infer_config(roles)
    if cfg.hidden_size is None:
        for role in ("layers.0.attn.q", "layers.0.mlp.up", "pos_embed"):
            ref = roles.refs.get(role)
            if ref is not None and len(ref.shape) == 2:
                cfg = replace(cfg, hidden_size=int(ref.shape[1]))
                break
    return replace(cfg, architecture=cfg.architecture or c.kind.value, source=f"inferred ({c.kind.value})")


def _pair(ca: Sequence[_Part], cb: Sequence[_Part]) -> list[tuple[_Part | None, _Part | None]]:
    """Components paired by slot (in B's order, then A's leftovers); two single components always pair; a single
    component that finds no slot on the other side pairs with the component sharing most (role, shape) entries
    (a BERT with a T5's encoder)."""
    if len(ca) == 1 and len(cb) == 1:
        return [(ca[0], cb[0])]
    by_slot = {p.component.kind.slot: p for p in ca}
    out: list[tuple[_Part | None, _Part | None]] = []
    for p in cb:
        out.append((by_slot.pop(p.component.kind.slot, None), p))
    out += [(p, None) for p in by_slot.values()]
    if all(x is None or y is None for x, y in out) and (len(ca) == 1 or len(cb) == 1):
        one, many, a_single = (ca[0], cb, True) if len(ca) == 1 else (cb[0], ca, False)
        best = max(many, key=lambda p: _overlap(one, p))
        if _overlap(one, best) > 0:
            rest = [(None, p) if a_single else (p, None) for p in many if p is not best]
            return [(one, best) if a_single else (best, one), *rest]
    return out


def _overlap(x: _Part, y: _Part) -> int:
    sx, sy = x.view.role_shapes(), y.view.role_shapes()
    return sum(1 for r, s in sx.items() if sy.get(r) == s)


def compare_sources(
    a: EvidenceSource,
    b: EvidenceSource,
    *,
    alpha: float = defaults.ALPHA,
    seed: int = defaults.SEED,
    units: int = defaults.UNITS,
    full: bool = False,
    exhaustive: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> Verdict:
    """The verdict on B against A, component by component (see the module docstring). ``exhaustive`` and
    ``progress`` go to :func:`taoke.whitebox.compare.gather_evidence` (sampled reading by default)."""
    from taoke.verdict import ComponentVerdict, decide, decide_whole, with_modules
    from taoke.whitebox.compare import gather_evidence

    if not (isinstance(a, Model) and isinstance(b, Model)):  # fingerprints: the whole-checkpoint evidence only
        return decide(gather_evidence(a, b, seed=seed, units=units, full=full, exhaustive=exhaustive,
                                      alpha=alpha, progress=progress), alpha=alpha)
    rng = np.random.default_rng([seed, 16])  # the leftover tensors' row samples (apart from the evidence's own)
    pairs = _pair(components_of(a), components_of(b))
    parts: list[ComponentVerdict] = []
    raw: list[Verdict] = []
    modules = ModuleDiff()
    for pa, pb in pairs:
        ta, tb = (_size(p) for p in (pa, pb))
        if pa is None or pb is None:
            side, p = ("extra", pb) if pa is None else ("missing", pa)
            assert p is not None
            g = group_modules(p.view.parent if isinstance(p.view, ComponentModel) else p.view, p.component.names,
                              p.component.label, whole=p.component.label + (f" ({p.component.prefix}*)"
                                                                            if p.component.prefix else ""))  # fmt: skip
            modules = modules + (ModuleDiff(extra=g) if side == "extra" else ModuleDiff(missing=g))
            parts.append(ComponentVerdict(p.component.kind.slot, None if pa is None else pa.component.prefix,
                                          None if pb is None else pb.component.prefix, (ta[0], tb[0]), (ta[1], tb[1]),
                                          None))  # fmt: skip
            continue
        # the sampled reading anchors on token embeddings: a stack without them (a vision tower, a connector) is
        # read exhaustively (they are small beside a language model)
        exh = exhaustive or not (pa.view.has("embed") and pb.view.has("embed"))
        v = decide(gather_evidence(pa.view, pb.view, seed=seed, units=units, full=full,
                                   exhaustive=exh, alpha=alpha, progress=progress), alpha=alpha)
        left = compare_leftovers(_root(pa.view), _unmapped(pa), _root(pb.view), _unmapped(pb),
                                 pb.component.label, rng=rng)  # fmt: skip
        modules = modules + left
        raw.append(v)
        parts.append(ComponentVerdict(pb.component.kind.slot, pa.component.prefix, pb.component.prefix,
                                      (ta[0], tb[0]), (ta[1], tb[1]), with_modules(v, left)))  # fmt: skip
    if len(pairs) == 1 and raw:  # an ordinary pair: its verdict, adjusted for the tensors outside its roles
        return with_modules(raw[0], modules)
    whole = decide_whole(tuple(parts), modules, alpha=alpha)
    # the whole verdict carries the language model's evidence; it names the checkpoints, not the component views
    return replace(whole, evidence=replace(whole.evidence, path_a=a.path, path_b=b.path))


def _root(view: Model) -> Model:
    return view.parent if isinstance(view, ComponentModel) else view


def _unmapped(p: _Part) -> list[str]:
    mine = set(p.component.names)
    return [n for n in p.view.roles.unmapped if n in mine]


def _size(p: _Part | None) -> tuple[int, int]:
    if p is None:
        return 0, 0
    infos = _root(p.view).checkpoint.tensor_infos()
    return len(p.component.names), sum(infos[n].numel for n in p.component.names)
