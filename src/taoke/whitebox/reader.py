"""Batched reads of canonical roles: many row runs, row blocks and column blocks at once.

:class:`RowReader` serves the sampled evidence (:mod:`taoke.whitebox.sampled`) and the fingerprint's exact samples
(:mod:`taoke.index.fingerprint`): a role stored plainly in safetensors (the layout of every large published
checkpoint: not transposed, fused, rope-permuted or stacked) is read as byte spans through
:meth:`taoke.io.source.Source.read_ranges` — one batch per source, the sources side by side — so over HTTP the
spans are coalesced and fetched concurrently (:mod:`taoke.io.remote`), and a column block is ``rows`` small
segments instead of whole rows. Any other role goes through the model's ``get`` and is sliced afterwards
(correct, and as costly as reading those rows whole: GGUF blocks, for instance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RowReader", "RowRequest"]


@dataclass(frozen=True)
class RowRequest:
    """Rows ``rows`` (a slice or indices) of canonical role ``role``; only columns ``cols`` when given."""

    role: str
    rows: slice | np.ndarray
    cols: slice | None = None


class RowReader:
    """Batched reads of rows, row blocks and column blocks of a :class:`taoke.model.Model`'s canonical roles."""

    def __init__(self, model: Any) -> None:
        self.m = model
        self._plain_cache: dict[str, Any] = {}

    def plain(self, role: str) -> tuple[Any, int, str, tuple[int, ...]] | None:
        """(source, data offset, dtype, shape) when ``role`` is stored plainly in safetensors, else None."""
        if role in self._plain_cache:
            return self._plain_cache[role]  # type: ignore[no-any-return]
        out = None
        try:
            from taoke.io.safetensors import FLOAT_DTYPES, SafetensorsCheckpoint

            ref = self.m.roles.refs[role]
            ck = getattr(self.m, "checkpoint", None)
            while ck is not None and not isinstance(ck, SafetensorsCheckpoint) and hasattr(ck, "inner"):
                ck = ck.inner
            plain = (not ref.transposed and ref.layout is None and ref.row_range is None and ref.stack_index is None)
            if plain and isinstance(ck, SafetensorsCheckpoint):
                info = ck.info(ref.name)
                src, start = ck._where[ref.name]
                if info.dtype in FLOAT_DTYPES and len(info.shape) == 2 and tuple(info.shape) == tuple(ref.shape):
                    out = (src, start, info.dtype, tuple(info.shape))
        except (AttributeError, KeyError, ImportError):
            out = None
        self._plain_cache[role] = out
        return out

    def read(self, reqs: Sequence[RowRequest]) -> list[np.ndarray]:
        """float32 arrays, one per request, in order."""
        from taoke.io.safetensors import DTYPE_BITS, to_float32

        out: list[np.ndarray | None] = [None] * len(reqs)
        by_src: dict[int, tuple[Any, list[tuple[int, int]], list[tuple[int, int, int, str, int]]]] = {}
        for i, q in enumerate(reqs):
            p = self.plain(q.role)
            if p is None:
                x = np.asarray(self.m.get(q.role, rows=q.rows), dtype=np.float32)
                out[i] = np.ascontiguousarray(x if q.cols is None else x.reshape(x.shape[0], -1)[:, q.cols])
                continue
            src, start, dtype, shape = p
            n_rows, n_cols = shape
            isz = DTYPE_BITS[dtype] // 8
            c0, c1 = (0, n_cols) if q.cols is None else (q.cols.start or 0, q.cols.stop if q.cols.stop is not None
                                                         else n_cols)  # fmt: skip
            rows = np.arange(q.rows.start or 0, q.rows.stop if q.rows.stop is not None else n_rows) \
                if isinstance(q.rows, slice) else np.asarray(q.rows, dtype=np.int64)
            entry = by_src.setdefault(id(src), (src, [], []))
            first = len(entry[1])
            if c0 == 0 and c1 == n_cols and len(rows) and np.all(np.diff(rows) == 1):
                entry[1].append((start + int(rows[0]) * n_cols * isz, len(rows) * n_cols * isz))
            else:
                entry[1].extend((start + (int(r) * n_cols + c0) * isz, (c1 - c0) * isz) for r in rows)
            entry[2].append((i, first, len(entry[1]), dtype, c1 - c0))
        groups = list(by_src.values())
        if len(groups) > 1:  # several shards: their batches run side by side
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(4, len(groups))) as pool:
                raws = list(pool.map(lambda g: g[0].read_ranges(g[1], what="sampled rows"), groups))
        else:
            raws = [g[0].read_ranges(g[1], what="sampled rows") for g in groups]
        for (_src, _spans, items), raw in zip(groups, raws, strict=True):
            for i, a, b, dtype, width in items:
                buf = raw[a] if b - a == 1 else b"".join(raw[a:b])
                out[i] = to_float32(buf, dtype, (len(buf) // (width * (DTYPE_BITS[dtype] // 8)), width))
        assert all(x is not None for x in out)
        return out  # type: ignore[return-value]
