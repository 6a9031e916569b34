"""Evaluate black-box identification and the same-model test on every GGUF we can serve.

    .venv/bin/python benchmarks/blackbox/evaluate.py [--quick] [--out benchmarks/blackbox/results.json]

Identification: each model at its fetched quantisation and a re-quantised Q8_0 copy (held out: the shipped
references were built from the fetched files only), probed at two endpoint temperatures (forced by a
pass-through proxy: 0 and 0.8), directly and behind the reseller proxy (renamed model, injected "Pangu"
persona, answers rewritten). Same-model test: repeated runs (independent seeds) on same-model pairs (the same
file served twice: false-positive rate), same model at another quantisation (reported separately) and
different-model pairs (power). Prints a Markdown table (pasted into docs/blackbox.md) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.blackbox.servers

from taoke.blackbox import ChatClient, ClientConfig, Endpoint, QueryBudget, probe_endpoint  # noqa: E402
from taoke.blackbox.models import KNOWN_MODELS, LlamaServer, data_root  # noqa: E402
from taoke.blackbox.same_model import DEFAULT_PROMPTS, same_model_test  # noqa: E402
from taoke.blackbox.variants import derive_variant  # noqa: E402
from tests.blackbox.servers import PANGU, ResellerProxy  # noqa: E402

REWRITE = {r"smol\s?lm2?": "Pangu", r"hugging\s?face": "Huawei", r"gemma": "Pangu", r"google": "Huawei"}
CFG = ClientConfig(timeout_s=120, deadline_s=300, max_concurrency=2)


def client(url: str, budget: int = 200) -> ChatClient:
    return ChatClient(Endpoint(url, "m"), config=CFG, budget=QueryBudget(budget))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer same-model repetitions")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    ap.add_argument("--from-log", type=Path, help="render the table from the JSON lines of an (interrupted) run's stderr")
    args = ap.parse_args()
    if args.from_log:
        rows = [json.loads(ln) for ln in args.from_log.read_text().splitlines() if ln.startswith("{")]
        ident_rows = [r for r in rows if "predicted" in r]
        same_rows = [r for r in rows if "pair" in r]
        args.out.write_text(json.dumps({"identification": ident_rows, "same_model": same_rows}, indent=1) + "\n")
        print(render(ident_rows, same_rows))
        return
    reps = 2 if args.quick else args.reps
    root = data_root()
    servers: dict[str, LlamaServer] = {}
    ident_rows, same_rows = [], []
    try:
        for km in KNOWN_MODELS:
            src = root / km.gguf
            if not src.exists():
                print(f"skip {km.name}: not fetched", file=sys.stderr)
                continue
            for quant, path in (("fetched", src), ("Q8_0", derive_variant(src, "Q8_0"))):
                key = f"{km.name}/{quant}"
                print(f"serving {key}", file=sys.stderr)
                servers[key] = LlamaServer(path, chat_format=km.chat_format)
                for temp in (0.0, 0.8):
                    for proxied in (False, True):
                        with ResellerProxy(servers[key].base_url, force_temperature=temp,
                                           system_prompt=PANGU if proxied else None,
                                           rewrite=REWRITE if proxied else None, name="pangu-ultra") as px:
                            t0 = time.monotonic()
                            with client(px.base_url) as c:
                                rep = probe_endpoint(c)
                            row = {"model": km.name, "quant": quant, "temperature": temp, "reseller": proxied,
                                   "predicted": rep.verdict.model, "confidence": rep.verdict.confidence,
                                   "correct": rep.verdict.model == km.name,
                                   "tokenizer_ok": bool(rep.tokenizer and rep.tokenizer.best and
                                                        km.tokenizer in rep.tokenizer.best.members),
                                   "behaviour_ok": bool(rep.behaviour and rep.behaviour.best == km.name),
                                   "masking_flagged": bool(rep.masking),
                                   "queries": rep.queries.charged + rep.queries.cached,
                                   "seconds": round(time.monotonic() - t0, 1)}
                            ident_rows.append(row)
                            print(json.dumps(row), file=sys.stderr)
        smol = "SmolLM2-135M-Instruct"
        gem = "Gemma-3-270M"
        if f"{smol}/fetched" in servers:
            servers[f"{smol}/twin"] = LlamaServer(root / KNOWN_MODELS[0].gguf)
        pairs = [("same file served twice", f"{smol}/fetched", f"{smol}/twin", True),
                 ("same model, Q4_1 vs Q8_0", f"{smol}/fetched", f"{smol}/Q8_0", True),
                 ("Gemma Q4_K_M vs Q8_0", f"{gem}/fetched", f"{gem}/Q8_0", True),
                 ("SmolLM2 vs Gemma-3", f"{smol}/fetched", f"{gem}/fetched", False)]
        for label, ka, kb, same in pairs:
            if ka not in servers or kb not in servers:
                continue
            for r in range(reps):
                t0 = time.monotonic()
                with client(servers[ka].base_url, 400) as a, client(servers[kb].base_url, 400) as b:
                    res = same_model_test(a, b, rng=np.random.default_rng(100 + r), prompts=DEFAULT_PROMPTS[:6],
                                          n_per_prompt=4, max_tokens=16, n_perm=500, logprobs=(r == 0))
                row = {"pair": label, "same_model": same, "rep": r, "p_value": res.p_value,
                       "rejected": not res.same, "queries": sum(res.queries),
                       "dup": res.duplicate_share, "logprob": res.logprob.to_dict() if res.logprob else None,
                       "seconds": round(time.monotonic() - t0, 1)}
                same_rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    finally:
        for s in servers.values():
            s.stop()
    args.out.write_text(json.dumps({"identification": ident_rows, "same_model": same_rows}, indent=1) + "\n")
    print(render(ident_rows, same_rows))


def render(ident: list[dict], same: list[dict]) -> str:
    lines = ["| model | quant | endpoint T | reseller | predicted | correct | tokenizer | behaviour | masking flagged | queries |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in ident:
        lines.append(f"| {r['model']} | {r['quant']} | {r['temperature']} | {'yes' if r['reseller'] else 'no'} | "
                     f"{r['predicted']} ({r['confidence']:.2f}) | {'yes' if r['correct'] else 'NO'} | "
                     f"{'ok' if r['tokenizer_ok'] else 'miss'} | {'ok' if r['behaviour_ok'] else 'miss'} | "
                     f"{'yes' if r['masking_flagged'] else 'no'} | {r['queries']} |")
    if ident:
        acc = np.mean([r["correct"] for r in ident])
        lines.append(f"\nIdentification accuracy: **{acc:.0%}** ({sum(r['correct'] for r in ident)}/{len(ident)}), "
                     f"median {int(np.median([r['queries'] for r in ident]))} queries per endpoint.\n")
    lines += ["| pair | same model? | runs | rejected at α=0.05 | p-values | queries/run | logprob TV (run 0) |",
              "|---|---|---|---|---|---|---|"]
    for label in dict.fromkeys(r["pair"] for r in same):
        rs = [r for r in same if r["pair"] == label]
        lp = rs[0]["logprob"]
        ps = ", ".join(format(r["p_value"], ".3g") for r in rs)
        tv = format(lp["mean_tv"], ".3f") if lp else "—"
        lines.append(f"| {label} | {'yes' if rs[0]['same_model'] else 'no'} | {len(rs)} | "
                     f"{sum(r['rejected'] for r in rs)}/{len(rs)} | {ps} | {rs[0]['queries']} | {tv} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
