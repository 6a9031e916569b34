#!/usr/bin/env python3
"""Does the installed llama-cpp-python decode a multi-token prompt on this CPU? Rebuild it portably if not.

    python scripts/check_llama_cpp.py [--gguf FILE] [--rebuild] [--quiet] [--cmake-args]

llama-cpp-python compiles llama.cpp when it is installed, by default for the CPU it is built on
(``GGML_NATIVE``). Built that way, version 0.3.36 dies with SIGSEGV in ``llama_decode`` on the first batched
decode (any prompt of two or more tokens) on a CPU with AVX-512 and AMX, while loading the model and one-token
decodes work (on an AVX-512 CPU without AMX the native build was measured to work) — so a server starts, answers ``/v1/models``, and dies on its first chat request. The check runs
one multi-token decode of a real GGUF (default: the data set's SmolLM2-135M-Instruct, ``$TAOKE_DATA``) in a child
process and reads its exit status.

Exit codes: 0 works; 1 the decode crashed or failed (the rebuild command is printed; ``--rebuild`` runs it and
checks again); 2 nothing to check (llama-cpp-python not installed, or no GGUF to decode); 3 a rebuild failed.
Stdlib only, so any interpreter can run it; the decode runs in ``sys.executable`` (the venv to check).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

VERSION = "0.3.36"
#: build flags that run on any x86-64 CPU with AVX2 (the project's kind of machine), not only the build host
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF "
    "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF"
)
DEFAULT_GGUF = "weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = b"The quick brown fox jumps over the lazy dog, and then it runs back home."

_CHILD = r"""
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_batch=64, n_threads=1, verbose=False)
toks = llm.tokenize(sys.argv[2].encode())
llm.eval(toks)
print("decoded", len(toks), "tokens in one batch")
"""


def rebuild_command(python: str = sys.executable) -> list[str]:
    """pip command that rebuilds llama-cpp-python from source with the portable flags (env: CMAKE_ARGS)."""
    return [python, "-m", "pip", "install", "--force-reinstall", "--no-deps", "--no-cache-dir",
            "--no-binary", "llama-cpp-python", f"llama-cpp-python=={VERSION}"]  # fmt: skip


def rebuild_line(python: str = sys.executable) -> str:
    return f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" FORCE_CMAKE=1 ' + shlex.join(rebuild_command(python))


def installed() -> bool:
    p = subprocess.run([sys.executable, "-c", "import llama_cpp"], capture_output=True, timeout=120)
    return p.returncode == 0


def check(gguf: Path, timeout_s: float = 300) -> tuple[bool, str]:
    """(works, one-line description) for a multi-token decode of ``gguf`` in a child process."""
    try:
        p = subprocess.run([sys.executable, "-c", _CHILD, str(gguf), PROMPT.decode()], capture_output=True,
                           text=True, timeout=timeout_s, env=dict(os.environ, OMP_NUM_THREADS="1"))  # fmt: skip
    except subprocess.TimeoutExpired:
        return False, f"the decode did not finish in {timeout_s:.0f} s"
    if p.returncode == 0:
        return True, p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "decoded"
    if p.returncode < 0 or p.returncode in (132, 134, 139):
        sig = -p.returncode if p.returncode < 0 else p.returncode - 128
        name = {4: "SIGILL", 6: "SIGABRT", 11: "SIGSEGV"}.get(sig, f"signal {sig}")
        return False, f"llama_cpp crashed ({name}) decoding a multi-token prompt: it was built for another CPU"
    tail = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
    return False, f"the decode failed (exit {p.returncode}): {tail[:200]}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", type=Path, default=None, help="GGUF to decode (default: the data set's SmolLM2)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild portably when the check fails, then recheck")
    ap.add_argument("--quiet", action="store_true", help="print only problems")
    ap.add_argument("--cmake-args", action="store_true", help="print the portable CMAKE_ARGS and exit")
    a = ap.parse_args(argv)
    if a.cmake_args:
        print(PORTABLE_CMAKE_ARGS)
        return 0
    say = (lambda _m: None) if a.quiet else (lambda m: print(f"llama-cpp check: {m}"))
    data = Path(os.environ.get("TAOKE_DATA") or Path.home() / ".cache" / "taoke-data")
    gguf = a.gguf or data / DEFAULT_GGUF
    if not installed():
        say("llama-cpp-python is not installed in this environment; nothing to check")
        return 2
    if not gguf.is_file():
        say(f"no GGUF to decode at {gguf} (run `taoke zoo fetch --core`); not checked")
        return 2
    ok, msg = check(gguf)
    if ok:
        say(f"ok ({msg})")
        return 0
    print(f"llama-cpp check: {msg}", file=sys.stderr)
    if not a.rebuild:
        print(f"rebuild it for any x86-64 CPU with:\n  {rebuild_line()}", file=sys.stderr)
        return 1
    print("llama-cpp check: rebuilding llama-cpp-python with portable flags (~5 min on 2 cores)…", file=sys.stderr)
    env = dict(os.environ, CMAKE_ARGS=PORTABLE_CMAKE_ARGS, FORCE_CMAKE="1")
    if subprocess.run(rebuild_command(), env=env).returncode != 0:
        print(f"llama-cpp check: the rebuild failed; run it by hand:\n  {rebuild_line()}", file=sys.stderr)
        return 3
    ok, msg = check(gguf)
    print(f"llama-cpp check after the rebuild: {'ok' if ok else 'still failing'} ({msg})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
