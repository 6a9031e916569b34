"""Benchmarks of fingerprints, the index and scans (issue #7); every ratio is measured in one run on one machine.

``python benchmarks/index/run.py [--quick]`` writes ``benchmarks/results/index.json`` and the table between the
``<!-- bench:index -->`` markers of ``docs/index.md``. Parts:

1. *zoo scan* — every model of the fetched data (``$TAOKE_DATA/weights``, ``derived/``) plus the zoo that is built
   (``$TAOKE_DATA/zoo``; never built here) is scanned into a fresh index through a real ``distributed.LocalCluster``
   (one worker, one thread: timings stay sequential), every model served by a local HTTP server with range
   requests (single files by their URL, model folders as repository URLs ending in ``/``); then ``build_tree`` and a check that every zoo model's parent is its zoo ``base`` (and the manifest's
   relations for the artifacts outside the zoo);
2. *bytes read and throughput* — per weight file: bytes read by the default fingerprint (from the scan: a Dask
   worker thread, over local HTTP) and by the light one (``units=0``, local, just after the plain
   read) as a fraction of the checkpoint size, and both times against a plain sequential read of the same bytes
   (8 MiB ``read`` calls, page cache warm);
3. *memory* — peak RSS and tracemalloc peak of a subprocess fingerprinting the largest file available and two
   synthetic sharded safetensors checkpoints built from the real SmolLM2 F32 tensors (layers tiled to the target
   size, streamed shard by shard to ``/tmp``, deleted afterwards);
4. *index* — search latency at 1k / 10k / 100k fingerprints. Synthetic entries are derived from the real
   fingerprints of part 1: Gaussian noise on the embedding descriptor (half of them also with its entries
   permuted: another geometry) and a random share of the MinHash replaced (vocabulary edits); they carry sketches
   only (header, descriptor, MinHash), so the exact stage on them is cheap — its cost is measured on the real
   candidates. Inserted with ``IndexStore.add_many`` (one transaction per 1000).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import unquote

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the machine is shared: BLAS threads spinning cost 10× (tests/index)
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # tests.httpserver: the same real range-capable server the tests use

MARK_START = "<!-- bench:index:start -->"
MARK_END = "<!-- bench:index:end -->"


def data_root() -> Path:
    return Path(os.environ.get("TAOKE_DATA") or Path.home() / ".cache" / "taoke-data")


# -- inventory -------------------------------------------------------------------------------------------------


def inventory(data: Path, quick: bool) -> list[dict[str, Any]]:
    """Every weight location: name, path; all served over HTTP (folders as repository URLs ending in /)."""
    items: list[dict[str, Any]] = []
    w = data / "weights"
    for d in sorted(p for p in w.iterdir() if p.is_dir()) if w.is_dir() else []:
        files = [f for f in d.iterdir() if f.is_file() and f.suffix.lower() in (".gguf", ".onnx", ".bin", "")
                 and f.name not in ("SOURCE.txt",) and not f.name.endswith((".h", ".c", ".txt", ".json"))]  # fmt: skip
        if (d / "model.safetensors").is_file():
            items.append({"name": d.name, "path": d, "http": True})
            continue
        for f in sorted(files):
            items.append({"name": f"{d.name}/{f.name}" if len(files) > 1 else d.name, "path": f, "http": True})
    for f in sorted((data / "derived").rglob("*.gguf")):
        items.append({"name": f"derived/{f.name}", "path": f, "http": True})
    zoo = data / "zoo"
    if (zoo / "zoo.json").is_file():
        man = json.loads((zoo / "zoo.json").read_text())
        for e in man["entries"]:
            p = Path(e["path"]) if Path(e["path"]).is_absolute() else zoo / e["path"]
            if p.exists() and not str(p).startswith(str(w)):
                items.append({"name": e["name"], "path": p, "http": p.is_relative_to(data), "zoo": True})
    if quick:
        keep = ("all-minilm-l6-v2", "smollm2-135m-instruct-q4_1", "all-minilm-l6-v2-int8-onnx", "minilm-noise",
                "minilm-perm", "tiny-0", "tiny-1", "smollm2-f32", "smollm2-layer-subset")  # fmt: skip
        items = [i for i in items if i["name"] in keep]
    return items


def checkpoint_size(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.iterdir() if f.suffix in (".safetensors", ".bin", ".gguf"))


def plain_read_seconds(p: Path) -> float:
    files = [p] if p.is_file() else sorted(f for f in p.iterdir() if f.suffix in (".safetensors", ".bin", ".gguf"))
    t = time.perf_counter()
    for f in files:
        with open(f, "rb", buffering=0) as fh:
            while fh.read(8 << 20):
                pass
    return time.perf_counter() - t


# -- 1 + 2: zoo scan, tree, bytes read ------------------------------------------------------------------------------


def truth_parent(name: str, zoo_bases: dict[str, str | None]) -> tuple[str | None, ...]:
    """Acceptable parents: the zoo's ``base``; for artifacts outside the zoo, the MANIFEST relations."""
    outside: dict[str, tuple[str | None, ...]] = {
        "all-minilm-l6-v2-int8-onnx": ("minilm",),  # W1: int8 ONNX export of the same MiniLM
        # re-quantised from the Q4_1; the zoo's F32 is the bit-exact de-quantisation of that Q4_1 (same values)
        "derived/SmolLM2-135M-Instruct.Q4_1.Q8_0.gguf": ("smollm2-q4_1", "smollm2-f32"),
        "derived/gemma-3-270m-q4_k_m.Q8_0.gguf": ("gemma-3-270m-q4_k_m",),
        # W2: a sibling of all-MiniLM-L6-v2 (common ancestor not indexed): attached to it or a root
        "paraphrase-minilm-l3-v2-onnx": (None, "minilm", "minilm-noise", "minilm-perm", "all-minilm-l6-v2-int8-onnx"),
    }
    if name in zoo_bases:
        return (zoo_bases[name],)
    return outside.get(name, (None,))


