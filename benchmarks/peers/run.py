"""Benchmark taoke against the lineage tools people use today, on the same labelled pairs, in one run.

    .venv/bin/python benchmarks/peers/run.py [--quick | --full-zoo] [--out benchmarks/results/peers.json]
        [--md docs/peers.md] [--readme README.md] [--from-json RESULTS.json]

Everything (peer venvs, full zoo, run, tables) in one command: ``bash benchmarks/peers/reproduce.sh``.

Pairs: every re-packaged / derived entry of the derivation zoo against its parent, every pair of independently
trained models of one architecture, the std-matched random SmolLM2 against its base (``eval_pairs`` of
:mod:`taoke.zoo.evaluate`), plus real cases from the data set: the int8 ONNX MiniLM against the F32
safetensors (re-packaged, quantised), SmolLM2 against Gemma-3 and MiniLM against SmolLM2 (unrelated).
``--quick`` keeps one pair per kind of transformation (noise at 0.01 and 0.3) and one pair of independent tiny
models; ``--full-zoo`` adds the zoo's "full"
entries when they are built.

Each tool runs on each pair in a fresh subprocess (``_child.py``) with ``OMP_NUM_THREADS=1``, taoke in the
project's virtualenv, cisco-ai-provenance-kit in ``benchmarks/.venv-cisco`` and the other peers in
``benchmarks/.venv-peers`` (both made by ``benchmarks/peers/setup.sh``). Input conversions an adapter needs
(``prepare``: cisco's GGUF tokenizer export) run once per model before the timed runs. A tool
that errors, abstains, or answers "no match" on a related pair counts as wrong, never as skipped.

Metrics per tool and per transformation: verdict accuracy (the tool's call read as related / not related;
taoke's stricter kind-level accuracy is kept in the JSON), TPR at 1% FPR on the tool's own score (with fewer than
100 negatives: the share of related pairs scoring above *every* independent/unrelated pair; pairs without a
score count as undetected), false positives on independent pairs, errors/abstentions, wall time of the process,
peak RSS and bytes read (the tool's own count where it keeps one; the kernel's ``rchar`` otherwise).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PEERS_PY = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
CISCO_PY = ROOT / "benchmarks" / ".venv-cisco" / "bin" / "python"
TAOKE_PY = Path(sys.executable)
ADAPTERS = ("adapt_taoke", "adapt_modeldna", "adapt_zhu", "adapt_modelaudit", "adapt_model_fingerprint",
            "adapt_modelsig", "adapt_cisco")  # fmt: skip
POSITIVE = ("repackaged", "derived")
QUICK = ("smollm2-f32", "smollm2-renamed", "smollm2-noise-0.01", "smollm2-noise-0.3", "smollm2-perm",
         "smollm2-rotate", "smollm2-layer-subset", "smollm2-finetune", "minilm-perm")  # fmt: skip


@dataclass(frozen=True)
class Pair:
    a: str  # path
    b: str
    truth: str  # repackaged / derived / independent / unrelated
    row: str  # transformation label (the table row)
    name_a: str
    name_b: str


ROW_NAMES = {
    "smollm2-f32": "quantised: GGUF Q4_1 → F32 safetensors",
    "smollm2-f16": "re-packaged: F16",
    "smollm2-q8_0": "quantised: re-quantised GGUF Q8_0",
    "smollm2-renamed": "re-packaged: renamed tensors",
    "smollm2-transposed": "re-packaged: renamed + transposed",
    "smollm2-noise-0.01": "noise σ=0.01·std",
    "smollm2-noise-0.1": "noise σ=0.1·std",
    "smollm2-noise-0.3": "noise σ=0.3·std",
    "smollm2-perm": "permuted units/heads",
    "smollm2-rotate": "rotated, norms folded",
    "smollm2-layer-subset": "layer subset (20 of 30)",
    "smollm2-finetune": "fine-tuned (top 2 layers)",
    "smollm2-stdmatched": "std-matched independent",
    "minilm-noise": "encoder MiniLM: noise σ=0.1",
    "minilm-perm": "encoder MiniLM: permuted",
}


def _row(name_b: str, transform: str, truth: str) -> str:
    if truth == "independent" and transform == "independent-same-architecture":
        return "independent same-arch (tiny Llamas)"
    return ROW_NAMES.get(name_b, name_b.removeprefix("smollm2-"))


def zoo_pairs(zoo_dir: Path | None, *, quick: bool, full_zoo: bool, also: tuple[str, ...] = ()) -> list[Pair]:
    """The zoo's labelled pairs (``eval_pairs``); ``also`` adds related pairs (by B's name) to a quick run."""
    from taoke.zoo.build import ZooManifest, build_zoo, default_zoo_dir
    from taoke.zoo.evaluate import eval_pairs

    zdir = zoo_dir or default_zoo_dir()
    if not (zdir / "zoo.json").exists():
        build_zoo(zdir, subset="fast")
    m = ZooManifest.load(zdir)
    keep = {e.name for e in m.entries if full_zoo or e.subset == "fast"}
    out = []
    indep_seen = 0
    for a, b, truth, transform in eval_pairs(m):
        if a not in keep or b not in keep:
            continue
        if quick and truth in POSITIVE and b not in QUICK and b not in also:
            continue
        if quick and transform == "independent-same-architecture":
            indep_seen += 1
            if indep_seen > 1:
                continue
        out.append(Pair(str(m.path_of(a)), str(m.path_of(b)), truth, _row(b, transform, truth), a, b))
    return out


def real_pairs(data_dir: Path | None) -> list[Pair]:
    from taoke.zoo.fetch import default_data_dir

    d = data_dir or default_data_dir()
    w = d / "weights"
    smol = w / "smollm2-135m-instruct-q4_1" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gemma = w / "gemma-3-270m-q4_k_m" / "gemma-3-270m-q4_k_m.gguf"
    minilm = w / "all-minilm-l6-v2"
    onnx = w / "all-minilm-l6-v2-int8-onnx" / "model.onnx"
    cand = [
        (minilm, onnx, "repackaged", "encoder MiniLM: int8 ONNX (quantised)"),
        (smol, gemma, "unrelated", "real unrelated: SmolLM2 vs Gemma-3"),
        (minilm, smol, "unrelated", "real unrelated: MiniLM vs SmolLM2"),
    ]
    return [Pair(str(a), str(b), t, r, a.name, b.name) for a, b, t, r in cand if a.exists() and b.exists()]


# ------------------------------------------------------------------------------------------------ tools
def interpreter(adapter: str) -> Path:
    """The Python that runs an adapter: taoke's own venv, cisco's (transformers < 5), or the other peers'."""
    return {"adapt_taoke": TAOKE_PY, "adapt_cisco": CISCO_PY}.get(adapter, PEERS_PY)


