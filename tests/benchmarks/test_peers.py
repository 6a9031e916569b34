"""Smoke tests of the peer benchmark harness (``benchmarks/peers/run.py``) on real MiniLM pairs.

Fast: taoke plus model-fingerprint (when installed) on two real pairs (re-packaged int8 ONNX MiniLM, an unrelated
architecture) and one broken file. Slow: taoke and every installed peer on three real pairs (adds a permuted zoo
derivative). Peers live in ``benchmarks/.venv-peers``; when it is missing
they are skipped with the reason the harness gives.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "benchmarks" / "peers"


def _runner() -> Any:
    sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location("peers_run", HERE / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["peers_run"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def run_mod() -> Any:
    return _runner()


@pytest.fixture(scope="module")
def pairs(run_mod: Any, data_dir: Path, minilm_dir: Path, minilm_onnx: Path, smollm2_gguf: Path) -> list[Any]:
    from taoke.zoo.build import build_zoo

    zoo = build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=("minilm-perm",))
    P = run_mod.Pair
    return [
        P(str(minilm_dir), str(minilm_onnx), "repackaged", "int8 ONNX", "minilm", "minilm-int8"),
        P(str(minilm_dir), str(zoo.path_of("minilm-perm")), "derived", "permuted", "minilm", "minilm-perm"),
        P(str(minilm_dir), str(smollm2_gguf), "unrelated", "unrelated", "minilm", "smollm2-q4_1"),
    ]


def _installed(run_mod: Any, adapters: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    ok, why = [], []
    for ad in adapters:
        name, _claim, _py, reason = run_mod.tool_status(ad)
        (why.append(f"{name}: {reason}") if reason else ok.append(ad))
    return tuple(ok), why


def test_taoke_and_cheap_peers(run_mod: Any, pairs: list[Any], tmp_path: Path) -> None:
    peers, why = _installed(run_mod, ("adapt_model_fingerprint",))
    broken = tmp_path / "broken" / "model.safetensors"
    broken.parent.mkdir()
    broken.write_bytes((10**6).to_bytes(8, "little") + b'{"x": ')  # header length beyond the file
    bad = run_mod.Pair(pairs[0].a, str(broken.parent), "derived", "broken file", "minilm", "broken")
    fast = [pairs[0], pairs[2], bad]  # the permuted pair runs in the slow test
    res = run_mod.run(fast, ("adapt_taoke", *peers), timeout_s=300, log=lambda _s: None)
    recs = {(r["tool"], r["b"]): r for r in res["records"]}
    assert len(res["records"]) == 3 * (1 + len(peers))

    # taoke is right on the real pairs, and the broken file is an error counted as a wrong answer
    for p in fast[:2]:
        r = recs[("taoke", p.name_b)]
        assert r["error"] is None, r
        assert r["related"] is (p.truth in run_mod.POSITIVE), r
    assert recs[("taoke", "minilm-int8")]["raw"] == "repackaged"
    b = recs[("taoke", "broken")]
    assert b["error"] and b["related"] is None
    s = res["summary"]["tools"]["taoke"]
    assert (s["correct"], s["pairs"], s["errors"], s["missed_related"]) == (2, 3, 1, 1)
    assert s["false_positives_independent"] == 0
    # costs are measured for every record; taoke counts its own bytes and reads far less than the files
    for r in res["records"]:
        assert r["wall_s"] > 0 and r["peak_rss_kb"] > 10_000
    size = Path(pairs[0].b).stat().st_size + (Path(pairs[0].a) / "model.safetensors").stat().st_size
    assert 0 < recs[("taoke", "minilm-int8")]["bytes_self"] < size

    if "adapt_model_fingerprint" in peers:  # exact hashes: int8 vs F32 differ, ONNX is not a format it reads
        mf = res["summary"]["tools"]["model-fingerprint"]
        assert recs[("model-fingerprint", "minilm-int8")]["related"] is None  # error on ONNX
        assert mf["missed_related"] == 2 and mf["errors"] >= 1
    md = run_mod.markdown(res)
    assert "| taoke |" in md and "2/3" in md
    if why:
        pytest.skip("peers not installed: " + "; ".join(why))


@pytest.mark.slow
def test_every_installed_peer(run_mod: Any, pairs: list[Any]) -> None:
    peers, why = _installed(run_mod, run_mod.ADAPTERS[1:])
    if not peers:
        pytest.skip("no peer installed: " + "; ".join(why))
    res = run_mod.run(pairs, ("adapt_taoke", *peers), timeout_s=600, log=lambda _s: None)
    assert len(res["records"]) == len(pairs) * (1 + len(peers))
    recs = {(r["tool"], r["b"]): r for r in res["records"]}
    assert recs[("taoke", "minilm-perm")]["raw"] == "derived"
    if "adapt_zhu" in peers:
        # csu correlates the matched units with the identity: a permutation of the units hides the copy (the
        # constrained setting of arXiv:2502.12292 assumes none), while the matching itself is perfect
        assert recs[("zhu-csu (re-impl.)", "minilm-perm")]["related"] is False
    for r in res["records"]:
        assert r["related"] in (True, False, None) and r["wall_s"] > 0
        assert r["error"] is None or r["related"] is None
    ran = {t for t, info in res["tools"].items() if info["unavailable"] is None}
    assert set(res["summary"]["tools"]) == ran and len(ran) == len(peers) + 1


@pytest.mark.slow
def test_cisco_labels_and_gguf_export(run_mod: Any, pairs: list[Any]) -> None:
    peers, why = _installed(run_mod, ("adapt_cisco",))
    if not peers:
        pytest.skip("cisco-ai-provenance-kit not installed: " + "; ".join(why))
    res = run_mod.run(pairs, peers, timeout_s=600, log=lambda _s: None)
    recs = {r["b"]: r for r in res["records"]}
    # an ONNX file is no Hugging Face folder: the tool errors, which counts as a wrong answer
    assert recs["minilm-int8"]["related"] is None and recs["minilm-int8"]["error"]
    # the permuted copy keeps the config: its metadata gate (MFI tier 1) decides "Confirmed Match" → related
    perm = recs["minilm-perm"]
    assert perm["raw"] == "Confirmed Match" and perm["related"] is True and perm["detail"]["mfi_tier"] == 1
    # the GGUF was given the config.json + tokenizer.json transformers exports from it (prepare, untimed); the
    # tool reads no GGUF weights, so it decides on metadata and tokenizer: another architecture, not matched
    smol = recs["smollm2-q4_1"]
    assert smol["error"] is None and smol["related"] is False and smol["raw"].startswith("Not Matched")
    assert smol["detail"]["metadata_only"] and smol["score"] <= 0.65


def test_merge_and_resume_keep_every_record(run_mod: Any, tmp_path: Path) -> None:
    """A run split into jobs of different tools on the same pairs merges into one result; a run cut short keeps
    its measured records (read back from JSON lines, non-finite scores included) and measures only the rest."""
    P = run_mod.Pair
    pairs = [P("/m/a", "/m/b", "derived", "noise", "a", "b"), P("/m/a", "/m/c", "independent", "indep", "a", "c")]

    def rec(tool: str, b: str, related: bool, score: float) -> dict[str, Any]:
        return {"tool": tool, "a": "a", "b": b, "row": "r", "truth": "derived" if b == "b" else "independent",
                "related": related, "raw": "x", "error": None, "score": score, "wall_s": 1.0,
                "peak_rss_kb": 2048}  # fmt: skip

    def part(tool: str, recs: list[dict[str, Any]]) -> dict[str, Any]:
        r = {"command": f"run {tool}", "seconds": 2.0, "machine": {"cpus": 2, "platform": "p"},
             "tools": {tool: {"adapter": f"adapt_{tool}", "claim": "", "unavailable": None}},
             "pairs": [p.__dict__ for p in pairs], "records": recs}  # fmt: skip
        return json.loads(json.dumps(run_mod._clean(r)))  # as saved: inf -> "inf"

    t1 = part("t1", [rec("t1", "b", True, math.inf), rec("t1", "c", False, 0.1)])
    t2 = part("t2", [rec("t2", "b", False, 0.2), rec("t2", "c", True, 0.9)])
    res = run_mod.merge([t1, t2])
    s = res["summary"]["tools"]
    assert (s["t1"]["correct"], s["t2"]["correct"]) == (2, 0) and len(res["records"]) == 4
    assert res["seconds"] == 4.0 and res["command"] == "run t1 + run t2" and len(res["parts"]) == 2
    assert s["t1"]["auc"] == 1.0  # the "inf" score read back as a float
    with pytest.raises(SystemExit):
        run_mod.merge([t1, t1])  # a tool twice
    other = dict(t2, pairs=t2["pairs"][:1])
    with pytest.raises(SystemExit):
        run_mod.merge([t1, other])  # other pairs

    # resume: both records are kept, nothing is measured again (no adapter runs for them)
    done = [run_mod._record(json.loads(json.dumps(run_mod._clean(r)))) for r in t1["records"]]
    tool_status = run_mod.tool_status
    run_mod.tool_status = lambda ad: ("t1", "", Path(sys.executable), None)
    try:
        out = run_mod.run(pairs, ("adapt_t1",), log=lambda _s: None, done=done)
    finally:
        run_mod.tool_status = tool_status
    assert [r["b"] for r in out["records"]] == ["b", "c"] and out["records"][0]["score"] == math.inf
    assert out["summary"]["tools"]["t1"]["correct"] == 2
