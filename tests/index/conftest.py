"""Fixtures of the index tests: real fingerprints, computed once and cached on disk.

``fps[name]`` fingerprints a real model the first time it is asked for and keeps the ``.tkfp`` under
``$TAOKE_DATA/fingerprints/`` keyed by the model files (relative path, size, mtime), the fingerprint parameters and a
digest of taoke's source code, so a code change re-fingerprints and a rerun costs nothing. The fast tests use the
cheap models (MiniLM and its zoo derivatives and int8 ONNX export, four tiny independently trained models and the
derivatives of tiny-0 that the ancestor search must find) and SmolLM2 once (the real Q4_1 GGUF); the SmolLM2 zoo derivatives (538 MB each) are fingerprinted only by slow tests.

BLAS runs single-threaded during these tests (``blas_one_thread``): on a busy 2-core machine OpenBLAS threads spin
against other processes and made a fingerprint comparison 10× slower (18 s → 1.5 s measured).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import taoke

FAST_ZOO = ("minilm-noise", "minilm-perm", "tiny-0", "tiny-1", "tiny-2", "tiny-3")
#: the derivation kinds an ancestor search must not lose, built from tiny-0 (taoke.zoo.recipes_ancestry, fast subset)
ANCESTRY_ZOO = tuple(f"tiny-0-{k}" for k in ("interleave", "layer-subset", "layer-dup", "mlp-prune", "width-prune",
                                             "opaque", "no-tokenizer", "transplant", "rotate-perm", "moe", "merge"))  # fmt: skip
SLOW_ZOO = ("smollm2-f32", "smollm2-renamed", "smollm2-layer-subset", "smollm2-rotate")


def _openblas_setters() -> list[tuple[object, object]]:
    out = []
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return out
    for p in sorted({ln.split()[-1] for ln in maps if "openblas" in ln.lower() and ".so" in ln}):
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        for base in ("scipy_openblas_{}_num_threads64_", "openblas_{}_num_threads", "openblas_{}_num_threads64_"):
            if hasattr(lib, base.format("set")) and hasattr(lib, base.format("get")):
                out.append((getattr(lib, base.format("get")), getattr(lib, base.format("set"))))
                break
    return out


@pytest.fixture(autouse=True, scope="module")
def blas_one_thread() -> Iterator[None]:
    import numpy  # noqa: F401 - load OpenBLAS so it can be found
    import scipy.linalg  # noqa: F401

    fs = _openblas_setters()
    before = [int(get()) for get, _set in fs]  # type: ignore[operator]
    for _get, setter in fs:
        setter(1)  # type: ignore[operator]
    yield
    for (_get, setter), n in zip(fs, before, strict=True):
        setter(n)  # type: ignore[operator]


# code that cannot change what ``make_fingerprint`` writes (everything else invalidates the cache)
_NOT_FINGERPRINTING = ("cli/", "report/", "blackbox/", "audit/", "zoo/", "scan/", "index/store.py", "index/search.py",
                       "index/tree.py", "index/view.py")  # fmt: skip


def _code_digest() -> str:
    h = hashlib.blake2b(digest_size=8)
    root = Path(taoke.__file__).parent
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(_NOT_FINGERPRINTING) or (rel.startswith("whitebox/") and rel != "whitebox/mlp.py"):
            continue
        h.update(rel.encode() + p.read_bytes())
    return h.hexdigest()


def _files_key(loc: Path) -> str:
    files = sorted(p for p in loc.rglob("*") if p.is_file()) if loc.is_dir() else [loc]
    h = hashlib.blake2b(digest_size=8)
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(loc) if loc.is_dir() else p.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


class FingerprintCache:
    """name → path of a real model's fingerprint file, made on first use and cached on disk."""

    def __init__(self, locations: dict[str, Path], cache_dir: Path) -> None:
        self.locations = locations
        self.cache_dir = cache_dir
        self.code = _code_digest()

    def __getitem__(self, name: str) -> Path:
        return self.get(name)

    def get(self, name: str, *, units: int = 32, unit_layers: int = 0) -> Path:
        from taoke.index.fingerprint import make_fingerprint

        loc = self.locations[name]
        key = hashlib.blake2b(f"{self.code}|{_files_key(loc)}|{units}|{unit_layers}".encode(), digest_size=8)
        stem = f"{name}-u{units}" + (f"-k{unit_layers}" if unit_layers else "")
        path = self.cache_dir / f"{stem}-{key.hexdigest()}.tkfp"
        if not path.is_file():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            for old in self.cache_dir.glob(f"{stem}-*.tkfp"):  # stale: other code or files
                if old.name.count("-k") == stem.count("-k"):
                    old.unlink(missing_ok=True)
            make_fingerprint(str(loc), name=name, units=units, unit_layers=unit_layers).save(path)
        return path


@pytest.fixture(scope="session")
def small_zoo(data_dir: Path):  # type: ignore[no-untyped-def]
    """The cheap zoo entries (built from the real MiniLM / SmolLM2 if missing; cached under $TAOKE_DATA/zoo)."""
    from taoke.zoo.build import build_zoo

    return build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=FAST_ZOO + ANCESTRY_ZOO)


@pytest.fixture(scope="session")
def smollm2_zoo(data_dir: Path):  # type: ignore[no-untyped-def]
    """The SmolLM2 zoo derivatives (slow tests only)."""
    from taoke.zoo.build import build_zoo

    return build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=SLOW_ZOO)


@pytest.fixture(scope="session")
def fps(small_zoo, data_dir: Path, smollm2_gguf: Path, minilm_dir: Path, minilm_onnx: Path) -> FingerprintCache:  # type: ignore[no-untyped-def]
    """Fingerprint files of real models by name (lazy; SmolLM2 zoo names need the ``smollm2_zoo`` fixture)."""
    zoo_root = Path(small_zoo.root)
    locs = {"smollm2-q4_1": smollm2_gguf, "minilm": minilm_dir, "minilm-int8": minilm_onnx}
    locs |= {n: small_zoo.path_of(n) for n in FAST_ZOO + ANCESTRY_ZOO}
    locs |= {n: zoo_root / n for n in SLOW_ZOO}
    return FingerprintCache(locs, Path(os.environ.get("TAOKE_FP_CACHE") or data_dir / "fingerprints"))
