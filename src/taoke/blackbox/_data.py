"""Reading the black-box reference files shipped in ``taoke/data`` (or a user's rebuilt copy)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from taoke.errors import TaokeError


def load_versioned_json(
    filename: str, path: Path | None, *, fmt: str, version: int, what: str, error: type[TaokeError], hint: str
) -> dict[str, Any]:
    """The shipped ``taoke/data/<filename>`` (or ``path``), checked for its format name and version.

    Any failure is one ``error`` line naming ``what`` and the file, with ``hint`` saying how to rebuild it.
    """
    subject = str(path or "taoke/data")
    try:
        if path is None:
            text = resources.files("taoke").joinpath("data", filename).read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        raise error(f"cannot read the {what}: {e}", subject=subject, hint=hint) from None
    if not isinstance(doc, dict) or doc.get("format") != fmt or doc.get("version") != version:
        raise error(f"{what} of another format/version", subject=subject, hint=hint)
    return doc
