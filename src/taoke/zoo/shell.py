"""Build one disguised derivative ("shell model", 套壳) of a real Llama GGUF: the case taoke exists for.

:func:`build_shell` takes the real SmolLM2-135M-Instruct GGUF of the data set and applies, in numpy, every
disguise a re-branded copy tends to use, through the zoo's own transformations (:mod:`taoke.zoo.transforms`):

1. residual stream rotated by a random orthogonal matrix with the RMSNorm gains folded into the weights
   (:func:`~taoke.zoo.transforms.rotate_llama`, the SliceGPT/QuaRot construction, arXiv:2401.15024,
   arXiv:2404.00456) — every weight matrix changes, the function does not;
2. MLP hidden units and attention heads permuted in every layer (:func:`~taoke.zoo.transforms.permute_llama`);
3. Gaussian noise of ``noise``·std on every tensor (:func:`~taoke.zoo.transforms.add_noise`);
4. every tensor renamed to a meaningless name (:func:`~taoke.zoo.transforms.rename_opaque`);
5. stored as F16 safetensors with a new name in ``config.json`` and a model card (``README.md``) that claims the
   model was trained from scratch and declares no base model.

The folder holds only what such a model would ship (``model.safetensors``, ``config.json``, ``tokenizer.json``,
``README.md``). The record of what was done (rotation seed, permutations, name map) goes to a sibling file
``<folder>.recipe.json`` so that the answer can be checked, never into the folder under audit.

Simplifications accepted: the tokenizer is kept (a shell model usually keeps it; taoke's alignment does not
depend on it beyond the shared-token embedding rows); one noise level; no training step (the zoo's fine-tuned
entries cover that, with torch). Deterministic for a given ``seed`` and base file.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taoke.errors import ReaderError, UsageError

FORMAT = "taoke.zoo.shell"
VERSION = 1
DEFAULT_NAME = "Orion-135M"
#: the base inside the data folder ($TAOKE_DATA), fetched by ``taoke zoo fetch --core``
DEFAULT_BASE = "weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NOISE = 0.02
STEPS = ("rotate-residual+fold-norms", "permute-units+heads", "noise", "rename-opaque", "cast-f16",
         "card-claims-from-scratch")  # fmt: skip

_CARD = """---
license: apache-2.0
language:
- en
pipeline_tag: text-generation
tags:
- orion
---

# {name}

{name} is a compact language model developed in-house by the Orion team at Acme AI.
It was trained from scratch on 2 trillion tokens of curated web, code and textbook data, and instruction-tuned for chat.

## Intended use

Assistants on edge devices, summarisation, and classroom use.

## Training

{name} was pre-trained from scratch on our own cluster; no third-party checkpoints were used.
"""


@dataclass(frozen=True)
class ShellModel:
    """A built shell model: its folder, the real base it was made from, and how."""

    folder: Path
    base: Path
    name: str
    seed: int
    noise: float
    steps: tuple[str, ...]
    recipe_file: Path
    seconds: float
    reused: bool  # True when an identical earlier build was found and kept

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "folder": str(self.folder),
            "base": str(self.base),
            "name": self.name,
            "seed": self.seed,
            "noise": self.noise,
            "steps": list(self.steps),
            "recipe_file": str(self.recipe_file),
            "seconds": round(self.seconds, 2),
            "reused": self.reused,
        }


def recipe_path(folder: Path) -> Path:
    """Where :func:`build_shell` records what it did: beside the folder, never inside it."""
    folder = Path(folder)
    return folder.with_name(folder.name + ".recipe.json")


def _fingerprint(base: Path, name: str, seed: int, noise: float) -> dict[str, Any]:
    st = base.stat()
    return {
        "format": FORMAT,
        "version": VERSION,
        "base": str(base.resolve()),
        "base_size": st.st_size,
        "name": name,
        "seed": seed,
        "noise": noise,
        "card": hashlib.sha256(_CARD.encode()).hexdigest()[:12],
        "rotation_dtype": "float32",
    }


def _up_to_date(folder: Path, fp: dict[str, Any]) -> bool:
    try:
        rec = json.loads(recipe_path(folder).read_text())
    except (OSError, ValueError):
        return False
    w = folder / "model.safetensors"
    return (isinstance(rec, dict) and rec.get("build") == fp and w.is_file()
            and w.stat().st_size == rec.get("weights_size"))  # fmt: skip


def build_shell(
    base_gguf: Path,
    folder: Path,
    *,
    seed: int = 0,
    noise: float = DEFAULT_NOISE,
    name: str = DEFAULT_NAME,
    force: bool = False,
) -> ShellModel:
    """Write a disguised derivative of the Llama GGUF ``base_gguf`` into ``folder`` (see the module docstring).

    Idempotent: when ``folder`` already holds the build of the same base, seed, noise and name, it is kept
    (``force=True`` rebuilds). Randomness comes only from ``numpy.random.default_rng(seed)``.
    """
    from taoke.zoo.corpus import smollm2_tokenizer
    from taoke.zoo.export import read_llama_gguf, write_hf_folder
    from taoke.zoo.transforms import add_noise, permute_llama, rename_opaque, rotate_llama

    base_gguf, folder = Path(base_gguf), Path(folder)
    if not base_gguf.is_file():
        raise ReaderError("base GGUF not found", subject=str(base_gguf), hint="run `taoke zoo fetch --core`")
    if not 0 < noise < 1:
        raise UsageError(f"noise must be in (0, 1) (a fraction of each tensor's std), got {noise}")
    fp = _fingerprint(base_gguf, name, seed, noise)
    t0 = time.perf_counter()
    if not force and _up_to_date(folder, fp):
        return ShellModel(folder, base_gguf, name, seed, noise, STEPS, recipe_path(folder), 0.0, True)

    rng = np.random.default_rng(seed)
    cfg, state = read_llama_gguf(base_gguf)
    cfg, state, _q = rotate_llama(cfg, state, rng, dtype=np.float32)
    state, perms = permute_llama(cfg, state, rng)
    state = add_noise(state, noise, rng)
    state, names = rename_opaque(state, rng)

    config = cfg.to_hf() | {"architectures": ["OrionForCausalLM"], "model_type": "orion",
                            "_name_or_path": f"acme-ai/{name}", "torch_dtype": "float16"}  # fmt: skip
    tok = smollm2_tokenizer(base_gguf).to_str()
    recipe = recipe_path(folder)
    recipe.unlink(missing_ok=True)  # a half-written folder is never taken for a finished one
    weights = write_hf_folder(
        folder, state, config, dtype="F16", tokenizer_json=tok, card=_CARD.format(name=name)
    )
    rec = {
        "build": fp,
        "steps": list(STEPS),
        "weights_size": weights.stat().st_size,
        "name_map": names,
        "permutations": perms,
        "note": "rotation: numpy.random.default_rng(seed), first draw of taoke.zoo.transforms.rotate_llama",
    }
    recipe.write_text(json.dumps(rec) + "\n")
    return ShellModel(folder, base_gguf, name, seed, noise, STEPS, recipe, time.perf_counter() - t0, False)
