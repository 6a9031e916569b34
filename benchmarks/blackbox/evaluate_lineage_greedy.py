"""Black-box lineage per kind, on greedy answers computed in-process (the code llama-cpp-python's server runs).

    nice .venv/bin/python benchmarks/blackbox/evaluate_lineage_greedy.py [--out results_lineage_greedy.json]

A fast stand-in for ``evaluate_lineage.py`` (which serves every model behind three proxies and runs the full probe,
about 2 hours here): every servable model (:data:`taoke.blackbox.servable.SERVABLE`: Q8_0 conversions and
re-quantisations, never the references' own files) answers the 12 fingerprint prompts greedily in-process, and the
lineage decision of ``taoke probe`` is applied to its answers against the shipped references
(``taoke/data/blackbox_lineage.json``) -- among the references with the model's own tokenizer, as the tokenizer
probe selects them on an honest endpoint; degenerate greedy text falls back on first-token log-probabilities, as
``lineage.run`` does. What it does not cover: the endpoint temperature 0.8, the resellers, the tokenizer probe's
own errors, and another machine's kernels (the references were built on this one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from taoke.blackbox import lineage as lin
from taoke.blackbox.servable import SERVABLE, servable_gguf

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=HERE / "results_lineage_greedy.json")
    ap.add_argument("--refs", type=Path, default=None, help="lineage references (default: the shipped ones)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated servable names (default: all)")
    args = ap.parse_args()
    refs = lin.load_lineage(args.refs)
    rows = []
    only = {x for x in args.only.split(",") if x}
    for s in SERVABLE:
        if only and s.name not in only:
            continue
        t0 = time.monotonic()
        got = lin.greedy_answers(servable_gguf(s), chat_format=s.chat_format, n_threads=args.threads)
        cands = tuple(m for m, r in refs["models"].items() if r["tokenizer"] == s.tokenizer)
        if not lin.informative(got["answers"]) or not any(refs["models"][m]["informative"] for m in cands):
            outcome, model, ranked = lin.decide_first(got["first"], refs, cands)
            basis = "first-token log-probabilities"
        else:
            outcome, model, ranked = lin.decide(got["answers"], refs, cands)
            basis = "greedy text"
        exp = s.expected  # "known:<model>" | "derivative:<model>" | "unknown"
        ok_base = (model is None) if exp == "unknown" else model == exp.split(":", 1)[-1]
        exact = {"known": outcome in ("known", "close"), "derivative": outcome in ("close", "derivative"),
                 "unknown": outcome == "unknown"}[exp.split(":", 1)[0]] and ok_base
        rows.append({"model": s.name, "kind": s.kind, "relation": s.relation, "expected": exp, "outcome": outcome,
                     "named": model, "basis": basis, "score": round(ranked[0][1], 4) if ranked else None,
                     "correct": bool(exact), "base_right": bool(ok_base), "seconds": round(time.monotonic() - t0, 1)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        write(args.out, refs, rows)  # after every model: an interrupted run keeps what it measured
    print(args.out)


def write(out: Path, refs: dict, rows: list[dict]) -> None:
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r)
    summary = {k: {"models": len(v), "correct": sum(r["correct"] for r in v), "base_right": sum(r["base_right"]
                                                                                                for r in v)}
               for k, v in by_kind.items()}
    res = {"calibration": refs["calibration"], "rows": rows, "by_kind": summary,
           "correct": sum(r["correct"] for r in rows), "models": len(rows)}
    out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