def prepare(adapter: str, py: Path, paths: list[str], log: Any = print, timeout_s: float = 600) -> None:
    """Run the adapter's ``prepare(path)`` once per model before the timed runs (untimed: input conversions such
    as cisco's GGUF tokenizer export). Adapters without ``prepare`` are skipped; a failure is logged and the pair
    then runs on the unprepared input."""
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import {adapter} as m; "
            "print(hasattr(m, 'prepare'))")  # fmt: skip
    p = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=300)
    if p.returncode != 0 or p.stdout.strip().splitlines()[-1:] != ["True"]:
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    try:  # one process for all models (an interpreter start with the tool's imports costs seconds)
        q = subprocess.run([str(py), str(HERE / "_child.py"), "--prepare", adapter, *paths], capture_output=True,
                           text=True, timeout=timeout_s * max(1, len(paths)), env=env, cwd=str(HERE))  # fmt: skip
    except subprocess.TimeoutExpired:
        log(f"prepare {adapter.removeprefix('adapt_')}: timed out; pairs run on the unprepared inputs")
        return
    for ln in q.stdout.splitlines():
        if ln.startswith("@@PREPARED@@"):
            name, _, what = ln[len("@@PREPARED@@") :].partition("\t")
            log(f"prepare {adapter.removeprefix('adapt_')} {name}: {what[:200]}")
    if q.returncode != 0:
        log(f"prepare {adapter.removeprefix('adapt_')}: exit {q.returncode}: "
            f"{(q.stderr.strip().splitlines() or ['?'])[-1][:200]}")  # fmt: skip


