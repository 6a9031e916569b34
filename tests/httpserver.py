"""A real threaded HTTP server on 127.0.0.1 (random port) serving a directory, for remote-reader tests.

It speaks real HTTP over a real socket (``http.server.ThreadingHTTPServer``), so the client code under test runs
unchanged. Knobs:

* ``honor_range`` – answer ``Range: bytes=a-b`` / ``a-`` / ``-n`` with 206 + ``Content-Range`` (default), or
  ignore ranges and answer 200 with the whole file (what some CDNs and naive servers do);
* ``fail_first`` – answer the first N requests with 503 (to test retries);
* ``stall_s`` – sleep before answering (to test timeouts);
* ``cut_every`` – every N-th GET sends half its body and drops the connection (to test retried transfers).

Counters: ``requests`` (list of (method, path, range header)), ``bytes_sent`` (body bytes written) and
``max_inflight`` (most requests being answered at once).

Usage::

    with serve_directory(tmp_path) as srv:
        url = srv.url("model.safetensors")
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from taoke.zoo.scale_server import byte_range


@dataclass
class ServerState:
    root: Path
    honor_range: bool = True
    fail_first: int = 0
    stall_s: float = 0.0
    cut_every: int = 0
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    bytes_sent: int = 0
    inflight: int = 0
    max_inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: ServerState  # set on the subclass
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: with Nagle on, a small body waits for the client's delayed ACK
    # (~40 ms a request on loopback, measured: 4565 row requests took 200 s); real servers set TCP_NODELAY too
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _resolve(self) -> Path | None:
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        p = (self.state.root / rel).resolve()
        root = self.state.root.resolve()
        if root not in p.parents and p != root:
            return None
        return p if p.is_file() else None

    def _count(self) -> bool:
        st = self.state
        with st.lock:
            st.requests.append((self.command, self.path, self.headers.get("Range")))
            failing = len(st.requests) <= st.fail_first
        if st.stall_s:
            time.sleep(st.stall_s)
        if failing:
            self._empty(503)
            return False
        return True

    def _empty(self, code: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        if not self._count():
            return
        p = self._resolve()
        if p is None:
            self._empty(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(p.stat().st_size))
        self.send_header("Accept-Ranges", "bytes" if self.state.honor_range else "none")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        st = self.state
        with st.lock:
            st.inflight += 1
            st.max_inflight = max(st.max_inflight, st.inflight)
        try:
            self._get()
        finally:
            with st.lock:
                st.inflight -= 1

    def _get(self) -> None:
        if not self._count():
            return
        with self.state.lock:
            cut = bool(self.state.cut_every) and len(self.state.requests) % self.state.cut_every == 0
        p = self._resolve()
        if p is None:
            self._empty(404)
            return
        size = p.stat().st_size
        start, stop, code = 0, size, 200
        rng = self.headers.get("Range")
        if rng and self.state.honor_range:
            span = byte_range(rng, size)
            if span is None:
                self._empty(416, {"Content-Range": f"bytes */{size}"})
                return
            (start, stop), code = span, 206
        self.send_response(code)
        self.send_header("Content-Length", str(stop - start))
        self.send_header("Content-Type", "application/octet-stream")
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.end_headers()
        try:
            with open(p, "rb") as f:
                f.seek(start)
                left = stop - start
                if cut:  # half the body, then the connection drops
                    half = f.read(max(1, left // 2))
                    with self.state.lock:
                        self.state.bytes_sent += len(half)
                    self.wfile.write(half)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                while left:
                    chunk = f.read(min(left, 64 * 1024))
                    if not chunk:
                        break
                    # count before writing: once the client holds the bytes the counter already
                    # includes them, so a test reading it right after a request sees no lag
                    with self.state.lock:
                        self.state.bytes_sent += len(chunk)
                    self.wfile.write(chunk)
                    left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


@dataclass
class LocalHttpServer:
    state: ServerState
    base: str

    def url(self, rel: str | os.PathLike[str]) -> str:
        return f"{self.base}/{quote(str(rel))}"

    @property
    def requests(self) -> list[tuple[str, str, str | None]]:
        return self.state.requests

    @property
    def bytes_sent(self) -> int:
        return self.state.bytes_sent


@contextmanager
def serve_directory(root: str | os.PathLike[str], *, honor_range: bool = True, fail_first: int = 0,
                    stall_s: float = 0.0, cut_every: int = 0) -> Iterator[LocalHttpServer]:
    """Serve ``root`` on ``http://127.0.0.1:<random port>`` for the duration of the ``with`` block."""
    state = ServerState(Path(root), honor_range=honor_range, fail_first=fail_first, stall_s=stall_s,
                        cut_every=cut_every)
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LocalHttpServer(state, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
