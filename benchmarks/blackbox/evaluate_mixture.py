"""Mixed routing: detection rate at shares 50/50, 80/20, 95/5 and false alarms on honest endpoints.

    nice .venv/bin/python benchmarks/blackbox/evaluate_mixture.py [--live-runs 10] [--sim-runs 2000] [--fresh]

1. Recorded counts (real servers): every text the probe sends, sent once to SmolLM2-135M-Instruct and once to
   Gemma-3-270M, directly and behind the persona reseller (1 generated token each). The mixture decision is a
   function of the per-query ``usage.prompt_tokens`` only, and these are deterministic per (backend, text); so
   routing can be re-drawn from the recorded counts: ``--sim-runs`` random routings per share, through
   :func:`taoke.blackbox.attribution.analyse`, for the tokenizer probe's 37 queries. Also: Gemma-3's tokenizer
   removed from the table (the second model unknown).
2. Live: the real routing proxy in front of the two real servers, the tokenizer probe (37 queries), ``--live-runs``
   runs per share and condition.
3. Honest endpoints (false alarms): every servable model (``taoke.blackbox.servable``) directly, behind the
   reseller and behind the usage-rewriting reseller, the tokenizer probe once each (counts are deterministic: one
   run per endpoint decides it); and every tokenizer of the shipped table as an honest endpoint with each of 20
   overheads (the recorded noise of real servers: +-1 token on the indentation string).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CONDITIONS, Log, ResellerProxy, client, served, write_results  # noqa: E402

from taoke.blackbox import attribution as at  # noqa: E402
from taoke.blackbox import probe_endpoint  # noqa: E402
from taoke.blackbox.probe import REPEATS  # noqa: E402
from taoke.blackbox.probes import tokenizer as tok  # noqa: E402
from taoke.blackbox.probes.behaviour import load_references  # noqa: E402
from taoke.blackbox.servable import SERVABLE  # noqa: E402

SHARES = (0.5, 0.8, 0.95)
PAIR = ("smollm2-q4_1", "gemma-3-270m-q4_k_m")
LABELS = {"smollm2-q4_1": "SmolLM2-135M-Instruct", "gemma-3-270m-q4_k_m": "Gemma-3-270M"}


def probe_texts(table: dict) -> list[str]:
    """The texts of the tokenizer probe's queries, in order (baseline, 24 strings, 12 repeats)."""
    return list(table["strings"]) + tok.repeat_strings(table, REPEATS)


def record(log: Log, table: dict) -> dict[str, dict[str, list[int]]]:
    texts = list(dict.fromkeys(probe_texts(table)))
    out: dict[str, dict[str, list[int]]] = {}
    for cond in ("direct", "reseller"):
        for name in PAIR:
            key = f"record/{cond}/{name}"
            if not log.done(key):
                with served(name) as (srv,), ResellerProxy(srv.base_url, **CONDITIONS[cond]) as px, \
                        client(px.base_url) as c:
                    from taoke.blackbox.client import ChatRequest

                    res = c.complete_many([ChatRequest.user(t, max_tokens=1) for t in texts])
                    counts = [getattr(r, "prompt_tokens", None) for r in res]
                log.add({"key": key, "texts": texts, "counts": counts})
            row = next(r for r in log.rows if r.get("key") == key)
            out.setdefault(cond, {})[name] = [int(c) for c in row["counts"]]
    return out


def simulate(rec: dict[str, dict[str, list[int]]], table: dict, runs: int, rng: np.random.Generator) -> list[dict]:
    refs = load_references()
    texts_all = list(dict.fromkeys(probe_texts(table)))
    idx = [texts_all.index(t) for t in probe_texts(table)]
    names, cols, mat = at.text_counts(table)
    gem = mat[names.index("gguf:gemma-3-270m")]
    no_gemma = {n: e for i, (n, e) in enumerate(table["tokenizers"].items()) if not np.array_equal(mat[i], gem)}
    rows = []
    for cond, counts in rec.items():
        a, b = np.asarray(counts[PAIR[0]])[idx], np.asarray(counts[PAIR[1]])[idx]
        texts = [texts_all[i] for i in idx]
        for tab_name, tab in (("full table", table), ("Gemma-3 tokenizer unknown", dict(table, tokenizers=no_gemma))):
            for share in (*SHARES, 1.0, 0.0):
                outcomes: dict[str, int] = {}
                named = est = 0.0
                for _ in range(runs):
                    pick = rng.random(len(texts)) < share
                    obs = list(zip(texts, np.where(pick, a, b).tolist(), strict=True))
                    ev = at.analyse(obs, tab, refs)
                    outcomes[ev.outcome] = outcomes.get(ev.outcome, 0) + 1
                    if ev.outcome == "mixed":
                        labels = {c.label for c in ev.components}
                        named += labels == set(LABELS.values())
                        est += next((c.share for c in ev.components if c.label == LABELS[PAIR[0]]), 0.0)
                mixed = outcomes.get("mixed", 0) + outcomes.get("mixed-unknown", 0)
                rows.append({"condition": cond, "table": tab_name, "share_smollm2": share, "runs": runs,
                             "queries": len(texts), "flagged_mixed": mixed / runs, "outcomes": outcomes,
                             "both_named": named / max(1, outcomes.get("mixed", 0)),
                             "mean_estimated_share": est / max(1, outcomes.get("mixed", 0))})
                print(rows[-1], file=sys.stderr)
    return rows