def zoo_scan(items: list[dict[str, Any]], work: Path, data: Path, unit_layers: int = 0) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from taoke.index.store import IndexStore
    from taoke.scan import run_scan
    from tests.httpserver import serve_directory

    db = work / f"zoo-k{unit_layers}.db"
    with serve_directory(data) as srv:
        loc_of = {i["name"]: (srv.url(i["path"].relative_to(data).as_posix()) + ("/" if i["path"].is_dir() else "")
                              if i["http"] else str(i["path"]))
                  for i in items}  # fmt: skip
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as lc, \
                Client(lc) as client:  # fmt: skip
            t = time.perf_counter()
            res = run_scan(list(loc_of.values()), db, cluster="dask-local", client=client, unit_layers=unit_layers)
            scan_s = time.perf_counter() - t
    by_loc = {it.location: it for it in res.items}
    name_of_loc = {v: k for k, v in loc_of.items()}
    with IndexStore(db) as s:
        fp_size = {m.location: m.fp_size for m in s.models()}
    tree = check_tree(db, name_of_loc, data)
    failures = [{"model": name_of_loc[it.location], "reason": it.reason} for it in res.items if it.status == "failed"]
    scanned = {name_of_loc[loc]: it for loc, it in by_loc.items() if it.status == "done"}
    return {"scan_seconds": round(scan_s, 1), **tree, "failures": failures, "db": str(db),
            "scanned": {k: {"bytes_read": v.bytes_read, "file_size": v.file_size, "seconds": round(v.seconds, 2),
                            "fp_bytes": fp_size.get(loc_of[k], 0)} for k, v in scanned.items()}}  # fmt: skip


ALIASES = {"smollm2-135m-instruct-q4_1": "smollm2-q4_1", "all-minilm-l6-v2": "minilm"}


def check_tree(db: Path, name_of_loc: dict[str, str], data: Path) -> dict[str, Any]:
    """Build the tree of a scanned index and compare every model's parent with the expected one."""
    from taoke.index.store import IndexStore
    from taoke.index.tree import build_tree

    t = time.perf_counter()
    with IndexStore(db) as s:
        forest = build_tree(s)
    tree_s = time.perf_counter() - t
    zoo_bases: dict[str, str | None] = {}
    if (data / "zoo" / "zoo.json").is_file():
        zoo_bases = {e["name"]: None if e.get("relation") == "independent" else e.get("base")  # stdmatched: a trap
                     for e in json.loads((data / "zoo" / "zoo.json").read_text())["entries"]}  # fmt: skip
    checks = []
    for n in forest.nodes.values():
        name = name_of_loc[n.location]
        got = None if n.parent is None else name_of_loc[forest.nodes[n.parent].location]
        want = truth_parent(ALIASES.get(name, name), zoo_bases)
        got_alias = ALIASES.get(got, got) if got is not None else None
        checks.append({"model": name, "parent": got, "expected": list(want), "ok": got_alias in want,
                       "relation": n.relation, "reason": n.reason})  # fmt: skip
    return {"tree_seconds": round(tree_s, 1), "pairs_tested": forest.pairs_tested, "tree": forest.text(),
            "checks": checks}  # fmt: skip


