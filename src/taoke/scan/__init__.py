"""Fingerprint many models into an index, in parallel and resumably (``taoke scan``).

Work items are locations (files, folders, ``http(s)://`` URLs). Workers — a local process pool or the workers
of a Dask ``distributed`` cluster (``LocalCluster`` or ``tcp://scheduler:8786``) — open each location themselves
and return the fingerprint *bytes*; only the client writes SQLite (one writer, :mod:`taoke.index.store`), each
model in its own transaction together with its ``scan`` row, so a crash or Ctrl-C loses nothing finished and a
rerun skips what is ``done``. A model that fails (unreadable, unsupported, no weights) is recorded as ``failed``
with the one-line reason and the scan goes on; ``retry_failed`` runs those again. The same function runs on a
multi-machine cluster: nothing but the location string travels to a worker, nothing but bytes come back.

Concessions: workers must be able to reach the locations (shared filesystem or URLs); results are collected in
completion order; a worker that dies mid-model loses only that model (it stays pending for the next run).
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taoke.errors import TaokeError, UsageError


@dataclass(frozen=True)
class ScanItem:
    location: str
    status: str  # done | failed | skipped
    name: str | None = None
    reason: str | None = None
    seconds: float = 0.0
    bytes_read: int = 0
    file_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ScanResult:
    items: tuple[ScanItem, ...]
    seconds: float
    workers: int
    cluster: str
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "taoke.scan", "version": 1, "seconds": round(self.seconds, 2), "workers": self.workers,
                "cluster": self.cluster, "done": self.count("done"), "failed": self.count("failed"),
                "skipped": self.count("skipped"), "items": [i.to_dict() for i in self.items]}  # fmt: skip


def expand_targets(spec: str | Iterable[str]) -> list[str]:
    """A list file (one location a line, ``#`` comments), a glob, a folder of models, a URL, or an iterable."""
    if not isinstance(spec, str):
        return [str(s) for s in spec]
    if spec.startswith(("http://", "https://")):
        return [spec]
    p = Path(spec)
    if p.is_file() and p.suffix in (".txt", ".list", ".lst"):
        out = []
        for line in p.read_text().splitlines():
            s = line.split("#", 1)[0].strip()
            if s:
                out.append(s)
        return out
    if any(ch in spec for ch in "*?["):
        hits = sorted(glob.glob(spec))
        if not hits:
            raise UsageError(f"no file matches {spec!r}", hint="quote the glob so the shell does not expand it")
        return hits
    if p.exists():
        return [str(p)]
    raise UsageError(f"nothing to scan at {spec!r}", subject=spec, hint="give a file, folder, glob, URL or list file")


def fingerprint_bytes(location: str, units: int = 32, unit_layers: int | None = None
                      ) -> tuple[bytes | None, str | None]:  # fmt: skip
    """Worker side: ``(fingerprint bytes, None)`` or ``(None, one-line reason)``. Never raises."""
    try:
        from taoke.index.fingerprint import make_fingerprint

        fp = make_fingerprint(location, units=units, unit_layers=unit_layers)
        return fp.to_bytes(), None
    except TaokeError as e:
        return None, e.one_line()
    except MemoryError:
        return None, "out of memory"
    except Exception as e:  # noqa: BLE001 - a scan records any failure and goes on
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"


def _name_for(store: Any, fp: Any, location: str) -> str:
    """The fingerprint's default name, made unique if another location already uses it."""
    base = fp.name or location
    name = base
    k = 2
    while True:
        try:
            m = store.model(name)
        except TaokeError:
            return name
        if m.location == location:
            return name
        name = f"{base}~{k}"
        k += 1


def run_scan(
    targets: str | Iterable[str],
    index: str | os.PathLike[str],
    *,
    workers: int = 1,
    cluster: str | None = None,
    units: int = 32,
    unit_layers: int | None = None,
    retry_failed: bool = False,
    progress: Callable[[ScanItem, int, int], None] | None = None,
    client: Any = None,
) -> ScanResult:
    """Fingerprint every target not yet ``done`` in ``index`` and add it (see the module docstring).

    ``cluster``: None/``"local"`` → process pool of ``workers`` (1 = in this process); ``"dask-local"`` → a
    ``distributed.LocalCluster``; ``tcp://host:port`` → that Dask scheduler. ``client`` passes a ready
    ``distributed.Client`` (tests).
    """
    from taoke.index.fingerprint import Fingerprint
    from taoke.index.store import open_store

    t0 = time.perf_counter()
    locs = list(dict.fromkeys(expand_targets(targets)))
    store = open_store(index)
    items: list[ScanItem] = []
    try:
        state = store.scan_state()
        todo = []
        for loc in locs:
            st = state.get(loc, {}).get("status")
            if st == "done" or (st == "failed" and not retry_failed):
                items.append(ScanItem(loc, "skipped", reason=f"already {st}"))
            else:
                todo.append(loc)
        total = len(todo)

        def record(loc: str, data: bytes | None, reason: str | None, secs: float) -> None:
            if data is None:
                store.mark_failed(loc, reason or "unknown error")
                it = ScanItem(loc, "failed", reason=reason, seconds=secs)
            else:
                fp = Fingerprint.from_bytes(data, subject=loc)
                name = _name_for(store, fp, loc)
                store.add(fp, name=name, scan_location=loc)
                src = fp.header["source"]
                it = ScanItem(loc, "done", name=name, seconds=secs, bytes_read=int(src["bytes_read"]),
                              file_size=int(src["file_size"]))  # fmt: skip
            items.append(it)
            if progress:
                progress(it, sum(1 for i in items if i.status != "skipped"), total)

        mode = "local"
        if cluster in (None, "", "local"):
            _run_local(todo, workers, (units, unit_layers), record)
        else:
            mode = _run_dask(todo, cluster, workers, (units, unit_layers), record, client)
    finally:
        store.close()
    return ScanResult(tuple(items), time.perf_counter() - t0, workers, mode if todo else (cluster or "local"))


def _run_local(todo: list[str], workers: int, fp_args: tuple[int, int | None],
               record: Callable[[str, bytes | None, str | None, float], None]) -> None:  # fmt: skip
    if workers <= 1:
        for loc in todo:
            t = time.perf_counter()
            data, reason = fingerprint_bytes(loc, *fp_args)
            record(loc, data, reason, time.perf_counter() - t)
        return
    # spawn: workers start clean (no inherited SQLite handles or threads)
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        started = {ex.submit(_timed, loc, fp_args): loc for loc in todo}
        pending = set(started)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                loc = started[f]
                try:
                    data, reason, secs = f.result()
                except Exception as e:  # noqa: BLE001 - a crashed worker process is a failure of that model
                    data, reason, secs = None, f"worker crashed: {type(e).__name__}", 0.0
                record(loc, data, reason, secs)


def _timed(loc: str, fp_args: tuple[int, int | None]) -> tuple[bytes | None, str | None, float]:
    t = time.perf_counter()
    data, reason = fingerprint_bytes(loc, *fp_args)
    return data, reason, time.perf_counter() - t


def _run_dask(todo: list[str], cluster: str, workers: int, fp_args: tuple[int, int | None],
              record: Callable[[str, bytes | None, str | None, float], None], client: Any) -> str:  # fmt: skip
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - dask is an optional extra
        raise UsageError("--cluster needs dask distributed", hint="pip install 'taoke[dask]'") from None
    own_client = client is None
    lc = None
    if client is None:
        if cluster == "dask-local":
            lc = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=workers > 1,
                              dashboard_address=":0")  # fmt: skip
            client = Client(lc)
        elif cluster.startswith("tcp://"):
            client = Client(cluster)
        else:
            raise UsageError(f"unknown cluster {cluster!r}", hint="use local, dask-local or tcp://host:port")
    try:
        futs = {client.submit(_timed, loc, fp_args, key=f"taoke-fp-{abs(hash(loc))}-{i}", pure=False): loc
                for i, loc in enumerate(todo)}  # fmt: skip
        for f in as_completed(list(futs)):
            loc = futs[f]
            try:
                data, reason, secs = f.result()
            except Exception as e:  # noqa: BLE001 - a lost worker is a failure of that model, recorded
                data, reason, secs = None, f"dask task failed: {type(e).__name__}: {str(e)[:120]}", 0.0
            record(loc, data, reason, secs)
    finally:
        if own_client:
            client.close()
            if lc is not None:
                lc.close()
    return "dask:" + (cluster if cluster.startswith("tcp://") else "local")
