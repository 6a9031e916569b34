"""Residual-basis alignment from shared-token embeddings (orthogonal Procrustes).

Two models that share tokens (by byte string, see :func:`taoke.tokenizers.shared_token_ids`) can be put in one
residual basis: find the (semi-)orthogonal ``R`` minimising ``||E_B R - E_A||`` over the shared tokens' centred,
row-normalised embeddings. A copy whose residual stream was rotated (a function-preserving attack, with norm
gains folded in) is recovered exactly; unrelated models also get *some* fit (SmolLM2 vs Gemma-3 reach a
Procrustes cosine of ~0.63 over ~41k shared tokens — shared/notes), which is why the fit itself is only a
descriptive number and every test built on the aligned basis is calibrated on real independent pairs.

Concessions: one global rotation (no per-layer re-basing); tokens are matched by exact byte string; at most
``max_tokens`` shared tokens are used (a seeded sample) to bound memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from taoke.roles import RoleName
from taoke.whitebox.source import EvidenceSource


@dataclass(frozen=True)
class Alignment:
    """Maps B's residual basis onto A's: ``x_in_A = x_in_B @ R`` (R has shape (d_B, d_A))."""

    R: np.ndarray | None  # None when read back from JSON (the rotation itself is not serialised)
    n_tokens: int
    fit_cosine: float  # mean per-token cosine between E_B R and E_A over the tokens used
    method: str  # "procrustes-shared-tokens" | "identity"

    def to_dict(self) -> dict[str, object]:
        return {"n_tokens": self.n_tokens, "fit_cosine": round(self.fit_cosine, 4), "method": self.method}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alignment:
        return cls(None, int(d["n_tokens"]), float(d["fit_cosine"]), str(d["method"]))


def _prep(e: np.ndarray) -> np.ndarray:
    """Centred, row-normalised float32 copy (float32 halves the memory of the float64 this used; the fit is the same
    to ~1e-6)."""
    x = np.array(e, dtype=np.float32)
    x -= x.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def procrustes(ea: np.ndarray, eb: np.ndarray) -> Alignment:
    """Align rows ``eb`` (n, d_B) to ``ea`` (n, d_A) of the same tokens.

    >>> rng = np.random.default_rng(0)
    >>> ea = rng.standard_normal((500, 8)); q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    >>> round(procrustes(ea, ea @ q.T).fit_cosine, 5)
    1.0
    """
    return _procrustes(_prep(ea), _prep(eb))


def _procrustes(a: np.ndarray, b: np.ndarray) -> Alignment:
    u, _s, vt = np.linalg.svd((b.T @ a).astype(np.float64), full_matrices=False)
    r = (u @ vt).astype(np.float32)  # (d_B, d_A)
    fit = b @ r
    num = np.einsum("ij,ij->i", fit, a)
    den = np.sqrt(np.einsum("ij,ij->i", fit, fit)) * np.sqrt(np.einsum("ij,ij->i", a, a))
    cos = num / np.maximum(den, 1e-12)
    return Alignment(r, int(a.shape[0]), float(np.mean(cos, dtype=np.float64)), "procrustes-shared-tokens")


def align_by_embeddings(
    view_a: EvidenceSource,
    view_b: EvidenceSource,
    ids_a: np.ndarray,
    ids_b: np.ndarray,
    *,
    rng: np.random.Generator,
    max_tokens: int = 8192,
) -> Alignment:
    """Read only the shared tokens' embedding rows of both models and align B's basis to A's (one side's raw rows
    in memory at a time, then its centred float32 copy)."""
    if len(ids_a) > max_tokens:
        pick = np.sort(rng.choice(len(ids_a), size=max_tokens, replace=False))
        ids_a, ids_b = ids_a[pick], ids_b[pick]
    a = _prep(view_a.get(RoleName.EMBED, rows=ids_a))
    b = _prep(view_b.get(RoleName.EMBED, rows=ids_b))
    return _procrustes(a, b)
