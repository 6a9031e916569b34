"""Role vocabulary and alias tables: parsing, immutability, table sanity."""

from __future__ import annotations

import dataclasses

import pytest

from taoke.errors import RoleError
from taoke.roles import ALL_ALIASES, Alias, FusedAlias, RoleName, parse_role
from taoke.roles._aliases import GLOBAL_ALIASES, LAYER_ALIASES


@pytest.mark.parametrize(
    "text",
    [
        "embed",
        "lm_head",
        "final_norm.bias",
        "layers.0.attn.q",
        "layers.12.attn.k.bias",
        "layers.3.norm.post_ffn",
        "layers.1.mlp.router",
        "layers.2.mlp.experts.7.down",
        "layers.2.mlp.experts.0.gate.bias",
    ],
)
def test_roundtrip(text: str) -> None:
    assert str(parse_role(text)) == text


def test_synonym_and_fields() -> None:
    r = parse_role("layers.4.norm.pre_ffn")
    assert str(r) == "layers.4.norm.mlp" and r.layer == 4 and r.name is RoleName.NORM_MLP
    e = parse_role("layers.1.mlp.experts.3.up.bias")
    assert (e.layer, e.expert, e.bias, e.local) == (1, 3, True, "mlp.experts.3.up")
    assert parse_role("layers.0.attn.q_norm").is_norm and not parse_role("layers.0.attn.q").is_norm


@pytest.mark.parametrize(
    "bad", ["", "layers.x.attn.q", "layers.0.attn.z", "attn.q", "layers.0.mlp.experts.1.w1"]
)
def test_bad_roles_raise_role_error(bad: str) -> None:
    with pytest.raises(RoleError):
        parse_role(bad)


def test_tables_are_immutable_data() -> None:
    assert isinstance(ALL_ALIASES, tuple)
    a = GLOBAL_ALIASES[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.role = "lm_head"  # type: ignore[misc]
    for alias in ALL_ALIASES:
        assert isinstance(alias, (Alias, FusedAlias)) and isinstance(alias.patterns, tuple)
        assert alias.families, "every alias names the families that use it"
        roles = alias.roles if isinstance(alias, FusedAlias) else (alias.role,)
        for r in roles:  # every template expands to a valid canonical role
            parse_role(r.replace("{bid}", "0").replace("{xid}", "0"))
        for p in alias.patterns:
            assert ("{bid}" in p) == any("{bid}" in r for r in roles), p


def test_layer_patterns_have_block_placeholder() -> None:
    for alias in LAYER_ALIASES:
        assert all("{bid}" in p for p in alias.patterns)
