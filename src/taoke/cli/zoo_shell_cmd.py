"""`taoke zoo shell FOLDER`: build one disguised derivative of the real SmolLM2 GGUF (see taoke.zoo.shell)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer

from taoke.cli._output import JSON_OPTION_HELP, emit, err_console


def shell_cmd(
    folder: Path = typer.Argument(..., help="Where to write the shell model (a Hugging Face-style folder)."),
    base: Path | None = typer.Option(
        None,
        "--base",
        help="The Llama GGUF to disguise (default: the data set's "
        "SmolLM2-135M-Instruct Q4_1, fetched by `taoke zoo fetch --core`).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the rotation, permutations, noise and names."),
    noise: float = typer.Option(
        0.02, "--noise", help="Gaussian noise added to every tensor, as a fraction of its std."
    ),
    name: str = typer.Option("Orion-135M", "--name", help="The name the shell model gives itself."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if FOLDER holds the same build."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Build a shell model: SmolLM2 rotated, permuted, noised, renamed, with a card claiming "from scratch".

    The folder gets only what such a model ships (weights, config, tokenizer, card).

    What was done is recorded beside it, in FOLDER.recipe.json.

    Then: `taoke compare BASE FOLDER` and `taoke audit FOLDER --candidate BASE`.
    """
    from taoke.zoo.fetch import default_data_dir
    from taoke.zoo.shell import DEFAULT_BASE, build_shell

    gguf = base or default_data_dir() / DEFAULT_BASE
    with err_console.status("building the shell model…", spinner="dots") if not as_json else nullcontext():
        res = build_shell(gguf, folder, seed=seed, noise=noise, name=name, force=force)

    def render(c):  # type: ignore[no-untyped-def]
        how = "already built (kept)" if res.reused else f"built in {res.seconds:.1f} s"
        c.print(f"{res.name}: {res.folder} {how}")
        c.print(f"  from {res.base}")
        c.print(f"  disguises: {', '.join(res.steps)} (noise {res.noise:g}·std, seed {res.seed})")
        c.print(f"  what was done, for checking: {res.recipe_file}")

    emit(res.to_dict(), as_json, render)
