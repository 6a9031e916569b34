"""Markdown tables of the black-box evaluations (``results_*.json`` beside this file), for docs/blackbox.md.

    .venv/bin/python benchmarks/blackbox/render.py [mixture|watch|same|lineage|fuzz ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(name: str) -> dict | None:
    p = HERE / f"results_{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def mixture(r: dict) -> list[str]:
    out = ["| data | condition | table | share SmolLM2 / Gemma-3 | runs | queries | reported mixed | both named | "
           "mean estimated SmolLM2 share |", "|---|---|---|---|---|---|---|---|---|"]
    for x in r["live"]:
        s = x["share_smollm2"]
        out.append(f"| live router | {x['condition']} | full | {s:.0%} / {1 - s:.0%} | {x['runs']} | {x['queries']} | "
                   f"{x['flagged_mixed']:.0%} | {x['both_named']:.0%} | |")
    for x in r["simulated"]:
        s = x["share_smollm2"]
        out.append(f"| recorded counts, re-routed | {x['condition']} | {x['table']} | {s:.0%} / {1 - s:.0%} | "
                   f"{x['runs']} | {x['queries']} | {x['flagged_mixed']:.1%} | {x['both_named']:.0%} | "
                   f"{x['mean_estimated_share']:.2f} |")
    ht = r["honest_table"]
    out.append(f"\nHonest endpoints simulated from every tokenizer of the table ({ht['tokenizers']} tokenizers x 20 "
               f"overheads, +-1 token on the indentation string): **{ht['flagged_mixed']}/{ht['runs']}** reported "
               f"mixed; outcomes {ht['outcomes']}.")
    return out


def watch(r: dict) -> list[str]:
    out = ["| scenario | checks | false alarms (unchanged checks) | per 100 checks | alarms after the swap | "
           "delay (checks) | called | queries/check |", "|---|---|---|---|---|---|---|---|"]
    for x in r["summary"]:
        swap = x["checks_after_swap"] > 0
        after = f"{x['alarms_after_swap']}/{x['checks_after_swap']}" if swap else "—"
        out.append(f"| {x['scenario']} | {x['checks']} | {x['false_alarms']}/{x['unchanged_checks']} | "
                   f"{x['false_alarms_per_100']:.1f} | {after} | "
                   f"{x['delay_checks'] if x['delay_checks'] is not None else ('—' if not swap else 'missed')} | "
                   f"{', '.join(x['called']) or '—'} | {x['queries_per_check']} |")
    return out


def same(r: dict) -> list[str]:
    out = ["| pair | same weights? | runs | called different | outcomes | prompt shift (tokens) | prompt recovered | "
           "p-values | queries/run |", "|---|---|---|---|---|---|---|---|---|"]
    for x in r["summary"]:
        outs = ", ".join(f"{k} {v}" for k, v in x["outcomes"].items())
        out.append(f"| {x['pair']} | {'yes' if x['same_weights'] else 'no'} | {x['runs']} | "
                   f"{x['called_different']}/{x['runs']} | {outs} | {x['shift']} | {x['recovered']}/{x['runs']} | "
                   f"{', '.join(str(p) for p in x['p_values'])} | {x['queries']} |")
    return out


def lineage(r: dict) -> list[str]:
    out = ["| truth / kind | runs | exact | base right | called |", "|---|---|---|---|---|"]
    for k, x in r["by_kind"].items():
        called = ", ".join(f"{c} {n}" for c, n in sorted(x["called"].items()))
        out.append(f"| {k} | {x['runs']} | {x['exact']}/{x['runs']} | {x['base_ok']}/{x['runs']} | {called} |")
    out += ["", "| condition | runs | exact | base right |", "|---|---|---|---|"]
    for k, x in r["by_condition"].items():
        out.append(f"| {k} | {x['runs']} | {x['exact']}/{x['runs']} | {x['base_ok']}/{x['runs']} |")
    out.append(f"\n{r['runs']} probes, median {r['median_queries']} queries each; honest endpoints reported mixed: "
               f"**{r['honest_mixed_flags']}/{r['runs']}**.")
    out += ["", "| model | condition | T | expected | predicted | greedy agreement | queries |",
            "|---|---|---|---|---|---|---|"]
    for x in r["rows"]:
        ag = x["lineage"].get("agreement") or {}
        top = max(ag.items(), key=lambda kv: kv[1]) if ag else None
        agt = f"{top[0]} {top[1]:.2f}" if top else "—"
        out.append(f"| {x['model']} | {x['condition']} | {x['temperature']} | {x['expected']} | {x['predicted']} | "
                   f"{agt} | {x['queries']} |")
    return out


def fuzz(r: dict) -> list[str]:
    return [f"{r['cases']:,} fuzzed answers through the whole client in {r['seconds']:.0f} s: {r['outcomes']}, "
            f"findings: {len(r['findings'])}, peak RSS {r['peak_rss_mb']} MB."]


def main() -> None:
    names = sys.argv[1:] or ["mixture", "watch", "same", "lineage", "fuzz"]
    for n in names:
        r = _load(n)
        if r is None:
            print(f"<!-- no results_{n}.json -->")
            continue
        print(f"### {n}\n")
        print("\n".join(globals()[n](r)))
        print()


if __name__ == "__main__":
    main()
