"""`taoke fingerprint MODEL -o FILE`: a compact, versioned fingerprint usable by `taoke compare` and the index."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from taoke.cli._output import JSON_OPTION_HELP, emit, stage_progress


def fingerprint_cmd(
    model: str = typer.Argument(..., help="Model: file, folder or http(s) URL."),
    out: Path = typer.Option(..., "-o", "--output", help="Fingerprint file to write (.tkfp)."),
    units: int = typer.Option(32, "--units", help="Canonical MLP units kept per layer (0: light fingerprint)."),
    unit_layers: int | None = typer.Option(
        None, "--unit-layers",
        help="Keep units on this many evenly spaced interior layers only (0: every layer). Each such layer's MLP is "
             "read once (streamed). Default: as many layers as 512 MB of MLP allow — every layer of a small model, "
             "1 of a 7B, none of a 70B (a light fingerprint; docs/index.md).",
    ),  # fmt: skip
    name: str | None = typer.Option(None, "--name", help="Name recorded in the fingerprint."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fingerprint a model: architecture, tokenizer, exact samples, anchor embeddings, canonical MLP units."""
    from taoke.errors import UsageError
    from taoke.index.fingerprint import make_fingerprint

    if units < 0 or (unit_layers is not None and unit_layers < 0):
        raise UsageError(f"--units and --unit-layers must be >= 0, got {units} and {unit_layers}")
    with stage_progress("opening the model", enabled=not as_json) as progress:
        fp = make_fingerprint(model, units=units, unit_layers=unit_layers, name=name, progress=progress)
        if progress is not None:
            progress("writing the fingerprint", 0.0)
        fp.save(out)
    src = fp.header["source"]
    d = {"format": "taoke.fingerprint-summary", "version": 1, "output": str(out), "name": fp.name,
         "size": out.stat().st_size, "bytes_read": src["bytes_read"], "file_size": src["file_size"],
         "fraction_read": round(src["bytes_read"] / max(1, src["file_size"]), 4), "seconds": src["seconds"],
         "layers_with_units": len(fp.header["unit_layers"]), "content_digest": fp.digest}  # fmt: skip

    def render(c: Console) -> None:
        c.print(f"[bold]{fp.name}[/] → {out} ({d['size'] / 1e6:.2f} MB)")
        c.print(f"read {src['bytes_read'] / 1e6:.1f} MB of {src['file_size'] / 1e6:.1f} MB "
                f"({100 * d['fraction_read']:.1f}%) in {src['seconds']:.1f} s; "
                f"{d['layers_with_units']} layers with canonical units")  # fmt: skip

    emit(d, as_json, render)


def register(app: typer.Typer) -> None:
    app.command("fingerprint")(fingerprint_cmd)
