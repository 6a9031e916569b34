"""The library's entry points for the main questions, one call each (what the CLI commands call).

::

    import taoke
    v = taoke.compare("base.gguf", "suspect/")       # -> taoke.verdict.Verdict (white-box lineage)
    v.kind, v.sentence, v.log10_p                    # VerdictKind.DERIVED, "derived (p < 1e-300): ...", -412.3
    t = taoke.compare_tokenizers("a/tokenizer.json", "b.gguf")   # -> TokenizerComparison

``compare`` accepts paths and URLs (opened and closed here), opened models and fingerprints — anything that is an
:class:`~taoke.whitebox.source.EvidenceSource` — and ``.tkfp`` fingerprint files. When either side is a
fingerprint, the other side (a model) is fingerprinted first with the same parameters, so both hold the same
evidence. Defaults come from :mod:`taoke.defaults`.

The black-box question ("which model is behind this endpoint?") gets its entry point here too: see the
``probe`` section at the end of this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, TypeAlias

from taoke import defaults

if TYPE_CHECKING:
    from taoke.index.fingerprint import Fingerprint
    from taoke.tokenizers import NullDistribution, TokenizerComparison
    from taoke.verdict import Verdict
    from taoke.whitebox.source import EvidenceSource

#: what :func:`compare` accepts for each side
ModelLike: TypeAlias = "str | os.PathLike[str] | EvidenceSource | Fingerprint"

__all__ = ["ModelLike", "compare", "compare_tokenizers", "probe"]


def compare(
    a: ModelLike,
    b: ModelLike,
    *,
    alpha: float = defaults.ALPHA,
    seed: int = defaults.SEED,
    units: int = defaults.UNITS,
    full: bool = False,
    exhaustive: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> Verdict:
    """Is B (the model in question) identical to, re-packaged from, derived from, or independent of A (the
    candidate ancestor)? White-box evidence with calibrated p-values, decided at ``alpha``.

    ``seed`` fixes every sample (rows, units); ``units`` is the number of hidden units per layer the agreement
    test samples; ``full`` runs the unit test even when every tensor already matches within storage precision.
    Two models are compared on a bounded sample of their bytes that does not grow with their size
    (:mod:`taoke.whitebox.sampled`; ``verdict.evidence.reading`` says how much was read and why it stopped);
    ``exhaustive=True`` reads every MLP and every role instead. ``progress(stage, fraction)`` is called as the
    work advances (the CLI draws it).
    """
    from taoke.whitebox.components import compare_sources

    with ExitStack() as stack:
        sa, sb = _sources(a, b, stack)  # component by component for multimodal / encoder-decoder checkpoints
        return compare_sources(sa, sb, alpha=alpha, seed=seed, units=units, full=full, exhaustive=exhaustive,
                               progress=progress)  # fmt: skip


def _is_fingerprint(x: ModelLike) -> bool:
    from taoke.index.fingerprint import Fingerprint, is_fingerprint_file
    from taoke.index.view import FingerprintView

    if isinstance(x, (Fingerprint, FingerprintView)):
        return True
    return isinstance(x, (str, os.PathLike)) and is_fingerprint_file(x)


def _sources(a: ModelLike, b: ModelLike, stack: ExitStack) -> tuple[EvidenceSource, EvidenceSource]:
    """Both sides as evidence sources; models opened here are closed with ``stack``."""
    import taoke
    from taoke.index.fingerprint import Fingerprint, make_fingerprint
    from taoke.index.view import FingerprintView

    def as_fp_view(x: ModelLike, params: dict[str, int]) -> FingerprintView:
        if isinstance(x, FingerprintView):
            return x
        if isinstance(x, Fingerprint):
            return FingerprintView(x)
        if isinstance(x, (str, os.PathLike)) and _is_fingerprint(x):
            return FingerprintView(Fingerprint.load(x))
        # a path or an opened model, fingerprinted to hold what the other side holds
        return FingerprintView(make_fingerprint(x, units=params["units"], unit_layers=params["unit_layers"]))

    if _is_fingerprint(a) or _is_fingerprint(b):  # lineage from fingerprints, without the weights
        # the model side (if any) is fingerprinted with the fingerprint side's parameters (A's when both are)
        held = {i: as_fp_view(x, {}) for i, x in enumerate((a, b)) if _is_fingerprint(x)}
        params = next(iter(held.values())).fingerprint_params
        return held.get(0) or as_fp_view(a, params), held.get(1) or as_fp_view(b, params)

    def as_source(x: ModelLike) -> EvidenceSource:
        if isinstance(x, (str, os.PathLike)):
            return stack.enter_context(taoke.open(x))
        return x  # type: ignore[return-value]  # an EvidenceSource (Fingerprint was handled above)

    return as_source(a), as_source(b)


def compare_tokenizers(
    a: Any, b: Any, *, alpha: float = defaults.TOKENIZER_ALPHA, null: NullDistribution | None = None
) -> TokenizerComparison:
    """How B's tokenizer relates to A's (identical, extended, shifted, ..., independent), with a p-value calibrated
    on real unrelated tokenizer pairs. ``a``/``b``: tokenizer files, GGUFs, model folders, checkpoints or
    :class:`~taoke.tokenizers.Vocab`; ``null`` defaults to the one shipped in the reference database."""
    from taoke.tokenizers import compare as _compare

    return _compare(a, b, null=null, alpha=alpha)


# -- probe ------------------------------------------------------------------------------------------------------
# The black-box entry point (``taoke.probe(endpoint, ...) -> ProbeReport``) belongs here, beside ``compare``:
# a thin call into :mod:`taoke.blackbox`, exported from ``taoke/__init__.py`` like the two above.


def probe(
    url: str,
    *,
    model: str = "default",
    api_key_env: str = "OPENAI_API_KEY",
    budget: int | None = 200,
    probes: tuple[str, ...] | None = None,
    cache: str | os.PathLike[str] | None = None,
    replay: bool = False,
    timeout_s: float = 30.0,
    deadline_s: float = 120.0,
    concurrency: int = 4,
) -> Any:
    """Which model is behind the OpenAI-compatible endpoint ``url`` (e.g. ``http://127.0.0.1:8000/v1``)?

    Returns a :class:`taoke.blackbox.ProbeReport`: ``.verdict`` (model, or mixed routing with the shares, or a
    derivative of a known base, or an unknown model), the evidence of each probe and the queries spent. The
    API key is read from the environment variable ``api_key_env`` and only sent in the ``Authorization`` header;
    ``cache`` keeps every answer on disk (never the key) and ``replay=True`` answers from it alone. Raises
    :class:`taoke.errors.ProbeError` only when no query at all was answered (partial results otherwise).
    """
    from pathlib import Path

    from taoke.blackbox import ChatClient, ClientConfig, Endpoint, QueryBudget, ResponseCache, probe_endpoint
    from taoke.blackbox.probe import PROBES

    cfg = ClientConfig(timeout_s=timeout_s, deadline_s=deadline_s, max_concurrency=concurrency)
    with ChatClient(Endpoint(url, model, api_key_env), config=cfg, budget=QueryBudget(budget),
                    cache=ResponseCache(Path(cache)) if cache is not None else None, offline=replay) as client:
        return probe_endpoint(client, probes=probes or PROBES)
