from __future__ import annotations

import json
from pathlib import Path

import pytest

from taoke.cli import main
from taoke.zoo.distill import DistillZoo


def test_distill_json(distill_zoo: DistillZoo, distill_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = next(s.name for s in distill_zoo.students if s.kind == "B" and s.role == "heldout")
    rc = main(["distill", f"zoo:{name}", "-t", "zoo:smollm2", "-t", "zoo:gemma3", "--zoo", "fast",
               "--zoo-dir", str(distill_root), "--no-identity", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["format"] == "taoke.distill" and len(out["teachers"]) == 2
    assert out["identity"] is None and out["verdict"] in ("distilled", "not-detected")


def test_distill_text(distill_zoo: DistillZoo, distill_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = next(s.name for s in distill_zoo.students if s.kind == "A" and s.role == "heldout")
    rc = main(["distill", f"zoo:{name}", "-t", "zoo:smollm2", "--zoo", "fast", "--zoo-dir", str(distill_root)])
    out = capsys.readouterr().out
    assert rc == 0 and "behavioural lineage" in out and "identity (beside the test, not proof)" in out


@pytest.mark.parametrize("argv,code", [
    (["distill", "/no/such/model.gguf", "-t", "zoo:smollm2"], 3),
    (["distill", "zoo:smollm2", "-t", "zoo:gemma3", "--alpha", "2"], 2),
    (["distill", "zoo:smollm2", "-t", "zoo:gemma3", "--statistic", "magic"], 2),
    (["distill-zoo", "--subset", "huge"], 2),
])
def test_errors_are_one_line(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("taoke: error:") and "\n" not in err and "Traceback" not in err
