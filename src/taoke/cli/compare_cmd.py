"""`taoke compare A B`: white-box lineage verdict with the calibrated evidence behind it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from taoke import defaults
from taoke.cli._output import JSON_OPTION_HELP, emit, stage_progress
from taoke.cli.report_cmd import REPORT_HELP, check_report_path, write_cli_report
from taoke.wording import tensors_state

if TYPE_CHECKING:
    from taoke.verdict import Verdict


def _colour(v: Verdict) -> str:
    if v.kind.related:
        return "green" if v.kind.same_weights else "red"
    return "cyan" if v.kind.independent else "yellow"


def _render(v: Verdict, c: Console) -> None:
    ev = v.evidence
    c.print(f"[bold {_colour(v)}]{v.kind.upper()}[/]  {v.sentence}")
    c.print(f"[dim]A: {ev.path_a}\nB: {ev.path_b}[/]")
    t = Table(title="architecture (reported separately from weight evidence)", show_lines=False)
    for col in ("field", "A", "B", ""):
        t.add_column(col)
    for k, a, b in ev.arch.rows:
        if a is None and b is None:
            continue
        t.add_row(k, str(a), str(b), "" if a == b or a is None or b is None else "[yellow]differs[/]")
    c.print(t)
    e = Table(title="evidence")
    for col in ("method", "statistic", "p-value / calibration", "null / note"):
        e.add_column(col, overflow="fold")
    if ev.tokenizer:
        tk = ev.tokenizer
        e.add_row("tokenizer", str(tk.get("relation")), str(tk.get("summary", ""))[:120], "")
    if ev.exact is not None:
        w = ev.exact.worst
        e.add_row(
            "tensors (sampled rows)",
            f"{ev.exact.compared} shared roles of {ev.exact.roles_a}/{ev.exact.roles_b}",
            tensors_state(ev.exact.identical, ev.exact.repackaged),
            "" if w is None else f"worst {w.label}: rel err {w.rel_err:.3g} (tolerance {w.tolerance:.3g})",
        )
        done, tested = ev.exact.blocks
        if tested or ev.exact.unverified:
            e.add_row("storage identity (re-quantise / cast)", f"{done:,} of {tested:,} blocks reproduced",
                      f"{len(ev.exact.modified)} matrices modified", f"{len(ev.exact.unverified)} not checkable "
                      "(tolerance only)")  # fmt: skip
    if ev.alignment is not None:
        a = ev.alignment
        e.add_row("residual alignment", f"fit cos {a.fit_cosine:.3f} on {a.n_tokens} tokens", "descriptive",
                  "unrelated models also align partly (SmolLM2~Gemma-3: ~0.5-0.6)")  # fmt: skip
    if ev.units is not None:
        u = ev.units
        e.add_row("hidden-unit agreement", f"{sum(m.agreement for m in u.matches)} agreeing units over {len(u.matches)} layers",
                  f"log10 p = {u.log10_p:.1f}", u.null)  # fmt: skip
    if ev.stdfp is not None:
        s = ev.stdfp
        stat = "n/a" if s.correlation is None else f"r = {s.correlation:.4f}"
        cal = "n/a" if s.null_p is None else f"{100 * s.null_p:.2f}% of unrelated pairs score ≥ this"
        e.add_row("per-layer std (Pangu chart)", stat, cal, s.note)
    c.print(e)
    if v.components:  # a multimodal or encoder-decoder pair: one verdict and one layer map per component
        t = Table(title="components (each compared on its own; the verdict above decides the whole)")
        for col in ("component", "A", "B", "tensors A/B", "verdict", "log10 p"):
            t.add_column(col)
        for comp in v.components:
            cv = comp.verdict
            t.add_row(comp.label, "—" if comp.prefix_a is None else (comp.prefix_a or "(top level)"),
                      "—" if comp.prefix_b is None else (comp.prefix_b or "(top level)"),
                      f"{comp.tensors[0]}/{comp.tensors[1]}", "only in " + ("B" if comp.prefix_a is None else "A")
                      if cv is None else str(cv.kind), "" if cv is None or cv.log10_p is None else f"{cv.log10_p:.1f}")  # fmt: skip
        c.print(t)
        for comp in v.components:
            if comp.verdict is not None and comp.verdict.evidence.units is not None:
                _layer_map(comp.verdict, c, f" ({comp.label})")
    elif ev.units is not None:
        _layer_map(v, c, "")
    if v.modules is not None and (v.modules.extra or v.modules.missing or v.modules.changed):
        for g in v.modules.extra:
            c.print(f"[yellow]only in B:[/] {g.component}: {g.label}")
        for g in v.modules.missing:
            c.print(f"[yellow]only in A:[/] {g.component}: {g.label}")
        for d in v.modules.changed:
            c.print(f"[yellow]differs beyond precision:[/] {d.label} (rel err {d.rel_err:.3g})")
    for n in ev.notes:
        c.print(f"[dim]note: {n}[/]")
    c.print(f"[dim]read {ev.bytes_read[0] / 1e6:.1f} MB of {ev.file_sizes[0] / 1e6:.1f} MB (A, "
            f"{_pct(ev.bytes_read[0], ev.file_sizes[0])}), {ev.bytes_read[1] / 1e6:.1f} MB of "
            f"{ev.file_sizes[1] / 1e6:.1f} MB (B, {_pct(ev.bytes_read[1], ev.file_sizes[1])}) in {ev.seconds:.1f} s"
            f"{_mode(ev.reading)}[/]")  # fmt: skip


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.2f} %" if total else "?"


def _mode(reading: dict[str, Any] | None) -> str:
    if not reading:
        return ""
    if reading.get("mode") == "sampled":
        tested = reading.get("layers_tested")
        return "; sampled" + (f": {tested} of {reading.get('layers_planned')} planned layers tested" if tested else "")
    return f"; {reading.get('mode')}"


def _layer_map(v: Verdict, c: Console, what: str) -> None:
    units = v.evidence.units
    if units is None:
        return
    sampled = (v.evidence.reading or {}).get("mode") == "sampled"
    m = Table(title=f"layer map{what}: each {'tested (sampled) ' if sampled else ''}layer of B against its best "
                    "layer of A")  # fmt: skip
    for col in ("B", "A", "agreeing units", "matched |cos|", "log10 p"):
        m.add_column(col, justify="right")
    for x in units.matches:
        style = "bold red" if (x.layer_b, x.layer_a) in v.derived_layers else ""
        m.add_row(str(x.layer_b), str(x.layer_a), f"{x.agreement}/{x.tested_units}", f"{x.matched_cos:.3f}",
                  f"{x.log10_p:.1f}", style=style)  # fmt: skip
    c.print(m)


def compare_cmd(
    a: str = typer.Argument(..., help="Model A (the candidate ancestor): file, folder, http(s) URL or .tkfp "
                            "fingerprint. A URL ending in '/' is a remote model folder (config.json, "
                            "model.safetensors[.index.json] below it); any other URL is one weights file."),
    b: str = typer.Argument(..., help="Model B (the model under question)."),
    seed: int = typer.Option(defaults.SEED, "--seed", help="Seed for the row/unit samples (results are reproducible)."),
    units: int = typer.Option(defaults.UNITS, "--units", help="Hidden units per layer used by the agreement test."),
    alpha: float = typer.Option(defaults.ALPHA, "--alpha", help="Significance level for 'derived'."),
    full: bool = typer.Option(False, "--full", help="Run the unit test even when the copy is re-packaged."),
    exhaustive: bool = typer.Option(
        False, "--exhaustive",
        help="Read every MLP and every tensor role (cost grows with the model). Default: a bounded sample — a few "
             "layers, a block of units each, the parts of each matrix the statistic needs — stopped as soon as "
             "the verdict is settled (the output says how much was read and why it stopped).",
    ),  # fmt: skip
    report: Path | None = typer.Option(None, "--report", help=REPORT_HELP),
    no_hash: bool = typer.Option(False, "--no-hash", help="--report: do not sha256 the inputs."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Is B identical to, re-packaged from, derived from, or independent of A? Evidence with p-values."""
    import taoke
    from taoke.index.fingerprint import is_fingerprint_file

    if report is not None:
        check_report_path(report)  # before the comparison, not after it
    what = "comparing fingerprints" if is_fingerprint_file(a) or is_fingerprint_file(b) else "opening"
    with stage_progress(what, enabled=not as_json) as progress:
        v = taoke.compare(a, b, alpha=alpha, seed=seed, units=units, full=full, exhaustive=exhaustive,
                          progress=progress)  # fmt: skip
    d = v.to_dict()
    if report is not None:
        write_cli_report(d, report, inputs=(("A", a), ("B", b)), hash_files=not no_hash)
    emit(d, as_json, lambda c: _render(v, c))


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
