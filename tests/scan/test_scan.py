"""Scans over real checkpoints: failures recorded, resumable after SIGKILL, Dask LocalCluster over a local HTTP server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from taoke.index.store import IndexStore
from taoke.scan import run_scan
from tests.httpserver import serve_directory


def test_failures_are_recorded_and_rerun_skips(tmp_path: Path, minilm_dir: Path, minilm_onnx: Path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes((minilm_dir / "model.safetensors").read_bytes()[:4096])
    lst = tmp_path / "models.txt"
    lst.write_text(f"{minilm_dir}\n{bad}\n# comment\n{minilm_onnx}\n")
    db = tmp_path / "i.db"
    r1 = run_scan(str(lst), db, units=4)
    assert (r1.count("done"), r1.count("failed")) == (2, 1)
    assert "broken.safetensors" in next(i.location for i in r1.items if i.status == "failed")
    r2 = run_scan(str(lst), db, units=4)
    assert r2.count("skipped") == 3 and r2.count("done") == 0
    with IndexStore(db, readonly=True) as s:
        st = s.scan_state()
        assert st[str(bad)]["status"] == "failed" and st[str(bad)]["reason"]


def test_killed_scan_loses_nothing_finished(tmp_path: Path, small_zoo) -> None:  # type: ignore[no-untyped-def]
    """A real SIGKILL while the scan waits on a stalled remote model: what finished is kept, the rerun resumes."""
    local = [str(small_zoo.path_of(n)) for n in ("tiny-0", "minilm-noise")]
    with serve_directory(small_zoo.path_of("tiny-1"), stall_s=120) as srv:  # the third item hangs
        url = srv.url("model.safetensors")
        locs = [*local, url, str(small_zoo.path_of("minilm-perm"))]
        lst = tmp_path / "m.txt"
        lst.write_text("\n".join(locs) + "\n")
        db = tmp_path / "k.db"
        p = subprocess.Popen([sys.executable, "-m", "taoke", "scan", str(lst), "--index", str(db), "--units", "4",
                              "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            t0 = time.time()
            while not srv.requests and time.time() - t0 < 120 and p.poll() is None:
                time.sleep(0.1)
            assert srv.requests, "the scan never reached the stalled model"
            with IndexStore(db, readonly=True) as s:
                done = {k for k, v in s.scan_state().items() if v["status"] == "done"}
            assert done == set(local)  # sequential scan: both earlier models committed before the third started
        finally:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        srv.state.stall_s = 0.0
        r = run_scan(str(lst), db, units=4)
    assert {i.location for i in r.items if i.status == "skipped"} == set(local)
    assert {i.location for i in r.items if i.status == "done"} == {url, locs[3]}
    with IndexStore(db, readonly=True) as s:
        assert {k for k, v in s.scan_state().items() if v["status"] == "done"} == set(locs)
        assert s.count() == 4


def test_dask_scan_over_http_recovers_zoo_parents(tmp_path: Path, data_dir: Path, small_zoo, smollm2_gguf: Path,
                                                  minilm_onnx: Path) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """Done-when, CI size: real HTTP (range requests) + a real distributed.LocalCluster → index → tree.

    Everything served over HTTP (model folders as repository URLs): SmolLM2 Q4_1 GGUF → its F32 export → a 20-layer subset (derived); MiniLM → its int8 ONNX export,
    a noisy and a unit-permuted derivative; a tiny independently trained model as a lone root. The whole fetched data
    plus the zoo is checked by ``benchmarks/index/run.py`` (docs/index.md)."""
    from distributed import Client, LocalCluster

    from taoke.index.tree import build_tree
    from taoke.zoo.build import build_zoo

    zoo = build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=("smollm2-f32", "smollm2-layer-subset"))
    names = ("smollm2-f32", "smollm2-layer-subset", "minilm", "minilm-noise", "minilm-perm", "tiny-0")
    with serve_directory(data_dir) as srv:
        def url_of(p: Path) -> str:  # every model over HTTP; a model folder as a repository URL (trailing /)
            return srv.url(p.relative_to(data_dir).as_posix()) + ("/" if p.is_dir() else "")

        url, onnx_url = url_of(smollm2_gguf), url_of(minilm_onnx)
        folder_url = {n: url_of(zoo.path_of(n)) for n in names}
        locs = [url, onnx_url, *folder_url.values()]
        with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as lc, \
                Client(lc) as client:  # fmt: skip
            res = run_scan(locs, tmp_path / "z.db", cluster="dask-local", client=client)
        assert res.count("done") == len(locs), res.to_dict()
        for item in res.items:  # ranges, not downloads (ONNX initializers sit in one protobuf message: read whole)
            assert 0 < item.bytes_read <= (1.01 if item.location == onnx_url else 0.9) * item.file_size, item
    with IndexStore(tmp_path / "z.db") as s:
        forest = build_tree(s)
    name_of = {url: "smollm2-q4_1", onnx_url: "minilm-int8"} | {u: n for n, u in folder_url.items()}
    truth = {n: zoo.entry(n).base for n in (*names, "smollm2-q4_1")} | {"minilm-int8": "minilm"}
    got = {name_of[n.location]: None if n.parent is None else name_of[forest.nodes[n.parent].location]
           for n in forest.nodes.values()}  # fmt: skip
    assert got == truth, forest.text()
