"""taoke (套壳): evidence a third party can check about where a language model comes from.

Public entry points::

    import taoke
    ckpt = taoke.open_checkpoint("model.gguf")     # lazy tensor access, any format
    model = taoke.open("model.gguf")               # + canonical roles, config, tokenizer, card
"""

from __future__ import annotations

__version__ = "0.1.0"

from taoke.errors import TaokeError  # noqa: E402
from taoke.io import open_checkpoint  # noqa: E402

__all__ = ["TaokeError", "__version__", "open", "open_checkpoint"]


def open(location: str):  # noqa: A001 - mirrors safetensors.safe_open / builtins.open style
    """Open a checkpoint (file, folder or URL) as a :class:`taoke.model.Model`."""
    from taoke.model import Model

    return Model.open(location)
