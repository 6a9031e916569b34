"""Ancestor search and the audit on it (issue 15): every zoo derivative against an index of all bases + distractors.

``python benchmarks/index/ancestry.py [--sizes 1000 100000] [--no-docs]`` writes ``benchmarks/results/ancestry.json``
and the tables between the ``<!-- bench:ancestry -->`` markers of ``docs/index.md`` and ``README.md``.

* **Bases** (the index's real models): the real SmolLM2-135M-Instruct Q4_1 GGUF, all-MiniLM-L6-v2, Gemma-3-270M
  Q4_K_M, paraphrase-MiniLM-L3-v2 (ONNX; a sibling of MiniLM), the six tiny Llamas trained from scratch (tiny-0 is
  the base of the tiny derivatives) and smollm2-stdmatched (random weights with SmolLM2's per-tensor statistics).
* **Distractors** fill the index to 1,000 and 100,000 entries: sketch-only rows drawn at the similarity independent
  real models were measured to have (``tests/index/distractors.py``), inserted *before* the bases (the worst case
  for a look-up that keeps the oldest entries of a crowded bucket).
* **Queries**: every derivative of the zoo (``zoo.json`` entries related to a base: the core zoo and
  ``taoke.zoo.recipes_ancestry``) and MiniLM's real int8 ONNX export; the truth is the indexed base the entry's
  ``base`` chain leads to (smollm2-f32 is the de-quantised Q4_1 GGUF).
* **Measured per query**: the first cut (keys → shortlist; the query's sketches computed from its fingerprint
  included), the whole search (first cut + exact tests, with the decoded-fingerprint cache cleared before each query,
  as in a fresh ``taoke index search``), recall@1 (the best related hit is the true ancestor) and recall@5.
* **Audit** (``taoke.audit.audit(..., against=INDEX)``) of each derivative under two model cards: one claiming
  training from scratch (expected: undeclared derivation) and an honest one declaring its base (expected:
  consistent); and of each independent model with its (honest) from-scratch card, searched with itself removed from
  the index (expected: inconclusive — nothing related is there). The query's fingerprint is the one searched.

Fingerprints are cached like the tests' (``$TAOKE_DATA/fingerprints``, keyed by files and fingerprinting code).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MARK_START = "<!-- bench:ancestry:start -->"
MARK_END = "<!-- bench:ancestry:end -->"

#: name → (path under the data folder, the name a card declaring it uses)
BASES = {
    "smollm2-q4_1": ("weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf",
                     "HuggingFaceTB/SmolLM2-135M-Instruct"),
    "minilm": ("weights/all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
    "gemma-3-270m": ("weights/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf", "google/gemma-3-270m"),
    "paraphrase-minilm-l3": ("weights/paraphrase-minilm-l3-v2-onnx", "sentence-transformers/paraphrase-MiniLM-L3-v2"),
    **{f"tiny-{k}": (f"zoo/tiny-{k}", f"taoke-zoo/tiny-{k}") for k in range(6)},
    "smollm2-stdmatched": ("zoo/smollm2-stdmatched", "taoke-zoo/smollm2-stdmatched"),
}  # fmt: skip
INDEPENDENT = tuple(f"tiny-{k}" for k in range(1, 6)) + ("smollm2-stdmatched",)
EXTRA_QUERIES = {"minilm-int8": ("weights/all-minilm-l6-v2-int8-onnx/model.onnx", "minilm", "int8-onnx-export")}
ALIASES = {"smollm2-f32": "smollm2-q4_1"}  # zoo bases that are a re-packaging of an indexed base

SCRATCH = """---
license: apache-2.0
---
# Acme-LM

Acme-LM is a compact model developed by the Acme lab. It was trained from scratch on our curated corpus.
"""
HONEST = """---
license: apache-2.0
base_model: {base}
---
# Acme-LM

