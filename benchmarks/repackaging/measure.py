"""Measure the storage-identity test (:mod:`taoke.whitebox.requant`): how many quantisation blocks genuine
re-packagings reproduce (the false-alarm rate of "modified"), and how many a noised copy reproduces as its noise
shrinks towards the float formats' rounding (the detection limit).

Real inputs: the real SmolLM2-135M ``Q4_1`` GGUF and, with the ``--all`` data set, the real Gemma-3-270M
``Q4_K_M`` GGUF (``Q8_0``, ``Q5_0``, ``Q4_K``, ``Q6_K`` tensors). For every 2-D role, ``--rows`` seeded rows are
read (as ``taoke compare`` samples them); the master ``M`` is their dequantisation (float32). Every variant is an
exact in-memory image of what a file would store (float casts, llama.cpp's quantiser), so no files are written:

genuine re-packagings (must reproduce)
  * ``dequant->F32/F16/BF16``: the real GGUF vs its dequantisation stored in a float format;
  * ``requant T from M``: a re-quantisation ``T = quant_T(M)`` vs the master stored as F32 (the quantiser's input),
    F16 or BF16 (siblings: both files made from the F32 master), for T in Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K ..
    Q6_K (K-quants through llama.cpp's quantiser when llama-cpp-python is installed);
  * ``quant vs quant``: the real GGUF vs ``quant_T(M)`` (e.g. a Q8_0 made from the dequantised Q4_1).

modified copies (must not reproduce): the real GGUF vs ``round_F(M + s * rms(M) * N(0, 1))`` for noise ``s`` and
float formats F32/F16/BF16, and vs a ``Q8_0`` quantisation of the noised master.

Output: JSON (``--out``) and a Markdown summary on stdout. A role is *modified* when
:attr:`StorageCheck.modified`; a pair (all roles of one model) is flagged when any role is. Usage::

    nice -n 10 .venv/bin/python benchmarks/repackaging/measure.py --out benchmarks/results/repackaging.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from taoke import defaults
from taoke.whitebox.requant import REPRODUCE_MIN, check_storage, quantiser_for, round_to

SMOL = "weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA = "weights/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf"
REQUANT_TYPES = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")
FLOATS = ("F32", "F16", "BF16")
NOISE = (1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 1.5e-2, 3e-2, 0.1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=defaults.data_dir())
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-roles", type=int, default=0, help="cap roles per model (0: all 2-D roles)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    import taoke

    rng = np.random.default_rng(args.seed)
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    for path in (args.data / SMOL, args.data / GEMMA):
        if not path.is_file():
            print(f"skipping {path} (not fetched)", file=sys.stderr)
            continue
        with taoke.open(path) as m:
            roles = [r for r, s in m.role_shapes().items() if len(s) == 2 and m.role_dtype(r) not in ("F32", "F16")]
            if args.max_roles:
                roles = [roles[i] for i in np.linspace(0, len(roles) - 1, args.max_roles).astype(int)]
            for role in roles:
                dt = m.role_dtype(role)
                n = m.role_shapes()[role][0]
                sel = np.sort(rng.choice(n, size=min(args.rows, n), replace=False))
                xq = m.get(role, rows=sel)
                rows += _role_rows(path.name, role, dt, xq, rng)
            print(f"{path.name}: {len(roles)} roles, {time.time() - t0:.0f}s", file=sys.stderr)
    summary = _summarise(rows)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"format": "taoke.bench.repackaging", "version": 1, "rows_per_role": args.rows,
                                        "reproduce_min": REPRODUCE_MIN, "summary": summary, "roles": rows}) + "\n")
    print(_markdown(summary))
    return 0


def _role_rows(model: str, role: str, dt: str, xq: np.ndarray, rng: np.random.Generator) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(group: str, case: str, xa: np.ndarray, da: str, xb: np.ndarray, db: str) -> None:
        c = check_storage(role, xa, da, xb, db, rng=rng)
        out.append({"model": model, "role": role, "type": dt, "group": group, "case": case, "method": c.method,
                    "share": c.share, "expected": c.expected, "modified": c.modified, "deviation": c.deviation})

    m = xq.astype(np.float32)
    for f in FLOATS:
        add("genuine", f"dequant->{f}", xq, dt, round_to(m, f), f)
    for t in REQUANT_TYPES:
        q = quantiser_for(t)
        if q is None or m.shape[1] % _block(t):
            continue
        xt = q[1](m)
        for f in FLOATS:
            add("genuine", f"requant {t} vs master {f}", xt, t, round_to(m, f), f)
        if t != dt:
            add("genuine", "quant vs quant", xq, dt, xt, t)
    rms = float(np.sqrt(np.mean(m.astype(np.float64) ** 2)))
    q8 = quantiser_for("Q8_0")
    for s in NOISE:
        noised = (m + s * rms * rng.standard_normal(m.shape)).astype(np.float32)
        for f in FLOATS:
            add("noised", f"noise {s:g} {f}", xq, dt, round_to(noised, f), f)
        if q8 is not None and dt != "Q8_0":
            add("noised", f"noise {s:g} Q8_0", xq, dt, q8[1](noised), "Q8_0")
    return out


def _block(t: str) -> int:
    from taoke.whitebox.requant import block_size

    return block_size(t) or 1


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[(r["group"], r["case"], r["model"])].append(r)
    cases = []
    for (group, case, model), rs in sorted(by.items()):
        tested = [r for r in rs if r["share"] is not None]
        shares = [r["share"] for r in tested]
        cases.append({"group": group, "case": case, "model": model, "roles": len(rs), "tested": len(tested),
                      "modified_roles": sum(r["modified"] for r in rs), "pair_flagged": any(r["modified"] for r in rs),
                      "min_share": min(shares) if shares else None,
                      "median_share": float(np.median(shares)) if shares else None,
                      "median_deviation": float(np.median([r["deviation"] for r in rs]))})  # fmt: skip
    gen = [r for r in rows if r["group"] == "genuine" and r["share"] is not None]
    gen_cases = [c for c in cases if c["group"] == "genuine"]
    return {
        "genuine_roles": len(gen),
        "genuine_roles_flagged": sum(r["modified"] for r in gen),
        "genuine_pairs": len(gen_cases),
        "genuine_pairs_flagged": sum(c["pair_flagged"] for c in gen_cases),
        "cases": cases,
    }


def _markdown(s: dict[str, Any]) -> str:
    lines = [f"genuine re-packagings: {s['genuine_roles_flagged']}/{s['genuine_roles']} roles and "
             f"{s['genuine_pairs_flagged']}/{s['genuine_pairs']} model pairs flagged as modified", "",
             "| group | case | model | roles tested | roles modified | median share | min share | median deviation |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    f = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
    for c in s["cases"]:
        lines.append(f"| {c['group']} | {c['case']} | {c['model'][:18]} | {c['tested']}/{c['roles']} | "
                     f"{c['modified_roles']} | {f(c['median_share'])} | {f(c['min_share'])} | "
                     f"{c['median_deviation']:.2g} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
