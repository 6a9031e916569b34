"""`taoke compare A B` through the CLI: the JSON document, the text, and one-line errors on bad input.

(Fingerprint inputs: tests/cli/test_fingerprint.py; ``--report``: tests/cli/test_report.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from taoke.cli import main


def test_compare_cli_json_and_bad_input(minilm_dir: Path, minilm_onnx: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["compare", str(minilm_dir), str(minilm_onnx), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["format"] == "taoke.compare" and out["verdict"] == "repackaged"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((minilm_dir / "model.safetensors").read_bytes()[:5000])
    rc = main(["compare", str(minilm_dir), str(bad)])
    err = capsys.readouterr().err
    assert rc == 3 and err.count("\n") == 1 and "Traceback" not in err