def live(log: Log, runs: int) -> None:
    with served(*PAIR) as (sa, sb):
        for cond in ("direct", "reseller"):
            for share in SHARES:
                for r in range(runs):
                    key = f"live/{cond}/{share}/{r}"
                    if log.done(key):
                        continue
                    with ResellerProxy([sa.base_url, sb.base_url], weights=(share, 1 - share), seed=1000 + r,
                                       **CONDITIONS[cond]) as px, client(px.base_url, 100) as c:
                        rep = probe_endpoint(c, probes=("tokenizer",))
                        routed = float(np.mean(np.asarray(px.routed) == 0))
                    m = rep.mixture
                    log.add({"key": key, "condition": cond, "share_smollm2": share, "run": r, "routed_smollm2": routed,
                             "outcome": m.outcome if m else None, "wording": rep.verdict.wording,
                             "components": [c.to_dict() for c in m.components] if m else [],
                             "queries": rep.queries.charged})


def honest(log: Log) -> None:
    for s in SERVABLE:
        with served(s.name) as (srv,):
            for cond, kw in CONDITIONS.items():
                key = f"honest/{s.name}/{cond}"
                if log.done(key):
                    continue
                with ResellerProxy(srv.base_url, **kw) as px, client(px.base_url, 100) as c:
                    rep = probe_endpoint(c, probes=("tokenizer",))
                m = rep.mixture
                log.add({"key": key, "model": s.name, "condition": cond, "outcome": m.outcome if m else None,
                         "mixed": bool(m and m.mixed), "note": m.note if m else "", "queries": rep.queries.charged})


def honest_table(table: dict, rng: np.random.Generator) -> dict:
    """Every tokenizer of the table as an honest endpoint, 20 random overheads each, +-1 on one string."""
    names, cols, mat = at.text_counts(table)
    texts = probe_texts(table)
    flagged, runs, outcomes = 0, 0, {}
    for k in range(len(names)):
        for _ in range(20):
            o = int(rng.integers(0, 80))
            c = np.asarray([mat[k, cols[t]] for t in texts]) + o
            c[texts.index(tok.PROBE_STRINGS[-1])] += int(rng.choice([-1, 0, 1]))  # the indentation string
            ev = at.analyse(list(zip(texts, c.tolist(), strict=True)), table)
            outcomes[ev.outcome] = outcomes.get(ev.outcome, 0) + 1
            flagged += ev.mixed
            runs += 1
    return {"tokenizers": len(names), "runs": runs, "flagged_mixed": flagged, "outcomes": outcomes}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--live-runs", type=int, default=10)
    ap.add_argument("--sim-runs", type=int, default=2000)
    ap.add_argument("--skip-honest", action="store_true")
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    log = Log("mixture", fresh=args.fresh)
    table = tok.load_table()
    rng = np.random.default_rng(0)
    rec = record(log, table)
    sim = simulate(rec, table, args.sim_runs, rng)
    ht = honest_table(table, rng)
    live(log, args.live_runs)
    if not args.skip_honest:
        honest(log)
    live_rows = [r for r in log.rows if r["key"].startswith("live/")]
    live_sum = []
    for cond in ("direct", "reseller"):
        for share in SHARES:
            rs = [r for r in live_rows if r["condition"] == cond and r["share_smollm2"] == share]
            if rs:
                live_sum.append({"condition": cond, "share_smollm2": share, "runs": len(rs),
                                 "flagged_mixed": sum(r["outcome"] in ("mixed", "mixed-unknown") for r in rs) / len(rs),
                                 "both_named": sum(len(r["components"]) == 2 for r in rs) / len(rs),
                                 "queries": max(r["queries"] for r in rs)})
    hon = [r for r in log.rows if r["key"].startswith("honest/")]
    res = {"simulated": sim, "honest_table": ht, "live": live_sum,
           "honest_endpoints": {"runs": len(hon), "flagged_mixed": sum(r["mixed"] for r in hon),
                                "outcomes": {o: sum(r["outcome"] == o for r in hon) for o in {r["outcome"] for r in hon}}},
           "honest_rows": hon}
    print(write_results("mixture", res))


if __name__ == "__main__":
    main()
