"""Run one tool on one pair in this (fresh) process and print one JSON line with its answer and its costs.

    python _child.py ADAPTER PATH_A PATH_B TRUTH TRANSFORM
    python _child.py --prepare ADAPTER PATH...   (untimed input conversions, once per model; see run.prepare)

Costs measured here, at exit: wall time of ``compare`` (imports excluded; the parent also times the whole
process), peak resident memory (``ru_maxrss`` of this process and of any children it waited for) and the
kernel's I/O counters of this process during ``compare`` (``/proc/self/io`` after minus before: ``rchar`` = bytes through read()-family calls, page
cache hits included; ``read_bytes`` = bytes fetched from the block device). Memory-mapped reads appear in
neither counter; that is why tools that count their own reads report them too.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
import traceback
from pathlib import Path


def _io() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            k, _, v = line.partition(":")
            out[k.strip()] = int(v)
    except OSError:
        pass
    return out


def main(argv: list[str]) -> int:
    if argv[1:2] == ["--prepare"]:
        mod = importlib.import_module(argv[2])
        for path in argv[3:]:
            try:
                out = str(mod.prepare(Path(path)))
            except Exception as e:  # one model's failure is logged; the pair then runs on the unprepared input
                out = f"failed: {type(e).__name__}: {e}"
            print(f"@@PREPARED@@{Path(path).name}\t{out.splitlines()[-1] if out else ''}", flush=True)
        return 0
    mod_name, pa, pb, truth, transform = argv[1:6]
    t_start = time.perf_counter()
    rec: dict[str, object] = {"error": None}
    try:
        mod = importlib.import_module(mod_name)
        io0 = _io()
        t0 = time.perf_counter()
        kwargs = {"truth": truth, "transform": transform} if getattr(mod, "VENV", "") == "taoke" else {}
        out = mod.compare(Path(pa), Path(pb), **kwargs)
        rec["seconds_compare"] = time.perf_counter() - t0
        rec.update(out.to_dict())
    except BaseException as e:  # noqa: BLE001 - every failure of a tool is a result, not a crash of the runner
        lines = traceback.format_exception_only(type(e), e)
        rec["error"] = (lines[-1].strip() if lines else repr(e))[:300]
        rec["related"] = None
        rec["raw"] = "error"
    rec["seconds_in_process"] = time.perf_counter() - t_start
    ru_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ru_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rec["peak_rss_kb"] = max(ru_self, ru_kids)
    io = _io()
    base = locals().get("io0") or {}
    rec["io_rchar"] = io["rchar"] - base.get("rchar", 0) if "rchar" in io else None
    rec["io_read_bytes"] = io["read_bytes"] - base.get("read_bytes", 0) if "read_bytes" in io else None
    sys.stdout.write("\n@@RESULT@@" + json.dumps(rec, default=str) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
