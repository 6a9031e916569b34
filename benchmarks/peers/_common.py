"""Helpers shared by the adapters: how a pair's paths are handed to each tool, and the result record.

An adapter module ``adapt_<tool>.py`` defines ``TOOL`` (name), ``VENV`` ("taoke" or "peers": which interpreter
runs it), ``CLAIM`` (what the tool says it does, one line), ``available() -> str | None`` (None, or why it
cannot run here) and ``compare(a: Path, b: Path) -> Outcome``. It must not import taoke unless ``VENV`` is
"taoke": the peers live in their own virtual environment (``benchmarks/.venv-peers``).
"""

from __future__ import annotations

import importlib
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """One tool's answer on one pair.

    ``related``: the tool's lineage call read as a yes/no (None = it abstained or could not answer);
    ``raw``: its own verdict string; ``score``: a continuous "more related" score where the tool has one;
    ``bytes_self``: bytes the tool says it read (None when it does not count).
    """

    related: bool | None
    raw: str
    score: float | None = None
    bytes_self: int | None = None
    detail: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def missing(*modules: str) -> str | None:
    """An adapter's ``available()``: None when every module imports, else why not (the first ImportError)."""
    try:
        for m in modules:
            importlib.import_module(m)
    except ImportError as e:
        return f"not installed: {e}"
    return None


def weights_file(p: Path) -> Path:
    """The single weights file of a model folder (``model.safetensors``), or the path itself."""
    if p.is_dir():
        st = p / "model.safetensors"
        if st.exists():
            return st
        ggufs = sorted(p.glob("*.gguf"))
        if ggufs:
            return ggufs[0]
    return p


def as_model_dir(p: Path) -> Path:
    """A folder holding the model: the folder itself, or a temporary folder with a symlink to a single file
    (tools that take a model *directory* get GGUF/ONNX files this way)."""
    if p.is_dir():
        return p
    d = Path(tempfile.mkdtemp(prefix="peers-"))
    os.symlink(p.resolve(), d / p.name)
    return d
