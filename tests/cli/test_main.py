"""The CLI's contract, whatever the command: --version, usage errors (click's, recognised by class) and taoke's
errors as one line on stderr with the documented exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from taoke import __version__
from taoke.cli import COMMAND_MODULES, main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "--version") == (0, f"taoke {__version__}\n", "")


def test_every_command_module_registers_with_help(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "--help")
    assert rc == 0
    for mod in COMMAND_MODULES:
        assert mod.removesuffix("_cmd") in out


@pytest.mark.parametrize(("args", "words"), [
    (("compare",), "Missing argument"),
    (("compare", "a", "b", "--units", "many"), "Invalid value for '--units'"),
    (("no-such-command",), "No such command"),
    (("compare", "--no-such-option"), "No such option"),
])  # fmt: skip
def test_usage_errors_are_one_line_with_exit_2(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                                               words: str) -> None:  # fmt: skip
    rc, out, err = _run(capsys, *args)
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("taoke: error: ") and words in err and err.rstrip().endswith("(see --help)")


def test_no_arguments_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys)
    assert rc == 2 and "Usage" in out + err and "Traceback" not in err


def test_taoke_errors_keep_their_exit_code(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = _run(capsys, "compare", str(tmp_path / "missing-a"), str(tmp_path / "missing-b"))
    assert rc == 3 and err.count("\n") == 1 and str(tmp_path / "missing-a") in err  # ReaderError
    rc, _, err = _run(capsys, "compare", str(tmp_path), str(tmp_path), "--report", str(tmp_path / "r.txt"))
    assert rc == 2 and err.count("\n") == 1 and "unknown report type '.txt'" in err  # UsageError, before any work
