"""`taoke tokenizer compare / identify / show` end to end through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taoke.cli import main

T = "tokenizers"


def test_compare_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["tokenizer", "compare", str(data_dir / T / "mistral-common/tokenizer.model.v1"),
               str(data_dir / T / "mistral-common/mistral_instruct_tokenizer_240216.model.v2"), "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["relation"] == "shifted" and d["stats"]["modal_offset"] == 768


def test_compare_text(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["tokenizer", "compare", str(data_dir / T / "tiktoken/r50k_base.tiktoken"),
               str(data_dir / T / "whisper-tiktoken/multilingual.tiktoken")])
    out = capsys.readouterr().out
    assert rc == 0 and "independent" in out and "null: tail_containment" in out


def test_identify_json(smollm2_gguf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["tokenizer", "identify", str(smollm2_gguf), "--json", "--top", "2"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["family"] == "smollm2" and len(d["matches"]) == 2


def test_show(minilm_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokenizer", "show", str(minilm_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "wordpiece"


def test_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{broken")
    rc = main(["tokenizer", "identify", str(bad)])
    err = capsys.readouterr().err
    assert rc == 3 and err.count("\n") == 1 and "malformed JSON" in err
