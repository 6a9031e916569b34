"""Shared output helpers for CLI commands: JSON or rich text, never both."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Console

console = Console(stderr=False, highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)

JSON_OPTION_HELP = "Print machine-readable JSON on stdout instead of text."


def _default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return _clean_float(float(o))
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if isinstance(o, bytes):
        return o.decode("utf-8", "backslashreplace")
    return str(o)


def _clean_float(x: float) -> float | str | None:
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _clean(o: Any) -> Any:
    if isinstance(o, float):
        return _clean_float(o)
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def dumps(obj: Any) -> str:
    """JSON text for ``obj`` (numpy values, dataclasses with ``to_dict`` and NaN/inf handled)."""
    return json.dumps(_clean(obj), indent=2, default=_default, ensure_ascii=False)


def emit(obj: Any, as_json: bool, render: Callable[[Console], None]) -> None:
    """Print ``obj`` as JSON when ``as_json``, else call ``render(console)``."""
    if as_json:
        sys.stdout.write(dumps(obj) + "\n")
        sys.stdout.flush()
    else:
        render(console)
