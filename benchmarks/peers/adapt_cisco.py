"""cisco-ai-provenance-kit 1.0.0 (PyPI, Cisco, 2026-05): ``provenancekit compare MODEL_A MODEL_B``.

Eight signals: architecture metadata (MFI, a 3-tier gate on ``config.json``), tokenizer (TFV, VOA) and five
weight statistics (embedding-anchor self-similarity EAS, norm-layer cosine NLF, per-layer energy profile LEP,
embedding-norm histogram END, per-layer weight signature WVC). Its pipeline score is the MFI score when the
configs match (tier 1: same architecture hash → 1.0; tier 2: same family and dimensions → 0.9), otherwise the
weighted weight-identity score; the label follows from it. Called as its CLI does
(``ModelProvenanceScanner.compare``), with its feature cache off (``NullCache``: every pair is computed from the
files, as on a first run).

Labels → taoke's related / not related (documented in docs/peers.md):

* ``Confirmed Match`` (MFI tier ≤ 2 or score 1.0) and ``High-Confidence Match`` (score > 0.75, the tool's own
  ``SIMILARITY_THRESHOLD``, "calibrated on 111 pairs, best F1") → **related**;
* ``Weak Match`` (0.65 < score ≤ 0.75, below that decision threshold) and ``Not Matched`` → **not related**;
* ``Insufficient data`` (no score) → abstention (counted wrong). A label with the suffix ``(metadata only)``
  (no weight signal could be computed) is read like the label itself and flagged in ``detail``.

Score: the pipeline score. Concessions, stated: it declares Python ≥ 3.12 and is installed on 3.11 with
``--no-deps --ignore-requires-python`` after its dependencies (``numpy<2.4``, ``transformers<5``;
``benchmarks/peers/setup.sh``), in its own venv ``benchmarks/.venv-cisco``. It takes Hugging Face folders
(``config.json`` + weights + ``tokenizer.json``) or Hub ids: a GGUF file is handed over as a folder with the
``config.json`` and ``tokenizer.json`` that transformers exports from the GGUF's own metadata (``gguf_file=``;
``architectures`` filled in from the model type, as the Hub repository would have it) and a symlink to the GGUF — which it cannot read weights from, so it decides on metadata and tokenizer; this
folder is made by :func:`prepare` before the timed runs. An ONNX file or a folder without ``tokenizer.json``
(the zoo's vocabulary-pruned/extended entries) is given as is. Bytes: ``rchar`` during the comparison plus the
size of each safetensors file it loads whole through a memory map (``safetensors.torch.load_file``, which
``rchar`` does not see); transformers' own loading fallback is memory-mapped and not counted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from _common import Outcome, as_model_dir, missing

TOOL = "cisco-provenance-kit"
VENV = "cisco"
CLAIM = "8 signals (config gate MFI, tokenizer TFV/VOA, 5 weight statistics), pipeline score, 0.75 threshold"
RELATED = ("Confirmed Match", "High-Confidence Match")
NOT_RELATED = ("Weak Match", "Not Matched")
CACHE = Path(tempfile.gettempdir()) / "taoke-peers" / "cisco"


def available() -> str | None:
    return missing("provenancekit.core.scanner", "torch", "transformers")


def _key(p: Path) -> str:
    st = p.stat()
    return hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def _prepared(p: Path) -> Path:
    return CACHE / _key(p) / p.stem


def prepare(p: Path) -> str:
    """For a GGUF file: a folder with the config.json and tokenizer.json transformers exports from the GGUF,
    and a symlink to it (made once, before the timed runs). Returns what was done."""
    if p.is_dir() or p.suffix.lower() != ".gguf":
        return "as is"
    out = _prepared(p)
    if (out / "config.json").is_file() and (out / "tokenizer.json").is_file():
        return f"exported earlier: {out}"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = AutoConfig.from_pretrained(str(p.parent), gguf_file=p.name)
    if not getattr(cfg, "architectures", None):  # what the model's Hub repository would carry
        cfg.architectures = [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(cfg.model_type, "AutoModelForCausalLM")]
    cfg.save_pretrained(str(tmp))
    AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name).save_pretrained(str(tmp))
    os.symlink(p.resolve(), tmp / p.name)
    os.replace(tmp, out)
    return f"exported config.json + tokenizer.json to {out}"


def _folder(p: Path) -> Path:
    if p.suffix.lower() == ".gguf" and p.is_file():
        q = _prepared(p)
        if q.is_dir():
            return q
    return as_model_dir(p)


def _rchar() -> int:
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split(":")[1])
    except OSError:
        pass
    return 0


def compare(a: Path, b: Path) -> Outcome:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    import provenancekit.services.model_loader as loader
    from provenancekit.core.scanner import ModelProvenanceScanner
    from provenancekit.services.cache import NullCache

    mapped: list[int] = []
    orig = loader.safetensors_load_file

    def counting_load(path: str, *args: object, **kw: object) -> object:
        mapped.append(os.path.getsize(path))
        return orig(path, *args, **kw)

    loader.safetensors_load_file = counting_load  # only to count the bytes it maps
    r0 = _rchar()
    res = ModelProvenanceScanner(cache=NullCache()).compare(str(_folder(a)), str(_folder(b)))
    read = _rchar() - r0 + sum(mapped)
    s = res.scores
    label = s.provenance_decision
    base = label.removesuffix(" (metadata only)")
    related = True if base in RELATED else False if base in NOT_RELATED else None
    sig = json.loads(res.signals.model_dump_json())
    return Outcome(
        related,
        label,
        None if s.pipeline_score is None else float(s.pipeline_score),
        read,
        {"mfi_tier": s.mfi_tier, "mfi_match": s.mfi_match, "identity": s.identity_score,
         "tokenizer": s.tokenizer_score, "signals": sig, "metadata_only": base != label},  # fmt: skip
    )
