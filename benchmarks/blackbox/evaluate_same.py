"""Same model, another system prompt: ``taoke probe --same`` over repeated runs and stronger system prompts.

    nice .venv/bin/python benchmarks/blackbox/evaluate_same.py [--runs 4] [--fresh]

Endpoint A is SmolLM2-135M-Instruct served directly; endpoint B is a real server behind a proxy that replaces
the client's system prompt with its own (or none). Each run: 6 prompts x 4 samples x 16 tokens per endpoint at
temperature 1 (fresh seeds), 500 permutations, token counts of 9 strings at both, and, when one endpoint adds a
system prompt and the outputs differ, the recovery of that prompt and a second test. Outcomes:
``same`` / ``same-model-other-prompt`` / ``other-prompt`` (weights undecidable) / ``different``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PANGU, Log, ResellerProxy, client, served, write_results  # noqa: E402

from taoke.blackbox.same_model import DEFAULT_PROMPTS, same_model_test  # noqa: E402

PROMPTS = {
    "none": None,
    "Pangu persona (22 tokens)": PANGU,
    "always French": "Always answer in French, whatever the language of the question.",
    "pirate": "You are a pirate. Always talk like a pirate, say 'Arr' often, and never break character.",
    "Orion, long style guide": ("You are Orion, a concise assistant built by Nebula Labs. Answer in at most one short "
                                "sentence. Never use lists or headings. Never mention other AI companies or models. If "
                                "asked who you are, say you are Orion by Nebula Labs. Be warm but brief."),
}
# (label, model behind B, system prompt of B, same weights as A?)
PAIRS = [(f"same weights, prompt: {k}", "smollm2-q4_1", k, True) for k in PROMPTS] + [
    ("another model (Gemma-3), prompt: none", "gemma-3-270m-q4_k_m", "none", False),
    ("another model (Gemma-3), prompt: Pangu", "gemma-3-270m-q4_k_m", "Pangu persona (22 tokens)", False),
    ("fine-tune of A, prompt: none", "smollm2-finetune", "none", False),
    ("fine-tune of A, prompt: Pangu", "smollm2-finetune", "Pangu persona (22 tokens)", False),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    log = Log("same", fresh=args.fresh)
    with served("smollm2-q4_1") as (a_srv,):
        for target in dict.fromkeys(p[1] for p in PAIRS):
            todo = [p for p in PAIRS if p[1] == target and not all(log.done(f"{p[0]}/{r}") for r in range(args.runs))]
            if not todo:
                continue
            with served(target) if target != "smollm2-q4_1" else _same(a_srv) as (b_srv,):
                for label, _t, prompt, same_w in todo:
                    for r in range(args.runs):
                        key = f"{label}/{r}"
                        if log.done(key):
                            continue
                        with ResellerProxy(a_srv.base_url, system_prompt=None) as pa, \
                                ResellerProxy(b_srv.base_url, system_prompt=PROMPTS[prompt]) as pb, \
                                client(pa.base_url) as a, client(pb.base_url) as b:
                            res = same_model_test(a, b, rng=np.random.default_rng(100 + r), prompts=DEFAULT_PROMPTS[:6],
                                                  n_per_prompt=4, max_tokens=16, n_perm=500)
                        log.add({"key": key, "pair": label, "same_weights": same_w, "prompt": prompt, "run": r,
                                 "outcome": res.outcome, "called_different": res.outcome == "different",
                                 "p_value": res.p_value, "p_value_with_prompt": res.p_value_with_prompt,
                                 "recovered_prompt": res.recovered_prompt,
                                 "counts": res.counts.to_dict() if res.counts else None,
                                 "queries": sum(res.queries), "verdict": res.verdict})
    rows = [r for r in log.rows if "pair" in r]
    summary = []
    for label in dict.fromkeys(r["pair"] for r in rows):
        rs = [r for r in rows if r["pair"] == label]
        outs: dict[str, int] = {}
        for r in rs:
            outs[r["outcome"]] = outs.get(r["outcome"], 0) + 1
        summary.append({"pair": label, "same_weights": rs[0]["same_weights"], "runs": len(rs), "outcomes": outs,
                        "called_different": sum(r["called_different"] for r in rs),
                        "recovered": sum(r["recovered_prompt"] is not None for r in rs),
                        "shift": rs[0]["counts"]["shift"] if rs[0]["counts"] else None,
                        "p_values": [round(r["p_value"], 3) for r in rs],
                        "queries": max(r["queries"] for r in rs)})
    print(write_results("same", {"summary": summary}))


class _same:  # noqa: N801 - a context manager yielding the already running server
    def __init__(self, srv: object) -> None:
        self.srv = srv

    def __enter__(self) -> list[object]:
        return [self.srv]

    def __exit__(self, *exc: object) -> None:
        pass


if __name__ == "__main__":
    main()
