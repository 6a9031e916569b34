"""Every input the fuzzer found a bug with, replayed through the same harness (benchmarks/fuzz/targets.py).

``regressions/MANIFEST.json`` lists each input: its target (which reader and which file of a folder it replaces),
what it did before the fix (the finding) and what it gives now. Replaying one must raise nothing but well-formed
:class:`~taoke.errors.TaokeError` lines inside the harness's calls (the harness swallows those and raises on
anything else, a multi-line message or one without a subject), and the traced peak memory of the replay stays
under 64 MB (the inputs are a few KB).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz import fuzz_module

HERE = Path(__file__).resolve().parent
MANIFEST = json.loads((HERE / "regressions" / "MANIFEST.json").read_text())


@pytest.fixture(scope="module")
def targets(data_dir: Path) -> Any:
    return fuzz_module("targets")


def test_manifest_lists_every_input() -> None:
    on_disk = {str(p.relative_to(HERE / "regressions")) for p in (HERE / "regressions").glob("*/*.bin")}
    assert on_disk == set(MANIFEST), on_disk ^ set(MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_regression(name: str, targets: Any) -> None:
    entry = MANIFEST[name]
    data = (HERE / "regressions" / name).read_bytes()
    assert name.split("/")[0] == entry["target"]
    # raises the finding if it is back; traced peak memory (numpy's buffers included) under 64 MB
    targets.run_input(entry["target"], data, traced_limit=64 << 20)
