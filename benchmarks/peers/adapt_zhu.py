"""Zhu et al., "Independence Tests for Language Models" (arXiv:2502.12292, ICML 2025), constrained setting:
the ``csu`` statistic of their research code (github.com/salzhu/model-tracing, not on PyPI) — **re-implemented
here by taoke's authors** as a baseline, following ``tracing/statistics/csu.py``:

for each layer ``i`` present in both models, the rows (hidden units) of the MLP up-projection of A and B are
matched by a linear assignment on their cosine similarities (``scipy.optimize.linear_sum_assignment``,
maximise); the p-value of the Pearson correlation between the matched indices and the identity (scipy
``pearsonr``) tests "the matching is a uniformly random permutation" (true under independent training from a
permutation-invariant initialisation); the per-layer p-values are combined with Fisher's method
(χ² with 2L degrees of freedom). Layers are paired by index, as the original zips the two models' parameters.

Concessions, stated: weights are read from safetensors (HF names ``model.layers.{i}.mlp.up_proj.weight``) or
GGUF (``blk.{i}.ffn_up.weight``, dequantised with gguf-py) rather than through ``transformers``; BERT encoders
use ``encoder.layer.{i}.intermediate.dense.weight`` as the up-projection (the original handles Llama/OLMo/NeoX
names only); per-layer p-values of exactly 0 are floored at 1e-300 for the score (the original's aggregate is
then 0). Verdict: "not independent" at α = 0.01 (the paper reports p-values; 0.01 is the conventional level, set
before running). Score: −log10 of the Fisher p-value. Compared in the stored bases: like the original, a copy
whose residual stream is rotated is out of this statistic's reach (the paper's unconstrained test needs
activations). Tensors with unknown names (renamed copies) or a file format other than safetensors/GGUF: error.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from _common import Outcome, missing, weights_file

TOOL = "zhu-csu (re-impl.)"
VENV = "peers"
CLAIM = "Zhu et al. constrained test: Hungarian-matched MLP rows vs identity, Fisher-combined p-value"
ALPHA = 0.01
PATTERNS = (
    re.compile(r"model\.layers\.(\d+)\.mlp\.up_proj\.weight$"),
    re.compile(r"blk\.(\d+)\.ffn_up\.weight$"),
    re.compile(r"encoder\.layer\.(\d+)\.intermediate\.dense\.weight$"),
)


def available() -> str | None:
    return missing("safetensors", "scipy")


def _up_matrices(path: Path) -> tuple[dict[int, np.ndarray], int]:
    f = weights_file(path)
    out: dict[int, np.ndarray] = {}
    read = 0
    with open(f, "rb") as fh:
        magic = fh.read(4)
    if magic == b"GGUF":
        from gguf import GGUFReader
        from gguf.quants import dequantize

        r = GGUFReader(str(f))
        for t in r.tensors:
            m = next((p.match(t.name) for p in PATTERNS if p.match(t.name)), None)
            if m:
                out[int(m.group(1))] = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float64)
                read += int(t.n_bytes)
    elif f.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(f), "np") as st:
            for name in st.keys():
                m = next((p.match(name) for p in PATTERNS if p.match(name)), None)
                if m:
                    x = st.get_tensor(name)
                    read += x.nbytes
                    out[int(m.group(1))] = x.astype(np.float64)
    else:
        raise RuntimeError(f"unsupported file format: {f.name}")
    if not out:
        raise RuntimeError(f"no MLP up-projection tensor with a known name in {f.name}")
    return out, read


def _layer_p(wa: np.ndarray, wb: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment
    from scipy.stats import pearsonr

    na = wa / np.maximum(np.linalg.norm(wa, axis=1, keepdims=True), 1e-30)
    nb = wb / np.maximum(np.linalg.norm(wb, axis=1, keepdims=True), 1e-30)
    _, matched = linear_sum_assignment(na @ nb.T, maximize=True)
    return float(pearsonr(matched, np.arange(len(matched))).pvalue)


def fisher_log10(ps: list[float]) -> float:
    """log10 of Fisher's combined p-value (per-layer p floored at 1e-300)."""
    from scipy.stats import chi2

    stat = -2.0 * sum(math.log(max(p, 1e-300)) for p in ps)
    return float(chi2.logsf(stat, 2 * len(ps)) / math.log(10))


def compare(a: Path, b: Path) -> Outcome:
    ua, ra = _up_matrices(a)
    ub, rb = _up_matrices(b)
    ps = []
    for i in sorted(set(ua) & set(ub)):
        if ua[i].shape != ub[i].shape:  # the original prints "shape mismatch" and skips the layer
            continue
        ps.append(_layer_p(ua[i], ub[i]))
    if not ps:
        raise RuntimeError("no layer pair with equal up-projection shapes")
    lp = fisher_log10(ps)
    related = lp < math.log10(ALPHA)
    return Outcome(
        related,
        f"{'dependent' if related else 'independent'} (log10 p = {lp:.1f}, {len(ps)} layers)",
        -lp,
        ra + rb,
        {"layers": len(ps), "log10_p": lp},
    )