def tool_status(adapter: str) -> tuple[str, str, Path, str | None]:
    """(tool name, claim, interpreter, reason it cannot run or None)."""
    py = interpreter(adapter)
    if not py.exists():
        return adapter.removeprefix("adapt_"), "", py, f"{py} missing: run benchmarks/peers/setup.sh"
    code = (f"import json,sys; sys.path.insert(0, {str(HERE)!r}); import {adapter} as m; "
            "print(json.dumps([m.TOOL, m.CLAIM, m.available()]))")  # fmt: skip
    p = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        return adapter.removeprefix("adapt_"), "", py, (p.stderr.strip().splitlines() or ["?"])[-1][:200]
    name, claim, why = json.loads(p.stdout.strip().splitlines()[-1])
    return name, claim, py, why


def run_one(adapter: str, py: Path, pair: Pair, timeout_s: float) -> dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")  # fmt: skip
    cmd = [str(py), str(HERE / "_child.py"), adapter, pair.a, pair.b, pair.truth, pair.row]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=str(HERE))
        wall = time.perf_counter() - t0
        marker = [ln for ln in p.stdout.splitlines() if ln.startswith("@@RESULT@@")]
        if marker:
            rec = json.loads(marker[-1][len("@@RESULT@@") :])
        else:
            tail = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
            rec = {
                "related": None,
                "raw": "crash",
                "error": f"process died (exit {p.returncode}): {tail[:200]}",
            }
    except subprocess.TimeoutExpired:
        wall = time.perf_counter() - t0
        rec = {"related": None, "raw": "timeout", "error": f"timed out after {timeout_s:.0f} s"}
    rec["wall_s"] = wall
    return rec


# ------------------------------------------------------------------------------------------------ summary
def _correct(rec: dict[str, Any], truth: str) -> bool:
    return rec.get("related") is (truth in POSITIVE)


def _bytes(rec: dict[str, Any]) -> tuple[int | None, str]:
    if rec.get("bytes_self") is not None:
        return int(rec["bytes_self"]), "self"
    if rec.get("io_rchar") is not None:
        return int(rec["io_rchar"]), "rchar"
    return None, "-"


