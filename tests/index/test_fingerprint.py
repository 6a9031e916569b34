"""Fingerprints of real checkpoints: size, bytes read, format checks, and verdicts that match full weights."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from taoke.errors import CorruptFile
from taoke.index.fingerprint import FORMAT, Fingerprint, is_fingerprint_file
from taoke.index.search import compare_views
from taoke.whitebox.evaluate import ACCEPT


def test_fingerprint_is_small_and_records_what_it_read(fps, smollm2_gguf: Path) -> None:
    p = fps["smollm2-q4_1"]
    assert is_fingerprint_file(p)
    assert p.stat().st_size < 6_000_000  # a few MB for a 98 MB checkpoint
    fp = Fingerprint.load(p)
    src = fp.header["source"]
    assert fp.header["format"] == FORMAT and fp.header["version"] == 1
    assert src["file_size"] == smollm2_gguf.stat().st_size
    assert 0 < src["bytes_read"] < src["file_size"]
    assert len(fp.header["unit_layers"]) == 30
    assert fp.arrays["u.5.up"].shape == (32, 576)
    # the tokenizer survives unchanged
    from taoke import open as topen

    with topen(str(smollm2_gguf)) as m:
        assert fp.view().tokenizer().tokens_digest == m.tokenizer().tokens_digest


def test_canonical_units_survive_a_permutation(fps) -> None:
    """The key is permutation-invariant: the same unit vectors are chosen in a unit-permuted copy."""
    a = Fingerprint.load(fps["smollm2-f32"]).view()
    b = Fingerprint.load(fps["smollm2-rotate"]).view()
    # rotated copy: norms of the kept down vectors are equal as multisets in every layer
    for i in (3, 15, 27):
        na = np.sort(np.linalg.norm(a.get(f"layers.{i}.mlp.down").T, axis=1))
        nb = np.sort(np.linalg.norm(b.get(f"layers.{i}.mlp.down").T, axis=1))
        assert np.allclose(na, nb, rtol=0.02)


@pytest.mark.parametrize(
    ("a", "b"),
    [("smollm2-f32", "smollm2-renamed"), ("smollm2-q4_1", "smollm2-f32"), ("smollm2-f32", "smollm2-noise-0.1"),
     ("smollm2-f32", "smollm2-rotate"), ("smollm2-f32", "smollm2-layer-subset"), ("smollm2-q4_1", "minilm")],
)  # fmt: skip
def test_fingerprint_verdicts_match_the_zoo_labels(fps, small_zoo, a: str, b: str) -> None:
    d = compare_views(Fingerprint.load(fps[a]).view(), Fingerprint.load(fps[b]).view())
    truth = small_zoo.relation(a, b).relation if b != "minilm" else "unrelated"
    assert d["kind"] in ACCEPT[truth], (a, b, d)


@pytest.mark.slow
@pytest.mark.parametrize("b", ["smollm2-renamed", "smollm2-noise-0.1", "smollm2-layer-subset"])
def test_fingerprint_verdict_equals_full_weight_verdict(fps, small_zoo, b: str) -> None:
    import taoke
    from taoke.verdict import decide
    from taoke.whitebox.compare import gather_evidence

    with taoke.open(str(small_zoo.path_of("smollm2-f32"))) as ma, taoke.open(str(small_zoo.path_of(b))) as mb:
        full = decide(gather_evidence(ma, mb)).kind
    fpv = compare_views(Fingerprint.load(fps["smollm2-f32"]).view(), Fingerprint.load(fps[b]).view())["kind"]
    assert fpv == full


def test_bad_fingerprint_files(tmp_path: Path, fps) -> None:
    junk = tmp_path / "junk.tkfp"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptFile):
        Fingerprint.load(junk)
    fp = Fingerprint.load(fps["minilm"])
    newer = Fingerprint({**fp.header, "version": 99}, fp.arrays)
    p = newer.save(tmp_path / "newer.tkfp")
    with pytest.raises(CorruptFile, match="version 99"):
        Fingerprint.load(p)
    with zipfile.ZipFile(fps["minilm"]) as z:
        hdr = json.loads(np.load(z.open("__header__.npy")).tobytes())
    assert hdr["name"] == "minilm"
