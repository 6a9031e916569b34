"""`taoke fingerprint`, `taoke compare` on fingerprints (and model vs fingerprint), `taoke index` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from taoke.cli import main


def _json(capsys) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(capsys.readouterr().out)


def test_fingerprint_then_compare_without_the_weights(fps, small_zoo, minilm_dir: Path, tmp_path: Path,
                                                      capsys) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    out = tmp_path / "minilm.tkfp"
    assert main(["fingerprint", str(minilm_dir), "-o", str(out), "--json"]) == 0
    s = _json(capsys)
    assert s["output"] == str(out) and out.stat().st_size == s["size"] and 0 < s["fraction_read"] < 1
    assert s["layers_with_units"] == 6
    # fingerprint vs fingerprint: the int8 ONNX export is a re-packaged copy (MANIFEST W1)
    assert main(["compare", str(out), str(fps["minilm-int8"]), "--json"]) == 0
    d = _json(capsys)
    assert d["format"] == "taoke.compare" and d["verdict"] == "repackaged"
    assert d["evidence"]["bytes_read"] == {"a": 0, "b": 0}  # nothing of either checkpoint was read
    # model vs fingerprint: the model side is fingerprinted first; a unit-permuted derivative is found
    perm = small_zoo.path_of("minilm-perm")
    assert main(["compare", str(out), str(perm), "--json"]) == 0
    d = _json(capsys)
    assert d["verdict"] == "derived" and d["log10_p"] < -6
    # an independently trained model of another family is not
    assert main(["compare", str(fps["tiny-0"]), str(out), "--json"]) == 0
    assert _json(capsys)["verdict"] in ("unrelated", "independent-same-architecture")


def test_compare_bad_fingerprint_is_one_line(fps, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "cut.tkfp"
    bad.write_bytes(Path(fps["minilm"]).read_bytes()[:3000])  # a truncated fingerprint is no longer one
    rc = main(["compare", str(fps["minilm"]), str(bad)])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and "Traceback" not in err


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


def test_unit_layers_option_and_model_side_follows_the_fingerprint(small_zoo, minilm_dir: Path, tmp_path: Path,
                                                                   capsys) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    out = tmp_path / "minilm-k1.tkfp"
    assert main(["fingerprint", str(minilm_dir), "-o", str(out), "--unit-layers", "1", "--json"]) == 0
    assert _json(capsys)["layers_with_units"] == 1
    # the model side is fingerprinted with the same parameters, so the unit test runs on the one shared layer
    assert main(["compare", str(out), str(small_zoo.path_of("minilm-perm")), "--json"]) == 0
    d = _json(capsys)
    assert d["verdict"] == "derived" and [x["layer_b"] for x in d["evidence"]["unit_test"]["layers"]] == [3]
    assert main(["fingerprint", str(minilm_dir), "-o", str(out), "--unit-layers", "-1"]) == 2
