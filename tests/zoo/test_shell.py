"""The demo's shell model (taoke.zoo.shell): built from the real SmolLM2 GGUF, caught by compare and audit.

Slow (~1 min on 2 cores): builds the 326 MB F16 folder once per module, then runs the CLI as the demo does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taoke.cli import main
from taoke.errors import UsageError
from taoke.zoo.shell import STEPS, ShellModel, build_shell, recipe_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shell(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> ShellModel:
    return build_shell(smollm2_gguf, tmp_path_factory.mktemp("shell") / "orion-135m", seed=3)


def test_folder_ships_only_what_a_shell_model_ships(shell: ShellModel, smollm2_gguf: Path) -> None:
    from safetensors import safe_open

    assert sorted(p.name for p in shell.folder.iterdir()) == [
        "README.md", "config.json", "model.safetensors", "tokenizer.json"]  # fmt: skip
    assert shell.recipe_file == recipe_path(shell.folder) and shell.recipe_file.parent == shell.folder.parent
    card = (shell.folder / "README.md").read_text()
    assert "trained from\nscratch" in card or "trained from scratch" in card
    assert "base_model" not in card and "smollm" not in card.lower()
    cfg = json.loads((shell.folder / "config.json").read_text())
    assert cfg["model_type"] == "orion" and cfg["_name_or_path"] == "acme-ai/Orion-135M"
    rec = json.loads(shell.recipe_file.read_text())
    with safe_open(str(shell.folder / "model.safetensors"), framework="numpy") as f:
        names = list(f.keys())
        emb = f.get_tensor(rec["name_map"]["model.embed_tokens.weight"])
    assert not any("layers" in n or "embed" in n or "proj" in n for n in names)  # nothing names a role
    assert sorted(names) == sorted(rec["name_map"].values()) and len(names) == 273  # + untied LM head
    assert emb.dtype == np.float16 and emb.shape == (49152, 576)
    assert rec["steps"] == list(STEPS) and len(rec["permutations"]["mlp"]) == 30


def test_rebuild_is_skipped_and_inputs_are_checked(shell: ShellModel, smollm2_gguf: Path) -> None:
    again = build_shell(smollm2_gguf, shell.folder, seed=3)
    assert again.reused and again.seconds == 0.0
    with pytest.raises(UsageError, match="noise"):
        build_shell(smollm2_gguf, shell.folder, noise=2.0)


def test_compare_and_audit_catch_it(shell: ShellModel, smollm2_gguf: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    html = tmp_path / "compare.html"
    assert main(["compare", str(smollm2_gguf), str(shell.folder), "--json", "--report", str(html)]) == 0
    v = json.loads(capsys.readouterr().out)
    assert v["verdict"] == "derived"
    # the default reading tests a sample of B's layers: each tested layer maps to its own layer of A, despite all
    # the disguises, and the map names exactly the tested layers (the full map: tests/whitebox, --exhaustive)
    reading = v["evidence"]["reading"]
    tested = reading["b_layers"][: reading["layers_tested"]]
    assert reading["mode"] == "sampled" and len(tested) >= 3
    assert sorted((m["layer_b"], m["layer_a"]) for m in v["layer_map"]) == sorted((j, j) for j in tested)
    assert v["log10_p"] < -100 and v["evidence"]["unit_test"]["log10_p"] < -100
    assert html.stat().st_size > 10_000 and "image/svg+xml" in html.read_text()  # plots inline
    # the plain tensor comparison cannot see it: the disguise changed every matrix
    assert not v["evidence"]["tensors"]["within_precision"]

    rc = main(["audit", str(shell.folder), "--candidate", str(smollm2_gguf), "--json", "--no-tokenizer"])
    a = json.loads(capsys.readouterr().out)
    assert rc == 10 and a["status"] == "undeclared-derivation"
    assert a["declared"]["scratch_claims"] and not a["declared"]["bases"]
