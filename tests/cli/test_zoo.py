"""`taoke zoo fetch` through the CLI: idempotent on the fetched data set, one-line usage errors."""

from __future__ import annotations

import json
from pathlib import Path

from taoke.cli import main


def test_second_fetch_is_a_no_op(data_dir: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["zoo", "fetch", "--core", "--json", "--dest", str(data_dir)])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["installed"] == [] and len(out["skipped"]) == 11


def test_conflicting_flags_one_line_error(capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["zoo", "fetch", "--all", "--core"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "error" in err
