"""Byte sources: where a checkpoint's bytes come from, and how many were read.

Every reader in :mod:`taoke.io` reads through a :class:`Source` (``read_at(offset, n)``), never through a
whole-file ``open().read()`` or a memory map, so that

* the bytes actually read are counted exactly (``bytes_read``), for the "bytes read per verdict" benchmark;
* a local file and an HTTP range-request URL (:mod:`taoke.io.remote`) are the same thing to a reader;
* a header that points past the end of the file is caught (``CorruptFile``) instead of read as zeros.

Example::

    >>> src = LocalSource("model.safetensors")          # doctest: +SKIP
    >>> header_len = int.from_bytes(src.read_at(0, 8), "little")  # doctest: +SKIP
    >>> src.bytes_read                                   # doctest: +SKIP
    8
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

from taoke.errors import CorruptFile, ReaderError


class Source(ABC):
    """A read-only, random-access byte source that counts what it reads."""

    name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self._bytes_read = 0
        self._lock = threading.Lock()

    @property
    @abstractmethod
    def size(self) -> int:
        """Total size in bytes."""

    @abstractmethod
    def _read(self, offset: int, n: int) -> bytes:
        """Read exactly ``n`` bytes at ``offset`` (bounds already checked)."""

    @property
    def bytes_read(self) -> int:
        return self._bytes_read

    def read_at(self, offset: int, n: int, *, what: str = "data") -> bytes:
        """Read ``n`` bytes at ``offset``; raise :class:`CorruptFile` if that runs past the end."""
        if n < 0 or offset < 0:
            raise CorruptFile(f"negative offset or length for {what} ({offset}, {n})", subject=self.name)
        if offset + n > self.size:
            raise CorruptFile(
                f"{what} at bytes {offset}..{offset + n} runs past the end of the file ({self.size} bytes)",
                subject=self.name,
                hint="the file is truncated or its header lies; re-download it",
            )
        if n == 0:
            return b""
        data = self._read(offset, n)
        if len(data) != n:
            raise CorruptFile(f"short read for {what}: wanted {n} bytes, got {len(data)}", subject=self.name)
        with self._lock:
            self._bytes_read += n
        return data

    def read_ranges(self, spans: Sequence[tuple[int, int]], *, what: str = "data") -> list[bytes]:
        """Read several ``(offset, n)`` spans at once, in the order given.

        The default reads them one by one (sorted by offset, for locality); a remote source overrides
        :meth:`_read_ranges` to coalesce nearby spans and fetch them concurrently (:mod:`taoke.io.remote`).
        ``bytes_read`` grows by the sum of the spans, as if each had been read with :meth:`read_at`.
        """
        spans = [(int(o), int(n)) for o, n in spans]
        for offset, n in spans:
            if n < 0 or offset < 0:
                raise CorruptFile(f"negative offset or length for {what} ({offset}, {n})", subject=self.name)
            if offset + n > self.size:
                raise CorruptFile(
                    f"{what} at bytes {offset}..{offset + n} runs past the end of the file ({self.size} bytes)",
                    subject=self.name, hint="the file is truncated or its header lies; re-download it",
                )  # fmt: skip
        out = self._read_ranges(spans)
        for (_, n), data in zip(spans, out, strict=True):
            if len(data) != n:
                raise CorruptFile(f"short read for {what}: wanted {n} bytes, got {len(data)}", subject=self.name)
        with self._lock:
            self._bytes_read += sum(n for _, n in spans)
        return out

    def _read_ranges(self, spans: list[tuple[int, int]]) -> list[bytes]:
        out: list[bytes] = [b""] * len(spans)
        for i in sorted(range(len(spans)), key=lambda k: spans[k][0]):
            offset, n = spans[i]
            out[i] = self._read(offset, n) if n else b""
        return out

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the underlying handle."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalSource(Source):
    """A local file read with ``os.pread`` (no memory map, so every byte read is counted)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = os.fspath(path)
        super().__init__(path)
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise ReaderError("no such file", subject=path, hint="check the path") from None
        except IsADirectoryError:
            raise ReaderError("is a directory, expected a file", subject=path) from None
        except OSError as e:
            raise ReaderError(f"cannot open: {e.strerror}", subject=path) from None
        self._size = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        return self._size

    def _read(self, offset: int, n: int) -> bytes:
        chunks = []
        got = 0
        while got < n:
            b = os.pread(self._fd, n - got, offset + got)
            if not b:
                break
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def close(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None  # type: ignore[assignment]

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class BytesSource(Source):
    """An in-memory buffer, for tests and for small members extracted from archives."""

    def __init__(self, data: bytes, name: str = "<bytes>") -> None:
        super().__init__(name)
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    def _read(self, offset: int, n: int) -> bytes:
        return self._data[offset : offset + n]


class SubSource(Source):
    """A window ``[start, start+length)`` of another source (a member stored uncompressed in a zip)."""

    def __init__(self, parent: Source, start: int, length: int, name: str) -> None:
        super().__init__(name)
        if start < 0 or start + length > parent.size:
            raise CorruptFile(f"member {name} lies outside the file", subject=parent.name)
        self._parent = parent
        self._start = start
        self._length = length

    @property
    def size(self) -> int:
        return self._length

    def _read(self, offset: int, n: int) -> bytes:
        return self._parent.read_at(self._start + offset, n, what=self.name)

    def _read_ranges(self, spans: list[tuple[int, int]]) -> list[bytes]:
        return self._parent.read_ranges([(self._start + o, n) for o, n in spans], what=self.name)

    @property
    def bytes_read(self) -> int:
        return self._bytes_read


def open_source(location: str | os.PathLike[str]) -> Source:
    """A :class:`Source` for a local path or an ``http(s)://`` URL."""
    loc = os.fspath(location)
    if loc.startswith(("http://", "https://")):
        from taoke.io.remote import HttpSource

        return HttpSource(loc)
    return LocalSource(loc)
