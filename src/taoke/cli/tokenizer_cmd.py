"""``taoke tokenizer``: tokenizer lineage from the command line.

    taoke tokenizer compare A B [--json]            relation of B to A, statistics, calibrated p-value
    taoke tokenizer identify X [--json] [--top K]   nearest known tokenizers (shipped + user database)
    taoke tokenizer show X [--json]                 what taoke reads from a tokenizer
    taoke tokenizer db build [--data DIR] [--out FILE]   rebuild the reference database from fetched data
    taoke tokenizer db add FILE --name N --family F      add a tokenizer to the user database

A, B and X are any tokenizer file (tokenizer.json, tokenizer.model, *.tiktoken, tekken JSON, claude.json,
vocab.txt), a GGUF, or a model folder.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from taoke import defaults
from taoke.cli._output import JSON_OPTION_HELP, emit


def _fmt(x: float | None, nd: int = 4) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def _render_compare(con: Console, r) -> None:  # type: ignore[no-untyped-def]
    s = r.stats
    colour = "green" if r.relation.startswith("identical") else ("yellow" if r.related else "cyan")
    con.print(f"[bold {colour}]{r.relation}[/]  {r.summary}")
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    t.add_column("")
    t.add_column(f"A: {r.a}")
    t.add_column(f"B: {r.b}")
    t.add_row("kind", r.kind_a, r.kind_b)
    t.add_row("ids", str(r.size_a), str(r.size_b))
    t.add_row("regular tokens", str(s.n_regular_a), str(s.n_regular_b))
    t.add_row("special tokens", str(r.specials.n_a), str(r.specials.n_b))
    if s.merges:
        t.add_row("merges", str(s.merges.n_a), str(s.merges.n_b))
    con.print(t)
    m = Table(show_header=False, box=None, pad_edge=False)
    m.add_column(style="dim")
    m.add_column()
    m.add_row("shared regular tokens", f"{s.n_shared}  (Jaccard {_fmt(s.jaccard)}, A⊂B {_fmt(s.containment_a_in_b)}, "
              f"B⊂A {_fmt(s.containment_b_in_a)})")
    m.add_row("same id", f"{_fmt(s.same_id_share)} of shared; modal offset {s.modal_offset:+d} "
              f"({_fmt(s.modal_offset_share)})")
    m.add_row("id order", f"Spearman {_fmt(s.spearman, 3)}, Kendall {_fmt(s.kendall, 3)}")
    m.add_row("shared id prefix", str(s.shared_prefix))
    m.add_row("tail containment", _fmt(s.tail_containment))
    if s.merges:
        m.add_row("merges", f"common prefix {s.merges.common_prefix}, {_fmt(s.merges.shared_share)} of the smaller "
                  f"list shared")
    for c in r.calibration:
        m.add_row(f"null: {c.statistic}", f"{_fmt(c.value)} → p = {c.p_value:.3g} (related above {_fmt(c.threshold)}, "
                  f"FPR {c.fpr_at_threshold:.2%} on {c.null_n} unrelated pairs)")
    sp = r.specials
    m.add_row("specials", f"{sp.same} same, {len(sp.moved)} moved, {len(sp.only_a)} only in A, {len(sp.only_b)} only in B")
    if sp.only_b:
        m.add_row("  only in B", ", ".join(x.text for x in sp.only_b[:12]) + (" …" if len(sp.only_b) > 12 else ""))
    if sp.only_a:
        m.add_row("  only in A", ", ".join(x.text for x in sp.only_a[:12]) + (" …" if len(sp.only_a) > 12 else ""))
    m.add_row("chat template", r.chat_template)
    if r.n_only_b:
        m.add_row(f"tokens only in B ({r.n_only_b})", " ".join(repr(x) for x in r.only_b_sample[:10]))
    if r.n_only_a:
        m.add_row(f"tokens only in A ({r.n_only_a})", " ".join(repr(x) for x in r.only_a_sample[:10]))
    m.add_row("time", f"{r.seconds:.2f} s")
    con.print(m)


def _render_identify(con: Console, r) -> None:  # type: ignore[no-untyped-def]
    colour = "green" if r.best is not None else "cyan"
    con.print(f"[bold]{r.query}[/] ({r.kind}, {r.size} ids, {r.n_regular} regular)")
    con.print(f"[bold {colour}]{r.verdict}[/]")
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("#", "reference", "family", "relation", "Jaccard≈", "same id≈", "tail≈", "p"):
        t.add_column(col)
    for i, m in enumerate(r.matches, 1):
        p = m.p_value
        t.add_row(str(i), m.key, m.family, m.relation, _fmt(m.stats.jaccard, 3), _fmt(m.stats.same_id_share, 3),
                  _fmt(m.stats.tail_containment, 3), "exact" if m.exact else ("—" if p is None else f"{p:.2g}"))
    con.print(t)
    con.print(f"[dim]database: {r.database}; null: {r.null}; {r.seconds:.2f} s[/]")


def register(app: typer.Typer) -> None:
    tok = typer.Typer(name="tokenizer", help="Tokenizer lineage: compare two tokenizers, identify one.",
                      no_args_is_help=True)
    db_app = typer.Typer(name="db", help="The tokenizer reference database.", no_args_is_help=True)
    tok.add_typer(db_app, name="db")
    app.add_typer(tok, name="tokenizer")

    @tok.command("compare")
    def compare_cmd(
        a: str = typer.Argument(..., help="Reference tokenizer: file, GGUF or model folder."),
        b: str = typer.Argument(..., help="Tokenizer to compare with A."),
        alpha: float = typer.Option(0.005, "--alpha", help="Significance level of the related/independent call."),
        report: Path | None = typer.Option(None, "--report", help="Also write a report: .html, .md or .json."),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        """How B relates to A: identical, extended, shifted, permuted, related or independent."""
        from taoke.tokenizers import compare

        r = compare(a, b, alpha=alpha)
        if report is not None:
            from taoke.cli.report_cmd import write_cli_report

            write_cli_report(r.to_dict(), report, inputs=(("A", a), ("B", b)))
        emit(r.to_dict(), as_json, lambda con: _render_compare(con, r))

    @tok.command("identify")
    def identify_cmd(
        x: str = typer.Argument(..., help="Tokenizer file, GGUF or model folder."),
        top: int = typer.Option(5, "--top", "-k", help="How many references to list."),
        db: Path | None = typer.Option(None, "--db", help="A tokenizer database file instead of the shipped one."),
        alpha: float = typer.Option(0.005, "--alpha", help="Significance level of the related/independent call."),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        """Name the known tokenizers nearest to X and how X differs from them."""
        from taoke.tokenizers import identify, load_db

        d = load_db(str(db)) if db else None
        r = identify(x, d, top=top, alpha=alpha)
        emit(r.to_dict(), as_json, lambda con: _render_identify(con, r))

    @tok.command("show")
    def show_cmd(
        x: str = typer.Argument(..., help="Tokenizer file, GGUF or model folder."),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        """What taoke reads from a tokenizer: kind, sizes, specials, digests."""
        from taoke.tokenizers import load

        v = load(x)
        d = v.to_dict()

        def render(con: Console) -> None:
            con.print(f"[bold]{v.describe()}[/]")
            con.print(f"format {v.source_format}; {len(v.merges)} merges; chat template: "
                      f"{'yes' if v.chat_template else 'no'}")
            specials = ", ".join(f"{s.id}:{s.text}" for s in v.specials[:20])
            con.print(f"specials: {specials}{' …' if len(v.specials) > 20 else ''}")
            con.print(f"[dim]regular digest {v.regular_digest[:16]}…  tokens digest {v.tokens_digest[:16]}…[/]")

        emit(d, as_json, render)

    @db_app.command("build")
    def db_build(
        data: Path | None = typer.Option(None, "--data", help="Fetched data root (default $TAOKE_DATA or "
                                         "~/.cache/taoke-data)."),
        out: Path | None = typer.Option(None, "--out", help="Output file (default: the shipped database)."),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        """Rebuild the reference database (sketches + calibration null) from the fetched data."""
        import time

        from taoke.cli._output import err_console
        from taoke.tokenizers import build_db, shipped_db_path

        root = str(data or defaults.data_dir())
        t0 = time.perf_counter()
        db = build_db(root, progress=None if as_json else (lambda s: err_console.print(f"[dim]{s}[/]")))
        path = str(out) if out else shipped_db_path()
        size = db.save(path)
        res = {"path": path, "bytes": size, "entries": len(db), "null": db.null.name if db.null else None,
               "seconds": round(time.perf_counter() - t0, 1)}
        emit(res, as_json, lambda con: con.print(f"wrote {path}: {len(db)} tokenizers, {size} bytes; "
                                                 f"null {res['null']}"))

    @db_app.command("add")
    def db_add(
        file: str = typer.Argument(..., help="Tokenizer file, GGUF or model folder."),
        name: str = typer.Option(..., "--name", help="Key of the new entry."),
        family: str = typer.Option(..., "--family", help="Family name (a known one, e.g. qwen, or a new one)."),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        """Add a tokenizer to your user database (under $TAOKE_HOME or ~/.local/share/taoke)."""
        from taoke.tokenizers import add_to_user_db

        e, path = add_to_user_db(file, name=name, family=family)
        res = {"key": e.key, "family": e.family, "size": e.size, "n_regular": e.n_regular, "database": path}
        emit(res, as_json, lambda con: con.print(f"added {e.key} ({e.family}, {e.size} ids) to {path}"))
