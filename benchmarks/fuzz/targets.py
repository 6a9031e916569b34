"""Fuzz targets: one per reader. Each takes the bytes of one input and drives taoke's public calls on it.

A target writes the input where a user's file would be (a file, or one file of a model folder chosen by the
input's first byte), then calls what a user (or the CLI, a hub pipeline, the Dask scan) calls:

* checkpoints: ``taoke.open_checkpoint(path)`` → ``tensor_infos``, ``metadata``, ``card``, ``config``,
  ``tokenizer_files``, ``embedded_tokenizer``, ``read(name)`` whole and ``read(name, rows=…)`` (first/last row,
  a slice, a strided selection) for every tensor; then the same checkpoint as ``taoke.open`` gives it
  (``Model``) → ``config``, ``roles``, ``card``, ``get(role)`` and ``get(role, rows=…)`` for every role,
  ``tokenizer()``;
* the fingerprint file: ``Fingerprint.load(path)`` and what ``taoke compare`` then asks of it (its view:
  ``config``, ``card``, ``roles``, ``get``, ``unit_parts``, ``role_std``, ``tokenizer()``);
* the index database: ``IndexStore(path)`` read-only and read-write (migrations), then ``models``, ``header``,
  ``fingerprint``, ``sketches``, ``scan_state``, ``cached_pair``.

Whole tensors are always read, whatever their declared size: a reader must refuse a lying extent before it
allocates, and the fuzzing process runs under an address-space limit (``setrlimit(RLIMIT_AS)``) so that an
allocation the file cannot back is a finding, not a swap storm.

The oracle: a :class:`taoke.errors.TaokeError` is the expected answer to a bad input, and it must be one line
that names its subject (a file, tensor or folder); any other exception (``ValueError``, ``MemoryError``,
``KeyError``…), a multi-line or subject-less ``TaokeError``, a timeout or the RSS limit is a finding.

Run one target under atheris (``python targets.py TARGET [libFuzzer flags] CORPUS SEEDS``) or through
``benchmarks/fuzz/run.py``; :func:`run_input` replays one input in-process (the regression tests).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import seeds as _seeds  # noqa: E402

TARGETS = ("safetensors", "safetensors-sharded", "gguf", "hf-folder", "torch", "onnx", "fingerprint", "index-db")

#: how many tensors / roles one input exercises at most (a fuzzed header can list thousands)
MAX_TENSORS = 48
MAX_ROLES = 48


class Finding(Exception):
    """A TaokeError that breaks the one-line/subject contract (other exceptions are findings as they are)."""


class MemoryBound(Exception):
    """An input after which the process's peak RSS grew past the budget: something allocated (and touched) far
    more than the input's bytes can back."""


def _check_error(e: BaseException) -> None:
    from taoke.errors import TaokeError

    if not isinstance(e, TaokeError):
        raise e
    line = str(e)
    if not line.isprintable():
        raise Finding(f"{type(e).__name__} is not one printable line: {line[:200]!r}") from e
    if not e.subject:
        raise Finding(f"{type(e).__name__} without a subject: {line[:200]!r}") from e


def _try(fn: Callable[[], Any]) -> Any:
    """Call ``fn``; a well-formed TaokeError is the expected answer (returns None), anything else propagates."""
    from taoke.errors import TaokeError

    try:
        return fn()
    except TaokeError as e:
        _check_error(e)
        return None