def recheck(db: Path, data: Path) -> None:
    """``--recheck-db``: rebuild the tree of a kept zoo scan with the current code (pairs cached in the index) and
    replace the zoo check in the results and the docs (the scan, bytes, memory and index numbers are kept)."""
    from taoke.index.store import IndexStore

    items = inventory(data, False)
    rel = {(i["path"].relative_to(data).as_posix() if i["http"] else str(i["path"])): i["name"] for i in items}
    with IndexStore(db, readonly=True) as s:
        locs = [m.location for m in s.models()]
    name_of_loc = {loc: rel[unquote(loc.split("/", 3)[3]).rstrip("/") if loc.startswith("http") else loc]
                   for loc in locs}  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "index.json"
    res = json.loads(out.read_text())
    res["zoo"] |= check_tree(db, name_of_loc, data) | {"rechecked": time.strftime("%Y-%m-%d %H:%M")}
    out.write_text(json.dumps(res, indent=1, default=str))
    write_docs(markdown(res))


def write_docs(md: str) -> None:
    doc = ROOT / "docs" / "index.md"
    text = doc.read_text()
    if MARK_START in text and MARK_END in text:
        text = text[: text.index(MARK_START)] + md + text[text.index(MARK_END) + len(MARK_END) :]
    else:
        text = text.rstrip() + "\n\n" + md + "\n"
    doc.write_text(text)


def bytes_table(items: list[dict[str, Any]], scanned: dict[str, Any], scanned_k1: dict[str, Any]) -> list[dict[str, Any]]:
    from taoke.index.fingerprint import make_fingerprint

    rows = []
    for i in items:
        if i["name"] not in scanned:
            continue
        p: Path = i["path"]
        size = checkpoint_size(p)
        read_s = plain_read_seconds(p)
        d = scanned[i["name"]]
        k1 = scanned_k1.get(i["name"]) or {"bytes_read": 0, "file_size": 1, "seconds": 0.0}
        t = time.perf_counter()
        light = make_fingerprint(str(p), units=0)
        light_s = time.perf_counter() - t
        full_s = float(d["seconds"])  # the default fingerprint, timed in the scan (Dask worker; files over HTTP)
        lsrc = light.header["source"]
        rows.append({
            "model": i["name"], "format": lsrc["format"], "size": size, "file_size": lsrc["file_size"],
            "default_bytes_read": d["bytes_read"], "default_fraction": round(d["bytes_read"] / d["file_size"], 4),
            "default_seconds": round(full_s, 2), "default_fp_bytes": d["fp_bytes"],
            "light_bytes_read": lsrc["bytes_read"], "light_fraction": round(lsrc["bytes_read"] / lsrc["file_size"], 4),
            "light_seconds": round(light_s, 2), "light_fp_bytes": len(light.to_bytes()),
            "k1_bytes_read": k1["bytes_read"], "k1_fraction": round(k1["bytes_read"] / k1["file_size"], 4),
            "k1_seconds": k1["seconds"], "k1_vs_read": round(float(k1["seconds"]) / max(read_s, 1e-6), 2),
            "plain_read_seconds": round(read_s, 3),
            "default_vs_read": round(full_s / max(read_s, 1e-6), 2), "light_vs_read": round(light_s / max(read_s, 1e-6), 2),
            "scan_seconds_over_http_or_local": d["seconds"],
        })  # fmt: skip
        print(f"  {i['name']}: default {rows[-1]['default_fraction']:.1%} 1-layer {rows[-1]['k1_fraction']:.1%} "
              f"light {rows[-1]['light_fraction']:.1%} "
              f"fp {full_s:.1f}s read {read_s:.2f}s", flush=True)  # fmt: skip
    return rows


# -- 3: memory ------------------------------------------------------------------------------------------------------


