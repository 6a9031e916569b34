"""Shared output helpers for CLI commands: JSON or rich text, never both (JSON text: :mod:`taoke.serialize`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def stage_progress(first: str, *, enabled: bool = True) -> Iterator[Callable[[str, float], None] | None]:
    """A Rich progress display on stderr for work reported as ``progress(stage, fraction)`` (one bar per stage,
    elapsed time); yields that callback, or None (and draws nothing) when ``enabled`` is false (``--json``) or
    stderr is not a terminal."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeElapsedColumn(), console=err_console, transient=True)  # fmt: skip
    tasks: dict[str, Any] = {}

    def update(stage: str, fraction: float) -> None:
        if stage not in tasks:
            for t in tasks.values():
                bars.update(t, completed=100)
            tasks[stage] = bars.add_task(stage, total=100)
        bars.update(tasks[stage], completed=max(0.0, min(1.0, fraction)) * 100)

    with bars:
        update(first, 0.0)
        yield update


@contextmanager
def count_progress(what: str, total: int, *, enabled: bool = True) -> Iterator[Callable[[int, str, float], None] | None]:
    """One Rich bar on stderr over ``total`` items (``update(i, label, fraction)``: item ``i`` (0-based) is
    ``fraction`` done, ``label`` names it); None (nothing drawn) with ``--json`` or when stderr is not a terminal."""
    if not enabled or not err_console.is_terminal or total < 1:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True)  # fmt: skip
    task = bars.add_task(what, total=total)

    def update(i: int, label: str, fraction: float) -> None:
        bars.update(task, completed=min(total, i + max(0.0, min(1.0, fraction))), description=f"{what}: {label}")

    with bars:
        yield update