Acme-LM is built on {base} by the Acme lab.
"""


def data_root() -> Path:
    return Path(os.environ.get("TAOKE_DATA") or Path.home() / ".cache" / "taoke-data")


def inventory(data: Path) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """(base name → location, query name → {location, truth, transform})."""
    zoo = data / "zoo"
    man = json.loads((zoo / "zoo.json").read_text())
    entries = {e["name"]: e for e in man["entries"]}
    bases = {n: data / p for n, (p, _d) in BASES.items() if (data / p).exists()}
    for n, p in list(bases.items()):
        if p.is_dir() and not (p / "config.json").exists() and not (p / "model.safetensors").exists():
            onnx = sorted(p.glob("*.onnx"))
            if onnx:
                bases[n] = onnx[0]
    queries: dict[str, dict[str, Any]] = {}
    for e in man["entries"]:
        if e["relation"] not in ("derived", "repackaged") or e["name"] in bases:
            continue
        b = e["base"]
        while b is not None and ALIASES.get(b, b) not in bases:
            b = entries.get(b, {}).get("base")
        p = Path(e["path"]) if Path(e["path"]).is_absolute() else zoo / e["path"]
        if b is not None and p.exists():
            queries[e["name"]] = {"location": p, "truth": ALIASES.get(b, b), "transform": e["transform"]}
    for n, (p, truth, tr) in EXTRA_QUERIES.items():
        if (data / p).exists() and truth in bases:
            queries[n] = {"location": data / p, "truth": truth, "transform": tr}
    return bases, queries


def fingerprints(locs: dict[str, Path], data: Path, snapshot: Path | None = None) -> dict[str, Any]:
    """Every model's fingerprint (the tests' cache; with ``snapshot``, ``<snapshot>/<name>.tkfp`` is used when present
    and written otherwise, so runs split over several invocations search the very same fingerprints even when the
    fingerprinting code changed in between)."""
    from taoke.index.fingerprint import Fingerprint
    from tests.index.conftest import FingerprintCache

    cache = FingerprintCache(locs, Path(os.environ.get("TAOKE_FP_CACHE") or data / "fingerprints"))
    out = {}
    for n in locs:
        t = time.perf_counter()
        kept = None if snapshot is None else snapshot / f"{n}.tkfp"
        if kept is not None and kept.exists():
            out[n] = Fingerprint.load(kept)
        else:
            out[n] = Fingerprint.load(cache[n])
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(cache[n], kept)
        print(f"  fingerprint {n}: {time.perf_counter() - t:.1f}s", flush=True)
    return out


def build_index(db: Path, bases: dict[str, Any], size: int, rng: np.random.Generator) -> dict[str, Any]:
    from taoke.index.store import IndexStore
    from tests.index.distractors import distractors

    t = time.perf_counter()
    with IndexStore(db) as s:
        s.add_many(distractors(list(bases.values()), size - len(bases), rng))
        for n, fp in bases.items():
            s.add(fp, name=n)
        s.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        n = s.count()
    secs = time.perf_counter() - t
    return {"models": n, "insert_seconds": round(secs, 1), "insert_ms_per_model": round(1000 * secs / n, 2),
            "db_bytes": db.stat().st_size}  # fmt: skip


def run_queries(db: Path, queries: dict[str, dict[str, Any]], fps: dict[str, Any]) -> list[dict[str, Any]]:
    from taoke.index.search import VIEWS, first_cut, search
    from taoke.index.store import IndexStore

    rows = []
    with IndexStore(db, readonly=True) as s:
        for q, info in queries.items():
            fp = fps[q]
            t = time.perf_counter()
            cut = first_cut(s, fp)
            cut_s = time.perf_counter() - t
            VIEWS.clear()  # a fresh process: candidates' tokenizers decoded again
            t = time.perf_counter()
            res = search(s, fp, k=5)
            search_s = time.perf_counter() - t
            rel = [h for h in res.hits if h.related]
            truth = info["truth"]
            pos = next((i for i, c in enumerate(cut.shortlist) if s.model(c.model_id).name == truth), None)
            top = rel[0] if rel else None
            rows.append({
                "query": q, "transform": info["transform"], "truth": truth,
                "top": top.name if top else None, "top_verdict": top.verdict if top else None,
                "recall1": bool(top is not None and top.name == truth),
                "recall5": any(h.name == truth for h in rel[:5]),
                "first_cut_ms": round(1000 * cut_s, 1), "search_s": round(search_s, 2),
                "shortlist_rank": pos, "found_by": list(top.via) if top else [],
                "tested": res.tested, "untested": res.untested, "widened": res.widened,
                "considered": res.considered, "sentence": res.sentence(),
            })  # fmt: skip
            r = rows[-1]
            print(f"    {q:28s} top={r['top']!s:20s} r@1={r['recall1']} cut={r['first_cut_ms']}ms "
                  f"search={r['search_s']}s tested={r['tested']} via={','.join(r['found_by'])}", flush=True)
    return rows


def _variant(src: Path, dest: Path, card: str) -> Path:
    """A folder with the model's files linked (a single weights file as model.<ext>) and a model card."""
    dest.mkdir(parents=True)
    if src.is_dir():
        for f in src.iterdir():
            if f.name != "README.md":
                (dest / f.name).symlink_to(f.resolve())
    else:
        (dest / f"model{src.suffix}").symlink_to(src.resolve())
    (dest / "README.md").write_text(card)
    return dest


