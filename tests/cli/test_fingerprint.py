"""`taoke fingerprint`, and `taoke compare` on fingerprints (and model vs fingerprint) through the CLI."""

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
    # fingerprint vs fingerprint: the int8 ONNX export is a re-packaged copy (MANIFEST W1); a fingerprint cannot
    # check storage identity, so it says "copy within storage precision", never "the same weights"
    assert main(["compare", str(out), str(fps["minilm-int8"]), "--json"]) == 0
    d = _json(capsys)
    assert d["format"] == "taoke.compare" and d["verdict"] == "derived"
    assert "copy within storage precision" in d["sentence"]
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
