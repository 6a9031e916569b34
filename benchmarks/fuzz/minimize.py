"""Shrink a fuzzing finding to a small input that still shows it (delta debugging), for a regression test.

The finding is reproduced against the code that had the bug -- a source tree given with ``--src`` (e.g.
``git archive <commit> src | tar -x -C /tmp/old``) -- in a worker process that replays candidate inputs through
the same target harness (:mod:`targets`) and answers with the finding's signature (exception type and innermost
taoke frame). Chunks of the input are removed while the signature stays the same (ddmin: halves, quarters, ...
down to single bytes), then runs of bytes are zeroed where that keeps it.

Usage::

    python benchmarks/fuzz/minimize.py gguf fuzz-out/findings/gguf/finding-XXXX.bin --src /tmp/old/src \\
        -o tests/fuzz/regressions/gguf/zero-size-reshape.bin
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_WORKER = r"""
import os, struct, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, os.environ["TAOKE_FUZZ_DIR"])
import targets
h = targets.Harness(sys.argv[1])
inp, out = sys.stdin.buffer, sys.stdout
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    data = inp.read(struct.unpack("<I", head)[0])
    try:
        h.run(data)
        sig = "ok"
    except Exception as e:
        sig = targets.FindingRecorder.signature(e)
    out.write(sig + "\n")
    out.flush()
h.close()
"""


class Oracle:
    """A worker process running the target on the old code; ``signature(data)`` replays one input."""

    def __init__(self, target: str, src: str | None) -> None:
        env = dict(os.environ, TAOKE_FUZZ_DIR=str(HERE))
        if src:
            env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER, target], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=False)
        self.calls = 0

    def signature(self, data: bytes) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(struct.pack("<I", len(data)) + data)
        self.proc.stdin.flush()
        self.calls += 1
        return self.proc.stdout.readline().decode().strip()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def ddmin(data: bytes, keeps: callable) -> bytes:  # type: ignore[valid-type]
    """Remove chunks (halving their size) while ``keeps(candidate)``; then zero runs of bytes where it keeps."""
    n = 2
    while len(data) >= 2:
        chunk = max(1, len(data) // n)
        removed = False
        start = 0
        while start < len(data):
            cand = data[:start] + data[start + chunk :]
            if cand and keeps(cand):
                data = cand
                removed = True
            else:
                start += chunk
        if chunk == 1 and not removed:
            break
        n = n if removed else min(len(data), n * 2)
    chunk = max(1, len(data) // 8)
    while chunk >= 1:
        for start in range(0, len(data), chunk):
            seg = data[start : start + chunk]
            if seg.strip(b"\0"):
                cand = data[:start] + b"\0" * len(seg) + data[start + chunk :]
                if keeps(cand):
                    data = cand
        chunk //= 2
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target")
    ap.add_argument("input", type=Path)
    ap.add_argument("--src", help="source tree (its src/ folder) with the bug; default: this checkout")
    ap.add_argument("--signature", help="the finding to keep (default: what the input shows on --src; 'any': any)")
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args(argv)
    oracle = Oracle(args.target, args.src)
    try:
        data = args.input.read_bytes()
        sig = args.signature or oracle.signature(data)
        shown = oracle.signature(data)
        if sig == "ok" or (sig != "any" and shown != sig) or shown == "ok":
            print(f"the input does not show {sig!r} on that code (it gives {shown!r})", file=sys.stderr)
            return 1
        small = ddmin(data, lambda d: (oracle.signature(d) != "ok") if sig == "any" else oracle.signature(d) == sig)
    finally:
        oracle.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(small)
    print(f"{sig}: {len(data)} -> {len(small)} bytes in {oracle.calls} runs -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
