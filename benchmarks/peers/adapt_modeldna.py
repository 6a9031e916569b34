"""modeldna 0.1.0 (PyPI): per-layer σ curves, norm-vector cosine, sampled-parameter cosine (PCS), singular-value
spectra, combined by a logistic calibrator; range reads; safetensors and GGUF.

Called exactly as its ``modeldna compare SUSPECT CANDIDATE`` command does (``modeldna.scan.compare_pair``, fast
mode). Verdict: EXACT_COPY / QUANTIZED_COPY / FINE_TUNE / SAME_LINEAGE / LIKELY_MERGE → related; NO_MATCH →
not related; SAME_FAMILY_UNRESOLVED and INSUFFICIENT are abstentions (no yes/no: counted wrong either way).
Score: its calibrated P(derived) (missing when it rules the pair out as not comparable). It takes a model
*folder*: a single GGUF/ONNX file is given as a folder holding a symlink to it. Bytes: its own counter.
"""

from __future__ import annotations

from pathlib import Path

from _common import Outcome, as_model_dir, missing

TOOL = "modeldna"
VENV = "peers"
CLAIM = "σ curves + norm cosine + sampled-parameter cosine + spectra, logistic combiner"
RELATED = {"EXACT_COPY", "QUANTIZED_COPY", "FINE_TUNE", "SAME_LINEAGE", "LIKELY_MERGE"}
NOT_RELATED = {"NO_MATCH"}


def available() -> str | None:
    return missing("modeldna")


def compare(a: Path, b: Path) -> Outcome:
    from modeldna.io import source as src_mod
    from modeldna.scan import compare_pair

    opened: list[object] = []
    orig = src_mod.open_source

    def counting_open(target: str, revision: str = "main") -> object:
        s = orig(target, revision=revision)
        opened.append(s)
        return s

    import modeldna.scan as scan_mod

    scan_mod.open_source = counting_open  # only to read its own bytes_read counters afterwards
    # the pair is (base, derivative): modeldna's question is "is SUSPECT derived from CANDIDATE"
    fa, fb, ev, verdict = compare_pair(str(as_model_dir(b)), str(as_model_dir(a)), mode="fast")
    v = verdict.verdict.value
    related = True if v in RELATED else False if v in NOT_RELATED else None
    read = sum(int(getattr(s, "bytes_read", 0)) for s in opened)
    return Outcome(
        related,
        v,
        verdict.probability,
        read,
        {"features": ev.features(), "notes": list(ev.notes)[:3] + list(verdict.notes)[:2]},
    )
