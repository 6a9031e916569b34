"""`taoke audit MODEL --teacher T`: distillation evidence beside the audit verdict (never changing the status)."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import pytest

from taoke.cli import main
from taoke.zoo.distill import DistillZoo


def test_audit_shows_distillation_beside_the_verdict(distill_zoo: DistillZoo, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAOKE_DATA", str(Path(distill_zoo.root).parent))
    s = next(x for x in distill_zoo.students if x.kind == "A" and x.role == "heldout")
    rc_plain = main(["audit", str(distill_zoo.folder(s)), "--json", "--no-tokenizer"])
    plain = json.loads(capsys.readouterr().out)
    html = tmp_path / "audit.html"
    rc = main(["audit", str(distill_zoo.folder(s)), "-t", "zoo:smollm2", "-t", "zoo:gemma3", "--json",
               "--no-tokenizer", "--report", str(html)])
    out = json.loads(capsys.readouterr().out)
    assert rc == rc_plain and out["status"] == plain["status"]  # informational: the status does not move
    d = out["distillation"]
    assert d["format"] == "taoke.distill" and d["verdict"] == "distilled"
    f = [x for x in out["findings"] if x["kind"] == "distillation"]
    assert len(f) == 1 and "behavioural lineage" in f[0]["text"] and f[0]["candidate"] == d["attributed"]
    assert "trained on SmolLM2-135M-Instruct (Q4_1)'s outputs?" in unescape(html.read_text(encoding="utf-8"))


def test_audit_of_a_model_the_test_cannot_run_gets_a_note(distill_zoo: DistillZoo, minilm_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    main(["audit", str(minilm_dir), "-t", "zoo:smollm2", "--json", "--no-tokenizer"])
    out = json.loads(capsys.readouterr().out)
    assert out["distillation"] is None
    assert any(n.startswith("distillation not tested:") for n in out["notes"])
