"""The zoo's recipe registry: declarative entries, extendable from any ``taoke/zoo/recipes_*`` module, whose recipe
hashes decide when an entry is rebuilt (a changed hash rebuilds the cached zoo, so the core ones are pinned)."""

from __future__ import annotations

from pathlib import Path

import pytest

from taoke.errors import UsageError
from taoke.zoo.build import _recipe_hash
from taoke.zoo.manifest import RELATIONS
from taoke.zoo.recipes import Built, Original, Recipe, originals, recipes, register, register_original


def _noop(ctx, r, rng, out: Path) -> Built:  # type: ignore[no-untyped-def]
    return Built(out)


def test_core_table_order_and_labels() -> None:
    names = [o.name for o in originals()] + [r.name for r in recipes()]
    assert names[:5] == ["smollm2-q4_1", "minilm", "smollm2-f32", "smollm2-renamed", "smollm2-transposed"]
    assert len(names) == len(set(names))
    known = set(names)
    for r in recipes():
        assert r.relation in RELATIONS and r.relation != "original"
        assert r.base is None or r.base in known
        assert all(n in known for n in r.needs)
    fast = {r.name for r in recipes() if r.subset == "fast"}
    assert {"smollm2-f32", "minilm-perm", "tiny-0", "tiny-3"} <= fast and "tiny-4" not in fast
    assert [x.name for x in (*originals(), *recipes()) if x.reference] == ["minilm", "smollm2-f32"]


def test_core_recipe_hashes_are_pinned() -> None:
    """A changed hash silently rebuilds the cached zoo (and changes what the tests measure)."""
    by = {r.name: r for r in recipes()}
    assert _recipe_hash(by["smollm2-f32"], 0) == "84ec2c973503e246"
    assert _recipe_hash(by["smollm2-transposed"], 0) == "2c600c2c6173a3fc"
    assert _recipe_hash(by["smollm2-merge"], 0) == "87ce172325232e9f"
    assert _recipe_hash(by["smollm2-moe-upcycle"], 0) == "d124c921d6111b42"


def test_names_are_registered_once() -> None:
    with pytest.raises(UsageError, match="twice"):
        register(Recipe("smollm2-f32", _noop, base=None, relation="independent", transform="x", group="g"))
    with pytest.raises(UsageError, match="twice"):
        register_original(Original("minilm", "x", "hf", "g", "x"))
    with pytest.raises(UsageError, match="relation"):
        register(Recipe("test-not-a-relation", _noop, base=None, relation="original", transform="x", group="g"))
    assert "test-not-a-relation" not in {r.name for r in recipes()}


def test_entries_no_loaded_recipe_knows_are_kept(data_dir: Path, tmp_path: Path) -> None:
    """zoo.json is shared by every version and module that builds into it: a build keeps the entries it does not
    know (another helper's recipes) instead of dropping them from the manifest."""
    import json

    from taoke.zoo.build import build_zoo
    from taoke.zoo.manifest import ZooEntry, ZooManifest

    real = ZooManifest.load(data_dir / "zoo")
    keep = [real.entry(o.name) for o in originals()]  # their recorded sha256: nothing is re-hashed
    foreign = ZooEntry("foreign-entry", "foreign-entry", "minilm", "derived", "something-else", group="minilm-l6-h384")
    doc = ZooManifest(str(tmp_path), (*keep, foreign), dict(real.info)).to_dict()
    (tmp_path / "zoo.json").write_text(json.dumps(doc))
    m = build_zoo(tmp_path, only=(), data_dir=data_dir, rng_seed=int(real.info.get("rng_seed", 0)))
    assert m.entry("foreign-entry").transform == "something-else"
    assert ZooManifest.load(tmp_path).entry("foreign-entry").base == "minilm"
