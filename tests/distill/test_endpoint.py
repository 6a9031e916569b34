"""The black-box path through a real OpenAI-compatible server: a held-out student of the fast zoo, exported to
GGUF and served by llama-cpp-python's server, is tested from its sampled answers only."""

from __future__ import annotations

from pathlib import Path

import pytest

from taoke.blackbox.models import LlamaServer, llama_server_available
from taoke.distill import IDENTITY_PROBE, STYLE, EndpointOptions, distill
from taoke.zoo.distill import DistillZoo, write_student_gguf


@pytest.fixture(scope="module")
def served_student(distill_zoo: DistillZoo, all_data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    if not llama_server_available():
        pytest.skip("llama-cpp-python[server] is not installed (bash scripts/install.sh server: the portable build)")
    s = next(x for x in distill_zoo.students if x.kind == "A" and x.role == "heldout")
    gguf = write_student_gguf(distill_zoo.folder(s), tmp_path_factory.mktemp("srv") / "student.gguf",
                              data_dir=all_data_dir)
    with LlamaServer(gguf, n_ctx=512, n_threads=1) as srv:
        yield srv, s


def test_endpoint_student_gets_the_style_statistic(served_student, distill_root: Path, tmp_path: Path) -> None:
    srv, s = served_student
    opts = EndpointOptions(cache=tmp_path / "cache", budget=200)
    r = distill(f"{srv.base_url}#student", ["zoo:smollm2", "zoo:gemma3"], zoo_subset="fast", root=distill_root,
                endpoint=opts, probes=16)
    assert r.statistic == STYLE and r.mode == "black-box"
    assert r.queries == 16 + len(IDENTITY_PROBE) and r.tokens > 0
    assert r.null_matched is None and any("unknown size" in n for n in r.notes)
    assert {e.teacher for e in r.evidence} == {"SmolLM2-135M-Instruct (Q4_1)", "Gemma-3-270M (Q4_K_M)"}
    # the answers are cached: a replay without the server gives the same statistic
    again = distill(f"{srv.base_url}#student", ["zoo:smollm2", "zoo:gemma3"], zoo_subset="fast",
                    root=distill_root, endpoint=EndpointOptions(cache=tmp_path / "cache", replay=True), probes=16)
    assert [e.value for e in again.evidence] == [e.value for e in r.evidence]


def test_probe_with_a_teacher_adds_distillation(served_student, distill_zoo: DistillZoo, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from taoke.cli import main

    monkeypatch.setenv("TAOKE_DATA", str(Path(distill_zoo.root).parent))
    srv, _s = served_student
    rc = main(["probe", srv.base_url, "--model", "student", "--probes", "identity", "-t", "zoo:smollm2",
               "--cache", str(tmp_path / "c"), "--budget", "300", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["distillation"]["mode"] == "black-box"
    assert out["distillation"]["teachers"][0]["teacher"] == "SmolLM2-135M-Instruct (Q4_1)"
