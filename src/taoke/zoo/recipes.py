"""The zoo's recipe table: a registry of declarative :class:`Recipe` entries that any module can extend.

A recipe says *what* an entry is (name, parent, relation to it, transform, parameters, architecture group, fast or
full subset) and names the *builder* function that writes it. :func:`taoke.zoo.build.build_zoo` builds the
registered recipes in registration order, skipping those already built from the same recipe (the recipe hash
covers transform, params, seed, base and relation — not the builder's code).

Adding entries from another module (one file per topic, nothing else to edit)::

    # src/taoke/zoo/recipes_mytopic.py   (every taoke/zoo/recipes_*.py module is imported by build_zoo)
    from taoke.zoo.recipes import Built, BuildContext, Recipe, register

    def _build_thing(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
        cfg, state = ctx.smol()                     # the dequantised SmolLM2 (config, HF state dict)
        ...                                         # write the weights under ``out`` (a folder, or a .gguf file)
        return Built(weights=out / "model.safetensors")

    register(Recipe("smollm2-thing", _build_thing, base="smollm2-f32", relation="derived",
                    transform="thing", group="smollm2-135m", params={"k": 3}, subset="full"))

Rules: names are unique (registering one twice raises); a recipe's ``base`` and ``needs`` must be registered (or be
an :class:`Original`) before ``build_zoo`` runs; each entry draws only from the ``rng`` it is given
(``default_rng([seed, crc32(name)])``), so adding entries never changes existing ones; heavy entries go in the
``full`` subset (the fast subset is built by the tests). Modules are imported core first
(:mod:`taoke.zoo.recipes_core`), then the others by name.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from taoke.errors import ReaderError, UsageError
from taoke.zoo.manifest import RELATIONS, Subset, ZooEntry

__all__ = ["BuildContext", "Builder", "Built", "Original", "Recipe", "originals", "recipes", "register",
           "register_original"]  # fmt: skip


@dataclass(frozen=True)
class Built:
    """What a builder wrote: the weights file, parameters measured while building (merged into the recipe's), and
    the layer map of a layer subset or duplication (child layer ``j`` is parent layer ``layer_map[j]``)."""

    weights: Path
    params: Mapping[str, Any] = field(default_factory=dict)
    layer_map: tuple[int, ...] | None = None


Builder = Callable[["BuildContext", "Recipe", np.random.Generator, Path], Built]


@dataclass(frozen=True)
class Recipe:
    """One zoo entry to build: ``build(ctx, recipe, rng, out) -> Built`` writes it at ``out`` (a folder, or a
    ``.gguf`` file when ``format="gguf"``)."""

    name: str
    build: Builder
    base: str | None
    relation: str
    transform: str
    group: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    subset: Subset = "fast"
    format: str = "hf"
    needs: tuple[str, ...] = ()  # entries the builder reads besides its base
    reference: bool = False  # ``taoke eval`` also compares the independent models of ``group`` against this entry


@dataclass(frozen=True)
class Original:
    """A real model of the data set that the zoo labels without building it (no base)."""

    name: str
    path: str  # relative to the data folder
    format: str  # "hf" (folder with model.safetensors) | "gguf"
    group: str
    label: str  # for the error when it is missing
    reference: bool = False

    def weights(self, data_dir: Path) -> Path:
        p = data_dir / self.path
        return p / "model.safetensors" if self.format == "hf" else p


_RECIPES: dict[str, Recipe] = {}
_ORIGINALS: dict[str, Original] = {}
_loaded = False


def register(*recipes: Recipe) -> None:
    """Add recipes to the table (in this order). A name can be registered once."""
    for r in recipes:
        if r.name in _RECIPES or r.name in _ORIGINALS:
            raise UsageError(f"zoo entry {r.name!r} is registered twice")
        if r.relation not in RELATIONS or r.relation == "original":
            raise UsageError(f"zoo recipe {r.name!r}: relation {r.relation!r} is not one a build can have")
        _RECIPES[r.name] = r


def register_original(*items: Original) -> None:
    """Add real models of the data set as ``original`` entries."""
    for o in items:
        if o.name in _RECIPES or o.name in _ORIGINALS:
            raise UsageError(f"zoo entry {o.name!r} is registered twice")
        _ORIGINALS[o.name] = o


def _load() -> None:
    """Import the core recipes, then every ``taoke.zoo.recipes_*`` module (each registers its entries)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import taoke.zoo

    importlib.import_module("taoke.zoo.recipes_core")
    for m in sorted(pkgutil.iter_modules(taoke.zoo.__path__), key=lambda m: m.name):
        if m.name.startswith("recipes_") and m.name != "recipes_core":
            importlib.import_module(f"taoke.zoo.{m.name}")


def recipes() -> tuple[Recipe, ...]:
    """Every registered recipe, in registration order."""
    _load()
    return tuple(_RECIPES.values())


def originals() -> tuple[Original, ...]:
    """Every registered original, in registration order."""
    _load()
    return tuple(_ORIGINALS.values())


class BuildContext:
    """What builders share during one build: folders, the log, the entries so far, and lazily loaded inputs (the
    dequantised SmolLM2 state, tokenizers, corpus slices), each loaded once."""

    def __init__(self, dest: Path, data_dir: Path, rng_seed: int, log: Callable[[str], None]) -> None:
        self.dest = dest
        self.data_dir = data_dir
        self.rng_seed = rng_seed
        self.log = log
        self.cache: dict[str, Any] = {}
        self.manifest_entries: dict[str, ZooEntry] = {}

    def original(self, name: str) -> Path:
        """The data-set path of an original (a ReaderError saying how to fetch it when it is missing)."""
        o = _ORIGINALS[name]
        p = self.data_dir / o.path
        if not o.weights(self.data_dir).is_file():
            raise ReaderError(f"{o.label} missing", subject=str(p), hint="run `taoke zoo fetch --core`")
        return p

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` once per build."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def drop(self, key: str) -> None:
        self.cache.pop(key, None)

    # -- inputs of the SmolLM2 recipes (usable by any recipe) -------------------------------------------------
    @property
    def gguf(self) -> Path:
        """The real SmolLM2-135M-Instruct Q4_1 GGUF."""
        return self.original("smollm2-q4_1")

    @property
    def minilm(self) -> Path:
        """The real all-MiniLM-L6-v2 folder."""
        return self.original("minilm")

    def smol(self) -> tuple[Any, dict[str, np.ndarray]]:
        """(LlamaConfig, HF state) of the dequantised SmolLM2 — read from smollm2-f32 once it is written."""
        if "smol" not in self.cache:
            f32 = self.dest / "smollm2-f32" / "model.safetensors"
            if "smollm2-f32" in self.manifest_entries and f32.is_file():
                self.cache["smol"] = self.load_hf("smollm2-f32")
            else:
                from taoke.zoo.export import read_llama_gguf

                self.cache["smol"] = read_llama_gguf(self.gguf)
        return self.cache["smol"]  # type: ignore[no-any-return]

    def load_hf(self, name: str) -> tuple[Any, dict[str, np.ndarray]]:
        """(LlamaConfig, state) of a Llama entry already written to the zoo."""
        from safetensors.numpy import load_file

        from taoke.zoo.train import LlamaConfig

        folder = self.dest / name
        cfg = LlamaConfig.from_hf(json.loads((folder / "config.json").read_text()))
        return cfg, dict(load_file(str(folder / "model.safetensors")))

    def tokenizer(self, vocab_size: int | None = None) -> Any:
        """SmolLM2's tokenizer (``tokenizers.Tokenizer``), cut to its first ``vocab_size`` ids when given."""
        from taoke.zoo.corpus import smollm2_tokenizer

        return self.cached(f"tok-{vocab_size}", lambda: smollm2_tokenizer(self.gguf, vocab_size))

    def docs(self) -> tuple[list[Any], list[list[Any]], str]:
        """(held-out documents, training slices, corpus sha256) — see :data:`taoke.zoo.recipes_core.N_SLICES`."""
        if "docs" not in self.cache:
            from taoke.zoo.corpus import corpus_fingerprint, split_corpus, stdlib_documents
            from taoke.zoo.recipes_core import N_SLICES

            docs = stdlib_documents()
            held, parts = split_corpus(docs, N_SLICES)
            self.cache["docs"] = (held, parts, corpus_fingerprint(docs))
        return self.cache["docs"]  # type: ignore[no-any-return]

    def tokens(self, which: str, vocab_size: int | None = None) -> np.ndarray:
        """Token ids of ``"held"`` or ``"slice-<k>"`` under the (possibly truncated) SmolLM2 tokenizer."""
        key = f"tokens-{which}-{vocab_size}"
        if key not in self.cache:
            from taoke.zoo.corpus import tokenize_documents

            held, parts, _ = self.docs()
            docs = held if which == "held" else parts[int(which.split("-")[1])]
            self.cache[key] = tokenize_documents(self.tokenizer(vocab_size), docs, which).tokens
        return self.cache[key]  # type: ignore[no-any-return]