def summarize(records: list[dict[str, Any]], tools: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from taoke.zoo.evaluate import auc, tpr_at_fpr

    rows: dict[str, dict[str, Any]] = {}
    per_tool: dict[str, dict[str, Any]] = {}
    for t, info in tools.items():
        if info["unavailable"]:
            continue
        recs = [r for r in records if r["tool"] == t]
        pos = [r for r in recs if r["truth"] in POSITIVE]
        neg = [r for r in recs if r["truth"] not in POSITIVE]
        lo = -math.inf
        ps = [r["score"] if r.get("score") is not None else lo for r in pos]
        ns = [r["score"] if r.get("score") is not None else lo for r in neg]
        ps_f = [min(x, 1e6) for x in ps]
        ns_f = [min(x, 1e6) for x in ns]
        walls = [r["wall_s"] for r in recs]
        rss = [r.get("peak_rss_kb") or 0 for r in recs]
        byts = [b for b, _ in map(_bytes, recs) if b is not None]
        per_tool[t] = {
            "pairs": len(recs),
            "accuracy": sum(_correct(r, r["truth"]) for r in recs) / max(1, len(recs)),
            "correct": sum(_correct(r, r["truth"]) for r in recs),
            "false_positives_independent": sum(r.get("related") is True for r in neg),
            "negatives": len(neg),
            "missed_related": sum(r.get("related") is not True for r in pos),
            "positives": len(pos),
            "errors": sum(r.get("error") is not None for r in recs),
            "abstentions": sum(r.get("related") is None and r.get("error") is None for r in recs),
            "tpr_at_1pct_fpr": tpr_at_fpr(ps_f, ns_f) if ps and ns else None,
            "auc": auc(ps_f, ns_f)
            if ps and ns and all(math.isfinite(x) for x in ps_f + ns_f)
            else (
                auc(
                    [x if math.isfinite(x) else -1e9 for x in ps_f],
                    [x if math.isfinite(x) else -1e9 for x in ns_f],
                )
                if ps and ns
                else None
            ),
            "score_coverage": f"{sum(r.get('score') is not None for r in recs)}/{len(recs)}",
            "wall_s_median": statistics.median(walls) if walls else None,
            "wall_s_total": sum(walls),
            "peak_rss_mb_max": max(rss) / 1024 if rss else None,
            "peak_rss_mb_median": statistics.median(rss) / 1024 if rss else None,
            "bytes_read_median": statistics.median(byts) if byts else None,
            "bytes_method": sorted({m for _, m in map(_bytes, recs)}),
        }
        for r in recs:
            row = rows.setdefault(r["row"], {"row": r["row"], "truth": r["truth"], "tools": {}})
            cell = row["tools"].setdefault(t, {"n": 0, "correct": 0, "errors": 0, "abstain": 0, "raw": []})
            cell["n"] += 1
            cell["correct"] += int(_correct(r, r["truth"]))
            cell["errors"] += int(r.get("error") is not None)
            cell["abstain"] += int(r.get("related") is None and r.get("error") is None)
            cell["raw"].append(r.get("error") or r.get("raw"))
    order = {"repackaged": 0, "derived": 1, "independent": 2, "unrelated": 3}
    return {
        "rows": sorted(rows.values(), key=lambda x: (order.get(x["truth"], 9), x["row"])),
        "tools": per_tool,
    }


def _cell(c: dict[str, Any] | None) -> str:
    if c is None:
        return "—"
    s = f"{c['correct']}/{c['n']}"
    if c["correct"] == c["n"]:
        return f"**{s}**" if c["n"] else s
    notes = []
    if c["errors"]:
        notes.append(f"{c['errors']} err")
    if c["abstain"]:
        notes.append(f"{c['abstain']} abst")
    return s + (f" ({', '.join(notes)})" if notes else "") + " ✗"


def _fmt_bytes(b: float | None) -> str:
    if b is None:
        return "—"
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= k:
            return f"{b / k:.1f} {unit}"
    return f"{b:.0f} B"


def markdown(res: dict[str, Any]) -> str:
    s, tools = res["summary"], res["tools"]
    names = [t for t in tools if not tools[t]["unavailable"]]
    lines = [
        "| transformation | label | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for row in s["rows"]:
        lines.append(f"| {row['row']} | {row['truth']} | "
                     + " | ".join(_cell(row["tools"].get(t)) for t in names) + " |")  # fmt: skip
    lines += [
        "",
        "| tool | verdict accuracy | false positives on independent/unrelated | missed related | "
        "errors / abstentions | TPR at 1% FPR | AUC | score coverage |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in names:
        m = s["tools"][t]
        f3 = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
        lines.append(f"| {t} | {m['correct']}/{m['pairs']} ({100 * m['accuracy']:.0f}%) | "
                     f"{m['false_positives_independent']}/{m['negatives']} | {m['missed_related']}/{m['positives']} | "
                     f"{m['errors']} / {m['abstentions']} | {f3(m['tpr_at_1pct_fpr'])} | {f3(m['auc'])} | "
                     f"{m['score_coverage']} |")  # fmt: skip
    lines += [
        "",
        "| tool | wall time per pair, median (total) | peak RSS, median (max) | bytes read per pair, "
        "median | how bytes were counted |",
        "|---|---|---|---|---|",
    ]
    for t in names:
        m = s["tools"][t]
        lines.append(f"| {t} | {m['wall_s_median']:.1f} s ({m['wall_s_total']:.0f} s) | "
                     f"{m['peak_rss_mb_median']:.0f} MB ({m['peak_rss_mb_max']:.0f} MB) | "
                     f"{_fmt_bytes(m['bytes_read_median'])} | {', '.join(m['bytes_method'])} |")  # fmt: skip
    missing = [f"`{t}`: {tools[t]['unavailable']}" for t in tools if tools[t]["unavailable"]]
    if missing:
        lines += ["", "Not run: " + "; ".join(missing) + "."]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main
def run(pairs: list[Pair], adapters: tuple[str, ...] = ADAPTERS, *, timeout_s: float = 600,
        log: Any = print, partial: Path | None = None,
        done: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """Every tool on every pair. ``partial``: each record is also appended there as one JSON line as soon as it
    is measured (a run cut short keeps what it measured); ``done``: records of such a run, kept instead of being
    measured again (their wall time is added to the run's seconds)."""
    kept = {(r["tool"], r["a"], r["b"]): r for r in done or []}
    tools: dict[str, dict[str, Any]] = {}
    pys: dict[str, Path] = {}
    for ad in adapters:
        name, claim, py, why = tool_status(ad)
        tools[name] = {"adapter": ad, "claim": claim, "unavailable": why}
        pys[name] = py
        log(f"tool {name}: " + ("ready" if why is None else f"NOT RUN ({why})"))
        if why is None:
            prepare(ad, py, sorted({x for p in pairs for x in (p.a, p.b)}), log)
    records: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    for i, pair in enumerate(pairs):
        for name, info in tools.items():
            if info["unavailable"]:
                continue
            if (name, pair.name_a, pair.name_b) in kept:
                records.append(kept[(name, pair.name_a, pair.name_b)])
                continue
            rec = run_one(info["adapter"], pys[name], pair, timeout_s)
            rec.update(tool=name, row=pair.row, truth=pair.truth, a=pair.name_a, b=pair.name_b)
            records.append(rec)
            if partial is not None:
                with partial.open("a") as fh:
                    fh.write(json.dumps(_clean(rec), default=str) + "\n")
            ok = "ok " if _correct(rec, pair.truth) else "BAD"
            log(f"[{i + 1}/{len(pairs)}] {ok} {name:20s} {pair.name_a} ~ {pair.name_b} ({pair.truth}): "
                f"{rec.get('error') or rec.get('raw')} [{rec['wall_s']:.1f} s]")  # fmt: skip
    res = {
        "format": "taoke.bench.peers",
        "version": 1,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
        },  # fmt: skip
        "seconds": time.perf_counter() - t_all + sum(r["wall_s"] for r in kept.values()),
        "tools": tools,
        "pairs": [p.__dict__ for p in pairs],
        "records": records,
    }
    res["summary"] = summarize(records, tools)
    return res


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from runs of *different tools on the same pairs* (a run split into jobs that each fit a time
    slot): records and tools side by side, seconds added, every command kept. Refuses runs over other pairs or
    with a tool twice."""
    first = runs[0]
    key = [(p["a"], p["b"], p["truth"]) for p in first["pairs"]]
    tools: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    for r in runs:
        if [(p["a"], p["b"], p["truth"]) for p in r["pairs"]] != key:
            raise SystemExit(f"merge: {r.get('command')} ran on other pairs than {first.get('command')}")
        for t, info in r["tools"].items():
            if t in tools and not tools[t]["unavailable"] and not info["unavailable"]:
                raise SystemExit(f"merge: tool {t} is in two runs")
            if t not in tools or tools[t]["unavailable"]:
                tools[t] = info
        records += [_record(x) for x in r["records"] if not r["tools"][x["tool"]]["unavailable"]]
    res = dict(first, tools=tools, records=records, seconds=sum(r["seconds"] for r in runs),
               command=" + ".join(r["command"] for r in runs), finished=runs[-1].get("finished"),
               parts=[{k: r.get(k) for k in ("command", "seconds", "finished", "machine")} for r in runs])  # fmt: skip
    res["summary"] = summarize(records, tools)
    return res


def _only(pairs: list[dict[str, Any]], only: str) -> list[Pair]:
    """The pairs whose B is named in ``only`` (comma-separated; all when empty), one per B name."""
    names = [x.strip() for x in only.split(",") if x.strip()]
    out: list[Pair] = []
    for d in pairs:
        p = Pair(**d)
        if not names or (p.name_b in names and p.name_b not in {q.name_b for q in out}):
            out.append(p)
    return out


def _restrict(res: dict[str, Any], only: str) -> dict[str, Any]:
    """A saved run cut down to the ``--only`` pairs (its records for other pairs dropped)."""
    keep = _only(res["pairs"], only)
    ids = {(p.name_a, p.name_b) for p in keep}
    recs = [r for r in res["records"] if (r["a"], r["b"]) in ids]
    return dict(res, pairs=[p.__dict__ for p in keep], records=recs,
                seconds=sum(float(r["wall_s"]) for r in recs) if only else res["seconds"])  # fmt: skip


def _clean(x: Any) -> Any:
    """Strict JSON: non-finite floats become the strings "inf", "-inf", "nan"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def _record(rec: dict[str, Any]) -> dict[str, Any]:
    """A record read back from JSON: the numbers ``_clean`` wrote as "inf"/"-inf"/"nan" become floats again."""
    return {k: float(v) if k not in ("raw", "error") and v in ("inf", "-inf", "nan") else v for k, v in rec.items()}


def _secs(x: float) -> str:
    return f"{x:.1f} s" if x < 10 else f"{x:.0f} s"


def readme_summary(res: dict[str, Any]) -> str:
    """The README's block: one line per tool (taoke first, then by correct answers) and what the rows show."""
    s, tools = res["summary"], res["tools"]
    names = [t for t in tools if not tools[t]["unavailable"]]
    order = sorted(names, key=lambda t: (t != "taoke", -s["tools"][t]["correct"], t))
    m0 = s["tools"][order[0]]
    lines = [
        f"{m0['pairs']} labelled pairs × {len(names)} tools "
        + (f"({res['seconds'] / 60:.0f} min on {res['machine']['cpus']} CPUs in {len(res['parts'])} jobs of different "
           "tools on the same pairs, merged; the commands are in docs/peers.md):" if res.get("parts") else
           f"in one run ({res['seconds'] / 60:.0f} min on {res['machine']['cpus']} CPUs; `{res['command']}`):"),
        "",
        "| tool | correct | false accusations (of {neg}) | missed (of {pos}) | errors / abstentions | time / pair | "
        "peak RSS | bytes read |".format(neg=m0["negatives"], pos=m0["positives"]),
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in order:
        m = s["tools"][t]
        b = "**" if t == "taoke" else ""
        lines.append(f"| {b}{t}{b} | {b}{m['correct']}/{m['pairs']}{b} | {m['false_positives_independent']} | "
                     f"{m['missed_related']} | {m['errors']} / {m['abstentions']} | {_secs(m['wall_s_median'])} | "
                     f"{m['peak_rss_mb_median']:.0f} MB | {_fmt_bytes(m['bytes_read_median'])} |")  # fmt: skip
    if "taoke" in names:
        only, behind = [], []
        for row in s["rows"]:
            c = row["tools"]
            tk = c.get("taoke")
            if tk is None:
                continue
            best_peer = max((c[t]["correct"] for t in c if t != "taoke"), default=0)
            if tk["correct"] < best_peer:
                behind.append(row["row"])
            elif tk["correct"] == tk["n"] and best_peer == 0:
                only.append(row["row"])
        lines += ["", ("taoke is at least as accurate as the best peer on every row" if not behind else
                       "taoke is behind the best peer on: " + "; ".join(behind))
                  + ("; the only tool right on: " + "; ".join(only) if only else "") + "."]  # fmt: skip
        peers = [t for t in names if t != "taoke"]
        if peers:
            tk = s["tools"]["taoke"]
            fast = min(peers, key=lambda t: s["tools"][t]["wall_s_median"])
            light = min(peers, key=lambda t: s["tools"][t]["peak_rss_mb_median"])
            lines[-1] += (f" Cost per pair (medians): {tk['wall_s_median'] / s['tools'][fast]['wall_s_median']:.1f}× "
                          f"the time of the fastest peer ({fast}) and "
                          f"{tk['peak_rss_mb_median'] / s['tools'][light]['peak_rss_mb_median']:.1f}× the peak memory "
                          f"of the lightest ({light}).")  # fmt: skip
    return "\n".join(lines)


def replace_block(path: Path, name: str, text: str) -> bool:
    """Replace what lies between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in ``path``; False when the
    file has no such markers (then nothing is written)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    doc = path.read_text() if path.exists() else ""
    if start not in doc or end not in doc:
        return False
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}")
    return True


def run_facts(res: dict[str, Any]) -> str:
    names = [t for t in res["tools"] if not res["tools"][t]["unavailable"]]
    mc = res["machine"]
    load = ", ".join(f"{x:.1f}" for x in mc.get("loadavg_start", ()))
    if res.get("parts"):
        jobs = [f"{i + 1}. `{q['command']}` — {q['seconds']:.0f} s, load average at the start "
                + ", ".join(f"{x:.1f}" for x in q["machine"].get("loadavg_start", ()))
                + (f", finished {q['finished']}" if q.get("finished") else "")
                for i, q in enumerate(res["parts"])]  # fmt: skip
        return (f"Run: {len(res['pairs'])} pairs × {len(names)} tools in {len(jobs)} jobs of different tools on the "
                f"same pairs, {res['seconds']:.0f} s in all on {mc['cpus']} CPUs ({mc['platform']}), merged with "
                "`run.py --merge`:\n\n" + "\n".join(jobs))  # fmt: skip
    return (f"Run: `{res['command']}` — {len(res['pairs'])} pairs × {len(names)} tools, {res['seconds']:.0f} s on "
            f"{mc['cpus']} CPUs ({mc['platform']}; load average at the start {load})"
            + (f", finished {res['finished']}." if res.get("finished") else "."))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="one pair per kind of transformation, one independent pair"
    )
    ap.add_argument(
        "--full-zoo", action="store_true", help="add the zoo's full-subset entries that are built"
    )
    ap.add_argument("--zoo", type=Path, default=None, help="zoo folder (default $TAOKE_DATA/zoo)")
    ap.add_argument("--data", type=Path, default=None, help="data folder (default $TAOKE_DATA)")
    ap.add_argument(
        "--tools",
        default=",".join(a.removeprefix("adapt_") for a in ADAPTERS),
        help="comma-separated adapters to run",
    )
    ap.add_argument("--timeout", type=float, default=600, help="seconds per tool per pair")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "peers.json")
    ap.add_argument("--md", type=Path, default=None, help="also write the Markdown tables here (between "
                    "<!-- peers:start/end --> markers when the file has them, else the whole file)")  # fmt: skip
    ap.add_argument("--readme", type=Path, default=None, help="update the summary table between "
                    "<!-- peers-summary:start/end --> markers in this file (e.g. README.md)")  # fmt: skip
    ap.add_argument("--from-json", type=Path, default=None, help="render the tables of a saved run "
                    "instead of running")  # fmt: skip
    ap.add_argument("--also", default="", help="with --quick: add the related pairs whose B is one of these "
                    "comma-separated zoo entries")  # fmt: skip
    ap.add_argument("--resume", action="store_true", help="keep the records in OUT.partial.jsonl (a run "
                    "cut short) and measure only the rest (timed-out pairs again)")  # fmt: skip
    ap.add_argument("--only", default="", help="keep only the pairs whose B is one of these comma-separated "
                    "names (zoo entries; a real pair by its file name) — a representative subset; with --merge, the saved "
                    "runs are cut down to those pairs")  # fmt: skip
    ap.add_argument("--merge", type=Path, nargs="+", default=None, help="combine saved runs of different tools "
                    "on the same pairs into --out (a run split into time slots) and render it")  # fmt: skip
    a = ap.parse_args(argv)
    if a.from_json:
        res = json.loads(a.from_json.read_text())
    elif a.merge:
        res = merge([_restrict(json.loads(p.read_text()), a.only) for p in a.merge])
        a.out.write_text(json.dumps(_clean(res), indent=1, default=str, allow_nan=False) + "\n")
    else:
        also = tuple(x.strip() for x in a.also.split(",") if x.strip())
        pairs = zoo_pairs(a.zoo, quick=a.quick, full_zoo=a.full_zoo, also=also) + real_pairs(a.data)
        pairs = [p for p in pairs if p in _only([p.__dict__ for p in pairs], a.only)]
        adapters = tuple(f"adapt_{t.strip()}" for t in a.tools.split(",") if t.strip())
        partial = a.out.with_suffix(".partial.jsonl")
        done = None
        if a.resume and partial.exists():
            done = [_record(json.loads(ln)) for ln in partial.read_text().splitlines() if ln.strip()]
            done = [r for r in done if r.get("raw") != "timeout"]  # measured again (a busy machine, a short limit)
        else:
            partial.unlink(missing_ok=True)
        res = run(pairs, adapters, timeout_s=a.timeout, partial=partial, done=done)
        res["command"] = "python benchmarks/peers/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
        res["mode"] = "quick" if a.quick else "full"
        res["finished"] = time.strftime("%Y-%m-%d %H:%M %Z")
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(_clean(res), indent=1, default=str, allow_nan=False) + "\n")
    md = markdown(res)
    print(md)
    if a.md and not replace_block(a.md, "peers", run_facts(res) + "\n\n" + md):
        a.md.write_text(md + "\n")
    if a.readme and not replace_block(a.readme, "peers-summary", readme_summary(res)):
        print(f"note: {a.readme} has no <!-- peers-summary:start/end --> markers; not updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
