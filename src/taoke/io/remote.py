"""HTTP(S) range-request byte source: read a remote checkpoint without downloading it.

:class:`HttpSource` is a :class:`~taoke.io.source.Source` whose ``read_at`` issues ``Range`` requests through an
``httpx`` client. Small reads (headers, index files, a few rows) go through a bounded LRU cache of 256 KiB
blocks aligned to 256 KiB, so parsing a header of thousands of little fields costs a handful of requests; reads
larger than a block are fetched exactly, uncached.

Counters: ``bytes_read`` (bytes the caller asked for, like every source), ``bytes_transferred`` (bytes that
came over the network) and ``requests``.

Simplifications accepted: the file is assumed not to change while it is read (no ETag/If-Range pinning); the
size comes from the first request, ``Range: bytes=0-0`` (``Content-Range: bytes 0-0/SIZE``), falling back to
``HEAD`` only when the server answers that request with 416 (an empty file). A server that ignores ranges
(answers 200 with the whole body) is detected on that first request and refused: the response is streamed
and closed without reading its body. 404/410/403 fail at once; 5xx, 429, timeouts and dropped connections are
retried twice with exponential backoff, then raised as :class:`RemoteError`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict

import httpx

from taoke.errors import RemoteError
from taoke.io.source import Source

__all__ = ["HttpSource", "BLOCK_SIZE"]

BLOCK_SIZE = 64 * 1024
EXACT_MIN = 256  # reads at least this long are fetched exactly (unless already cached); shorter ones by block
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class HttpSource(Source):
    """A remote file read by HTTP range requests, with a small block cache."""

    def __init__(self, url: str, *, timeout: float = 30.0, retries: int = 2, backoff: float = 0.25,
                 cache_blocks: int = 64, client: httpx.Client | None = None) -> None:
        super().__init__(url)
        self.url = url
        self._retries = retries
        self._backoff = backoff
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_blocks = max(1, cache_blocks)
        self._cache_lock = threading.Lock()
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True,
                                              headers={"Accept-Encoding": "identity"})
        self.bytes_transferred = 0
        self.requests = 0
        try:
            self._size = self._probe_size()
        except BaseException:
            self.close()
            raise

    # -- HTTP -----------------------------------------------------------------------------------------
    def _send(self, method: str, headers: dict[str, str]) -> httpx.Response:
        """Send one request (streamed), retrying transient failures; the caller must close the response."""
        delay = self._backoff
        last = ""
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(delay)
                delay *= 2
            try:
                req = self._client.build_request(method, self.url, headers=headers)
                resp = self._client.send(req, stream=True)
            except httpx.TimeoutException:
                last = "timed out"
                continue
            except httpx.ConnectError as e:
                raise RemoteError(f"cannot connect ({_short(e)})", subject=self.url,
                                  hint="check the URL and that the server is up") from None
            except httpx.TransportError as e:
                last = f"connection failed ({_short(e)})"
                continue
            except httpx.InvalidURL as e:
                raise RemoteError(f"invalid URL ({_short(e)})", subject=self.url) from None
            with self._lock:
                self.requests += 1
            if resp.status_code in _RETRY_STATUS:
                last = f"server answered HTTP {resp.status_code}"
                resp.close()
                continue
            if resp.status_code in (404, 410):
                resp.close()
                raise RemoteError(f"not found (HTTP {resp.status_code})", subject=self.url,
                                  hint="check the URL")
            if resp.status_code in (401, 403):
                resp.close()
                raise RemoteError(f"access denied (HTTP {resp.status_code})", subject=self.url,
                                  hint="the file needs credentials taoke does not send")
            return resp
        raise RemoteError(f"{last} after {self._retries + 1} attempts", subject=self.url,
                          hint="the server is failing or slow; try again later")

    def _probe_size(self) -> int:
        resp = self._send("GET", {"Range": "bytes=0-0"})
        try:
            if resp.status_code == 200:
                raise RemoteError("server ignores HTTP range requests; download the file first",
                                  subject=self.url)
            if resp.status_code == 416:
                return self._head_size()
            if resp.status_code != 206:
                raise RemoteError(f"unexpected HTTP {resp.status_code} to a range request", subject=self.url)
            m = _CONTENT_RANGE.match(resp.headers.get("content-range", ""))
            if not m or m.group(3) == "*":
                raise RemoteError("range response lacks a usable Content-Range header", subject=self.url)
            body = resp.read()
            self.bytes_transferred += len(body)
            return int(m.group(3))
        finally:
            resp.close()

    def _head_size(self) -> int:
        resp = self._send("HEAD", {})
        resp.close()
        try:
            return int(resp.headers["content-length"])
        except (KeyError, ValueError):
            raise RemoteError("cannot tell the file size (no Content-Range or Content-Length)",
                              subject=self.url) from None

    def _fetch(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` by one range request (exactly that many, or RemoteError)."""
        resp = self._send("GET", {"Range": f"bytes={start}-{stop - 1}"})
        try:
            if resp.status_code != 206:
                raise RemoteError(f"HTTP {resp.status_code} to a range request (expected 206)", subject=self.url,
                                  hint="the server stopped honouring ranges; download the file first")
            m = _CONTENT_RANGE.match(resp.headers.get("content-range", ""))
            if not m or int(m.group(1)) != start:
                raise RemoteError(f"server returned the wrong range for bytes {start}-{stop - 1}",
                                  subject=self.url)
            chunks = []
            got = 0
            want = stop - start
            try:
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    got += len(chunk)
                    if got > want:
                        raise RemoteError(f"server sent more than the {want} bytes asked for", subject=self.url)
            except httpx.HTTPError as e:
                raise RemoteError(f"transfer failed ({_short(e)})", subject=self.url) from None
            with self._lock:
                self.bytes_transferred += got
            return b"".join(chunks)
        finally:
            resp.close()

    # -- Source ---------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._size

    def _block(self, index: int) -> bytes:
        with self._cache_lock:
            blk = self._cache.get(index)
            if blk is not None:
                self._cache.move_to_end(index)
                return blk
        start = index * BLOCK_SIZE
        blk = self._fetch(start, min(self._size, start + BLOCK_SIZE))
        with self._cache_lock:
            self._cache[index] = blk
            while len(self._cache) > self._cache_blocks:
                self._cache.popitem(last=False)
        return blk

    def _read(self, offset: int, n: int) -> bytes:
        first, last = offset // BLOCK_SIZE, (offset + n - 1) // BLOCK_SIZE
        if n >= EXACT_MIN:
            with self._cache_lock:
                cached = all(i in self._cache for i in range(first, last + 1))
            if not cached:  # a row, a tensor, a header: exactly these bytes (blocks of scattered rows cost 7-100x)
                return self._fetch(offset, offset + n)
        data = b"".join(self._block(i) for i in range(first, last + 1))
        rel = offset - first * BLOCK_SIZE
        return data[rel : rel + n]

    def close(self) -> None:
        if self._own_client and getattr(self, "_client", None) is not None:
            self._client.close()
        with self._cache_lock:
            self._cache.clear()


def _short(e: Exception) -> str:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return msg[:160]
