"""``taoke probe``: which model is really behind an OpenAI-compatible API?

    taoke probe URL --model NAME                  identify the model (tokenizer, behaviour, identity, lineage),
                                                  mixed routing from the token counts
    taoke probe --same URL1 URL2 --model NAME     same model? (MMD test + token counts: another system prompt)
    taoke probe snapshot URL --out FILE           store a compact baseline of the endpoint
    taoke probe watch URL --baseline FILE [--every 10m] [--checks N]
                                                  re-test it (<= 30 queries a check), alarm on a swap
    taoke probe db build [--what ...] [--out DIR] rebuild the shipped tokenizer table and references
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.console import Console

from taoke.cli._output import JSON_OPTION_HELP, emit
from taoke.errors import UsageError


def _client(url: str, model: str, key_env: str, budget: object, cache: Path | None, replay: bool,
            timeout: float, deadline: float, concurrency: int):  # type: ignore[no-untyped-def]
    from taoke.blackbox import ChatClient, ClientConfig, Endpoint, ResponseCache

    cfg = ClientConfig(timeout_s=timeout, deadline_s=deadline, max_concurrency=concurrency)
    return ChatClient(Endpoint(url, model, key_env), config=cfg, budget=budget,  # type: ignore[arg-type]
                      cache=ResponseCache(cache) if cache else None, offline=replay)


def register(app: typer.Typer) -> None:
    @app.command("probe")
    def probe(
        args: list[str] = typer.Argument(None, metavar="URL [URL2] | snapshot URL | watch URL | db build",
                                         help="Endpoint base URL(s) (e.g. http://127.0.0.1:8000/v1), "
                                              "`snapshot URL`, `watch URL` or `db build`."),
        model: str = typer.Option("default", "--model", "-m", help="Model name to request."),
        model_b: str | None = typer.Option(None, "--model-b", help="Model name at URL2 (default: --model)."),
        same: bool = typer.Option(False, "--same", help="Same-model test between URL1 and URL2."),
        api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env",
                                        help="Environment variable holding the API key (never logged or stored)."),
        budget: int = typer.Option(200, "--budget", help="Maximum network queries (per endpoint)."),
        probes: str = typer.Option("tokenizer,identity,behaviour,lineage", "--probes",
                                   help="Comma-separated probes (tokenizer, identity, behaviour, lineage)."),
        cache: Path | None = typer.Option(None, "--cache", help="On-disk response cache directory."),
        replay: bool = typer.Option(False, "--replay", help="Answer only from --cache (no network)."),
        timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for any read."),
        deadline: float = typer.Option(120.0, "--deadline", help="Seconds per request, retries and streams included."),
        concurrency: int = typer.Option(4, "--concurrency", help="Requests in flight at once."),
        samples: int | None = typer.Option(None, "--samples", help="Samples per prompt: --same 5, snapshot 3, "
                                                                     "watch 2 (a check asks 12 prompts x 2)."),
        temperature: float = typer.Option(1.0, "--temperature", help="--same: sampling temperature."),
        alpha: float | None = typer.Option(None, "--alpha", help="Significance level: --same 0.05, watch 0.002 "
                                                                  "(the false-alarm rate per check)."),
        baseline: Path | None = typer.Option(None, "--baseline", help="watch: the snapshot file to compare with."),
        every: str | None = typer.Option(None, "--every", help="watch: time between checks (30s, 10m, 1h)."),
        checks: int | None = typer.Option(None, "--checks", help="watch: number of checks (default: 1, or "
                                                                  "unlimited with --every)."),
        stop_on_alarm: bool = typer.Option(False, "--stop-on-alarm", help="watch: stop at the first alarm."),
        logprobs: bool = typer.Option(False, "--logprobs", help="--same: also compare next-token logprobs."),
        seed: int = typer.Option(0, "--seed", help="Seed of the sampler and permutation null."),
        out: Path | None = typer.Option(None, "--out", help="snapshot: the file to write; db build: output folder "
                                                             "(default: taoke/data)."),
        data: Path | None = typer.Option(None, "--data", help="db build: data root (default $TAOKE_DATA)."),
        what: str = typer.Option("all", "--what", help="db build: tokenizers, references, lineage or all."),
        teacher: list[str] = typer.Option([], "--teacher", "-t", help="Also test whether the endpoint's model was "
                                          "trained on this teacher's outputs (repeatable; see `taoke distill`)."),
        report: Path | None = typer.Option(None, "--report", help="Also write a report: .html, .md or .json."),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        """Identify the model behind an OpenAI-compatible endpoint, or test whether two endpoints serve the same."""
        from taoke.blackbox import QueryBudget

        args = list(args or [])
        if args[:2] == ["db", "build"]:
            _db_build(out, data, what, as_json)
            return

        def client(url: str, limit: int | None = budget, model_name: str = model):  # type: ignore[no-untyped-def]
            return _client(url, model_name, api_key_env, QueryBudget(limit), cache, replay, timeout, deadline,
                           concurrency)

        if teacher and (same or args[:1] in (["snapshot"], ["watch"])):
            raise UsageError("--teacher works with one endpoint URL", hint="taoke probe URL --model NAME -t TEACHER")
        if args[:1] in (["snapshot"], ["watch"]):
            if len(args) != 2:
                raise UsageError(f"{args[0]} needs one URL", hint=f"taoke probe {args[0]} URL --model NAME ...")
            if args[0] == "snapshot":
                _snapshot(client, args[1], out, samples or 3, as_json)
            else:
                _watch(client, args[1], baseline, samples or 2, alpha if alpha is not None else 0.002, every, checks,
                       stop_on_alarm, replay, seed, as_json)
            return
        if same:
            if len(args) != 2:
                raise UsageError("--same needs exactly two URLs", hint="taoke probe --same URL1 URL2 --model NAME")
            _same(args, model, model_b or model, api_key_env, budget, cache, replay, timeout, deadline,
                  concurrency, samples or 5, temperature, alpha if alpha is not None else 0.05, logprobs, seed,
                  as_json)
            return
        if len(args) != 1:
            raise UsageError("give one endpoint URL", hint="taoke probe URL --model NAME (or --same URL1 URL2)")
        from taoke.blackbox import probe_endpoint

        with _client(args[0], model, api_key_env, QueryBudget(budget), cache, replay, timeout, deadline,
                     concurrency) as c:
            rep = probe_endpoint(c, probes=[p.strip() for p in probes.split(",") if p.strip()])
        doc = rep.to_dict()
        dist = None
        if teacher:  # distillation evidence from the endpoint's sampled answers (taoke.distill, black-box)
            from taoke.distill import EndpointOptions, distill

            dist = distill(f"{args[0]}#{model}", teacher, endpoint=EndpointOptions(
                api_key_env=api_key_env, budget=budget, timeout_s=timeout, deadline_s=deadline,
                concurrency=concurrency, cache=cache, replay=replay))
            doc["distillation"] = dist.to_dict()
        if report is not None:
            from taoke.cli.report_cmd import write_cli_report

            write_cli_report(doc, report)

        def render(con: Console) -> None:
            _render(con, rep)
            if dist is not None:
                con.print(f"  distillation ({dist.queries} queries): {dist.sentence}")

        emit(doc, as_json, render)


def _render(con: Console, rep) -> None:  # type: ignore[no-untyped-def]
    v = rep.verdict
    con.print(f"[bold]{rep.endpoint['base_url']}[/] (model requested: {rep.endpoint['model']})")
    con.print(f"verdict: [bold]{v.wording}[/]")
    if rep.tokenizer is not None:
        t = rep.tokenizer
        con.print(f"  tokenizer  ({t.queries} queries): {t.note}")
    if rep.behaviour is not None:
        b = rep.behaviour
        sims = ", ".join(f"{m} {s:.2f}" for m, s in b.similarity)
        con.print(f"  behaviour  ({b.queries} queries): nearest {b.best} on {dict(b.votes).get(b.best or '', 0)}"
                  f"/{b.answered} queries; similarity {sims}")
    if rep.identity is not None:
        i = rep.identity
        tally = ", ".join(f"{c}x{n}" for c, n in i.tally) or "no known name"
        con.print(f"  identity   ({i.queries} queries): claims {tally}")
    if rep.lineage is not None:
        le = rep.lineage
        con.print(f"  lineage    ({le.queries} queries): {le.wording}")
    if rep.mixture is not None and rep.mixture.outcome != "insufficient":
        m = rep.mixture
        con.print(f"  mixture    ({m.queries} queries' counts, {m.repeats_checked} repeated): {m.note}")
    for s in rep.masking:
        con.print(f"  [yellow]masking:[/] {s}")
    errs = [e for ev in (rep.tokenizer, rep.behaviour, rep.identity, rep.lineage) if ev is not None for e in ev.errors]
    if errs:
        con.print(f"  [red]{len(errs)} failed queries[/] (partial result), first: {errs[0]}")
    q = rep.queries
    con.print(f"queries: {q.charged} sent, {q.cached} from cache (budget {q.limit}); {rep.elapsed_s:.1f} s")


def _same(urls, model_a, model_b, key_env, budget, cache, replay, timeout, deadline, concurrency,  # type: ignore[no-untyped-def]
          samples, temperature, alpha, logprobs, seed, as_json) -> None:
    from taoke.blackbox import QueryBudget, same_model_test

    with _client(urls[0], model_a, key_env, QueryBudget(budget), cache, replay, timeout, deadline,
                 concurrency) as a, _client(urls[1], model_b, key_env, QueryBudget(budget), cache, replay,
                                            timeout, deadline, concurrency) as b:
        res = same_model_test(a, b, rng=np.random.default_rng(seed), n_per_prompt=samples,
                              temperature=temperature, alpha=alpha, logprobs=logprobs)
    d = {"format": "taoke-same-model/1", "a": {"base_url": urls[0], "model": model_a},
         "b": {"base_url": urls[1], "model": model_b}, **res.to_dict()}

    def render(con: Console) -> None:
        con.print(f"[bold]{urls[0]}[/] vs [bold]{urls[1]}[/]")
        con.print(f"verdict: [bold]{res.verdict}[/]")
        con.print(f"  MMD^2 = {res.mmd2:.4g}, p = {res.p_value:.4g} ({res.null}); "
                  f"{res.n_per_endpoint[0]}+{res.n_per_endpoint[1]} samples over {res.prompts} prompts")
        con.print(f"  duplicate samples: {res.duplicate_share[0]:.0%} / {res.duplicate_share[1]:.0%}")
        if res.logprob:
            lp = res.logprob
            con.print(f"  logprobs: mean TV {lp.mean_tv:.4f}, max |dlogp| {lp.max_abs_logprob_diff:.4g}, "
                      f"top-1 agreement {lp.top1_agreement:.0%} over {lp.prompts} prompts")
        if res.errors:
            con.print(f"  [red]{len(res.errors)} failed queries[/], first: {res.errors[0]}")
        con.print(f"queries: {res.queries[0]} + {res.queries[1]}")

    emit(d, as_json, render)


def parse_every(text: str) -> float:
    """Seconds in ``30s``, ``10m``, ``1h`` or a plain number of seconds."""
    t = text.strip().lower()
    mult = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(t[-1:], None)
    try:
        val = float(t[:-1] if mult else t) * (mult or 1.0)
    except ValueError:
        val = -1.0
    if not val > 0:
        raise UsageError(f"--every must be a positive duration, not {text!r}", hint="e.g. --every 10m")
    return val


def _snapshot(client, url: str, out: Path | None, samples: int, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from taoke.blackbox.watch import take_snapshot

    if out is None:
        raise UsageError("snapshot needs --out FILE", hint="taoke probe snapshot URL --out baseline.json")
    with client(url, None) as c:
        snap = take_snapshot(c, samples=samples)
    snap.save(out)
    d = {"written": str(out), "prompts": len(snap.prompts), "samples": samples, "logprobs": snap.logprobs,
         "queries": snap.queries, "endpoint": snap.endpoint}
    emit(d, as_json, lambda con: con.print(
        f"wrote {out}: {len(snap.prompts)} prompts x {samples} answers, "
        f"{'with' if snap.logprobs else 'without'} log-probabilities ({snap.queries} queries)"))


def _watch(client, url: str, baseline: Path | None, samples: int, alpha: float, every: str | None,  # type: ignore[no-untyped-def]
           checks: int | None, stop_on_alarm: bool, replay: bool, seed: int, as_json: bool) -> None:
    import time

    from taoke.blackbox.watch import MAX_CHECK_QUERIES, Snapshot, check
    from taoke.cli._output import console

    if baseline is None:
        raise UsageError("watch needs --baseline FILE", hint="take one with `taoke probe snapshot URL --out FILE`")
    base = Snapshot.load(baseline)
    period = parse_every(every) if every else 0.0
    n = checks if checks is not None else (0 if every else 1)
    alarms = 0
    i = 0
    while n == 0 or i < n:
        t0 = time.monotonic()
        with client(url, MAX_CHECK_QUERIES) as c:
            res = check(c, base, index=i, samples=samples, alpha=alpha, rng=np.random.default_rng([seed, i]))
        alarms += res.alarm
        if as_json:  # JSON lines: one object per check, as it completes
            from taoke.serialize import dumps

            typer.echo(dumps(res.to_dict(), indent=None))
        else:
            extra = "" if res.first_word_agreement is None else f"; first words agree {res.first_word_agreement:.0%}"
            extra += "" if res.mean_tv is None else f", first-token TV {res.mean_tv:.3f}"
            extra += "" if not res.count_change else f", token counts: {res.count_change}"
            style = "bold red" if res.alarm else "default"
            console.print(f"[{style}]{res.time} check {i}: {res.wording}[/] ({res.answered} answers, "
                          f"{res.queries} queries{extra})")
            if res.errors:
                console.print(f"  [red]{len(res.errors)} failed queries[/], first: {res.errors[0]}")
        i += 1
        if res.alarm and stop_on_alarm:
            break
        if (n == 0 or i < n) and period and not replay:
            time.sleep(max(0.0, period - (time.monotonic() - t0)))
    if alarms:
        raise typer.Exit(1)


def _db_build(out: Path | None, data: Path | None, what: str, as_json: bool) -> None:
    from importlib import resources

    from taoke.blackbox.refdb import build_all

    if what not in ("all", "tokenizers", "references", "lineage"):
        raise UsageError(f"--what must be tokenizers, references, lineage or all, not {what!r}")
    out = out or Path(str(resources.files("taoke").joinpath("data")))
    msgs: list[str] = []
    written = build_all(out, root=data, tokenizers=what in ("all", "tokenizers"),
                        references=what in ("all", "references"), lineage=what in ("all", "lineage"),
                        log=(msgs.append if as_json else lambda s: typer.echo(s, err=True)))
    emit({"written": [str(p) for p in written]}, as_json, lambda con: con.print("wrote " + ", ".join(map(str, written))))
