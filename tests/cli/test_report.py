"""`taoke report RESULT --out FILE` and the ``--report`` option of the deciding commands, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from taoke.cli import main


def test_compare_cli_writes_html_report(minilm_dir: Path, minilm_onnx: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.html"
    rc = main(["compare", str(minilm_dir), str(minilm_onnx), "--report", str(out), "--seed", "3"])
    assert rc == 0 and out.exists()
    text = out.read_text()
    assert f"taoke compare {minilm_dir} {minilm_onnx} --seed 3" in text  # the exact command, to reproduce it
    capsys.readouterr()
    # the saved JSON re-renders through `taoke report`
    js = tmp_path / "r.json"
    assert main(["compare", str(minilm_dir), str(minilm_onnx), "--json", "--report", str(js), "--no-hash"]) == 0
    capsys.readouterr()
    assert main(["report", str(js), "--out", str(tmp_path / "again.md"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "repackaged"
    rc = main(["compare", str(minilm_dir), str(minilm_onnx), "--report", str(tmp_path / "r.txt")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and ".html" in err
    (tmp_path / "junk.json").write_text("{not json")
    rc = main(["report", str(tmp_path / "junk.json"), "-o", str(tmp_path / "x.html")])
    assert rc == 2 and "not JSON" in capsys.readouterr().err
