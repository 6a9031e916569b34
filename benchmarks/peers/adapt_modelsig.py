"""modelsig 2.0.0 (PyPI): architecture isomorphism from config.json and safetensors headers (no weights read).

It answers "is B a structural substitute for A", not lineage; users misread ISOMORPHIC as "same model", so the
benchmark reads ISOMORPHIC as related and anything else as not related (what a user of the tool would conclude).
Score: its ``coverage_rate`` (share of normalised tensor keys in common). Local models are given as
its local folder; for a GGUF or ONNX file it finds no config.json/safetensors and falls back to its "config only"
signature (its own behaviour, kept).
"""

from __future__ import annotations

from pathlib import Path

from _common import Outcome, as_model_dir, missing

TOOL = "modelsig"
VENV = "peers"
CLAIM = "architecture isomorphism from headers (no lineage claim)"


def available() -> str | None:
    return missing("modelsig")


def compare(a: Path, b: Path) -> Outcome:
    from modelsig.comparison.coverage import compute_coverage
    from modelsig.signature.fingerprint import build_fingerprint

    fps = []
    for i, p in enumerate((a, b)):
        d = as_model_dir(p)
        fp = build_fingerprint(
            model_id=f"m{i}-{d.name}",
            local_path=str(d),
            fx_trace=False,
            hook_capture=False,
            quant_path=False,
            fast=False,
            timeout=60,
            trust_remote_code=False,
            layer_sig=False,
        )
        fps.append(fp)
    cov = compute_coverage(fps[0], fps[1])
    iso = str(cov["isomorphism"])
    return Outcome(
        iso == "ISOMORPHIC",
        f"{iso} / {cov['substitution_verdict']}",
        float(cov["coverage_rate"]),
        None,
        {"isomorphism": iso, "sources": [getattr(f, "source", "?") for f in fps]},
    )
