"""White-box lineage evidence: one module per method, each returning calibrated numbers.

* :mod:`.align`   — residual-basis alignment from shared-token embeddings (orthogonal Procrustes).
* :mod:`.units`   — hidden-unit matching and the matching-agreement independence test (after Zhu et al. 2025,
  arXiv:2502.12292), with a per-layer map.
* :mod:`.exact`   — tensor-by-tensor comparison for identical / re-packaged (re-quantised, renamed, transposed).
* :mod:`.stdfp`   — the per-layer standard-deviation fingerprint (the statistic of the Pangu-vs-Qwen chart),
  placed against the published null of unrelated pairs.
* :mod:`.compare` — runs them and hands the evidence to :mod:`taoke.verdict`.
"""
