"""Swaps over time: ``taoke probe snapshot`` + ``watch`` against a real server whose model is swapped mid-run.

    nice .venv/bin/python benchmarks/blackbox/evaluate_watch.py [--checks 100] [--fresh]

The endpoint is the reseller proxy (no persona) in front of real llama.cpp servers; ``switch`` swaps the model
behind it between two checks, as a reseller would on some day. Snapshot: 12 prompts x 3 answers at temperature 0,
16 tokens (36 queries + 1), and the 3 count texts; each check: 12 prompts x 2 + 3 count texts (27 queries), alpha = 0.002 per check.

* unchanged endpoints (false alarms per 100 checks): SmolLM2-135M-Instruct served deterministically (with
  log-probabilities), and the same model with the temperature forced to 0.8 by the proxy (an endpoint that samples,
  token-only) -- ``--checks`` checks each, back to back (the "day" of checks at 10-minute intervals, compressed);
* swaps (delay and what it is called): the baseline SmolLM2 Q4_1, 2 checks, then the same weights re-quantised
  (Q8_0), a fine-tune of the same base, continued pre-training of it, Gemma-3-270M (another model), 3 checks
  after the swap; with log-probabilities and token-only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Log, ResellerProxy, client, served, write_results  # noqa: E402

from taoke.blackbox.watch import MAX_CHECK_QUERIES, check, take_snapshot  # noqa: E402

BASE = "smollm2-q4_1"
SWAPS = {"re-quantised (Q8_0)": "smollm2-q8_0", "another model (Gemma-3-270M)": "gemma-3-270m-q4_k_m",
         "fine-tune of the same base": "smollm2-finetune", "continued pre-training": "smollm2-continued"}
BEFORE, AFTER = 2, 3


def run_checks(log: Log, scenario: str, px: ResellerProxy, n: int, *, logprobs: bool, swap_at: int | None = None,
               seed: int = 0) -> None:
    key0 = f"{scenario}/snapshot"
    with client(px.base_url) as c:
        snap = take_snapshot(c, logprobs=logprobs)
    log.add({"key": key0, "scenario": scenario, "logprobs": snap.logprobs, "queries": snap.queries})
    for i in range(n):
        if swap_at is not None and i == swap_at:
            px.switch(1)
        with client(px.base_url, MAX_CHECK_QUERIES) as c:
            r = check(c, snap, index=i, rng=np.random.default_rng([seed, i]))
        log.add({"key": f"{scenario}/check/{i}", "scenario": scenario, "check": i, "swapped": swap_at is not None and
                 i >= swap_at, **{k: v for k, v in r.to_dict().items() if k not in ("time", "errors")},
                 "n_errors": len(r.errors)})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=100)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--summary-only", action="store_true", help="summarise the log of an (interrupted) run")
    ap.add_argument("--quick", action="store_true", help="skip the deterministic unchanged endpoint (p = 1 by "
                    "construction) and the token-only swaps")
    args = ap.parse_args()
    log = Log("watch", fresh=args.fresh)

    if not args.summary_only:
        measure(log, args.checks, args.quick)
    summarize(log)


def measure(log: Log, checks: int, quick: bool) -> None:
    def pending(scenario: str, n: int) -> bool:
        return not log.done(f"{scenario}/check/{n - 1}")

    with served(BASE) as (base,):
        for label, target in SWAPS.items():
            with served(target) as (tgt,):
                for lp in (True,) if quick else (True, False):
                    sc = f"swap to {label}, {'logprobs' if lp else 'token-only'}"
                    if pending(sc, BEFORE + AFTER):
                        with ResellerProxy([base.base_url, tgt.base_url], system_prompt=None) as px:
                            run_checks(log, sc, px, BEFORE + AFTER, logprobs=lp, swap_at=BEFORE, seed=3)
        sc = "unchanged, deterministic, logprobs"
        if not quick and pending(sc, checks):
            with ResellerProxy(base.base_url, system_prompt=None) as px:
                run_checks(log, sc, px, checks, logprobs=True, seed=1)
        sc = "unchanged, samples at T=0.8, token-only"
        if pending(sc, checks):
            with ResellerProxy(base.base_url, system_prompt=None, force_temperature=0.8) as px:
                run_checks(log, sc, px, checks, logprobs=False, seed=2)


def summarize(log: Log) -> None:
    rows = list({r["key"]: r for r in log.rows if "/check/" in r["key"]}.values())  # a resumed scenario: last run
    summary = []
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        rs = [r for r in rows if r["scenario"] == sc]
        pre = [r for r in rs if not r["swapped"]]
        post = [r for r in rs if r["swapped"]]
        first = next((r["check"] - BEFORE for r in post if r["alarm"]), None)
        summary.append({"scenario": sc, "checks": len(rs), "false_alarms": sum(r["alarm"] for r in pre),
                        "unchanged_checks": len(pre), "false_alarms_per_100": 100 * sum(r["alarm"] for r in pre) /
                        max(1, len(pre)), "alarms_after_swap": sum(r["alarm"] for r in post),
                        "checks_after_swap": len(post), "delay_checks": first,
                        "called": sorted({r["change"] for r in post if r["alarm"]}),
                        "queries_per_check": max(r["queries"] for r in rs),
                        "p_values_after": [r["p_value"] for r in post], "fwa_after": [r["first_word_agreement"] for r in post],
                        "tv_after": [r["mean_tv"] for r in post]})
    print(write_results("watch", {"summary": summary, "alpha": 0.002}))


if __name__ == "__main__":
    main()
