"""`taoke distill --report`: the distillation result as a report people read (HTML, Markdown, JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taoke.cli import main
from taoke.zoo.distill import DistillZoo


@pytest.mark.parametrize("suffix", [".html", ".md", ".json"])
def test_distill_report(distill_zoo: DistillZoo, distill_root: Path, tmp_path: Path, suffix: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
    from taoke.report import validate

    name = next(s.name for s in distill_zoo.students if s.kind == "A" and s.role == "heldout")
    out = tmp_path / f"r{suffix}"
    rc = main(["distill", f"zoo:{name}", "-t", "zoo:smollm2", "-t", "zoo:gemma3", "--zoo", "fast",
               "--zoo-dir", str(distill_root), "--report", str(out), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and out.is_file()
    text = out.read_text(encoding="utf-8")
    if suffix == ".json":
        rep = json.loads(text)
        validate(rep)
        assert rep["source_format"].startswith("taoke.distill") and rep["sentence"] == res["sentence"]
        assert any("not weight derivation" in c for c in rep["caveats"])
        assert len(rep["plots"]) == 2 and rep["plots"][0]["data"]["labels"][0] == "this student"
    else:
        assert "trained on" in text and "Candidate teachers" in text and "identity" in text