def _row_selections(n: int, first_of_kind: bool) -> list[Any]:
    """Row requests for a tensor/role of ``n`` rows: the whole of it always (a lying extent must be refused before
    it is allocated); the first of each kind (dtype and rank, or role layout) also gets two scattered rows, a
    slice, the last row and a sparse strided selection (the other paths of ``gather_rows`` and the layouts)."""
    if n <= 0:
        return [None, []]
    if not first_of_kind:
        return [None]
    return [None, [n - 1, 0], slice(0, min(n, 3)), slice(n - 1, n), list(range(0, n, max(1, n // 3)))]


class _Kinds:
    """Remembers which kinds were seen: ``first(key)`` is True once per key."""

    def __init__(self) -> None:
        self.seen: set[Any] = set()

    def first(self, key: Any) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def exercise_checkpoint(location: str, *, read_tensors: bool = True) -> None:
    """What a user does with a checkpoint, every call guarded separately so one refused tensor does not hide the
    next one's behaviour. ``read_tensors=False`` skips the checkpoint-level reads (the HF-folder target, whose
    weights file is fixed: its roles are still read through ``get``, which the fuzzed config steers)."""
    import taoke
    from taoke.model import Model

    ck = _try(lambda: taoke.open_checkpoint(location))
    if ck is None:
        return
    try:
        infos = _try(ck.tensor_infos) or {}
        _try(lambda: dict(ck.metadata))
        _try(ck.card)
        _try(ck.config)
        _try(ck.tokenizer_files)
        _try(ck.embedded_tokenizer)
        _try(lambda: ck.file_size)
        kinds = _Kinds()
        for name in list(infos)[:MAX_TENSORS] if read_tensors else ():
            info = infos[name]
            for rows in _row_selections(info.n_rows, kinds.first((info.dtype, len(info.shape)))):
                _try(lambda rows=rows, name=name: ck.read(name, rows=rows))
        model = _try(lambda: Model(ck))
        if model is None:
            return
        _try(lambda: model.config)
        _try(lambda: (model.param_count, model.dtype_summary))
        roles = _try(lambda: model.roles)
        if roles is not None:
            _try(lambda: model.inferred_config)
            kinds = _Kinds()
            for role in list(roles.refs)[:MAX_ROLES]:
                ref = roles.refs[role]
                n = ref.shape[0] if ref.shape else 1
                kind = (ref.layout, ref.transposed, ref.row_range is not None, ref.stack_index is not None,
                        len(ref.shape))
                for rows in _row_selections(n, kinds.first(kind)):
                    _try(lambda rows=rows, role=role: model.get(role, rows=rows))
        _try(model.tokenizer)
    finally:
        _try(ck.close)


def exercise_fingerprint(path: str) -> None:
    """``Fingerprint.load`` and what ``taoke compare`` / the index search ask of the record (its view)."""
    from taoke.index.fingerprint import Fingerprint

    fp = _try(lambda: Fingerprint.load(path))
    if fp is not None:
        exercise_view(fp)


def exercise_view(fp: Any) -> None:
    from taoke.index.view import FingerprintView

    view = _try(lambda: FingerprintView(fp))
    if view is None:
        return
    for attr in ("config", "card", "layers", "file_size", "path", "name", "weights_format", "family", "unit_layers",
                 "fingerprint_params", "role_method", "params_outside_roles"):
        if hasattr(type(view), attr):
            _try(lambda attr=attr: getattr(view, attr))
    _try(view.tokenizer)
    shapes = _try(view.role_shapes) or {}
    kinds = _Kinds()
    for role in list(shapes)[:MAX_ROLES]:
        n = shapes[role][0] if shapes[role] else 1
        _try(lambda role=role: view.role_std(role))
        _try(lambda role=role: view.role_dtype(role))
        if hasattr(view, "fixed_cells"):
            _try(lambda role=role: view.fixed_cells(role))
        for rows in _row_selections(n, kinds.first((role == "embed", len(shapes[role])))):
            _try(lambda rows=rows, role=role: view.get(role, rows=rows))
    layers = _try(lambda: view.unit_layers) or ()
    for layer in list(layers)[:8]:
        _try(lambda layer=layer: view.unit_parts(layer))
    _try(lambda: view.embed_rows_available(np.arange(8)))


def exercise_index(path: str) -> None:
    from taoke.index.store import IndexStore

    for readonly in (True, False):
        st = _try(lambda readonly=readonly: IndexStore(path, readonly=readonly, timeout=0.5))
        if st is not None:
            try:
                _exercise_store(st)
            finally:
                st.close()


def _exercise_store(st: Any) -> None:
    _try(st.count)
    models = _try(st.models) or []
    ids = [m.id for m in models[:8]]
    for mid in ids:
        _try(lambda mid=mid: st.header(mid))
        fp = _try(lambda mid=mid: st.fingerprint(mid))
        if fp is not None:
            exercise_view(fp)
    _try(lambda: st.sketches(ids))
    _try(st.scan_state)
    if len(ids) >= 2:
        _try(lambda: st.cached_pair(ids[0], ids[1]))
    for m in models[:2]:
        _try(lambda m=m: st.model(m.name))


class Harness:
    """Holds the work folder and the fixed files of the multi-file targets; :meth:`run` takes one input."""

    def __init__(self, target: str, seeds_dir: Path | None = None) -> None:
        if target not in TARGETS:
            raise SystemExit(f"unknown target {target!r}; one of {', '.join(TARGETS)}")
        self.target = target
        self.seeds_dir = Path(seeds_dir or _seeds.default_dest())
        _seeds.build(self.seeds_dir)
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.work = Path(tempfile.mkdtemp(prefix=f"taoke-fuzz-{target}-", dir=base))
        self._folders: list[Path] = []
        if target == "hf-folder":
            for i, (variant, _fname) in enumerate(_seeds.HF_VARIANTS):
                d = self.work / f"v{i:02d}"
                shutil.copytree(self.seeds_dir / "hf-base" / variant, d)
                self._folders.append(d)
        elif target == "safetensors-sharded":
            shutil.copytree(self.seeds_dir / "sharded-base", self.work / "sharded")
        elif target == "fingerprint":
            self._fp_members = _seeds.npz_members((self.seeds_dir / "fingerprint-base.tkfp").read_bytes())
        self._originals: dict[Path, bytes] = {}

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    def _put(self, path: Path, data: bytes) -> None:
        """Write ``data`` at ``path``; remember what was there, to restore it before the next input."""
        if path not in self._originals:
            self._originals[path] = path.read_bytes() if path.exists() else b""
        path.write_bytes(data)

    def _restore(self) -> None:
        for p, data in self._originals.items():
            p.write_bytes(data)
        self._originals.clear()

    def run(self, data: bytes) -> None:
        from taoke import tokenizers

        tokenizers.clear_cache()
        self._restore()
        t = self.target
        single = {"safetensors": "model.safetensors", "gguf": "model.gguf", "torch": "pytorch_model.bin",
                  "onnx": "model.onnx"}
        if t in single:
            p = self.work / single[t]
            p.write_bytes(data)
            exercise_checkpoint(str(p))
        elif t == "safetensors-sharded":
            if not data:
                return
            d = self.work / "sharded"
            self._put(d / _seeds.SHARD_FILES[data[0] % len(_seeds.SHARD_FILES)], data[1:])
            exercise_checkpoint(str(d / _seeds.SHARD_FILES[0]))
        elif t == "hf-folder":
            if not data:
                return
            k = data[0] % len(_seeds.HF_VARIANTS)
            d = self._folders[k]
            self._put(d / _seeds.HF_VARIANTS[k][1], data[1:])
            exercise_checkpoint(str(d), read_tensors=_seeds.HF_VARIANTS[k][0] == "torch-index")
        elif t == "fingerprint":
            p = self.work / "model.tkfp"
            if not data or data[0] == 0:
                p.write_bytes(data[1:])
            else:
                k = (data[0] - 1) % len(self._fp_members)
                members = list(self._fp_members)
                members[k] = (members[k][0], data[1:])
                p.write_bytes(_seeds.npz_stored(members))
            exercise_fingerprint(str(p))
        elif t == "index-db":
            p = self.work / "index.db"
            for suffix in ("", "-wal", "-shm", "-journal"):
                q = Path(str(p) + suffix)
                if q.exists():
                    q.unlink()
            p.write_bytes(data)
            exercise_index(str(p))


def run_input(target: str, data: bytes, seeds_dir: Path | None = None, *, traced_limit: int | None = None) -> int:
    """Replay one input in this process (regression tests); raises what the fuzzer would call a finding.

    With ``traced_limit`` (bytes), the run is traced (:mod:`tracemalloc`, which sees numpy's buffers) and a peak
    above the limit is a :class:`MemoryBound` finding. Returns the traced peak (0 when not traced)."""
    import tracemalloc

    h = Harness(target, seeds_dir)
    peak = 0
    try:
        if traced_limit is not None:
            tracemalloc.start()
        try:
            h.run(data)
        finally:
            if traced_limit is not None:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        if traced_limit is not None and peak > traced_limit:
            raise MemoryBound(f"traced peak {peak >> 20} MB on an input of {len(data)} bytes")
    finally:
        h.close()
    return peak


class FindingRecorder:
    """Keeps one input per distinct finding (exception type + innermost taoke frame) under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: set[str] = set()

    @staticmethod
    def signature(e: BaseException) -> str:
        """``Type@module:line`` of the innermost taoke frame (for a contract :class:`Finding`: of the TaokeError
        it wraps, prefixed ``Finding:``)."""
        import traceback

        prefix = ""
        if isinstance(e, Finding) and e.__cause__ is not None:
            prefix, e = "Finding:", e.__cause__
        frames = traceback.extract_tb(e.__traceback__)
        where = next((f for f in reversed(frames) if "/taoke/" in f.filename), frames[-1] if frames else None)
        loc = f"{where.filename.rsplit('/taoke/', 1)[-1]}:{where.lineno}" if where else "?"
        return f"{prefix}{type(e).__name__}@{loc}"

    def record(self, e: BaseException, data: bytes) -> bool:
        """Save a new finding (True) or ignore a repeat (False)."""
        import hashlib
        import traceback

        sig = self.signature(e)
        if sig in self.seen:
            return False
        self.seen.add(sig)
        self.folder.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha1(sig.encode()).hexdigest()[:12]
        (self.folder / f"finding-{h}.bin").write_bytes(data)
        text = f"{sig}\n{type(e).__name__}: {str(e)[:500]}\n\n" + "".join(traceback.format_exception(e))
        (self.folder / f"finding-{h}.txt").write_text(text, errors="backslashreplace")
        sys.stderr.write(f"taoke-fuzz: FINDING {sig}: {ascii(str(e)[:200])}\n")
        return True


def limit_memory(extra_mb: int) -> int:
    """Cap this process's address space at its current size + ``extra_mb`` (returns the cap in MB)."""
    import resource

    with open("/proc/self/statm") as f:
        vm_pages = int(f.read().split()[0])
    cap = vm_pages * os.sysconf("SC_PAGE_SIZE") + extra_mb * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap >> 20


def _import_instrumented() -> None:
    import atheris

    with atheris.instrument_imports(include=["taoke", "zipfile"]):
        import zipfile  # noqa: F401

        import taoke  # noqa: F401
        import taoke.index.fingerprint  # noqa: F401
        import taoke.index.store  # noqa: F401
        import taoke.index.view  # noqa: F401
        import taoke.io  # noqa: F401
        import taoke.io.gguf  # noqa: F401
        import taoke.io.hf_dir  # noqa: F401
        import taoke.io.onnx  # noqa: F401
        import taoke.io.safetensors  # noqa: F401
        import taoke.io.torch_bin  # noqa: F401
        import taoke.model  # noqa: F401
        import taoke.roles  # noqa: F401
        import taoke.tokenizers  # noqa: F401


def main(argv: list[str]) -> None:  # pragma: no cover - run by run.py in a subprocess
    import atheris

    if len(argv) < 2:
        raise SystemExit("usage: targets.py TARGET [libFuzzer flags] [CORPUS_DIR ...]")
    target = argv[1]
    extra_mb = int(os.environ.get("TAOKE_FUZZ_AS_EXTRA_MB", "1024"))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import warnings

    warnings.simplefilter("ignore")  # NaN/overflow RuntimeWarnings of mutated float data are not findings
    _import_instrumented()
    import onnx  # noqa: F401 - loaded before the memory cap, as a user's process would have it
    import sentencepiece  # noqa: F401
    import tokenizers  # noqa: F401

    harness = Harness(target)
    findings = Path(os.environ.get("TAOKE_FUZZ_FINDINGS", "fuzz-findings")) / target
    stop = os.environ.get("TAOKE_FUZZ_STOP_ON_FINDING") == "1"
    recorder = FindingRecorder(findings)
    cap = limit_memory(extra_mb)
    sys.stderr.write(f"taoke-fuzz: target {target}, address space capped at {cap} MB (+{extra_mb} MB), "
                     f"findings to {findings}{' (stop at the first)' if stop else ''}\n")

    import resource

    rss_budget = int(os.environ.get("TAOKE_FUZZ_RSS_GROWTH_MB", "192")) << 10  # KB, like ru_maxrss

    def one(data: bytes) -> None:
        # The check is per input: the peak RSS this one input added. atheris' instrumentation makes a long
        # fuzzing process grow by about 1 KB per input whatever the reader does (measured on hf-folder: flat
        # RSS over 20,000 mutated inputs uninstrumented, +1 MB per 1,000 instrumented), so a budget over the
        # process's start flags whichever input happens to cross it after enough inputs.
        try:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            harness.run(data)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if peak - before > rss_budget:
                raise MemoryBound(f"peak RSS grew by {(peak - before) >> 10} MB (to {peak >> 10} MB) on an input of "
                                  f"{len(data)} bytes (budget: {rss_budget >> 10} MB per input)")
        except Exception as e:  # noqa: BLE001 - every non-TaokeError is a finding: record it, go on
            if recorder.record(e, data) and stop:
                raise

    atheris.Setup([argv[0], *argv[2:]], one)
    try:
        atheris.Fuzz()
    finally:
        harness.close()


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv)
