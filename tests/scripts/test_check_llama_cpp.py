"""scripts/check_llama_cpp.py: a multi-token decode in a child process tells a working llama-cpp-python build from
one that crashes on this CPU (issue 12), and says how to rebuild it.

The working case runs the real llama-cpp-python of the test environment on the real SmolLM2 GGUF. The crashing
case cannot be produced on a CPU that runs the native build (this machine's CPU has AVX-512 but no AMX, and its
native build decodes fine), so it uses a stand-in ``llama_cpp`` package put first on ``PYTHONPATH`` whose
``eval`` of two or more tokens dereferences a null pointer: the same SIGSEGV the check has to read from the
child's exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_llama_cpp.py"

CRASHING_STUB = '''
import ctypes
__version__ = "0.3.36"
class Llama:
    def __init__(self, model_path, **kw):
        self.model_path = model_path
    def tokenize(self, text):
        return list(range(len(text.split())))
    def eval(self, tokens):
        if len(tokens) > 1:  # one-token decodes work; a batched decode dies, as the native build does
            ctypes.string_at(0)
'''


def _run(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip


def test_a_working_build_decodes_a_multi_token_prompt(smollm2_gguf: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    p = _run("--gguf", str(smollm2_gguf))
    assert p.returncode == 0, p.stderr
    assert "ok (decoded" in p.stdout and "tokens in one batch" in p.stdout


def test_a_crashing_build_is_named_with_the_rebuild_command(smollm2_gguf: Path, tmp_path: Path) -> None:
    (tmp_path / "llama_cpp").mkdir()
    (tmp_path / "llama_cpp" / "__init__.py").write_text(CRASHING_STUB)
    p = _run("--gguf", str(smollm2_gguf), pythonpath=tmp_path)
    assert p.returncode == 1
    assert "crashed (SIGSEGV) decoding a multi-token prompt" in p.stderr
    assert "-DGGML_NATIVE=OFF" in p.stderr and "--no-binary llama-cpp-python" in p.stderr
    assert "llama-cpp-python==0.3.36" in p.stderr


def test_nothing_to_check(tmp_path: Path) -> None:
    p = _run("--gguf", str(tmp_path / "missing.gguf"))
    assert p.returncode == 2 and ("no GGUF" in p.stdout or "not installed" in p.stdout)
    flags = _run("--cmake-args")
    assert flags.returncode == 0 and "-DGGML_AVX512=OFF" in flags.stdout and "-DGGML_AMX_INT8=OFF" in flags.stdout
