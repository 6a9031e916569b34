"""The null of the sampled hidden-unit statistic, measured: agreement counts on real independent pairs.

    python benchmarks/scale/null.py [--seeds 5] [--scale] [--power] [--out benchmarks/results/scale_null.json]

For every independent or unrelated pair of the derivation zoo (``taoke.zoo.evaluate.eval_pairs`` on the full zoo,
plus SmolLM2 vs Gemma-3 and MiniLM vs SmolLM2) and, with ``--scale``, the generated 1B pair (A vs its Gemma-based
twin C, local), the sampled test of :mod:`taoke.whitebox.sampled` runs on every planned layer (no sequential stop)
with several seeds (other unit blocks, layers, coordinates and tokens). Recorded per tested layer: the agreement
``K`` of the two matchings and its bound ``log10 p``. Reported: the distribution of ``K``, the empirical
``P(K ≥ k)`` beside the bound ``1/k!`` the p-value uses, the share of layers at or below the per-layer threshold of
the majority rule, and the model-level false positives at alpha = 1e-6 (each seed a separate decision).
With ``--power`` the derived pairs are run once per seed too, for the power side.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

import taoke  # noqa: E402
from taoke import defaults  # noqa: E402
from taoke.whitebox.compare import _shared_ids, _tokenizer_relation  # noqa: E402
from taoke.whitebox.sampled import sampled_unit_test  # noqa: E402
from taoke.zoo.evaluate import eval_pairs, unrelated_pairs  # noqa: E402
from taoke.zoo.manifest import ZooManifest  # noqa: E402


def run_pair(pa: str, pb: str, seeds: int) -> list[dict[str, object]]:
    out = []
    with taoke.open(pa) as a, taoke.open(pb) as b:
        notes: list[str] = []
        _, va, vb = _tokenizer_relation(a, b, notes)
        ids = _shared_ids(a, b, va, vb, notes)
        for seed in range(seeds):
            try:
                ut, al, rd = sampled_unit_test(a, b, None if ids is None else ids[0], None if ids is None else ids[1],
                                               rng=np.random.default_rng(seed), alpha=defaults.ALPHA,
                                               sequential=False)  # fmt: skip
            except ValueError as e:  # widths differ and nothing aligns them: no test, nothing to record
                out.append({"seed": seed, "error": str(e)})
                continue
            if ut is None:
                continue
            out.append({"seed": seed, "log10_p": ut.log10_p, "threshold": rd.detail.get("threshold_log10_p"),
                        "fit": al.fit_cosine, "layers": [{"b": m.layer_b, "a": m.layer_a, "k": m.agreement,
                                                          "m": m.tested_units, "log10_p": m.log10_p,
                                                          "interior": m.layer_b in ut.interior}
                                                         for m in ut.matches]})  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--scale", action="store_true", help="also the generated 1B pair (written locally)")
    ap.add_argument("--power", action="store_true", help="also every derived pair (the power side; slower)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/scale_null.json")
    args = ap.parse_args()
    t0 = time.time()
    zoo = ZooManifest.load(defaults.data_dir() / "zoo")
    pairs = [(str(zoo.path_of(a)), str(zoo.path_of(b)), t, tr) for a, b, t, tr in eval_pairs(zoo)]
    pairs += [(a, b, t, tr) for a, b, t, tr in unrelated_pairs()]
    if args.scale:
        base = defaults.data_dir() / "scale"
        pairs.append((str(base / "llama-3.2-1b-a"), str(base / "llama-3.2-1b-c"), "independent",
                      "scale 1B: SmolLM2-tiled vs Gemma-tiled"))  # fmt: skip
        pairs.append((str(base / "llama-3.2-1b-a"), str(base / "llama-3.2-1b-b"), "derived", "scale 1B twin"))
    if not args.power:
        pairs = [p for p in pairs if p[2] not in ("derived", "repackaged") or p[3].startswith("scale")]
    results = []
    for pa, pb, truth, transform in pairs:
        t = time.time()
        try:
            runs = run_pair(pa, pb, args.seeds)
        except Exception as e:  # noqa: BLE001 - one pair that cannot be read is recorded, the rest still run
            runs = [{"error": f"{type(e).__name__}: {e}"[:300]}]
        results.append({"a": pa, "b": pb, "truth": truth, "transform": transform, "runs": runs})
        print(f"[{time.time() - t0:6.0f}s] {truth:12s} {transform[:40]:40s} "
              f"K={[[x['k'] for x in r.get('layers', [])] for r in runs][:2]} ({time.time() - t:.0f} s)", flush=True)
    neg = [r for r in results if r["truth"] not in ("derived",) and r["truth"] != "repackaged"]
    ks = [x["k"] for r in neg for run in r["runs"] for x in run.get("layers", []) if x["interior"]]
    thr_hits = sum(x["log10_p"] <= run["threshold"] for r in neg for run in r["runs"] for x in run.get("layers", [])
                   if x["interior"])  # fmt: skip
    fp = sum(run["log10_p"] <= math.log10(defaults.ALPHA) for r in neg for run in r["runs"] if "log10_p" in run)
    decisions = sum(1 for r in neg for run in r["runs"] if "log10_p" in run)
    tail = []
    for k in range(1, 12):
        emp = float(np.mean(np.asarray(ks) >= k)) if ks else None
        tail.append({"k": k, "empirical_P(K>=k)": emp, "bound_1/k!": 1 / math.factorial(k)})
    summary = {
        "format": "taoke.bench.scale-null", "version": 1, "seconds": round(time.time() - t0),
        "seeds": args.seeds, "independent_pairs": len(neg), "interior_layers_tested": len(ks),
        "K_histogram": {str(k): int(np.sum(np.asarray(ks) == k)) for k in sorted(set(ks))},
        "max_K": max(ks) if ks else None, "tail": tail,
        "layers_at_or_below_threshold": int(thr_hits), "false_positive_decisions": int(fp),
        "decisions": int(decisions), "results": results,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
