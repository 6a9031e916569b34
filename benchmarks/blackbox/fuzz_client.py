"""Long fuzzing run of the black-box client's answer path (issue 19, item 4): executions, findings, peak RSS.

    nice .venv/bin/python benchmarks/blackbox/fuzz_client.py [--cases 1000000] [--seeds 4]

Each case is a generated or mutated chat-completion answer (JSON body or SSE stream, sometimes gzip-compressed,
cut into random network chunks) driven through the whole client (``ChatClient.complete`` over
``httpx.MockTransport``: body limit, decompression, SSE splitting, JSON and schema parsing). A finding is any
exception other than a ``ProbeError`` (the fuzzer in ``tests/blackbox/test_hostile.py`` raises it). Results go
to ``results_fuzz.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.blackbox.test_hostile import run_fuzz  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    per = args.cases // args.seeds
    t0 = time.monotonic()
    totals = {"answer": 0, "error": 0}
    findings: list[str] = []
    for seed in range(args.seeds):
        try:
            got = run_fuzz(per, seed=1000 + seed)
        except Exception as e:  # noqa: BLE001 - a finding: report it, go on with the next seed
            findings.append(f"seed {1000 + seed}: {type(e).__name__}: {str(e)[:200]}")
            continue
        for k, v in got.items():
            totals[k] += v
        print(f"seed {1000 + seed}: {got} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    res = {"cases": sum(totals.values()), "outcomes": totals, "findings": findings,
           "seconds": round(time.monotonic() - t0, 1),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    (HERE / "results_fuzz.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
