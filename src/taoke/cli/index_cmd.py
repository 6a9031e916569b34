"""`taoke index add/search/tree/list/rm`: the SQLite fingerprint index."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from taoke.cli._output import JSON_OPTION_HELP, count_progress, emit

index_app = typer.Typer(help="The fingerprint index: add, search, tree, list, rm.", no_args_is_help=True)
DB_OPT = typer.Option(Path("taoke-index.db"), "--index", "--db", help="Index file (SQLite).")


def _load_fp(target: str, units: int = 32, progress=None):  # type: ignore[no-untyped-def]
    from taoke.index.fingerprint import Fingerprint, is_fingerprint_file, make_fingerprint

    if is_fingerprint_file(target):
        return Fingerprint.load(target)
    return make_fingerprint(target, units=units, progress=progress)


@index_app.command("add")
def add_cmd(
    targets: list[str] = typer.Argument(..., help="Models or fingerprint files."),
    db: Path = DB_OPT,
    name: str | None = typer.Option(None, "--name", help="Name (one target only)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fingerprint models (or take .tkfp files) and add them to the index.

    A target that cannot be read is reported (one line) and skipped; the others are still added, each in its own
    transaction. The exit code is then that of the first failure (non-zero)."""
    from taoke.errors import IndexStoreError, TaokeError, UsageError
    from taoke.index.store import open_store

    if name and len(targets) > 1:
        raise UsageError("--name needs exactly one target")
    added: list[dict[str, object]] = []
    failed: list[dict[str, object]] = []
    first: TaokeError | None = None
    with open_store(db) as s, count_progress("indexing", len(targets), enabled=not as_json) as bar:
        for i, t in enumerate(targets):
            label = Path(t.rstrip("/")).name or t
            tick = None if bar is None else (lambda stage, f, i=i, label=label: bar(i, f"{label} ({stage})", f))
            try:
                fp = _load_fp(t, progress=tick)
                mid = s.add(fp, name=name)
            except IndexStoreError:
                raise  # the index itself is unusable: stop
            except TaokeError as e:
                first = first or e
                failed.append({"target": t, "error": e.one_line(), "exit_code": e.exit_code})
                if not as_json:
                    sys.stderr.write(f"taoke: skipped: {e.one_line()}\n")
                continue
            added.append({"id": mid, "name": s.model(mid).name, "location": fp.location})
    def render(c: Console) -> None:
        for a in added:
            c.print(f"added {a['name']} (#{a['id']})")

    emit({"added": added, "failed": failed}, as_json, render)
    if first is not None:
        raise typer.Exit(first.exit_code)


@index_app.command("search")
def search_cmd(
    target: str = typer.Argument(..., help="Model or fingerprint file to look up."),
    db: Path = DB_OPT,
    k: int = typer.Option(5, "-k", help="Hits to show."),
    shortlist: int = typer.Option(20, "--shortlist", help="Candidates from the first cut that may get exact tests."),
    thorough: bool = typer.Option(False, "--thorough", help="Test the whole shortlist, even after an ancestor is "
                                  "found (slower; ranks more candidates)."),
    no_widen: bool = typer.Option(False, "--no-widen", help="Never test beyond the shortlist when it finds nothing."),
    budget: float | None = typer.Option(None, "--budget", min=0.0, help="Stop the exact tests after this many "
                                        "seconds (what was left untested is reported)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Nearest ancestors of a model: a first cut by tokenizer, embedding, body-sketch and architecture keys, then
    the exact tests with calibrated evidence. Always ends with one sentence: the best ancestor found, or how many
    models were considered and why none qualified."""
    from taoke.errors import UsageError
    from taoke.index.search import search
    from taoke.index.store import model_not_index, open_store

    what = model_not_index(db)
    if what is not None:
        raise UsageError(f"--index names a {what}, not a fingerprint index", subject=str(db),
                         hint="give the model to look up as the argument and the index with --index")  # fmt: skip
    with open_store(db, readonly=True) as s:  # a bad index is reported before the target is fingerprinted
        fp = _load_fp(target)
        res = search(s, fp, k=k, size=shortlist, thorough=thorough, widen=not no_widen, budget_s=budget)
    d = res.to_dict()

    def render(c: Console) -> None:
        if res.hits:
            t = Table(title=f"nearest ancestors of {fp.name}")
            for col in ("model", "verdict", "log10 p", "similarity", "sketch", "found by", "evidence"):
                t.add_column(col, overflow="fold")
            for h in res.hits:
                t.add_row(h.name, h.verdict, "" if h.log10_p is None else f"{h.log10_p:.1f}", f"{h.similarity:.3f}",
                          f"{h.sketch_similarity:.3f}", ", ".join(h.via), h.sentence[:110])  # fmt: skip
            c.print(t)
        from rich.markup import escape

        colour = "green" if res.found else "yellow"
        c.print(f"[{colour}]{escape(res.sentence())}[/]", highlight=False)
        if res.found:
            c.print(f"[dim]searched: {escape(res.searched())}[/]", highlight=False)

    emit(d, as_json, render)


@index_app.command("tree")
def tree_cmd(
    db: Path = DB_OPT,
    image: Path | None = typer.Option(None, "--image", help="Also draw the forest to this PNG/SVG file."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """The lineage forest: each model's most likely parent, consistent with the verdicts."""
    from taoke.index.store import open_store
    from taoke.index.tree import build_tree, render_image

    with open_store(db) as s:
        forest = build_tree(s)
    if image is not None:
        render_image(forest, str(image))
    def render(c: Console) -> None:
        c.print(forest.text(), markup=False, highlight=False)
        c.print(f"[dim]{forest.summary()}[/]", highlight=False)

    emit(forest.to_dict(), as_json, render)


@index_app.command("list")
def list_cmd(db: Path = DB_OPT, as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:
    """The indexed models (and failed scan items)."""
    from taoke.index.store import open_store

    with open_store(db, readonly=True) as s:
        ms = s.models()
        failed = {k: v for k, v in s.scan_state().items() if v["status"] == "failed"}
    d = {"models": [m.to_dict() for m in ms], "failed": failed}

    def render(c: Console) -> None:
        t = Table(title=f"{len(ms)} models in {db}")
        for col in ("#", "name", "family", "layers", "d", "read", "location"):
            t.add_column(col, overflow="fold")
        for m in ms:
            t.add_row(str(m.id), m.name, str(m.family), str(m.layers), str(m.hidden),
                      f"{100 * m.bytes_read / max(1, m.file_size):.1f}%", m.location)  # fmt: skip
        c.print(t)
        for loc, v in failed.items():
            c.print(f"[yellow]failed[/] {loc}: {v['reason']}")

    emit(d, as_json, render)


@index_app.command("rm")
def rm_cmd(names: list[str] = typer.Argument(...), db: Path = DB_OPT,
           as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:  # fmt: skip
    """Remove models from the index."""
    from taoke.errors import IndexStoreError
    from taoke.index.store import open_store

    with open_store(db) as s:
        gone = [n for n in names if s.remove(n)]
    missing = [n for n in names if n not in gone]
    if missing:
        raise IndexStoreError(f"not in the index: {', '.join(missing)}", subject=str(db), hint="see `taoke index list`")
    emit({"removed": gone}, as_json, lambda c: c.print(f"removed {', '.join(gone)}"))


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
