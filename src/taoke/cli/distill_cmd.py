"""``taoke distill``: was this model trained on another model's outputs? ``taoke distill-zoo``: build the
distillation zoo (teacher corpora and students) that gives the test its null.

    taoke distill STUDENT --teacher T [--teacher T2 ...]    behavioural lineage test (see docs/distill.md)
    taoke distill-zoo [--subset fast|full]                  generate corpora, train students (cached, resumable)

STUDENT and T are GGUF files, Hugging Face Llama folders, endpoints (``URL#model``) or ``zoo:NAME``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from taoke.cli._output import JSON_OPTION_HELP, emit, err_console


def _status(as_json: bool) -> Any:
    """A one-line progress status on stderr (silent under --json)."""
    from contextlib import nullcontext

    if as_json:
        return nullcontext(None)
    return err_console.status("starting", spinner="dots")


def register(app: typer.Typer) -> None:
    @app.command("distill")
    def distill_cmd(
        student: str = typer.Argument(..., metavar="STUDENT",
                                      help="GGUF file, Llama folder, endpoint URL#MODEL or zoo:NAME."),
        teacher: list[str] = typer.Option(..., "--teacher", "-t",
                                          help="Candidate teacher (same forms as STUDENT); repeat for several."),
        null: list[str] = typer.Option([], "--null",
                                       help="Control model that did not see the teachers (repeat; replaces the "
                                            "zoo's null students)."),
        zoo: str | None = typer.Option(None, "--zoo", help="Null from this distillation-zoo subset: fast or full "
                                                           "[default: full if built, else fast]."),
        zoo_dir: Path | None = typer.Option(None, "--zoo-dir", help="Distillation zoo folder "
                                                                   "[default: $TAOKE_DATA/distill]."),
        probes: int | None = typer.Option(None, "--probes", help="Probe prompts (= student queries when black-box) "
                                                                 "[default: the zoo's probe count]."),
        statistic: str = typer.Option("auto", "--statistic",
                                      help="auto (likelihood with weights, style for endpoints), likelihood, style."),
        alpha: float = typer.Option(0.01, "--alpha", help="Family-wise significance level over the teachers."),
        no_identity: bool = typer.Option(False, "--no-identity", help="Skip the identity questions."),
        model: str = typer.Option("default", "--model", "-m", help="Model name for endpoints given without #model."),
        api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env",
                                        help="Environment variable holding the API key (never logged or stored)."),
        budget: int = typer.Option(400, "--budget", help="Maximum network queries per endpoint."),
        cache: Path | None = typer.Option(None, "--cache", help="On-disk response cache for endpoints."),
        replay: bool = typer.Option(False, "--replay", help="Answer endpoint requests only from --cache."),
        timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for any read."),
        deadline: float = typer.Option(120.0, "--deadline", help="Seconds per request, retries included."),
        concurrency: int = typer.Option(4, "--concurrency", help="Endpoint requests in flight at once."),
        report: Path | None = typer.Option(None, "--report", help="Also write a report: .html, .md or .json."),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        """Evidence that STUDENT was trained on a TEACHER's outputs (behavioural lineage, not weight derivation)."""
        from taoke.distill import EndpointOptions, distill

        opts = EndpointOptions(api_key_env=api_key_env, budget=budget, timeout_s=timeout, deadline_s=deadline,
                               concurrency=concurrency, cache=cache, replay=replay)
        with _status(as_json) as st:
            def log(msg: str) -> None:
                if st is not None:
                    st.update(msg)

            res = distill(student, teacher, nulls=null, zoo_subset=zoo, probes=probes, statistic=statistic,
                          alpha=alpha, identity=not no_identity, root=zoo_dir, endpoint=opts, default_model=model,
                          progress=log)
        if report is not None:
            from taoke.cli.report_cmd import write_cli_report

            write_cli_report(res.to_dict(), report)
        emit(res.to_dict(), as_json, lambda c: render(c, res))

    @app.command("distill-zoo")
    def distill_zoo_cmd(
        subset: str = typer.Option("fast", "--subset", help="fast (CI, a few minutes) or full (about an hour)."),
        dest: Path | None = typer.Option(None, "--dest", help="Zoo folder [default: $TAOKE_DATA/distill]."),
        data: Path | None = typer.Option(None, "--data", help="Data folder with the teacher weights "
                                                              "[default: $TAOKE_DATA]."),
        only: list[str] = typer.Option([], "--only", help="Build only these students (repeat)."),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        """Generate the teacher corpora and train the students of the distillation zoo (cached, resumable)."""
        from taoke.zoo.distill import build_distill_zoo

        with _status(as_json) as st:
            def log(msg: str) -> None:
                if st is not None:
                    st.update(msg)
                    err_console.print(msg, highlight=False)

            zoo = build_distill_zoo(subset, dest=dest, data_dir=data, progress=log, only=tuple(only) or None)
        d = zoo.to_dict()
        emit(d, as_json, lambda c: c.print(
            f"distillation zoo ({zoo.subset}): {len(zoo.students)} students "
            f"({len(zoo.by_role('null'))} null, {len(zoo.by_role('heldout'))} held-out) in {zoo.root}"))


def render(c: Any, res: Any) -> None:
    from rich.table import Table

    t = Table(title=f"distill: {res.student.label} ({res.mode}, {res.statistic})", title_justify="left")
    for col in ("teacher", "statistic", "expected if not", "z", "p", "p rank", "null n", "called"):
        t.add_column(col)
    for e in res.evidence:
        t.add_row(e.teacher, f"{e.value:+.4f}", f"{e.expected:+.4f}", f"{e.z:+.2f}", f"{e.p_value:.2e}",
                  f"{e.p_rank:.3f}", str(e.null.n), "yes" if e.significant else f"no (needs p < {e.threshold:.2g})")
    c.print(t)
    refs = {r for e in res.evidence for r in e.references}
    if refs:
        c.print(f"[dim]expected: the control students' statistic at this student's affinity to reference model "
                f"text ({', '.join(sorted(refs))}); z: excess over it in residual standard deviations[/]")
    c.print(res.sentence)
    if res.identity is not None:
        claims = ", ".join(f"{k} ×{v}" for k, v in res.identity.student_claims) or "no known name"
        conf = ", ".join(res.identity.confused_with) or "none of the teachers"
        c.print(f"identity (beside the test, not proof): the student claims {claims}; its claims match {conf}")
    for n in res.notes:
        c.print(f"note: {n}")
    if res.queries:
        c.print(f"{res.queries} queries, {res.tokens} student tokens, {res.seconds:.1f}s")
