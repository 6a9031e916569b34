"""Tensors outside the role map (``compare_leftovers``): what pairing them costs, and the transposed fallback.

The tensors are real: blocks of SmolLM2-135M's attention matrices, stored under names no role map knows (as a
renamed module would be)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from safetensors.numpy import save_file

from taoke.io import open_checkpoint
from taoke.model import Model
from taoke.whitebox import modules


@pytest.fixture(scope="module")
def blocks(smollm2_gguf: Path) -> list[np.ndarray]:
    with Model.open(smollm2_gguf) as m:
        return [np.ascontiguousarray(np.asarray(m.get(f"layers.{i}.attn.q"), dtype=np.float32)[:48, :96])
                for i in range(6)]  # fmt: skip


def _side(path: Path, tensors: dict[str, np.ndarray]) -> SimpleNamespace:
    save_file(tensors, str(path))
    return SimpleNamespace(checkpoint=open_checkpoint(str(path)))


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    calls: list[tuple[str, bool]] = []
    real = modules._read

    def spy(m, name, sel, transposed):  # type: ignore[no-untyped-def]
        calls.append((name, transposed))
        return real(m, name, sel, transposed)

    monkeypatch.setattr(modules, "_read", spy)
    return calls


def test_renamed_leftovers_cost_one_read_each(tmp_path: Path, blocks: list[np.ndarray],
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Six same-shaped tensors renamed in B: each of B's has six candidates in A, yet every tensor is read once."""
    a = _side(tmp_path / "a.safetensors", {f"adapter.{i}.weight": x for i, x in enumerate(blocks)})
    b = _side(tmp_path / "b.safetensors", {f"head.{5 - i}.weight": x for i, x in enumerate(blocks)})
    calls = _counting(monkeypatch)
    d = modules.compare_leftovers(a, [f"adapter.{i}.weight" for i in range(6)], b,  # type: ignore[arg-type]
                                  [f"head.{i}.weight" for i in range(6)], "language model", rng=np.random.default_rng(0))
    assert not d.extra and not d.missing and not d.changed
    assert {(x.role, x.renamed_from) for x in d.matched} == {(f"head.{5 - i}.weight", f"adapter.{i}.weight")
                                                             for i in range(6)}  # fmt: skip
    assert all(x.identical and not x.transposed for x in d.matched)
    assert len(calls) == 12, calls  # 6 of B's + 6 of A's (before: 6 + 21 reads of A)
    assert len(set(calls)) == 12


def test_transposed_partner_is_the_fallback(tmp_path: Path, blocks: list[np.ndarray],
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """B stores one tensor transposed under another name: found, said so; no transposed read when a partner of
    the same orientation is within storage precision."""
    a = _side(tmp_path / "a.safetensors", {"proj.weight": blocks[0], "gate.weight": blocks[1].T.copy()})
    b = _side(tmp_path / "b.safetensors", {"out.weight": blocks[0].T.copy(), "gate_b.weight": blocks[1].T.copy()})
    calls = _counting(monkeypatch)
    d = modules.compare_leftovers(a, ["proj.weight", "gate.weight"], b, ["out.weight", "gate_b.weight"],  # type: ignore[arg-type]
                                  "language model", rng=np.random.default_rng(0))
    got = {x.role: (x.renamed_from, x.transposed, x.identical) for x in d.matched}
    assert got == {"out.weight": ("proj.weight", True, True), "gate_b.weight": ("gate.weight", False, True)}
    # gate_b found its same-orientation partner first: proj.weight was never read transposed for it
    assert calls.count(("proj.weight", True)) == 1 and ("gate.weight", True) not in calls
