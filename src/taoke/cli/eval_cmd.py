"""`taoke eval`: run every white-box method over the labelled zoo and print the evaluation table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from taoke import defaults
from taoke.cli._output import JSON_OPTION_HELP, emit, err_console
from taoke.serialize import dumps

if TYPE_CHECKING:
    from taoke.zoo.evaluate import PairResult


def eval_cmd(
    zoo: Path | None = typer.Option(None, "--zoo", help="Zoo folder (with zoo.json) [default: DATA/zoo]."),
    full: bool = typer.Option(False, "--full", help="Build/use the full zoo instead of the fast subset."),
    out: Path | None = typer.Option(None, "--out", help="Write the raw results as JSON here."),
    markdown_out: Path | None = typer.Option(None, "--markdown", help="Write the Markdown table here."),
    seed: int = typer.Option(defaults.SEED, "--seed", help="Seed of the row/unit samples."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Evaluate taoke's white-box verdicts on the derivation zoo (builds it first if needed)."""
    from taoke.zoo.build import build_zoo
    from taoke.zoo.evaluate import eval_pairs, evaluate, markdown, summarize, unrelated_pairs

    data = defaults.data_dir()
    root = zoo or data / "zoo"
    manifest = build_zoo(root, subset="full" if full else "fast", data_dir=data,
                         progress=lambda m: err_console.print(f"[dim]zoo: {m}[/]") if not as_json else None)  # fmt: skip
    pairs = eval_pairs(manifest)
    extra = unrelated_pairs(data)

    def on_pair(r: PairResult) -> None:
        if not as_json:
            mark = "[green]ok[/]" if r.correct else "[red]WRONG[/]"
            err_console.print(f"{mark} {r.a} ~ {r.b}: {r.verdict} (truth {r.truth}, {r.seconds:.1f}s)")

    results = evaluate(manifest, pairs, seed=seed, on_pair=on_pair, extra=extra)
    summary = summarize(results)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dumps(summary) + "\n")
    md = markdown(summary)
    if markdown_out is not None:
        markdown_out.write_text(md + "\n")
    emit(json.loads(dumps(summary)), as_json, lambda c: c.print(md))


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
