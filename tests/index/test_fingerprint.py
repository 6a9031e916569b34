"""Fingerprints of real checkpoints: size, bytes read, format checks, and verdicts that match full weights."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from taoke.errors import CorruptFile
from taoke.index.fingerprint import FORMAT, VERSION, Fingerprint, is_fingerprint_file
from taoke.index.search import compare_views
from taoke.index.view import FingerprintView
from taoke.zoo.evaluate import ACCEPT

# ground truth outside the zoo manifest: MANIFEST W1 (int8 ONNX export of the same MiniLM), W3 / different families
EXTRA_TRUTH = {("minilm", "minilm-int8"): "repackaged", ("smollm2-q4_1", "minilm"): "unrelated",
               ("tiny-0", "minilm"): "unrelated"}  # fmt: skip


def _truth(zoo, a: str, b: str) -> str:  # type: ignore[no-untyped-def]
    return EXTRA_TRUTH.get((a, b)) or zoo.relation(a, b).relation


def test_fingerprint_is_small_and_records_what_it_read(fps, smollm2_gguf: Path) -> None:
    p = fps["smollm2-q4_1"]
    assert is_fingerprint_file(p)
    assert p.stat().st_size < 6_000_000  # a few MB for a 98 MB checkpoint
    fp = Fingerprint.load(p)
    src = fp.header["source"]
    assert fp.header["format"] == FORMAT and fp.header["version"] == VERSION
    assert src["file_size"] == smollm2_gguf.stat().st_size
    assert 0 < src["bytes_read"] < src["file_size"]
    assert len(fp.header["unit_layers"]) == 30
    assert fp.arrays["u.5.up"].shape == (32, 576)
    # the tokenizer survives unchanged
    from taoke import open as topen

    with topen(str(smollm2_gguf)) as m:
        assert FingerprintView(fp).tokenizer().tokens_digest == m.tokenizer().tokens_digest


def test_canonical_units_survive_a_permutation(fps) -> None:
    """The key is permutation-invariant: the same unit vectors are chosen in a unit-permuted copy."""
    a = FingerprintView(Fingerprint.load(fps["minilm"]))
    b = FingerprintView(Fingerprint.load(fps["minilm-perm"]))
    assert a.layers == b.layers == 6
    for i in range(6):
        da, db = a.unit_parts(i)["down"], b.unit_parts(i)["down"]  # one write vector per kept unit
        # same multiset of kept unit vectors, in another order: match each row of B to its nearest row of A
        na, nb = np.sort(np.linalg.norm(da, axis=1)), np.sort(np.linalg.norm(db, axis=1))
        assert np.allclose(na, nb, rtol=0.02)
        cos = (db / np.linalg.norm(db, axis=1, keepdims=True)) @ (da / np.linalg.norm(da, axis=1, keepdims=True)).T
        assert np.min(np.max(cos, axis=1)) > 0.99


def test_one_unit_layer_reads_less_and_still_decides(fps) -> None:
    """``unit_layers=1``: units on one interior layer only; the unit test runs on the layer both sides keep."""
    one = {n: Fingerprint.load(fps.get(n, unit_layers=1)) for n in ("minilm", "minilm-perm", "tiny-0", "tiny-1")}
    full = Fingerprint.load(fps["minilm"])
    assert one["minilm"].header["unit_layers"] == [3] and len(full.header["unit_layers"]) == 6
    assert one["minilm"].header["source"]["bytes_read"] < 0.5 * full.header["source"]["bytes_read"]
    d = compare_views(FingerprintView(one["minilm"]), FingerprintView(one["minilm-perm"]))  # unit-permuted: exact tests cannot see it
    assert d["kind"] == "derived" and d["log10_p"] < -6, d
    d = compare_views(FingerprintView(one["tiny-0"]), FingerprintView(one["tiny-1"]))
    assert d["kind"] in ("independent-same-architecture", "unrelated"), d
    d = compare_views(FingerprintView(full), FingerprintView(one["minilm-perm"]))  # mixed: the common layer
    assert d["kind"] == "derived" and d["layers_matched"] == 1, d


FAST_PAIRS = [("minilm", "minilm-noise"), ("minilm", "minilm-perm"), ("minilm", "minilm-int8"), ("tiny-0", "tiny-1"),
              ("smollm2-q4_1", "minilm"), ("tiny-0", "minilm")]  # fmt: skip


@pytest.mark.parametrize(("a", "b"), FAST_PAIRS)
def test_fingerprint_verdicts_match_the_labels(fps, small_zoo, a: str, b: str) -> None:
    d = compare_views(FingerprintView(Fingerprint.load(fps[a])), FingerprintView(Fingerprint.load(fps[b])))
    assert d["kind"] in ACCEPT[_truth(small_zoo, a, b)], (a, b, d)


@pytest.mark.parametrize(("a", "b"), [p for p in FAST_PAIRS if "smollm2-q4_1" not in p])
def test_fingerprint_verdict_equals_full_weight_verdict(fps, small_zoo, a: str, b: str) -> None:
    """Cheap models: the verdict from two fingerprints is the verdict from the full weights."""
    import taoke

    fp = {n: Fingerprint.load(fps[n]) for n in (a, b)}
    full = taoke.compare(fp[a].location, fp[b].location).kind
    assert compare_views(FingerprintView(fp[a]), FingerprintView(fp[b]))["kind"] == full


@pytest.mark.slow
@pytest.mark.parametrize(
    ("a", "b"),
    [("smollm2-f32", "smollm2-renamed"), ("smollm2-q4_1", "smollm2-f32"),
     ("smollm2-f32", "smollm2-rotate"), ("smollm2-f32", "smollm2-layer-subset")],  # noise: minilm-noise (fast)
)  # fmt: skip
def test_smollm2_fingerprint_verdicts_match_the_zoo_labels(fps, smollm2_zoo, a: str, b: str) -> None:
    d = compare_views(FingerprintView(Fingerprint.load(fps[a])), FingerprintView(Fingerprint.load(fps[b])))
    assert d["kind"] in ACCEPT[smollm2_zoo.relation(a, b).relation], (a, b, d)


@pytest.mark.slow
def test_smollm2_layer_subset_fingerprint_verdict_equals_full_weights(fps, smollm2_zoo) -> None:
    import taoke

    a, b = "smollm2-f32", "smollm2-layer-subset"
    full = taoke.compare(smollm2_zoo.path_of(a), smollm2_zoo.path_of(b))
    fpv = taoke.compare(FingerprintView(Fingerprint.load(fps[a])), FingerprintView(Fingerprint.load(fps[b])))
    # the same verdict; the weights' test is sample-bounded (whitebox/sampled.py: a few layers), the fingerprint's
    # runs on every layer it keeps, so the weights' layer map is part of the fingerprint's
    assert fpv.kind == full.kind and set(full.derived_layers) <= set(fpv.derived_layers)
    assert len(fpv.derived_layers) == 20  # every layer of the subset, mapped to its parent layer


def test_bad_fingerprint_files(tmp_path: Path, fps) -> None:
    junk = tmp_path / "junk.tkfp"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptFile):
        Fingerprint.load(junk)
    assert not is_fingerprint_file(junk)
    fp = Fingerprint.load(fps["minilm"])
    newer = Fingerprint({**fp.header, "version": 99}, fp.arrays)
    p = newer.save(tmp_path / "newer.tkfp")
    with pytest.raises(CorruptFile, match="version 99"):
        Fingerprint.load(p)
    with zipfile.ZipFile(fps["minilm"]) as z:
        hdr = json.loads(np.load(z.open("__header__.npy")).tobytes())
    assert hdr["name"] == "minilm"
