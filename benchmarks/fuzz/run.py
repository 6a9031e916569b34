"""Coverage-guided fuzzing of every reader (atheris/libFuzzer), one target after another; reports executions,
findings, exec/s and peak RSS per reader.

Each target (:mod:`targets`) runs in its own process, seeded from small real-derived files (:mod:`seeds`), with

* an address-space cap (``setrlimit(RLIMIT_AS)``, default +1024 MB over the process after its imports): an
  allocation the input's bytes cannot back fails with ``MemoryError``, which is a finding;
* an RSS-growth check: an input during which the process's peak RSS grew by more than ``--rss-growth-mb``
  (default 192) is a finding (``MemoryBound``): something touched far more memory than a 64 KB input can back,
  even below the address-space cap (per input: atheris' instrumentation alone grows a long run by ~1 KB an
  input, which a budget over the process's start would eventually blame on an innocent input);
* libFuzzer's ``-rss_limit_mb`` (default 2048) and ``-timeout`` (default 20 s per input): exceeding either is a
  finding (libFuzzer writes the input as ``oom-*``/``timeout-*``);
* every exception that is not a one-line :class:`taoke.errors.TaokeError` naming its subject recorded once per
  distinct (type, innermost taoke frame) under ``--out/findings/<target>/`` with its input, and fuzzing goes on.

Usage::

    python benchmarks/fuzz/run.py --runs 1000000                 # every target, 1M inputs each
    python benchmarks/fuzz/run.py --seconds 60 --only gguf torch  # a quick look
    nice -n 10 python benchmarks/fuzz/run.py --runs 1000000 --out benchmarks/results/fuzz

The corpus grown by a run is kept (``--out/corpus/<target>``) and reused by the next run. The summary is printed
and written to ``--out/summary.json``: per target the executions, distinct findings (+ libFuzzer crash/oom/
timeout artifacts), seconds, exec/s, peak RSS (libFuzzer's ``peak_rss_mb``, and the child's ``ru_maxrss``) and
the final coverage / corpus size.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import seeds  # noqa: E402
import targets  # noqa: E402

_STAT = re.compile(r"^stat::(\w+):\s*(\d+)", re.M)
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_LINE = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/\S+.*?exec/s: (\d+) rss: (\d+)Mb")


def run_target(target: str, out: Path, *, runs: int | None, seconds: int | None, rss_mb: int, as_extra_mb: int,
               timeout_s: int, max_len: int, rss_growth_mb: int = 192, python: str = sys.executable,
               quiet: bool = False) -> dict[str, Any]:
    """Fuzz one target in a child process; returns its numbers."""
    seed_dir = seeds.default_dest() / target
    corpus = out / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    findings = out / "findings" / target
    findings.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in findings.iterdir()}
    log = out / "logs" / f"{target}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    flags = [f"-rss_limit_mb={rss_mb}", f"-timeout={timeout_s}", f"-max_len={max_len}", "-print_final_stats=1",
             f"-artifact_prefix={findings}/", "-reload=0"]
    if runs is not None:
        flags.append(f"-runs={runs}")
    if seconds is not None:
        flags.append(f"-max_total_time={seconds}")
    env = dict(os.environ, TAOKE_FUZZ_FINDINGS=str(out / "findings"), TAOKE_FUZZ_AS_EXTRA_MB=str(as_extra_mb),
               TAOKE_FUZZ_RSS_GROWTH_MB=str(rss_growth_mb), PYTHONHASHSEED="0")
    cmd = [python, str(HERE / "targets.py"), target, *flags, str(corpus), str(seed_dir)]
    t0 = time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, check=False)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    new = sorted(p.name for p in findings.iterdir() if p.name not in before)
    res = log_result(target, out, wall=wall, exit_code=proc.returncode, new=new,
                     child_maxrss_mb=round(max(ru1, ru0) / 1024, 1))  # fmt: skip
    if not quiet:
        print(f"{target:20s} {res['executions']:>9,d} inputs  {res['findings']:3d} findings  "
              f"{res['exec_per_s'] or 0:8.1f} exec/s  peak RSS {res['peak_rss_mb']} MB  cov {res['coverage']}  "
              f"({res['seconds']} s, exit {proc.returncode})", flush=True)
        for sig in res["finding_signatures"] + res["libfuzzer_artifacts"]:
            print(f"    finding: {sig}", flush=True)
    return res


def log_result(target: str, out: Path, *, wall: float | None = None, exit_code: int | None = None,
               new: list[str] | None = None, child_maxrss_mb: float | None = None) -> dict[str, Any]:
    """A target's numbers from its libFuzzer log under ``out/logs`` (and the findings folder): what
    :func:`run_target` returns, also for a run stopped after the target finished (``--merge``: ``wall`` then
    comes from libFuzzer's "Done N runs in S seconds", and every file in the findings folder counts)."""
    findings = out / "findings" / target
    log = out / "logs" / f"{target}.log"
    corpus = out / "corpus" / target
    text = log.read_text(errors="replace")
    stats = {k: int(v) for k, v in _STAT.findall(text)}
    lines = _LINE.findall(text)
    done = _DONE.search(text)
    execs = stats.get("number_of_executed_units")
    if execs is None:
        execs = int(done.group(1)) if done else (int(lines[-1][0]) if lines else 0)
    if wall is None:  # a stopped run: libFuzzer's own count of seconds, else executions / its average rate
        avg = stats.get("average_exec_per_sec")
        wall = float(done.group(2)) if done else (execs / avg if avg else 0.0)
    if new is None:
        new = sorted(p.name for p in findings.iterdir()) if findings.is_dir() else []
    distinct = [n for n in new if n.startswith("finding-") and n.endswith(".txt")]
    crashes = [n for n in new if n.startswith(("crash-", "oom-", "timeout-", "leak-", "slow-unit-"))]
    return {
        "target": target,
        "executions": execs,
        "findings": len(distinct) + len(crashes),
        "finding_signatures": [((findings / n).read_text(errors="replace").splitlines() or ["?"])[0]
                               for n in distinct],
        "libfuzzer_artifacts": crashes,
        "seconds": round(wall, 1),
        "exec_per_s": round(execs / wall, 1) if wall else None,
        "peak_rss_mb": stats.get("peak_rss_mb", max((int(x[5]) for x in lines), default=None)),
        "child_maxrss_mb": child_maxrss_mb,
        "coverage": int(lines[-1][1]) if lines else None,
        "features": int(lines[-1][2]) if lines else None,
        "corpus": int(lines[-1][3]) if lines else (len(list(corpus.iterdir())) if corpus.is_dir() else 0),
        "exit_code": exit_code,
        "log": str(log),
    }


def merge(dirs: list[Path]) -> list[dict[str, Any]]:
    """The targets of several runs' output folders (a campaign split over processes): each folder's
    summary.json where it has one, else the targets whose libFuzzer log says it ended ("Done N runs", or the
    final stats libFuzzer prints when a crash stops it); a target in several folders gets one row per run."""
    out: list[dict[str, Any]] = []
    for d in dirs:
        summ = d / "summary.json"
        if summ.exists():
            doc = json.loads(summ.read_text())
            out += doc["targets"] + doc.get("earlier_targets", [])
            continue
        for log in sorted((d / "logs").glob("*.log")):
            text = log.read_text(errors="replace")
            if _DONE.search(text) or "stat::number_of_executed_units" in text:  # finished, or ended by a crash
                out.append(log_result(log.stem, d))
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (docs/hostile-files.md)."""
    rows = ["| reader (target) | fuzzed inputs | findings | seconds | exec/s | peak RSS (MB) | coverage (edges) | corpus |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    order = {t: i for i, t in enumerate(targets.TARGETS)}
    results = sorted(results, key=lambda r: order.get(r["target"], len(order)))
    for r in results:
        rows.append(f"| {r['target']} | {r['executions']:,d} | {r['findings']} | {r['seconds']:,.0f} | "
                    f"{r['exec_per_s'] or 0:,.0f} | {r['peak_rss_mb']} | {r['coverage']} | {r['corpus']} |")
    total = sum(r["executions"] for r in results)
    rows.append(f"| **all** | **{total:,d}** | **{sum(r['findings'] for r in results)}** | "
                f"{sum(r['seconds'] for r in results):,.0f} | | {max((r['peak_rss_mb'] or 0 for r in results), default=0)} | | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", choices=targets.TARGETS, help="targets to run (default: all)")
    ap.add_argument("--runs", type=int, help="inputs per target (libFuzzer -runs)")
    ap.add_argument("--seconds", type=int, help="time per target (libFuzzer -max_total_time)")
    ap.add_argument("--out", type=Path, default=Path("fuzz-out"), help="corpus, findings, logs, summary")
    ap.add_argument("--rss-mb", type=int, default=2048, help="libFuzzer -rss_limit_mb")
    ap.add_argument("--as-extra-mb", type=int, default=1024, help="address space allowed over the imports")
    ap.add_argument("--rss-growth-mb", type=int, default=192,
                    help="peak RSS growth during one input that flags it")
    ap.add_argument("--timeout", type=int, default=20, help="seconds per input before it counts as a hang")
    ap.add_argument("--max-len", type=int, default=65536, help="largest input libFuzzer makes (bytes)")
    ap.add_argument("--md", type=Path, help="print the Markdown table of this summary.json (and run nothing)")
    ap.add_argument("--merge", type=Path, nargs="+", metavar="DIR",
                    help="combine the finished targets of these output folders (a campaign split over processes) "
                         "into --out/summary.json (and run nothing)")
    args = ap.parse_args(argv)
    if args.md is not None:
        doc = json.loads(args.md.read_text())
        print(markdown(doc["targets"] + doc.get("earlier_targets", [])))
        return 0
    if args.merge:
        results = merge(args.merge)
        args.out.mkdir(parents=True, exist_ok=True)
        doc = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0],
               "cpu_count": os.cpu_count(), "merged_from": [str(d) for d in args.merge], "targets": results,
               "total_executions": sum(r["executions"] for r in results),
               "total_findings": sum(r["findings"] for r in results)}  # fmt: skip
        (args.out / "summary.json").write_text(json.dumps(doc, indent=2))
        print(markdown(results))
        return 1 if doc["total_findings"] else 0
    if args.runs is None and args.seconds is None:
        ap.error("give --runs and/or --seconds")
    seeds.build()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for t in args.only or targets.TARGETS:
        results.append(run_target(t, args.out, runs=args.runs, seconds=args.seconds, rss_mb=args.rss_mb,
                                  as_extra_mb=args.as_extra_mb, timeout_s=args.timeout, max_len=args.max_len,
                                  rss_growth_mb=args.rss_growth_mb))
    summary = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0],
               "cpu_count": os.cpu_count(), "args": {k: str(v) for k, v in vars(args).items()}, "targets": results,
               "total_executions": sum(r["executions"] for r in results),
               "total_findings": sum(r["findings"] for r in results)}
    path = args.out / "summary.json"
    if path.exists():  # keep earlier targets' numbers when only some were rerun
        try:
            old = json.loads(path.read_text())
            keep = [r for r in old.get("targets", []) if r["target"] not in {x["target"] for x in results}]
            summary["earlier_targets"] = keep
        except (ValueError, KeyError):
            pass
    path.write_text(json.dumps(summary, indent=2))
    print(f"total: {summary['total_executions']:,d} inputs, {summary['total_findings']} findings -> {path}")
    return 1 if summary["total_findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
