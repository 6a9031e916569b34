"""Shared output helpers for CLI commands: JSON or rich text, never both (JSON text: :mod:`taoke.serialize`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from taoke.serialize import dumps

console = Console(stderr=False, highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)

JSON_OPTION_HELP = "Print machine-readable JSON on stdout instead of text."


def emit(obj: Any, as_json: bool, render: Callable[[Console], None]) -> None:
    """Print ``obj`` as JSON when ``as_json``, else call ``render(console)``."""
    if as_json:
        sys.stdout.write(dumps(obj) + "\n")
        sys.stdout.flush()
    else:
        render(console)
