"""`taoke index add / search / tree / list / rm` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from taoke.cli import main


def _json(capsys) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(capsys.readouterr().out)


def test_index_cli_add_search_tree_list_rm(fps, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "i.db"
    files = [str(fps[n]) for n in ("minilm", "minilm-noise", "minilm-int8", "tiny-0")]
    assert main(["index", "add", *files, "--index", str(db), "--json"]) == 0
    assert [a["name"] for a in _json(capsys)["added"]] == ["minilm", "minilm-noise", "minilm-int8", "tiny-0"]
    assert main(["index", "search", str(fps["minilm-perm"]), "--index", str(db), "--json"]) == 0
    hits = _json(capsys)["hits"]
    assert hits[0]["verdict"] in ("derived", "repackaged") and hits[0]["name"].startswith("minilm")
    assert main(["index", "tree", "--index", str(db), "--json", "--image", str(tmp_path / "t.png")]) == 0
    nodes = {n["name"]: n for n in _json(capsys)["nodes"]}
    by_id = {n["id"]: n["name"] for n in nodes.values()}
    assert (tmp_path / "t.png").stat().st_size > 1000
    assert nodes["minilm"]["parent"] is None and nodes["tiny-0"]["parent"] is None
    assert by_id[nodes["minilm-int8"]["parent"]] == "minilm" and by_id[nodes["minilm-noise"]["parent"]] == "minilm"
    assert main(["index", "rm", "tiny-0", "--index", str(db), "--json"]) == 0
    capsys.readouterr()
    assert main(["index", "list", "--index", str(db), "--json"]) == 0
    assert [m["name"] for m in _json(capsys)["models"]] == ["minilm", "minilm-noise", "minilm-int8"]
    rc = main(["index", "rm", "nope", "--index", str(db)])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and "nope" in err


def test_index_add_skips_a_bad_target_and_keeps_the_rest(fps, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "i.db"
    bad = tmp_path / "cut.tkfp"
    bad.write_bytes(Path(fps["minilm"]).read_bytes()[:3000])
    rc = main(["index", "add", str(bad), str(fps["tiny-0"]), "--index", str(db)])
    cap = capsys.readouterr()
    assert rc == 3 and cap.err.count("\n") == 1 and "cut.tkfp" in cap.err and "Traceback" not in cap.err
    assert main(["index", "list", "--index", str(db), "--json"]) == 0
    assert [m["name"] for m in _json(capsys)["models"]] == ["tiny-0"]  # the good one after the bad one is kept
