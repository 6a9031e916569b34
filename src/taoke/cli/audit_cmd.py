"""`taoke audit MODEL`: does the model declare what its weights show? Exit codes for CI and hub gating.

    0   consistent (a candidate was tested to a conclusion and everything detected is declared; unchecked
        declarations do not fail)
    10  undeclared derivation (weights derived from / the same as a candidate the model does not declare,
        or the card claims training from scratch)
    11  declared but not supported (a declared base was given and the weights show no dependence on it)
    12  inconclusive (nothing was tested, the index search found no ancestor, or a candidate could not be tested)
    2   usage error, 3 read error (see taoke.errors)
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from taoke import defaults
from taoke.cli._output import JSON_OPTION_HELP, emit, stage_progress
from taoke.cli.report_cmd import REPORT_HELP, check_report_path, write_cli_report

_COLOURS = {"consistent": "green", "undeclared-derivation": "red", "declared-unsupported": "red",
            "inconclusive": "yellow"}


def _render(res, con: Console) -> None:  # type: ignore[no-untyped-def]
    d = res.declaration
    con.print(f"[bold {_COLOURS.get(res.status, 'white')}]{res.status.upper()}[/] (exit {res.exit_code})  "
              f"{res.summary}")
    con.print(f"[dim]{d.location}[/]")
    t = Table(title="declared", show_header=False)
    t.add_column()
    t.add_column(overflow="fold")
    t.add_row("name", str(d.name or "—"))
    for b, w in d.bases:
        t.add_row("base model", f"{b}  [dim]({w})[/]")
    t.add_row("licence", f"{d.license or '—'}  [dim]({d.license_source or 'not declared'})[/]")
    for c in d.scratch_claims:
        t.add_row("claim", f"“{c}”")
    con.print(t)
    f = Table(title="findings")
    f.add_column("finding")
    f.add_column("detail", overflow="fold")
    for x in res.findings:
        f.add_row(x.kind, x.text)
    con.print(f)
    if res.checklist:
        c = Table(title="licence obligations of the detected ancestor (informational, not legal advice)")
        for col in ("obligation", "status"):
            c.add_column(col, overflow="fold")
        for item in res.checklist:
            c.add_row(item.obligation, item.status)
        con.print(c)
    if res.distillation is not None:
        con.print(f"distillation (behavioural lineage, beside the verdict): {res.distillation['sentence']}")
    if res.search is not None:
        con.print(f"[dim]index search ({res.search.get('index')}): {res.search.get('sentence')}[/]")
    for n in res.notes:
        con.print(f"[dim]note: {n}[/]")


def audit_cmd(
    model: str = typer.Argument(..., help="The model under audit: file, folder or URL."),
    candidate: list[str] = typer.Option([], "--candidate", "-c", help="A candidate ancestor (repeatable)."),
    against: Path | None = typer.Option(None, "--against", help="A fingerprint index (`taoke index add`) to search "
                                        "for ancestors; a single model goes to --candidate."),
    no_tokenizer: bool = typer.Option(False, "--no-tokenizer", help="Skip the tokenizer-family identification."),
    seed: int = typer.Option(defaults.SEED, "--seed", help="Seed of the weight comparisons."),
    alpha: float = typer.Option(defaults.ALPHA, "--alpha", help="Significance level for 'derived'."),
    teacher: list[str] = typer.Option([], "--teacher", "-t", help="A candidate teacher for the distillation test "
                                      "(repeatable; behavioural lineage, see `taoke distill`; does not change the "
                                      "status)."),
    report: Path | None = typer.Option(None, "--report", help=REPORT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Declared origin vs detected lineage: undeclared derivation, unsupported claims, licence checklist."""
    from taoke.audit import audit

    if report is not None:
        check_report_path(report)  # before the audit, not after it
    with stage_progress("reading the model and its card", enabled=not as_json) as progress:
        res = audit(model, candidates=tuple(candidate), against=against, tokenizer=not no_tokenizer, seed=seed,
                    alpha=alpha, teachers=tuple(teacher), progress=progress)
    d = res.to_dict()
    if report is not None:
        write_cli_report(d, report)
    emit(d, as_json, lambda con: _render(res, con))
    if res.exit_code:
        raise typer.Exit(res.exit_code)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_cmd)