def run_audits(db: Path, queries: dict[str, dict[str, Any]], indep: dict[str, Path], fps: dict[str, Any],
               work: Path) -> list[dict[str, Any]]:  # fmt: skip
    from taoke.audit import audit
    from taoke.index.search import VIEWS
    from taoke.index.store import IndexStore

    rows = []
    k = 0

    def one(model: str, loc: Path, card: str, expect: str, kind: str, fp: Any) -> None:
        nonlocal k
        k += 1
        v = _variant(loc, work / f"acme-{k:03d}", card)
        VIEWS.clear()
        t = time.perf_counter()
        res = audit(str(v), against=db, fingerprint=fp, tokenizer=False)
        rows.append({"model": model, "card": kind, "expected": expect, "status": res.status,
                     "exit_code": res.exit_code, "seconds": round(time.perf_counter() - t, 2),
                     "summary": res.summary[:300]})  # fmt: skip
        print(f"    audit {model:28s} {kind:8s} → {res.status} (expected {expect})", flush=True)
        shutil.rmtree(v)

    for q, info in queries.items():
        base_id = BASES[info["truth"]][1]
        one(q, info["location"], SCRATCH, "undeclared-derivation", "scratch", fps[q])
        one(q, info["location"], HONEST.format(base=base_id), "consistent", "honest", fps[q])
    for n, loc in indep.items():  # leave-one-out: the model itself is not in the index while it is audited
        with IndexStore(db) as s:
            s.remove(n)
        try:
            one(n, loc, SCRATCH, "inconclusive", "scratch", fps[n])
        finally:
            with IndexStore(db) as s:
                s.add(fps[n], name=n)
    return rows


