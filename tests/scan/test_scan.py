"""Scans over real checkpoints: failures recorded, resumable after SIGKILL, Dask LocalCluster over a local HTTP server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


@pytest.mark.slow
def test_killed_scan_loses_nothing_finished(tmp_path: Path, minilm_dir: Path, minilm_onnx: Path,
                                            smollm2_gguf: Path) -> None:  # fmt: skip
    lst = tmp_path / "m.txt"
    locs = [str(minilm_dir), str(minilm_onnx), str(smollm2_gguf)]
    lst.write_text("\n".join(locs) + "\n")
    db = tmp_path / "k.db"
    p = subprocess.Popen([sys.executable, "-m", "taoke", "scan", str(lst), "--index", str(db), "--json"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    done: set[str] = set()
    t0 = time.time()
    while time.time() - t0 < 120 and not done:
        time.sleep(0.2)
        if db.exists():
            try:
                with IndexStore(db, readonly=True) as s:
                    done = {k for k, v in s.scan_state().items() if v["status"] == "done"}
            except Exception:  # noqa: BLE001 - the schema may not exist yet
                pass
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert done, "nothing finished before the kill"
    r = run_scan(str(lst), db, units=32)
    assert {i.location for i in r.items if i.status == "skipped"} >= done
    with IndexStore(db, readonly=True) as s:
        assert {k for k, v in s.scan_state().items() if v["status"] == "done"} == set(locs)
        assert s.count() == 3


@pytest.mark.slow
def test_dask_scan_over_http_recovers_zoo_parents(tmp_path: Path, data_dir: Path, smollm2_gguf: Path) -> None:
    """Done-when, fast version: real HTTP (range requests) + a real distributed.LocalCluster → index → tree."""
    from distributed import Client, LocalCluster

    from taoke.index.tree import build_tree
    from taoke.zoo.build import build_zoo

    names = ("smollm2-f32", "smollm2-renamed", "smollm2-noise-0.1", "smollm2-layer-subset")
    zoo = build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=names)
    with serve_directory(smollm2_gguf.parent) as srv:
        url = srv.url(smollm2_gguf.name)
        locs = [url] + [str(zoo.path_of(n)) for n in names]
        with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as lc, \
                Client(lc) as client:  # fmt: skip
            res = run_scan(locs, tmp_path / "z.db", cluster="dask-local", client=client)
        assert res.count("done") == 5, res.to_dict()
        web = next(i for i in res.items if i.location == url)
        assert 0 < web.bytes_read < web.file_size  # ranges, not a download
    with IndexStore(tmp_path / "z.db") as s:
        forest = build_tree(s)
    by_loc = {n.location: n for n in forest.nodes.values()}
    name_of = {url: "smollm2-q4_1"} | {str(zoo.path_of(n)): n for n in names}
    for loc, node in by_loc.items():
        want = zoo.entry(name_of[loc]).base
        got = None if node.parent is None else name_of[forest.nodes[node.parent].location]
        assert got == want, (name_of[loc], got, want, forest.text())
