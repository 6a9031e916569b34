"""The models taoke can serve locally (real GGUFs of the fetched data set) and how to serve them.

``KNOWN_MODELS`` is data: the name used in references and verdicts, the GGUF path inside ``$TAOKE_DATA``,
the llama-cpp-python chat format (``None``: the template embedded in the GGUF), the family/vendor, and the
tokenizer-table entry that is the model's own tokenizer. ``LlamaServer`` starts llama-cpp-python's
OpenAI-compatible server on a free loopback port and stops it (only the process it started).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from taoke.errors import ProbeError, UsageError


@dataclass(frozen=True)
class KnownModel:
    name: str
    gguf: str  # path relative to $TAOKE_DATA
    chat_format: str | None
    family: str
    vendor: str
    tokenizer: str  # entry in the tokenizer count table


KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel("SmolLM2-135M-Instruct", "weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf",
               None, "SmolLM2", "Hugging Face", "gguf:smollm2-135m-instruct"),
    # no chat template in this GGUF: the server would fall back to Llama-2 format (MANIFEST §4)
    KnownModel("Gemma-3-270M", "weights/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf",
               "gemma", "Gemma 3", "Google", "gguf:gemma-3-270m"),
)


# llama.cpp built natively crashes on CPUs with AVX-512/AMX: the install script builds it with portable flags
INSTALL_HINT = ("bash scripts/install.sh server (builds llama-cpp-python[server]==0.3.36 with portable CPU flags; "
                "a plain pip install compiles for this CPU and can crash on others)")
CHECK_HINT = ("if it dies on its first request: python scripts/check_llama_cpp.py --rebuild (rebuilds "
              "llama-cpp-python portably)")


def data_root() -> Path:
    """The data folder: :func:`taoke.defaults.data_dir` (``$TAOKE_DATA`` or ``~/.cache/taoke-data``)."""
    from taoke.defaults import data_dir

    return data_dir()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def llama_server_available() -> bool:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        return False
    return True


class LlamaServer:
    """llama-cpp-python's server for one GGUF on ``127.0.0.1:<free port>``; a context manager.

    ``base_url`` is ``http://127.0.0.1:PORT/v1``. Startup waits for ``/v1/models`` up to ``startup_s``.
    """

    def __init__(self, gguf: Path, *, chat_format: str | None = None, n_ctx: int = 2048,
                 startup_s: float = 120.0, n_threads: int | None = None, log_path: Path | None = None) -> None:
        if not Path(gguf).is_file():
            raise UsageError("GGUF not found", subject=str(gguf), hint="run `taoke zoo fetch --all`")
        if not llama_server_available():
            raise ProbeError("llama-cpp-python's server is not installed", subject=str(gguf),
                             hint=INSTALL_HINT)
        self.gguf = Path(gguf)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", str(n_ctx)]
        if chat_format:
            cmd += ["--chat_format", chat_format]
        if n_threads:
            cmd += ["--n_threads", str(n_threads)]
        self._log = open(log_path or os.devnull, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_s
        while True:
            if self.proc.poll() is not None:
                self._log.close()
                raise ProbeError(f"llama.cpp server exited with code {self.proc.returncode}", subject=str(gguf),
                                 hint=CHECK_HINT)
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ProbeError(f"llama.cpp server not ready after {startup_s:g} s", subject=str(gguf))
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
