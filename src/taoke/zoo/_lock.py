"""An exclusive, cross-process lock on a folder (``flock`` on ``<folder>/<name>``), for builders that share a cache."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def folder_lock(folder: Path, log: Callable[[str], None], *, name: str = ".zoo.lock", what: str = "zoo") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder/name`` so that concurrent builders (tests, `taoke eval`, the CLI) run
    one after the other; the later one then finds the entries up to date. Not POSIX: no cross-process lock."""
    try:
        import fcntl
    except ModuleNotFoundError:  # not POSIX: no cross-process lock
        yield
        return
    with open(folder / name, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"{what}: waiting for another build of {folder} to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
