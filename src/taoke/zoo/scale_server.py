"""A real HTTP server that serves generated checkpoints (:mod:`taoke.zoo.scale`) by range requests.

``GET /<model>/<file>`` with ``Range: bytes=a-b`` answers 206 with exactly the bytes a file of that size would hold
— generated on demand, so a 141 GB Llama-3-70B-shaped or a 1.3 TB DeepSeek-V3-shaped checkpoint can be read over
loopback without existing on disk. ``<model>`` is ``<arch>-a|b|c`` (:func:`taoke.zoo.scale.pair_specs`). A URL
ending in ``/<model>/`` is what :class:`taoke.io.hf_dir.HFRemoteDirCheckpoint` opens (config, tokenizer, index,
shards at their conventional names). ``GET /_stats`` returns the request and byte counters as JSON.

Run it in its own process for benchmarks (its memory is not the client's)::

    python -m taoke.zoo.scale_server --models llama-3-70b-a,llama-3-70b-b --port 0
    # prints "serving http://127.0.0.1:PORT" once ready

Simplifications: HTTP/1.1 keep-alive, one range per request (a multi-range request is answered 416), no ETag.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from taoke.zoo.scale import ScaleModel, scale_model

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """``[start, stop)`` of a single-range ``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` header on a resource of
    ``size`` bytes; None when it is malformed or unsatisfiable (the answer is then 416)."""
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if m.group(1):
        start = int(m.group(1))
        stop = min(size, int(m.group(2)) + 1) if m.group(2) else size
    else:
        start, stop = max(0, size - int(m.group(2))), size
    return None if start >= size or stop <= start else (start, stop)
_CHUNK = 4 << 20


class ScaleServerState:
    def __init__(self, models: Sequence[str]) -> None:
        self.names = list(models)
        self._models: dict[str, ScaleModel] = {}
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes_sent = 0

    def model(self, name: str) -> ScaleModel | None:
        if name not in self.names:
            return None
        with self.lock:
            if name not in self._models:
                self._models[name] = scale_model(name)
            return self._models[name]


class _Handler(BaseHTTPRequestHandler):
    state: ScaleServerState
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _target(self) -> tuple[ScaleModel, str, int] | None:
        parts = unquote(urlsplit(self.path).path).strip("/").split("/", 1)
        if len(parts) != 2:
            return None
        m = self.state.model(parts[0])
        if m is None or parts[1] not in m.files:
            return None
        return m, parts[1], m.files[parts[1]]

    def _empty(self, code: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        t = self._target()
        if t is None:
            self._empty(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(t[2]))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        with self.state.lock:
            self.state.requests += 1
        if urlsplit(self.path).path == "/_stats":
            body = json.dumps({"requests": self.state.requests, "bytes_sent": self.state.bytes_sent}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        t = self._target()
        if t is None:
            self._empty(404)
            return
        m, file, size = t
        start, stop, code = 0, size, 200
        rng = self.headers.get("Range")
        if rng:
            span = byte_range(rng, size)
            if span is None:
                self._empty(416, {"Content-Range": f"bytes */{size}"})
                return
            (start, stop), code = span, 206
        try:
            first = m.read(file, start, min(stop, start + _CHUNK))
        except Exception as e:  # noqa: BLE001 - a generator failure is a 500, not a dropped connection
            body = f"generation failed: {type(e).__name__}: {e}".encode()[:2000]
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(code)
        self.send_header("Content-Length", str(stop - start))
        self.send_header("Content-Type", "application/octet-stream")
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.end_headers()
        try:
            pos = start
            while pos < stop:
                nxt = min(stop, pos + _CHUNK)
                data = first if pos == start else m.read(file, pos, nxt)
                with self.state.lock:
                    self.state.bytes_sent += len(data)
                self.wfile.write(data)
                pos = nxt
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


@contextmanager
def serve_scale(models: Sequence[str], *, port: int = 0) -> Iterator[tuple[str, ScaleServerState]]:
    """Serve ``models`` on ``http://127.0.0.1:<port>`` (in this process) for the ``with`` block."""
    state = ScaleServerState(models)
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m taoke.zoo.scale_server", description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True, help="comma-separated <arch>-a|b|c names")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    names = [x for x in args.models.split(",") if x]
    for n in names:
        scale_model(n)  # fail early on a bad name; builds the source packs once
    state = ScaleServerState(names)
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    for n in names:
        state.model(n)
    sys.stdout.write(f"serving http://127.0.0.1:{server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
