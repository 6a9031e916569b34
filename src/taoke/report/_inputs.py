"""Pin a report's inputs (streaming sha256 of files and folders) and record how to reproduce it.

Files are hashed in 4 MiB blocks (memory stays flat whatever the size). A folder is hashed file by file
(recursively, sorted, hidden files skipped, at most :data:`MAX_FOLDER_FILES`); its own hash is the sha256 of the
lines ``"<relative path> <size> <sha256>\\n"`` so two folders with the same files give the same hash. Remote
inputs (``http(s)://``) are not downloaded: the report says so and asks the reader to pin a revision.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from taoke.report._model import FileHash, InputRef, Provenance

BLOCK = 4 << 20
MAX_FOLDER_FILES = 500
LIBRARIES = ("numpy", "scipy", "safetensors", "gguf", "tokenizers", "sentencepiece", "onnx", "matplotlib")


def sha256_file(path: str | os.PathLike[str]) -> tuple[int, str]:
    """(size, hex sha256) of a file, read in blocks."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
            n += len(block)
    return n, h.hexdigest()


def hash_input(label: str, location: str, *, hash_files: bool = True) -> InputRef:
    """An :class:`InputRef` for ``location`` (file, folder, URL or a name that is not a local path)."""
    if location.startswith(("http://", "https://")):
        return InputRef(label, location, "url", note="remote: not hashed (pin a revision or commit in the URL)")
    p = Path(location)
    if p.is_file():
        if not hash_files:
            return InputRef(label, location, "file", p.stat().st_size, note="not hashed (--no-hash)")
        size, digest = sha256_file(p)
        return InputRef(label, str(p.resolve()), "file", size, digest)
    if p.is_dir():
        paths = sorted(q for q in p.rglob("*") if q.is_file() and not any(s.startswith(".") for s in
                                                                           q.relative_to(p).parts))
        note = ""
        if len(paths) > MAX_FOLDER_FILES:
            note = f"only the first {MAX_FOLDER_FILES} of {len(paths)} files hashed"
            paths = paths[:MAX_FOLDER_FILES]
        if not hash_files:
            total = sum(q.stat().st_size for q in paths)
            return InputRef(label, str(p.resolve()), "folder", total, note="not hashed (--no-hash)")
        files = []
        for q in paths:
            size, digest = sha256_file(q)
            files.append(FileHash(q.relative_to(p).as_posix(), size, digest))
        folder = hashlib.sha256("".join(f"{f.path} {f.size} {f.sha256}\n" for f in files).encode()).hexdigest()
        return InputRef(label, str(p.resolve()), "folder", sum(f.size for f in files), folder, tuple(files), note)
    return InputRef(label, location, "other", note="not a local file or folder: not hashed")


def hash_inputs(items: Sequence[tuple[str, str]], *, hash_files: bool = True) -> tuple[InputRef, ...]:
    """Hash each ``(label, location)``."""
    return tuple(hash_input(lab, loc, hash_files=hash_files) for lab, loc in items)


def provenance(command: str | None = None) -> Provenance:
    """Versions of taoke, Python and the libraries that touch the numbers, and the command line."""
    from taoke import __version__

    libs: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            libs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    cmd = command if command is not None else "(library call)"
    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Provenance(cmd, __version__, sys.version.split()[0], platform.platform(), libs, now)
