"""`taoke scan LIST_OR_GLOB --index DB`: fingerprint many models in parallel, resumably."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from taoke.cli._output import JSON_OPTION_HELP, emit, err_console


def scan_cmd(
    targets: str = typer.Argument(..., help="A list file (one location a line), a quoted glob, a folder or a URL."),
    index: Path = typer.Option(Path("taoke-index.db"), "--index", "--db", help="Index file (SQLite)."),
    workers: int = typer.Option(1, "--workers", "-w", help="Parallel workers."),
    cluster: str = typer.Option("local", "--cluster", help="local | dask-local | tcp://scheduler:port"),
    units: int = typer.Option(32, "--units", help="Canonical MLP units per layer in each fingerprint."),
    unit_layers: int | None = typer.Option(None, "--unit-layers",
                                           help="Units on this many evenly spaced layers only (0: all; 1 reads "
                                                "~2-5%). Default: as many as 512 MB of MLP allow (taoke fingerprint)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run items that failed before again."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fingerprint every model not yet in the index; failures are recorded and the scan goes on."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from taoke.scan import run_scan

    prog = Progress(TextColumn("scan"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.description}"), console=err_console, disable=as_json)  # fmt: skip
    with prog:
        task = prog.add_task("", total=None)

        def tick(it, n, total) -> None:  # type: ignore[no-untyped-def]
            prog.update(task, completed=n, total=total, description=f"{it.status}: {it.name or it.location}")

        res = run_scan(targets, index, workers=workers, cluster=cluster, units=units, unit_layers=unit_layers,
                       retry_failed=retry_failed,
                       progress=tick)  # fmt: skip

    def render(c: Console) -> None:
        c.print(f"{res.count('done')} fingerprinted, {res.count('failed')} failed, {res.count('skipped')} already "
                f"done/failed, in {res.seconds:.1f} s ({res.cluster})")  # fmt: skip
        for i in res.items:
            if i.status == "failed":
                c.print(f"[yellow]failed[/] {i.location}: {i.reason}")

    emit(res.to_dict(), as_json, render)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_cmd)
