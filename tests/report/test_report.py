"""Reports from real results: schema, renderers, hashes, the CLI, and the HTML in a real headless Chromium.

Cases (issue #8): re-packaged (MiniLM safetensors vs its int8 ONNX), tokenizer-identical (Qwen2.5 vs Qwen3),
a black-box reseller (a local OpenAI-style endpoint counting tokens with the real SmolLM2 tokenizer and claiming
to be Pangu), derived (a zoo pair) and unrelated (SmolLM2 vs Gemma-3) — the last two are slow.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import taoke
from taoke.errors import UsageError
from taoke.report import build_report, hash_input, render_markdown, validate, write_report

from .helpers import check_in_browser, check_json


def _compare(a: Path, b: Path) -> dict:
    return taoke.compare(a, b).to_dict()


@pytest.fixture(scope="module")
def repackaged(minilm_dir: Path, minilm_onnx: Path) -> dict:
    return _compare(minilm_dir, minilm_onnx)


@pytest.fixture(scope="module")
def qwen(data_dir: Path) -> dict:
    from taoke.tokenizers import compare

    return compare(str(data_dir / "tokenizers/qwen2_5"), str(data_dir / "tokenizers/qwen3")).to_dict()


def test_repackaged_report(repackaged: dict, minilm_dir: Path, minilm_onnx: Path, chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rep = build_report(repackaged, command="taoke compare A B --report r.html")
    assert rep.verdict == "repackaged" and rep.confidence == "very strong"
    decides = [e for e in rep.evidence if e.role == "decides"]
    assert [e.method for e in decides] == ["tensors on sampled rows"]
    std = next(e for e in rep.evidence if e.method.startswith("per-layer std"))
    assert "TensorLock" in std.null and std.role == "reference"  # shown, calibrated, never deciding
    assert {p.kind for p in rep.plots} == {"std-fingerprint"}  # unit test skipped: no layer map to draw
    # inputs are pinned by streaming sha256: the ONNX file's hash is the file's hash
    onnx = next(i for i in rep.inputs if i.label == "B")
    assert onnx.sha256 == hashlib.sha256(minilm_onnx.read_bytes()).hexdigest() and onnx.size == 22928619
    folder = next(i for i in rep.inputs if i.label == "A")
    assert folder.kind == "folder" and any(f.path == "model.safetensors" for f in folder.files)
    check_json(rep, tmp_path)
    dom = check_in_browser(rep, chromium, "repackaged-minilm", tmp_path)
    assert "What this evidence cannot show" in dom and onnx.sha256 in dom


def test_tokenizer_identical_report(qwen: dict, chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rep = build_report(qwen, inputs=())
    assert rep.verdict.startswith("identical") and rep.kind == "tokenizer-compare"
    kinds = [p.kind for p in rep.plots]
    assert kinds == ["tokenizer-overlap", "null"]
    ov = rep.plots[0].data
    assert ov["shared_same_id"] == 151643 and ov["shared_moved"] == 0  # MANIFEST R1
    panels = rep.plots[1].data["panels"]
    assert all(sum(p["null"]["counts"]) == p["null"]["n"] == 425 for p in panels)
    assert all(p["observed"] > p["threshold"] for p in panels)
    special = next(t for t in rep.tables if t.title.startswith("Special tokens"))
    assert {r[0] for r in special.rows} == {"<think>", "</think>", "<tool_response>", "</tool_response>"}
    check_json(rep, tmp_path)
    check_in_browser(rep, chromium, "tokenizer-qwen", tmp_path)


def test_blackbox_reseller_report(data_dir: Path, chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from taoke.blackbox import ChatClient, Endpoint, QueryBudget, probe_endpoint
    from taoke.blackbox.probes import tokenizer as tok

    from ..blackbox.servers import FakeEndpoint

    table = tok.load_table()
    e = table["tokenizers"]["gguf:smollm2-135m-instruct"]
    count = tok._counter(e["backend"], data_dir / e["source"])
    with FakeEndpoint("ok", count=count, overhead=30, answer="I am Pangu, a large model developed by Huawei.") as s, \
            ChatClient(Endpoint(s.base_url, "pangu-pro"), budget=QueryBudget(80)) as c:
        doc = probe_endpoint(c, probes=["tokenizer", "identity"]).to_dict()
    rep = build_report(doc)
    assert rep.kind == "probe"
    tk = next(x for x in rep.evidence if x.method.startswith("tokenizer behind"))
    assert "gguf:smollm2-135m-instruct" in tk.statistic and tk.role == "decides"
    ident = next(x for x in rep.evidence if x.method == "self-identification")
    assert "Pangu" in ident.statistic
    assert [p.kind for p in rep.plots] == ["probe-tokenizer"]
    assert rep.inputs[0].kind == "url" and rep.inputs[0].sha256 is None
    check_json(rep, tmp_path)
    check_in_browser(rep, chromium, "probe-reseller", tmp_path)


def test_markdown_has_the_same_content_and_figure_files(qwen: dict, tmp_path: Path) -> None:
    rep = build_report(qwen, inputs=())
    md = write_report(rep, tmp_path / "out.md")
    text = md.read_text()
    files = sorted((tmp_path / "out_files").glob("*.svg"))
    assert len(files) == len(rep.plots) and all(f"out_files/{f.name}" in text for f in files)
    for head in ("## Evidence", "## Plots", "## What this evidence cannot show", "## Reproduce"):
        assert head in text
    assert "images omitted" in render_markdown(rep, None)  # no path: figures omitted with a note


def test_schema_rejects_broken_reports(repackaged: dict) -> None:
    import jsonschema

    from taoke.report import schema
    from taoke.serialize import dumps

    doc = json.loads(dumps(build_report(repackaged, hash_files=False).to_dict()))
    jsonschema.validate(doc, schema())
    bad = dict(doc, confidence="certain")
    with pytest.raises(UsageError, match="confidence"):
        validate(bad)
    bad = dict(doc, inputs=[dict(doc["inputs"][0], sha256="xyz")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema())
    with pytest.raises(UsageError):
        validate(dict(doc, version=2))
    with pytest.raises(UsageError):
        build_report({"verdict": "derived"})  # not a taoke result


def test_folder_hash_is_stable_and_streaming(minilm_dir: Path, tmp_path: Path) -> None:
    a = hash_input("A", str(minilm_dir))
    b = hash_input("A", str(minilm_dir))
    assert a.sha256 == b.sha256 and {"model.safetensors", "config.json", "1_Pooling/config.json"} <= {f.path for f in a.files}
    cfg = next(f for f in a.files if f.path == "config.json")
    assert cfg.sha256 == hashlib.sha256((minilm_dir / "config.json").read_bytes()).hexdigest()
    assert hash_input("x", "https://example.org/m.gguf").kind == "url"


@pytest.mark.slow
def test_derived_zoo_report(zoo, chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = _compare(zoo.path_of("smollm2-f32"), zoo.path_of("smollm2-noise-0.1"))
    rep = build_report(doc, hash_files=False)
    assert rep.verdict == "derived" and rep.confidence == "very strong"
    lm = next(p for p in rep.plots if p.kind == "layer-map")
    # the default reading tests a sample of B's layers: every layer of A screened against each tested layer of B,
    # each tested layer mapped to its own layer of A, and the report names the tested layers as a sample
    reading = doc["evidence"]["reading"]
    tested = sorted(reading["b_layers"][: reading["layers_tested"]])
    assert reading["mode"] == "sampled" and len(tested) >= 3
    assert len(lm.data["screen"]) == 30 and all(len(row) == len(tested) for row in lm.data["screen"])
    assert lm.data["rows_b"] == tested and sorted(map(tuple, lm.data["matched"])) == [(j, j) for j in tested]
    assert "each tested layer of B" in lm.caption and "the others were not read" in lm.caption
    table = next(t for t in rep.tables if t.title.startswith("Layer map"))
    assert "tested (sampled) layer of B" in table.title and [r[0] for r in table.rows] == [str(j) for j in
                                                                                           reading["b_layers"][: reading["layers_tested"]]]  # fmt: skip
    assert f"of the {len(tested)} tested layers of B (a sample of its 30)" in rep.sentence
    assert [p.kind for p in rep.plots] == ["layer-map", "std-fingerprint", "tokenizer-overlap", "null"]
    check_json(rep, tmp_path)
    check_in_browser(rep, chromium, "derived-zoo", tmp_path)


@pytest.mark.slow
def test_unrelated_report(smollm2_gguf: Path, gemma3_gguf: Path, chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rep = build_report(_compare(smollm2_gguf, gemma3_gguf), hash_files=False)
    assert rep.verdict == "unrelated" and rep.confidence == "none"
    std = next(p for p in rep.plots if p.kind == "std-fingerprint").data
    assert std["observed"] is None and std["reference"] == 0.927  # 30 vs 18 layers: not computable, shown anyway
    assert any("not proof of independent work" in c for c in rep.caveats)
    check_json(rep, tmp_path)
    check_in_browser(rep, chromium, "unrelated-smollm2-gemma3", tmp_path)
