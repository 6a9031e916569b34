"""Sample-bounded evidence (taoke.whitebox.sampled): the same verdicts as the full reading, a fraction of the bytes,
a sequential stop that does not change the decision, bounded memory, and a reading plan that fits 7B/70B/MoE."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import taoke
from taoke.verdict import VerdictKind
from taoke.whitebox import sampled
from taoke.whitebox.compare import _shared_ids, _tokenizer_relation

# (A, B, truth) on the fast zoo: a rotated copy with norms folded, a layer subset, a unit/head permutation, a
# std-matched random model, two independently trained tiny models, MiniLM's unit permutation
PAIRS = [
    ("smollm2-f32", "smollm2-rotate", "derived"),
    ("smollm2-f32", "smollm2-layer-subset", "derived"),
    ("smollm2-f32", "smollm2-stdmatched", "independent"),
    ("tiny-0", "tiny-1", "independent"),
    ("minilm", "minilm-perm", "derived"),
]


@pytest.fixture(scope="module")
def paths(zoo, minilm_dir: Path) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    out = {e.name: zoo.path_of(e.name) for e in zoo.entries}
    out["minilm"] = minilm_dir
    return out


@pytest.mark.parametrize("a,b,truth", PAIRS)
def test_sampled_and_exhaustive_agree(paths: dict[str, Path], a: str, b: str, truth: str) -> None:
    with taoke.open(paths[a]) as ma, taoke.open(paths[b]) as mb:
        fast = taoke.compare(ma, mb)
        read_fast = ma.bytes_read + mb.bytes_read
    with taoke.open(paths[a]) as ma, taoke.open(paths[b]) as mb:
        full = taoke.compare(ma, mb, exhaustive=True)
        read_full = ma.bytes_read + mb.bytes_read
    assert fast.kind == full.kind, (fast.sentence, full.sentence)
    related = {VerdictKind.DERIVED} if truth == "derived" else {VerdictKind.INDEPENDENT_SAME_ARCHITECTURE,
                                                                 VerdictKind.UNRELATED}  # fmt: skip
    assert fast.kind in related, fast.sentence
    reading = fast.evidence.reading
    assert reading is not None and reading["mode"] == "sampled" and full.evidence.reading == {"mode": "exhaustive"}
    assert read_fast < 0.5 * read_full  # even where fixed parts dominate (a 7 MB model), well under the full read
    if mb.file_size > 100e6:
        assert read_fast < 0.15 * (ma.file_size + mb.file_size)
    if truth == "derived":  # the layers it tested map where the full test maps them (up to the screen's choice)
        full_map = {m.layer_b: m.layer_a for m in full.evidence.units.matches}  # type: ignore[union-attr]
        for m in fast.evidence.units.matches:  # type: ignore[union-attr]
            assert m.layer_a == full_map[m.layer_b] and m.agreement > 0.9 * m.tested_units


def test_sequential_stop_keeps_the_decision(paths: dict[str, Path]) -> None:
    """Stopping as soon as the majority is settled gives the decision of all planned layers, with a p-value bound
    that is at least as conservative."""
    for b in ("smollm2-noise-0.1", "smollm2-stdmatched"):
        with taoke.open(paths["smollm2-f32"]) as ma, taoke.open(paths[b]) as mb:
            notes: list[str] = []
            _, va, vb = _tokenizer_relation(ma, mb, notes)
            ids = _shared_ids(ma, mb, va, vb, notes)
            assert ids is not None
            runs = [sampled.sampled_unit_test(ma, mb, ids[0], ids[1], rng=np.random.default_rng(0), alpha=1e-6,
                                              sequential=seq) for seq in (True, False)]  # fmt: skip
        (early, _, r_early), (whole, _, r_whole) = runs
        assert early is not None and whole is not None
        assert (early.log10_p <= -6) == (whole.log10_p <= -6)
        assert early.log10_p >= whole.log10_p
        assert r_early.layers_tested < r_whole.layers_tested == r_whole.layers_planned
        assert "stopped after" in r_early.stop


def test_null_statistic_on_independent_models(paths: dict[str, Path]) -> None:
    """Under independence the sampled agreement is what 1/k! allows: on every tested layer of independent pairs
    (several seeds), no layer reaches the per-layer threshold and agreements stay small."""
    worst = 0
    for a, b in (("smollm2-f32", "smollm2-stdmatched"), ("tiny-0", "tiny-2"), ("tiny-1", "tiny-3")):
        with taoke.open(paths[a]) as ma, taoke.open(paths[b]) as mb:
            notes: list[str] = []
            _, va, vb = _tokenizer_relation(ma, mb, notes)
            ids = _shared_ids(ma, mb, va, vb, notes)
            assert ids is not None
            for seed in range(3):
                ut, _, rd = sampled.sampled_unit_test(ma, mb, ids[0], ids[1], rng=np.random.default_rng(seed),
                                                      alpha=1e-6, sequential=False)  # fmt: skip
                assert ut is not None
                for m in ut.matches:
                    worst = max(worst, m.agreement)
                    assert m.log10_p > rd.detail["threshold_log10_p"]
    assert worst <= 8  # P(K >= 9) <= 1/9! = 2.8e-6 per layer under the bound


def test_plan_fits_7b_70b_and_moe_shapes(data_dir: Path) -> None:
    """The reading plan's size arithmetic on the real shapes (headers only, served by the virtual range server):
    ≤ 2 % of a 7B file, ≤ 1 % of a 70B and of a DeepSeek-V3-like MoE, arrays well under 1 GB at once."""
    from taoke.zoo.scale import pair_specs
    from taoke.zoo.scale_server import serve_scale

    names = [s.name for arch in ("llama-2-7b", "llama-3-70b") for s in pair_specs(arch)[:2]]
    with serve_scale(names) as (base, _state):
        for arch, share in (("llama-2-7b", 0.02), ("llama-3-70b", 0.01)):
            with taoke.open(f"{base}/{arch}-a/") as a, taoke.open(f"{base}/{arch}-b/") as b:
                cost = sampled.plan_cost(a, b)
                fa, fb = cost.fraction(a.file_size, b.file_size)
                assert fa <= share and fb <= share, (arch, fa, fb, cost.detail)
                assert cost.peak_bytes < 512 << 20, (arch, cost.peak_bytes)
                assert a.bytes_read < 0.001 * a.file_size  # opening read the headers only


@pytest.mark.slow
def test_plan_fits_moe_shapes(data_dir: Path) -> None:
    from taoke.zoo.scale import pair_specs
    from taoke.zoo.scale_server import serve_scale

    names = [s.name for s in pair_specs("deepseek-v3")[:2]]
    with serve_scale(names) as (base, _state):
        with taoke.open(f"{base}/deepseek-v3-a/") as a, taoke.open(f"{base}/deepseek-v3-b/") as b:
            cost = sampled.plan_cost(a, b)
            fa, fb = cost.fraction(a.file_size, b.file_size)
            assert fa <= 0.01 and fb <= 0.01 and cost.peak_bytes < 512 << 20, cost.detail


def test_memory_stays_bounded(paths: dict[str, Path]) -> None:
    """Peak RSS of a sampled compare of a pair of 538 MB checkpoints, in a fresh process, against the same process
    doing the full reading: the sample's arrays are a fraction of the full test's."""
    # VmHWM, the peak RSS of this process image: ru_maxrss would carry over the forking pytest process's peak
    # (Linux keeps the pre-exec high-water mark across execve)
    code = ("import json, re, sys, taoke; v = taoke.compare(sys.argv[1], sys.argv[2], exhaustive=sys.argv[3] == '1');"
            "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1));"
            "print(json.dumps({'kind': str(v.kind), 'rss': hwm}))")  # fmt: skip
    out = {}
    for ex in ("0", "1"):
        r = subprocess.run([sys.executable, "-c", code, str(paths["smollm2-f32"]), str(paths["smollm2-perm"]), ex],
                           capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
        out[ex] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["0"]["kind"] == out["1"]["kind"] == "derived"
    assert out["0"]["rss"] < 400 * 1024  # KiB
    assert out["0"]["rss"] <= out["1"]["rss"]


@pytest.mark.slow
def test_memory_stays_bounded_on_7b(data_dir: Path) -> None:
    """A sampled compare of a Llama-2-7B-shaped pair (13.5 GB per file, served by the virtual range server): peak
    RSS of the comparing process under 1 GB, under 2 % of each file read, no 'derived' for the independent twin."""
    from taoke.zoo.scale import pair_specs
    from taoke.zoo.scale_server import serve_scale

    a, _b, c = pair_specs("llama-2-7b")
    code = ("import json, re, sys, taoke; v = taoke.compare(sys.argv[1], sys.argv[2]); r = v.evidence.reading;"
            "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1));"
            "print(json.dumps({'kind': str(v.kind), 'rss': hwm, 'fa': r['fraction_a'], 'fb': r['fraction_b']}))")  # fmt: skip
    with serve_scale([a.name, c.name]) as (base, _state):
        r = subprocess.run([sys.executable, "-c", code, f"{base}/{a.name}/", f"{base}/{c.name}/"], capture_output=True,
                           text=True, timeout=900, check=True)  # fmt: skip
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["kind"] == "independent-same-architecture", out
    assert out["rss"] < 1024 * 1024, out  # KiB
    assert out["fa"] < 0.02 and out["fb"] < 0.02, out
