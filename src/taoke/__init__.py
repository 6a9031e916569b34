"""taoke (套壳): evidence a third party can check about where a language model comes from.

Public entry points::

    import taoke
    v = taoke.compare("base.gguf", "suspect/")     # white-box lineage verdict (taoke.verdict.Verdict)
    t = taoke.compare_tokenizers("a.gguf", "b/")   # tokenizer relation with a calibrated p-value
    r = taoke.probe("http://host:8000/v1")          # which model is behind an OpenAI-compatible API
    ckpt = taoke.open_checkpoint("model.gguf")     # lazy tensor access, any format
    model = taoke.open("model.gguf")               # + canonical roles, config, tokenizer, card

Defaults (alpha, units, seed, the data folder) are in :mod:`taoke.defaults`; the layers of the package are drawn in
``docs/architecture.md``.
"""

from __future__ import annotations

__version__ = "0.1.0"

import os  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from taoke.api import compare, compare_tokenizers, probe  # noqa: E402
from taoke.errors import TaokeError  # noqa: E402
from taoke.io import open_checkpoint  # noqa: E402

if TYPE_CHECKING:
    from taoke.model import Model

__all__ = ["TaokeError", "__version__", "compare", "compare_tokenizers", "open", "open_checkpoint", "probe"]


def open(location: str | os.PathLike[str]) -> Model:  # noqa: A001 - mirrors safetensors.safe_open / builtins.open
    """Open a checkpoint (file, folder or URL) as a :class:`taoke.model.Model`."""
    from taoke.model import Model

    return Model.open(location)
