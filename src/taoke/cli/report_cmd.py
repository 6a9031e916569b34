"""`taoke report RESULT.json --out F`: turn a saved result (any command's --json output) into a report.

Also home of :func:`write_cli_report`, which every deciding command calls for its ``--report`` option, and of
:func:`reproduce_command`, which rebuilds the exact command line (all non-default options) from click's context.
"""

from __future__ import annotations

import importlib
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from taoke.cli._output import JSON_OPTION_HELP, emit
from taoke.errors import UsageError

REPORT_HELP = "Also write a report: .html (one self-contained file), .md (+ figures folder) or .json."
_SKIP = {"report", "as_json", "no_hash"}


def _current_context() -> Any:
    """Click's current context (typer may bundle its own copy of click, so try that first)."""
    for mod in ("typer._click", "click"):
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        getter = getattr(m, "get_current_context", None) or getattr(importlib.import_module(f"{mod}.globals"), "get_current_context", None)
        ctx = getter(silent=True) if getter is not None else None
        if ctx is not None:
            return ctx
    return None


def reproduce_command(ctx: Any = None) -> str:
    """The command line that reproduces the current command: its path, arguments and non-default options."""
    ctx = ctx or _current_context()
    if ctx is None:
        return "(library call)"
    words = ctx.command_path.split()
    if words and words[0] != "taoke":
        words[0] = "taoke"
    opts: list[str] = []
    for p in ctx.command.params:
        if p.name in _SKIP or p.name is None:
            continue
        v = ctx.params.get(p.name)
        if getattr(p, "param_type_name", "") == "argument":
            words += [str(x) for x in v] if isinstance(v, (list, tuple)) else ([] if v is None else [str(v)])
            continue
        if v == p.default or v is None or v == () or v == []:
            continue
        flag = max(p.opts, key=len)
        if getattr(p, "is_flag", False):
            if v:
                opts.append(flag)
        elif isinstance(v, (list, tuple)):
            for x in v:
                opts += [flag, str(x)]
        else:
            opts += [flag, str(v)]
    return shlex.join(words + opts)


def check_report_path(path: Path) -> None:
    """A report name taoke can write (.html, .md, .json); checked before any work is done."""
    from taoke.report import SUFFIXES

    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"unknown report type {path.suffix or '(none)'!r}", subject=str(path),
                         hint="use a name ending in .html, .md or .json")


def write_cli_report(doc: Mapping[str, Any], path: Path, *, inputs: Sequence[tuple[str, str]] | None = None,
                     hash_files: bool = True) -> Path:
    """Build a report from ``doc`` (a command's JSON) and write it to ``path`` (suffix picks the form)."""
    from taoke.report import build_report, write_report

    check_report_path(path)  # fail before any hashing
    rep = build_report(doc, command=reproduce_command(), inputs=inputs, hash_files=hash_files)
    return write_report(rep, path)


def report_cmd(
    result: Path = typer.Argument(..., help="A saved result: the --json output of compare, tokenizer compare, "
                                  "probe, audit, or a report JSON."),
    out: Path = typer.Option(..., "--out", "-o", help="Report file: .html, .md or .json."),
    no_hash: bool = typer.Option(False, "--no-hash", help="Do not hash the inputs named in the result."),
    command: str | None = typer.Option(None, "--command", help="The command that produced RESULT (recorded for "
                                       "reproduction; default: taoke report's own command line)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Render a saved taoke result as a report people read (HTML, Markdown) or as a report JSON."""
    from taoke.report import build_report, render_terminal, write_report

    check_report_path(out)
    try:
        text = result.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read: {e.strerror or e}", subject=str(result)) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"not JSON ({e.msg} at line {e.lineno})", subject=str(result),
                         hint="give the output of a taoke command run with --json") from None
    if isinstance(doc, dict) and doc.get("format") == "taoke.report":
        from taoke.report import validate

        validate(doc)
    rep = build_report(doc, command=command or reproduce_command(), hash_files=not no_hash)
    written = write_report(rep, out)
    def render(con: Console) -> None:
        render_terminal(rep, con)
        con.print(f"[dim]report written to {written}[/]")

    emit({"written": str(written), "verdict": rep.verdict, "sentence": rep.sentence}, as_json, render)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
