"""Identification and black-box lineage over every servable model: known model / derivative of which base /
unknown, directly, behind the persona reseller and behind the usage-rewriting reseller, at endpoint temperature
0 (every model) and 0.8 (a subset), with the full ``taoke probe`` (tokenizer, identity, behaviour, lineage).

    nice .venv/bin/python benchmarks/blackbox/evaluate_lineage.py [--fresh] [--only NAME,...]
        [--conditions direct,reseller,...] [--temperatures 0,0.8]

``--conditions`` / ``--temperatures`` run a part of the grid (the log is resumable: a later run adds the rest).

References: ``taoke/data/blackbox_lineage.json`` and ``blackbox_references.json``, built from the fetched and zoo
files (``taoke probe db build``); the endpoints serve other files (Q8_0 conversions, re-quantisations) or the
same files through real servers, never the references' source. Each probe's mixture evidence doubles as the
false-alarm measurement of the mixed-routing test on honest endpoints.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CONDITIONS, Log, ResellerProxy, client, served, write_results  # noqa: E402

from taoke.blackbox import probe_endpoint  # noqa: E402
from taoke.blackbox.servable import SERVABLE  # noqa: E402

HOT = ("smollm2-q4_1", "smollm2-finetune", "smollm2-stdmatched", "gemma-3-270m-q4_k_m", "tiny-1-q8_0", "tiny-4")


def predicted(v: dict) -> str:
    if v.get("mixed"):
        return "mixed"
    rel, base = v.get("relation"), v.get("base")
    if rel in ("known", "close", "derivative", "known-or-derivative") and base:
        return f"{rel}:{base}"
    if rel == "unknown":
        return "unknown"
    return f"inconclusive:{v.get('model') or v.get('family') or '-'}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated, of: " + ", ".join(CONDITIONS))
    ap.add_argument("--temperatures", default="0,0.8")
    args = ap.parse_args()
    conds = [c for c in args.conditions.split(",") if c]
    temps = [float(t) for t in args.temperatures.split(",") if t]
    if unknown := [c for c in conds if c not in CONDITIONS]:
        ap.error(f"unknown condition(s): {', '.join(unknown)}")
    log = Log("lineage", fresh=args.fresh)
    only = {x for x in args.only.split(",") if x}
    cache: dict = {}  # greedy upstream answers shared by the proxies of one model (see ResellerProxy)
    for s in SERVABLE:
        if only and s.name not in only:
            continue
        units = [(cond, t) for t in temps for cond in conds if t == 0.0 or s.name in HOT]
        if all(log.done(f"{s.name}/{c}/{t}") for c, t in units):
            continue
        cache.clear()
        with served(s.name) as (srv,):
            for cond, temp in units:
                key = f"{s.name}/{cond}/{temp}"
                if log.done(key):
                    continue
                t0 = time.monotonic()
                with ResellerProxy(srv.base_url, force_temperature=temp, upstream_cache=cache, **CONDITIONS[cond]) as px, \
                        client(px.base_url, 300) as c:
                    rep = probe_endpoint(c)
                d = rep.to_dict()
                v = d["verdict"]
                pred = predicted(v)
                exp = s.expected
                base_ok = (pred == "unknown") if exp == "unknown" else pred.split(":", 1)[-1] == s.known
                le = d["evidence"]["lineage"] or {}
                mix = d["evidence"]["mixture"] or {}
                tk = (d["evidence"]["tokenizer"] or {}).get("best") or {}
                log.add({"key": key, "model": s.name, "kind": s.kind, "relation": s.relation, "condition": cond,
                         "temperature": temp, "expected": exp, "predicted": pred, "exact": pred == exp,
                         "base_ok": bool(base_ok), "wording": v["wording"], "confidence": v["confidence"],
                         "tokenizer_ok": s.tokenizer in (tk.get("members") or []),
                         "lineage": {k: le.get(k) for k in ("outcome", "model", "agreement", "deterministic", "note")},
                         "mixture": mix.get("outcome"), "mixed": bool(v.get("mixed")), "masking": d["masking"],
                         "queries": d["queries"]["charged"] + d["queries"]["cached"],
                         "sent": d["queries"]["charged"], "seconds": round(time.monotonic() - t0, 1)})
    rows = [r for r in log.rows if "expected" in r]
    by_kind: dict[str, dict] = {}
    for r in rows:
        k = by_kind.setdefault(f"{r['relation']}/{r['kind']}", {"runs": 0, "exact": 0, "base_ok": 0, "called": {}})
        k["runs"] += 1
        k["exact"] += r["exact"]
        k["base_ok"] += r["base_ok"]
        k["called"][r["predicted"].split(":")[0]] = k["called"].get(r["predicted"].split(":")[0], 0) + 1
    by_cond: dict[str, dict] = {}
    for r in rows:
        k = by_cond.setdefault(f"{r['condition']}, T={r['temperature']}", {"runs": 0, "exact": 0, "base_ok": 0})
        k["runs"] += 1
        k["exact"] += r["exact"]
        k["base_ok"] += r["base_ok"]
    print(write_results("lineage", {"by_kind": by_kind, "by_condition": by_cond,
                                    "honest_mixed_flags": sum(r["mixed"] for r in rows), "runs": len(rows),
                                    "median_queries": sorted(r["queries"] for r in rows)[len(rows) // 2] if rows else None,
                                    "rows": rows}))


if __name__ == "__main__":
    main()
