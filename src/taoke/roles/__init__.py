"""Canonical tensor roles: what each tensor of a checkpoint does, whatever its format and naming scheme.

``map_roles(checkpoint) -> RoleMap`` maps tensor names to roles (``embed``, ``layers.3.attn.q``, ...) through the
alias tables in :mod:`taoke.roles._aliases`, follows ONNX graphs for anonymous weights, and falls back to shapes
and file position for renamed tensors. Multimodal and encoder-decoder checkpoints are split into components first
(``split_components``: language model, vision tower, connector, encoder, decoder), each with its own role set.
:class:`TensorRef` says how to turn stored data into the canonical
(out, in) array; :class:`taoke.model.Model` does it.

>>> from taoke.roles import parse_role
>>> parse_role("layers.0.mlp.experts.3.up").local
'mlp.experts.3.up'
"""

from __future__ import annotations

from taoke.roles._aliases import (
    ALL_ALIASES,
    LAYOUT_NEOX_QKV,
    LAYOUT_NORM_PLUS_ONE,
    LAYOUT_ROPE_PERMUTED,
    Alias,
    FusedAlias,
)
from taoke.roles._components import (
    COMPONENT_PREFIXES,
    Component,
    ComponentKind,
    connector_roles,
    localise,
    main_component,
    restore_names,
    split_components,
)
from taoke.roles._mapper import RoleMap, TensorRef, detect_family, map_roles, map_tensors
from taoke.roles._roles import (
    EXPERT_ROLES,
    GLOBAL_ROLES,
    LAYER_ROLES,
    NORM_ROLES,
    Role,
    RoleName,
    expert_role,
    layer_role,
    parse_role,
    role_str,
)

__all__ = [
    "ALL_ALIASES",
    "COMPONENT_PREFIXES",
    "EXPERT_ROLES",
    "GLOBAL_ROLES",
    "LAYER_ROLES",
    "LAYOUT_NEOX_QKV",
    "LAYOUT_NORM_PLUS_ONE",
    "LAYOUT_ROPE_PERMUTED",
    "NORM_ROLES",
    "Alias",
    "Component",
    "ComponentKind",
    "FusedAlias",
    "Role",
    "RoleMap",
    "RoleName",
    "TensorRef",
    "connector_roles",
    "detect_family",
    "expert_role",
    "layer_role",
    "localise",
    "main_component",
    "map_roles",
    "map_tensors",
    "parse_role",
    "restore_names",
    "role_str",
    "split_components",
]
