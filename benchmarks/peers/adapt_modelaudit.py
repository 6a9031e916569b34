"""knowlyr-modelaudit 0.4.1 (PyPI), white-box method ``reef``: linear CKA of mean-pooled hidden states of 8 fixed
probe sentences (8 layers sampled evenly), averaged over layers, "derived" at the fixed threshold 0.85.

It must *run* both models: it loads each folder with ``transformers`` ``AutoModel``/``AutoTokenizer`` (offline
here: local folders only, ``HF_HUB_OFFLINE=1``). A GGUF/ONNX file, a folder whose tensor names transformers does
not know (renamed/transposed copies: transformers then initialises the weights at random and warns) or one
without a tokenizer it can load is what the tool does with it — errors count as wrong answers. Score: mean CKA.

Concession, stated: the zoo's folders ship ``tokenizer.json`` but no ``tokenizer_config.json``, so transformers
finds no eos/pad token and the tool's padding fails on every pair. The adapter hands the tool an overlay folder
(symlinks to every file) with a ``tokenizer_config.json`` naming the token at ``config.json``'s
``eos_token_id`` as eos and pad — what a Hugging Face repository would ship.
"""

from __future__ import annotations

import os
from pathlib import Path

from _common import Outcome, as_model_dir, missing

TOOL = "knowlyr-modelaudit"
VENV = "peers"
CLAIM = "REEF-style CKA of hidden states on 8 probe sentences, fixed 0.85 threshold"


def available() -> str | None:
    return missing("modelaudit", "torch", "transformers")


def _with_tokenizer_config(d: Path) -> Path:
    import json
    import tempfile

    if not d.is_dir() or (d / "tokenizer_config.json").exists() or not (d / "tokenizer.json").exists():
        return d
    try:
        eos_id = json.loads((d / "config.json").read_text()).get("eos_token_id")
        vocab = json.loads((d / "tokenizer.json").read_text())["model"]["vocab"]
        eos = next(t for t, i in vocab.items() if i == eos_id)
    except (OSError, KeyError, ValueError, StopIteration):
        return d
    o = Path(tempfile.mkdtemp(prefix="peers-tok-"))
    for f in d.iterdir():
        os.symlink(f.resolve(), o / f.name)
    (o / "tokenizer_config.json").write_text(json.dumps({"eos_token": eos, "pad_token": eos}))
    return o


def compare(a: Path, b: Path) -> Outcome:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    from modelaudit.methods.reef import REEFFingerprinter

    fps = []
    for p in (a, b):
        f = REEFFingerprinter(device="cpu")
        f.prepare(str(_with_tokenizer_config(as_model_dir(p))))
        fps.append(f.get_fingerprint())
    res = REEFFingerprinter().compare(fps[0], fps[1])
    return Outcome(
        bool(res.is_derived),
        f"{'derived' if res.is_derived else 'not derived'} (CKA "
        f"{res.similarity:.3f}, threshold {res.threshold})",
        float(res.similarity),
        None,
        {"layer_cka": res.details.get("layer_cka")},
    )
