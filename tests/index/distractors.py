"""Distractor fingerprints for index tests and benchmarks: sketch-only rows as close to real models as independently
trained real models are to each other.

A distractor copies a real template's architecture (config, depth, family: the architecture bucket is crowded, as
it is for popular architectures) and gets sketches drawn at the similarity to the template that independent real
models were *measured* to have (``taoke.index.sketch``; tiny-0..5 are six models trained from scratch with the same
tokenizer on the same text, SmolLM2/Gemma-3/MiniLM real):

* half of them share the template's tokenizer exactly (its MinHash: every tokenizer band collides, so tokenizer
  buckets are crowded) and have embedding descriptors (``w``, ``i``) at cosine U(0.6, 0.8) to the template's — the
  0.62–0.80 measured between the tiny models, far above SmolLM2 vs the tiny models (0.05–0.11);
* the other half have another tokenizer (10–100 % of the MinHash replaced), ``w`` at U(−0.1, 0.1) (Gemma-3 vs
  SmolLM2: 0.00) and ``i`` at U(0.1, 0.3) (MiniLM vs the tiny models by id: 0.25–0.30);
* all have a body descriptor (``c``) at N(0, 0.08) clipped to ±0.3 (independent pairs measured within ±0.13).

They hold no weights (no roles, samples or units): an exact test on one is inconclusive at once, so a search's exact
stage costs what its real candidates cost (benchmarks report that separately).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from taoke.index.fingerprint import Fingerprint
from taoke.index.sketch import descriptors

W_SAME = (0.6, 0.8)
W_OTHER = (-0.1, 0.1)
I_OTHER = (0.1, 0.3)
C_SD, C_CLIP = 0.08, 0.3


def _at_cosine(t: np.ndarray, r: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at cosine ``r`` to the unit vector ``t``."""
    u = rng.standard_normal(t.shape)
    u -= (u @ t) * t
    u /= np.linalg.norm(u)
    return (r * t + np.sqrt(max(0.0, 1.0 - r * r)) * u).astype(np.float32)


def distractor(template: Fingerprint, i: int, rng: np.random.Generator,
               desc: dict[str, np.ndarray] | None = None) -> Fingerprint:  # fmt: skip
    """One sketch-only distractor drawn from ``template`` (module docstring); ``desc`` = its descriptors if known."""
    desc = descriptors(template.header, template.arrays) if desc is None else desc
    same_tok = bool(rng.random() < 0.5)
    arrays: dict[str, np.ndarray] = {}
    for kind, t in desc.items():
        t = t.astype(np.float64) / max(float(np.linalg.norm(t)), 1e-12)
        if kind == "c":
            r = float(np.clip(rng.normal(0.0, C_SD), -C_CLIP, C_CLIP))
        elif same_tok:
            r = float(rng.uniform(*W_SAME))
        else:
            r = float(rng.uniform(*(W_OTHER if kind == "w" else I_OTHER)))
        arrays[f"desc.{kind}"] = _at_cosine(t, r, rng)
    if "minhash" in template.arrays:
        mh = template.arrays["minhash"].copy()
        if not same_tok:
            sel = rng.random(mh.size) < rng.uniform(0.1, 1.0)
            mh[sel] = rng.integers(0, 2**63 - 1, size=int(sel.sum()), dtype=np.int64).astype(np.uint64)
        arrays["minhash"] = mh
    h = dict(template.header)
    h |= {"name": f"distractor-{i:06d}", "roles": {}, "tokenizer": None, "unit_layers": [], "stds": {}, "card": None,
          "content_digest": f"{int(rng.integers(0, 2**63)):016x}",
          "source": dict(h["source"]) | {"location": f"distractor:{i}"}}  # fmt: skip
    return Fingerprint(h, arrays)


def distractors(templates: Sequence[Fingerprint], n: int, rng: np.random.Generator, start: int = 0
                ) -> Iterator[Fingerprint]:  # fmt: skip
    """``n`` distractors, drawn from the templates in turn."""
    descs = [descriptors(t.header, t.arrays) for t in templates]
    for j in range(n):
        k = (start + j) % len(templates)
        yield distractor(templates[k], start + j, rng, descs[k])
