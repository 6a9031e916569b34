"""A short coverage-guided fuzzing run of every reader (under 2 minutes in all), as in the benchmark.

``benchmarks/fuzz/run.py --seconds 6`` fuzzes each target (safetensors, sharded safetensors, GGUF, HF folder
configs and tokenizer files, PyTorch zip/pickle, ONNX, the fingerprint file, the index database) for 6 s, from
the real-derived seeds, with the address-space cap and the RSS-growth check; any finding fails the test and names
the saved input. The long runs (a million inputs per reader) are ``benchmarks/fuzz/run.py --runs 1000000``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 6


def test_short_fuzz_run_of_every_reader(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is in the test extra (pip install atheris)")
    out = tmp_path / "fuzz"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fuzz" / "run.py"), "--seconds", str(SECONDS), "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["target"]: r for r in summary["targets"]}
    assert len(rows) == 8, proc.stdout + proc.stderr
    for t, r in rows.items():
        assert r["findings"] == 0, f"{t}: {r['finding_signatures'] + r['libfuzzer_artifacts']} in {out / 'findings' / t}"
        assert r["executions"] >= 50, f"{t} ran only {r['executions']} inputs (log: {r['log']})"
        assert r["exit_code"] == 0, f"{t}: exit {r['exit_code']} (log: {r['log']})"
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