def memprobe(path: str) -> None:
    """Subprocess body: fingerprint ``path`` (or nothing, for the baseline) and print peak memory as JSON."""
    import taoke  # noqa: F401
    from taoke.index.fingerprint import make_fingerprint

    tracemalloc.start()
    t = time.perf_counter()
    out: dict[str, Any] = {}
    if path:
        fp = make_fingerprint(path)
        out = {"bytes_read": fp.header["source"]["bytes_read"], "file_size": fp.header["source"]["file_size"],
               "layers": fp.header["layers"]}  # fmt: skip
    out |= {"seconds": round(time.perf_counter() - t, 1), "tracemalloc_peak": tracemalloc.get_traced_memory()[1],
            "maxrss": _vm_hwm()}  # fmt: skip
    print(json.dumps(out))


def _vm_hwm() -> int:
    """Peak RSS of this address space (``VmHWM``). Not ``ru_maxrss``: Linux keeps that across ``execve``, so a
    child started by a big parent reports the parent's peak (measured: 1.3 GB for a bare import)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_memprobe(path: str) -> dict[str, Any]:
    r = subprocess.run([sys.executable, __file__, "--_memprobe", path], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def build_sharded(src: Path, out: Path, target: int, shard: int = 512 << 20) -> int:
    """A Llama checkpoint of ``target`` bytes from the real SmolLM2 F32 tensors: layers tiled (layer i = real
    layer i mod 30), written shard by shard (memory: one shard). Returns the number of layers."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    cfg = json.loads((src / "config.json").read_text())
    n0 = int(cfg["num_hidden_layers"])
    with safe_open(str(src / "model.safetensors"), "numpy") as f:
        names = list(f.keys())
        sizes = {k: int(np.prod(f.get_slice(k).get_shape())) * 4 for k in names}
        glob_names = [k for k in names if ".layers." not in k]
        per_layer = sum(v for k, v in sizes.items() if ".layers.0." in k)
        layers = max(n0, int((target - sum(sizes[k] for k in glob_names)) // per_layer))
        out.mkdir(parents=True, exist_ok=True)
        plan: list[tuple[str, str]] = [(k, k) for k in glob_names]
        for i in range(layers):
            for k in names:
                if f"model.layers.{i % n0}." in k:
                    plan.append((k.replace(f"model.layers.{i % n0}.", f"model.layers.{i}."), k))
        weight_map: dict[str, str] = {}
        shards: list[list[tuple[str, str]]] = [[]]
        acc = 0
        for new, old in plan:
            if acc + sizes[old] > shard and shards[-1]:
                shards.append([])
                acc = 0
            shards[-1].append((new, old))
            acc += sizes[old]
        for si, group in enumerate(shards):
            fn = f"model-{si + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file({new: f.get_tensor(old) for new, old in group}, str(out / fn), metadata={"format": "pt"})
            weight_map |= {new: fn for new, _old in group}
    cfg["num_hidden_layers"] = layers
    (out / "config.json").write_text(json.dumps(cfg))
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    for extra in ("tokenizer.json", "tokenizer_config.json"):
        if (src / extra).is_file():
            shutil.copy(src / extra, out / extra)
    return layers


def memory_bench(items: list[dict[str, Any]], data: Path, quick: bool) -> dict[str, Any]:
    res: dict[str, Any] = {"baseline": run_memprobe("")}
    largest = max(items, key=lambda i: checkpoint_size(i["path"]))
    res["largest"] = {"model": largest["name"], "size": checkpoint_size(largest["path"]),
                      **run_memprobe(str(largest["path"]))}  # fmt: skip
    src = data / "zoo" / "smollm2-f32"
    res["synthetic"] = []
    if (src / "model.safetensors").is_file():
        for target in ((600 << 20, 1200 << 20) if quick else (1 << 30, 4 << 30)):
            tmp = Path(tempfile.mkdtemp(prefix="taoke-bench-sharded-"))
            try:
                t = time.perf_counter()
                layers = build_sharded(src, tmp, target)
                built = time.perf_counter() - t
                size = sum(f.stat().st_size for f in tmp.glob("*.safetensors"))
                r = run_memprobe(str(tmp))
                res["synthetic"].append({"size": size, "layers": layers, "shards": len(list(tmp.glob("*.safetensors"))),
                                         "build_seconds": round(built, 1), **r})  # fmt: skip
                print(f"  synthetic {size / 1e9:.2f} GB, {layers} layers: {r}", flush=True)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return res


# -- 4: index latency ----------------------------------------------------------------------------------------------


def synthetic(template: Any, i: int, rng: np.random.Generator) -> Any:
    from taoke.index.fingerprint import Fingerprint

    a = template.arrays
    arrays: dict[str, np.ndarray] = {}
    if "desc" in a:
        d = a["desc"].astype(np.float64)
        if rng.random() < 0.5:
            d = d[rng.permutation(d.size)]
        d = d + rng.normal(0.0, rng.uniform(0.02, 0.3), d.size)
        arrays["desc.w"] = (d / np.linalg.norm(d)).astype(np.float32)  # a precomputed descriptor (no tokenizer held)
    if "minhash" in a:
        mh = a["minhash"].copy()
        k = rng.uniform(0.1, 1.0)
        sel = rng.random(mh.size) < k
        mh[sel] = rng.integers(0, 2**63 - 1, size=int(sel.sum()), dtype=np.int64).astype(np.uint64)
        arrays["minhash"] = mh
    h = dict(template.header)
    h |= {"name": f"syn-{i:06d}", "roles": {}, "tokenizer": None, "unit_layers": [], "stds": {},
          "content_digest": f"{rng.integers(0, 2**63):016x}", "source": dict(h["source"]) | {"location": f"syn:{i}"}}
    return Fingerprint(h, arrays)


def index_bench(zoo_db: Path, work: Path, quick: bool, rng: np.random.Generator) -> dict[str, Any]:
    from taoke.index.search import search, shortlist
    from taoke.index.store import IndexStore

    with IndexStore(zoo_db, readonly=True) as z:
        real = {m.name: z.fingerprint(m.id) for m in z.models()}
    queries = [n for n in ("minilm-perm", "smollm2-noise-0.1", "smollm2-layer-subset", "tiny-1", "minilm-noise")
               if n in real]  # fmt: skip
    parents = {"minilm-perm": "all-minilm-l6-v2", "minilm-noise": "all-minilm-l6-v2", "smollm2-noise-0.1": "smollm2-f32",
               "smollm2-layer-subset": "smollm2-f32", "tiny-1": None}  # fmt: skip
    templates = [real[n] for n in sorted(real)]
    db = work / "scale.db"
    out: list[dict[str, Any]] = []
    with IndexStore(db) as s:
        s.add_many([f for n, f in real.items() if n not in queries])
        n_syn = 0
        for target in ((1000, 10000) if quick else (1000, 10000, 100000)):
            t = time.perf_counter()
            need = target - s.count()
            s.add_many(synthetic(templates[(n_syn + j) % len(templates)], n_syn + j, rng) for j in range(need))
            n_syn += need
            ins = time.perf_counter() - t
            sl, full, recall = [], [], []
            for q in queries:
                fq = real[q]
                t = time.perf_counter()
                cands = shortlist(s, fq, size=20)
                sl.append(time.perf_counter() - t)
                t = time.perf_counter()
                hits = search(s, fq, k=5, size=20).hits
                full.append(time.perf_counter() - t)
                want = parents[q]
                recall.append(want is None or any(h.name == want and h.related for h in hits))
                del cands
            row = {"models": s.count(), "insert_seconds": round(ins, 1), "insert_per_model_ms": round(1000 * ins / max(need, 1), 2),
                   "shortlist_ms_median": round(1000 * statistics.median(sl), 1),
                   "shortlist_ms_max": round(1000 * max(sl), 1),
                   "search_s_median": round(statistics.median(full), 2), "parent_found": f"{sum(recall)}/{len(recall)}",
                   "db_bytes": db.stat().st_size}  # fmt: skip
            out.append(row)
            print(f"  index {row}", flush=True)
    db.unlink(missing_ok=True)
    return {"rows": out, "queries": queries}


# -- report ---------------------------------------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown(r: dict[str, Any]) -> str:
    L = [MARK_START, "", f"Measured {r['date']} on {r['machine']} (`python benchmarks/index/run.py"
         f"{' --quick' if r['quick'] else ''}`, {r['total_seconds']:.0f} s; raw numbers in `benchmarks/results/index.json`).", ""]  # fmt: skip
    L += ["**Bytes read and time per fingerprint** (default = 32 canonical units on every layer; 1 layer = "
          "`--unit-layers 1`; both timed in their scans over HTTP; light = `--units 0`, local; plain read = one "
          "sequential pass over the same file, page cache warm):", "",
          "| model | format | size | default: read | 1 layer: read | light: read | default fp | default time / plain read "
          "| 1 layer time / plain read | light time / plain read |",
          "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for x in r["bytes"]:
        L.append(f"| {x['model']} | {x['format']} | {x['size'] / 1e6:.0f} MB | {pct(x['default_fraction'])} | "
                 f"{pct(x.get('k1_fraction', 0))} | {pct(x['light_fraction'])} | {x['default_fp_bytes'] / 1e6:.1f} MB | "
                 f"{x['default_vs_read']:.1f}× | {x.get('k1_vs_read', 0):.1f}× | {x['light_vs_read']:.1f}× |")  # fmt: skip
    m = r["memory"]
    L += ["", "**Peak memory** of a subprocess fingerprinting (RSS includes the interpreter and imports; baseline = same"
          " imports, nothing fingerprinted):", "", "| checkpoint | size | layers | peak RSS | tracemalloc peak | time |",
          "|---|---|---|---|---|---|"]  # fmt: skip
    b = m["baseline"]
    L.append(f"| baseline (imports only) | – | – | {b.get('maxrss', 0) / 1e6:.0f} MB | {b.get('tracemalloc_peak', 0) / 1e6:.1f} MB | – |")
    lg = m["largest"]
    L.append(f"| largest file: {lg['model']} | {lg['size'] / 1e6:.0f} MB | {lg.get('layers', '?')} | "
             f"{lg.get('maxrss', 0) / 1e6:.0f} MB | {lg.get('tracemalloc_peak', 0) / 1e6:.1f} MB | {lg.get('seconds', '?')} s |")
    for s in m["synthetic"]:
        L.append(f"| synthetic sharded safetensors ({s['shards']} shards) | {s['size'] / 1e9:.2f} GB | {s['layers']} | "
                 f"{s.get('maxrss', 0) / 1e6:.0f} MB | {s.get('tracemalloc_peak', 0) / 1e6:.1f} MB | {s.get('seconds', '?')} s |")
    L += ["", "**Index search latency** (first cut = LSH buckets + sketch ranking, shortlist 20; search = first cut + exact"
          " tests on the shortlist; median over the queries; parent found = the query's true parent among the related hits):",
          "", "| fingerprints | insert (per model) | first cut median / max | search median | parent found | index file |",
          "|---|---|---|---|---|---|"]  # fmt: skip
    for x in r["index"]["rows"]:
        L.append(f"| {x['models']:,} | {x['insert_per_model_ms']} ms | {x['shortlist_ms_median']} / {x['shortlist_ms_max']} ms | "
                 f"{x['search_s_median']} s | {x['parent_found']} | {x['db_bytes'] / 1e6:.0f} MB |")
    z = r["zoo"]
    ok = sum(c["ok"] for c in z["checks"])
    L += ["", f"**Zoo check**: {len(z['checks'])} models scanned through a Dask LocalCluster (every model over a local "
          f"HTTP server with range requests; folders as repository URLs) in {z['scan_seconds']} s, tree in {z['tree_seconds']} s "
          f"({z['pairs_tested']} pair tests): **{ok}/{len(z['checks'])} parents as expected**; "
          f"{len(z['failures'])} recorded failures."
          + (f" Tree rebuilt {z['rechecked']} with the current code from the same scan (`--recheck-db`)."
             if z.get("rechecked") else ""), "",
          "| model | parent found | expected | ok |", "|---|---|---|---|"]  # fmt: skip
    for c in sorted(z["checks"], key=lambda c: c["model"]):
        exp = " or ".join("(root)" if e is None else e for e in c["expected"])
        L.append(f"| {c['model']} | {c['parent'] or '(root)'} | {exp} | {'yes' if c['ok'] else '**no**'} |")
    for f in z["failures"]:
        L.append(f"| {f['model']} | failed: {f['reason'][:100]} | – | – |")
    L += ["", "```", z["tree"], "```"]
    k1 = r.get("zoo_unit_layers_1")
    if k1:
        ok1 = sum(c["ok"] for c in k1["checks"])
        miss = [f"{c['model']} (got {c['parent'] or '(root)'})" for c in k1["checks"] if not c["ok"]]
        L += ["", f"**Zoo check with `--unit-layers 1`** (same models, same HTTP + Dask path, units on one interior "
              f"layer): scan {k1['scan_seconds']} s, tree {k1['tree_seconds']} s: **{ok1}/{len(k1['checks'])} parents "
              f"as expected**" + (f"; misses: {', '.join(miss)}" if miss else "") + "."]  # fmt: skip
    L += ["", MARK_END]
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="core subset, smaller synthetic checkpoints, up to 10k")
    ap.add_argument("--_memprobe", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/index.md")
    ap.add_argument("--keep-zoo-db", type=Path, default=None, help="copy the zoo scan's index here")
    ap.add_argument("--only-memory", action="store_true", help="only re-measure part 3 into the existing results")
    ap.add_argument("--only-index", type=Path, default=None,
                    help="only re-measure part 4 on this kept zoo index (--keep-zoo-db) into the existing results")
    ap.add_argument("--recheck-db", type=Path, default=None, help="only rebuild the tree of a kept zoo scan index")
    args = ap.parse_args()
    if args._memprobe is not None:
        memprobe(args._memprobe)
        return
    if args.recheck_db is not None:
        recheck(args.recheck_db, data_root())
        return
    if args.only_index is not None:  # re-measure part 4 on a kept zoo index into the existing results
        out = ROOT / "benchmarks" / "results" / "index.json"
        res = json.loads(out.read_text())
        with tempfile.TemporaryDirectory(prefix="taoke-bench-") as tmp:
            shutil.copy(args.only_index, Path(tmp) / "zoo.db")
            res["index"] = index_bench(Path(tmp) / "zoo.db", Path(tmp), False, np.random.default_rng(7))
        res["index"]["remeasured"] = time.strftime("%Y-%m-%d %H:%M")
        out.write_text(json.dumps(res, indent=1, default=str))
        write_docs(markdown(res))
        return
    if args.only_memory:  # re-measure part 3 into the existing results
        out = ROOT / "benchmarks" / "results" / "index.json"
        res = json.loads(out.read_text())
        res["memory"] = memory_bench(inventory(data_root(), False), data_root(), False)
        out.write_text(json.dumps(res, indent=1, default=str))
        write_docs(markdown(res))
        return
    t0 = time.perf_counter()
    data = data_root()
    rng = np.random.default_rng(7)
    items = inventory(data, args.quick)
    print(f"{len(items)} weight locations", flush=True)
    with tempfile.TemporaryDirectory(prefix="taoke-bench-") as tmp:
        work = Path(tmp)
        print("1. zoo scan (Dask LocalCluster, HTTP) + tree", flush=True)
        zoo = zoo_scan(items, work, data)
        print(f"  {sum(c['ok'] for c in zoo['checks'])}/{len(zoo['checks'])} parents ok", flush=True)
        print("1b. the same scan with units on one layer (--unit-layers 1) + tree", flush=True)
        zoo_k1 = zoo_scan(items, work, data, unit_layers=1)
        print(f"  {sum(c['ok'] for c in zoo_k1['checks'])}/{len(zoo_k1['checks'])} parents ok", flush=True)
        print("2. bytes read / throughput", flush=True)
        rows = bytes_table(items, zoo["scanned"], zoo_k1["scanned"])
        print("3. memory", flush=True)
        mem = memory_bench(items, data, args.quick)
        print("4. index latency", flush=True)
        idx = index_bench(Path(zoo["db"]), work, args.quick, rng)
        if args.keep_zoo_db is not None:
            from taoke.index.store import IndexStore

            with IndexStore(zoo["db"]) as s:  # checkpoint the WAL, then copy one file
                s.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copy(zoo["db"], args.keep_zoo_db)
    zoo.pop("db")
    zoo_k1.pop("db")
    res = {"format": "taoke.bench.index", "version": 1, "quick": args.quick,
           "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), "
           f"Python {platform.python_version()}", "total_seconds": round(time.perf_counter() - t0, 1),
           "zoo": zoo, "zoo_unit_layers_1": zoo_k1, "bytes": rows, "memory": mem, "index": idx}  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "index.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=str))
    md = markdown(res)
    if not args.no_docs:
        write_docs(md)
    print(md)
    print(f"wrote {out} in {res['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