def confusion(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cols = ("undeclared-derivation", "declared-unsupported", "inconclusive", "consistent")
    groups = {"derivative, card claims from scratch": ("undeclared-derivation", "scratch"),
              "derivative, card declares its base": ("consistent", "honest"),
              "independent model, card claims from scratch": ("inconclusive", "scratch")}  # fmt: skip
    table = {}
    for label, (exp, card) in groups.items():
        sel = [r for r in rows if r["expected"] == exp and r["card"] == card]
        table[label] = {c: sum(r["status"] == c for r in sel) for c in cols} | {"n": len(sel), "expected": exp}
    false_consistent = sum(r["status"] == "consistent" and r["expected"] != "consistent" for r in rows)
    false_undeclared = sum(r["status"] == "undeclared-derivation" and r["expected"] != "undeclared-derivation"
                           for r in rows)  # fmt: skip
    return {"table": table, "false_consistent": false_consistent, "false_undeclared": false_undeclared,
            "correct": sum(r["status"] == r["expected"] for r in rows), "n": len(rows)}  # fmt: skip


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_kind.setdefault(r["transform"], []).append(r)
    cut = [r["first_cut_ms"] for r in rows]
    srch = [r["search_s"] for r in rows]
    return {
        "queries": len(rows), "recall1": sum(r["recall1"] for r in rows), "recall5": sum(r["recall5"] for r in rows),
        "first_cut_ms_median": round(statistics.median(cut), 1), "first_cut_ms_max": max(cut),
        "search_s_median": round(statistics.median(srch), 2), "search_s_max": max(srch),
        "kinds": {k: {"n": len(v), "recall1": sum(x["recall1"] for x in v), "recall5": sum(x["recall5"] for x in v)}
                  for k, v in sorted(by_kind.items())},
    }  # fmt: skip


# -- report -----------------------------------------------------------------------------------------------------


def markdown(res: dict[str, Any], *, short: bool = False) -> str:
    sizes = res["sizes"]
    L = [MARK_START, ""]
    if not short:
        runs = res.get("runs") or [{"sizes": sizes}]
        how = " then ".join(f"`python benchmarks/index/ancestry.py --sizes {' '.join(r['sizes'])}"
                            + (" --merge`" if i else "`") for i, r in enumerate(runs))  # fmt: skip
        L += [f"Measured {res['date']} on {res['machine']} ({how}, "
              f"{res['total_seconds']:.0f} s in all; raw numbers in `benchmarks/results/ancestry.json`; other "
              "processes shared the two cores, so the timings are pessimistic). Index = "
              f"{len(res['bases'])} real bases + sketch-only distractors; {res['n_queries']} derivative queries.", ""]  # fmt: skip
    L += ["| index size | recall@1 | recall@5 | first cut median / max | whole search median / max | "
          "audit: false consistent | audit: false undeclared | audit correct |", "|---|---|---|---|---|---|---|---|"]
    for sz in sizes:
        s, a = res["search"][sz]["summary"], res["audit"][sz]
        L.append(f"| {int(sz):,} | {s['recall1']}/{s['queries']} | {s['recall5']}/{s['queries']} | "
                 f"{s['first_cut_ms_median']} / {s['first_cut_ms_max']} ms | {s['search_s_median']} / "
                 f"{s['search_s_max']} s | {a['false_consistent']} | {a['false_undeclared']} | "
                 f"{a['correct']}/{a['n']} |")  # fmt: skip
    if short:
        L += ["", MARK_END]
        return "\n".join(L)
    big = sizes[-1]
    kinds = res["search"][big]["summary"]["kinds"]
    L += ["", "**Recall per derivation kind** (recall@1 at each index size; the zoo transform names):", "",
          "| kind | queries | " + " | ".join(f"recall@1 at {int(sz):,}" for sz in sizes) + " |",
          "|---|---|" + "---|" * len(sizes)]  # fmt: skip
    for k, v in kinds.items():
        cells = [f"{res['search'][sz]['summary']['kinds'][k]['recall1']}/{v['n']}" for sz in sizes]
        L.append(f"| {k} | {v['n']} | " + " | ".join(cells) + " |")
    L += ["", f"**Per query at {int(big):,} entries** (found by = the keys that retrieved the ancestor: c body sketch, "
          "w/i embedding geometry by token / by id, t tokenizer, shape architecture, digest identical samples):", "",
          "| query | kind | ancestor found | verdict | found by | first cut | whole search | exact tests |",
          "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in res["search"][big]["rows"]:
        ok = r["top"] if r["recall1"] else f"**{r['top']}** (want {r['truth']})"
        L.append(f"| {r['query']} | {r['transform']} | {ok} | {r['top_verdict']} | {', '.join(r['found_by'])} | "
                 f"{r['first_cut_ms']} ms | {r['search_s']} s | {r['tested']} |")  # fmt: skip
    L += ["", f"**Audit confusion** (`taoke audit MODEL --against INDEX`, {int(big):,} entries; rows = truth and card, "
          "columns = the audit's status):", "",
          "| model and card | n | undeclared (10) | unsupported (11) | inconclusive (12) | consistent (0) |",
          "|---|---|---|---|---|---|"]  # fmt: skip
    for label, t in res["audit"][big]["table"].items():
        cells = [f"**{t[c]}**" if c == t["expected"] else str(t[c])
                 for c in ("undeclared-derivation", "declared-unsupported", "inconclusive", "consistent")]  # fmt: skip
        L.append(f"| {label} | {t['n']} | " + " | ".join(cells) + " |")
    wrong = [r for sz in sizes for r in res["audit_rows"][sz] if r["status"] != r["expected"]]
    if wrong:
        L += ["", "Audits that did not give the expected status:", ""]
        L += [f"* {r['model']} ({r['card']} card): {r['status']} — {r['summary'][:160]}" for r in wrong]
    L += ["", MARK_END]
    return "\n".join(L)


def write_between(path: Path, md: str) -> None:
    text = path.read_text()
    if MARK_START in text and MARK_END in text:
        text = text[: text.index(MARK_START)] + md + text[text.index(MARK_END) + len(MARK_END) :]
    else:
        text = text.rstrip() + "\n\n" + md + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/index.md and README.md")
    ap.add_argument("--only", nargs="*", default=None, help="only these queries (a quick look)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other index sizes of an existing results file (a run split by size)")
    ap.add_argument("--fp-snapshot", type=Path, default=None,
                    help="folder of <name>.tkfp fingerprints reused across split runs (written when missing)")
    ap.add_argument("--fingerprints-only", action="store_true", help="compute the fingerprints and stop")
    ap.add_argument("--docs-only", action="store_true", help="rewrite the docs tables from the results file and stop")
    args = ap.parse_args()
    if args.docs_only:
        res = json.loads((ROOT / "benchmarks" / "results" / "ancestry.json").read_text())
        write_between(ROOT / "docs" / "index.md", markdown(res))
        write_between(ROOT / "README.md", markdown(res, short=True))
        return
    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    data = data_root()
    bases, queries = inventory(data)
    if args.only:
        queries = {q: v for q, v in queries.items() if q in args.only}
    print(f"{len(bases)} bases, {len(queries)} queries", flush=True)
    fps = fingerprints(bases | {q: v["location"] for q, v in queries.items()}, data, args.fp_snapshot)
    if args.fingerprints_only:
        print(f"{len(fps)} fingerprints in {time.perf_counter() - t0:.0f} s")
        return
    base_fps = {n: fps[n] for n in bases}
    res: dict[str, Any] = {"format": "taoke.bench.ancestry", "version": 1, "date": time.strftime("%Y-%m-%d"),
                           "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), Python "
                           f"{platform.python_version()}", "bases": sorted(bases), "n_queries": len(queries),
                           "sizes": [str(s) for s in args.sizes], "index": {}, "search": {}, "audit": {},
                           "audit_rows": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="taoke-bench-ancestry-") as tmp:
        work = Path(tmp)
        for size in args.sizes:
            db = work / f"index-{size}.db"
            print(f"index of {size:,}", flush=True)
            res["index"][str(size)] = build_index(db, base_fps, size, np.random.default_rng(size))
            print(f"  {res['index'][str(size)]}", flush=True)
            rows = run_queries(db, queries, fps)
            res["search"][str(size)] = {"rows": rows, "summary": summarize(rows)}
            print(f"  {res['search'][str(size)]['summary']}", flush=True)
            if os.environ.get("TAOKE_BENCH_PARTIAL"):  # the search numbers survive a run cut short in the audits
                Path(os.environ["TAOKE_BENCH_PARTIAL"]).write_text(json.dumps(res, indent=1, default=str))
            arows = run_audits(db, queries, {n: bases[n] for n in INDEPENDENT if n in bases}, fps, work)
            res["audit_rows"][str(size)] = arows
            res["audit"][str(size)] = confusion(arows)
            print(f"  audit {res['audit'][str(size)]}", flush=True)
            db.unlink()
    res["total_seconds"] = round(time.perf_counter() - t0, 1)
    res["runs"] = [{"sizes": res["sizes"], "seconds": res["total_seconds"], "started": started}]
    out = ROOT / "benchmarks" / "results" / "ancestry.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and out.exists():
        old = json.loads(out.read_text())
        if old.get("format") == res["format"] and old.get("n_queries") == res["n_queries"]:
            for sz in old["sizes"]:
                if sz not in res["sizes"]:
                    for k in ("index", "search", "audit", "audit_rows"):
                        res[k][sz] = old[k][sz]
            res["sizes"] = sorted(set(res["sizes"]) | set(old["sizes"]), key=int)
            res["runs"] = [*old.get("runs", []), *res["runs"]]
            res["total_seconds"] = round(sum(r["seconds"] for r in res["runs"]), 1)
    out.write_text(json.dumps(res, indent=1, default=str))
    md = markdown(res)
    print(md)
    if not args.no_docs and not args.only:
        write_between(ROOT / "docs" / "index.md", md)
        write_between(ROOT / "README.md", markdown(res, short=True))
    print(f"wrote {out} in {res['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
