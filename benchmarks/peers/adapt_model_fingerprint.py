"""model-fingerprint 0.1.1 (PyPI): one sha256 over every tensor's raw bytes (names ignored by default).

Verdict: the two content fingerprints are equal → "same weights" (read as related), else not. Score: the share
of per-tensor digests (the tool's own ``_tensor_digest``) the two files have in common. It hashes every byte of
both files; it reads GGUF and safetensors only (an ONNX or a folder without ``model.safetensors`` is an error).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from _common import Outcome, missing, weights_file

TOOL = "model-fingerprint"
VENV = "peers"
CLAIM = "exact content hash of GGUF/safetensors tensors (identity only)"


def available() -> str | None:
    return missing("model_fingerprint")


def _digests(path: Path) -> tuple[str, list[bytes], int]:
    """The tool's per-tensor digests and its fingerprint, reading the file once (``fingerprint()`` is exactly
    sha256 over the sorted per-tensor digests; recomputed here from them instead of hashing the file again)."""
    import hashlib

    import model_fingerprint as mf

    with mf.FileReader(path) as r:
        model = mf.parse_detect(r, path)
        per = [mf._tensor_digest(t, r, model.data_start, 1 << 20, False) for t in model.tensors]
    h = hashlib.sha256()
    for d in sorted(per):
        h.update(d)
    return h.hexdigest(), per, model.file_size


def compare(a: Path, b: Path) -> Outcome:
    fa, da, sa = _digests(weights_file(a))
    fb, db, sb = _digests(weights_file(b))
    common = sum((Counter(da) & Counter(db)).values())
    share = common / max(len(da), len(db), 1)
    same = fa == fb
    return Outcome(
        same,
        "same fingerprint" if same else "different fingerprint",
        share,
        None,
        {"fingerprint_a": fa[:16], "fingerprint_b": fb[:16], "shared_tensors": common},
    )
