"""`taoke audit MODEL` through the CLI: JSON, exit codes for CI gating, one-line errors, ``--against INDEX``."""

from __future__ import annotations

import json
from pathlib import Path

from taoke.audit import find_licence
from taoke.cli import main


def test_minilm_own_folder(minilm_dir: Path, minilm_onnx: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["audit", str(minilm_dir), "--json"])
    doc = json.loads(capsys.readouterr().out)
    # nothing was tested (no candidate, no index): inconclusive, never a clean bill
    assert rc == 12 and doc["status"] == "inconclusive" and doc["summary"].startswith("inconclusive: nothing was tested")
    assert doc["declared"]["bases"][0]["name"] == "nreimers/MiniLM-L6-H384-uncased"
    assert "_name_or_path" in doc["declared"]["bases"][0]["source"]
    kinds = [f["kind"] for f in doc["findings"]]
    assert "declared-unchecked" in kinds and "tokenizer-family" in kinds
    # its int8 ONNX copy carries the model's own name (all-MiniLM-L6-v2): same model, not a derivation
    rc = main(["audit", str(minilm_dir), "--candidate", str(minilm_onnx), "--json", "--no-tokenizer"])
    doc = json.loads(capsys.readouterr().out)
    # (the ONNX export lacks MiniLM's pooler: "B holds A's weights and more", derived with a re-packaged shared part)
    assert rc == 0 and doc["detections"][0]["verdict"] in ("repackaged", "derived")
    assert "same-model" in [f["kind"] for f in doc["findings"]]


def test_licence_table_and_bad_input(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert find_licence("llama3.1") is not None and find_licence("Gemma") is not None
    llama = find_licence("llama3")
    assert llama is not None and any(o.check == "name-prefix:llama" for o in llama.obligations)
    rc = main(["audit", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert rc == 3 and err.count("\n") == 1
    rc = main(["audit", str(tmp_path), "--against", str(tmp_path / "idx")])  # no such index: IndexStoreError
    err = capsys.readouterr().err
    assert rc == 7 and err.count("\n") == 1 and "no such index" in err


def test_against_index_finds_the_undeclared_ancestor(minilm_dir: Path, data_dir: Path, tmp_path: Path,
                                                     capsys) -> None:  # type: ignore[no-untyped-def]
    """`--against INDEX`: the index shortlists the real MiniLM for a noised zoo copy with no declared base."""
    from taoke.zoo.build import build_zoo

    zoo = build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=("minilm-noise",))
    db = tmp_path / "idx.db"
    assert main(["index", "add", str(minilm_dir), "--index", str(db)]) == 0
    capsys.readouterr()
    rc = main(["audit", str(zoo.path_of("minilm-noise")), "--against", str(db), "--no-tokenizer", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 10 and out["status"] == "undeclared-derivation"
    assert [d["verdict"] for d in out["detections"]] == ["derived"]
