"""Evaluate `taoke distill` on the distillation zoo: held-out students (seeds never used for the null).

    .venv/bin/python benchmarks/distill/run.py [--subset full|fast] [--out benchmarks/results/distill.json]
        [--queries 128,64,32,16,8] [--sections white,black,loo,endpoint,compare] [--merge]

``--sections`` runs a part of the evaluation; ``--merge`` keeps the other sections of an existing ``--out`` file
(so that the evaluation can run in pieces of bounded length).

For every held-out student (kinds A, B = pure students of SmolLM2 / Gemma-3; H = human text only; A50, A10,
B50, B10 = mixtures) and both candidate teachers:

* white-box: the likelihood gap on all probe prompts, through ``taoke.distill.distill`` (the CLI's path);
* black-box: the style ratio of the student's own sampled answers to the first n probe prompts, for each n in
  ``--queries`` (queries = n + 4 identity questions; tokens = what the student generated);
* the identity check (does the student claim a teacher's name?);
* ``taoke.compare`` of the student's weights against each teacher's (must never say derived);
* through a real endpoint (``--no-endpoint`` skips it): one held-out student of each pure kind exported to GGUF
  and served by llama-cpp-python's server, tested black-box.

Decision: a teacher is called when its p-value < 0.01 / 2 (family-wise 0.01 over the two candidates); the
student is attributed to the called teacher with the largest z. Metrics per kind: right-teacher rate (A, B and
mixtures: attributed to the teacher whose text it saw), false-positive rate (H: any teacher called), with exact
(Clopper-Pearson) 95 % intervals. Also a leave-one-out false-positive rate over the null students themselves
(each null H student tested against a null built from the others). Writes JSON and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scipy import stats

from taoke.distill import (
    LIKELIHOOD,
    STYLE,
    Control,
    ModelRef,
    Source,
    answers,
    build_prompt_set,
    control_statistics,
    distill,
    identity_of,
    null_fit,
    open_model,
    probe_queries,
    resolve,
)
from taoke.zoo.distill import PLANS, TEACHERS, DistillZoo, build_distill_zoo, write_student_gguf

TEACHER_SPECS = ["zoo:smollm2", "zoo:gemma3"]
LABEL_OF = {t.label: name for name, t in TEACHERS.items()}
ALPHA = 0.01


def cp_interval(k: int, n: int) -> tuple[float, float]:
    """Exact (Clopper-Pearson) 95 % interval of a binomial rate."""
    if n == 0:
        return (float("nan"), float("nan"))
    lo = 0.0 if k == 0 else float(stats.beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(0.975, k + 1, n - k))
    return lo, hi


def row_of(zoo: DistillZoo, name: str, r: Any) -> dict[str, Any]:
    s = next(x for x in zoo.students if x.name == name)
    called = [LABEL_OF[e.teacher] for e in r.evidence if e.significant]
    return {"student": name, "kind": s.kind, "teacher": s.teacher, "share": s.share, "seed": s.seed,
            "verdict": r.verdict, "attributed": LABEL_OF.get(r.attributed or "", None), "called": called,
            "values": {LABEL_OF[e.teacher]: round(e.value, 5) for e in r.evidence},
            "z": {LABEL_OF[e.teacher]: round(e.z, 3) for e in r.evidence},
            "p": {LABEL_OF[e.teacher]: e.p_value for e in r.evidence},
            "null_n": {LABEL_OF[e.teacher]: e.null.n for e in r.evidence},
            "queries": r.queries, "tokens": r.tokens, "seconds": round(r.seconds, 2),
            "identity_claims": dict(r.identity.student_claims) if r.identity else None,
            "identity_confused_with": [LABEL_OF[t] for t in r.identity.confused_with] if r.identity else None}


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in sorted({r["kind"] for r in rows}):
        rs = [r for r in rows if r["kind"] == kind]
        n = len(rs)
        if kind == "H":
            k = sum(bool(r["called"]) for r in rs)
            out[kind] = {"n": n, "called_distilled": k, "fpr": k / n, "fpr_ci95": cp_interval(k, n)}
        else:
            right = sum(r["attributed"] == r["teacher"] for r in rs)
            wrong = sum(r["attributed"] not in (None, r["teacher"]) for r in rs)
            out[kind] = {"n": n, "right_teacher": right, "rate": right / n, "rate_ci95": cp_interval(right, n),
                         "wrong_teacher": wrong, "not_detected": n - right - wrong}
        conf = [r for r in rs if r["identity_confused_with"] is not None]
        if conf:
            out[kind]["identity_claims_teacher"] = sum(bool(r["identity_confused_with"]) for r in conf)
        out[kind]["seconds_median"] = sorted(r["seconds"] for r in rs)[n // 2]
        if any(r["queries"] for r in rs):
            out[kind]["queries"] = rs[0]["queries"]
            out[kind]["tokens_median"] = sorted(r["tokens"] for r in rs)[n // 2]
    return out


def unseen_teacher_tests(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every test of a teacher whose text the student never saw (both teachers for H students, the other teacher
    for the others): the per-test false-alarm rate at the Bonferroni threshold alpha / 2."""
    out: dict[str, Any] = {}
    for group, pick in (("human-text students", lambda r: r["kind"] == "H"),
                        ("other teacher's students", lambda r: r["kind"] != "H"),
                        ("all", lambda r: True)):
        tests = [(r["student"], t) for r in rows if pick(r) for t in r["p"] if t != r["teacher"]]
        k = sum(t in r["called"] for r in rows if pick(r) for t in r["p"] if t != r["teacher"])
        out[group] = {"tests": len(tests), "called": k, "rate": k / max(1, len(tests)),
                      "rate_ci95": cp_interval(k, len(tests))}
    return out


def leave_one_out_fpr(zoo: DistillZoo, stat: str, n: int) -> dict[str, Any]:
    """Each null student tested against a null made of the other null students (same rules as `distill`)."""
    prompts = build_prompt_set()
    root = Path(zoo.root)
    ctl = [Control(s.name, ModelRef(f"zoo:{s.name}", "hf", str(zoo.folder(s)), label=s.name), s.teacher_sha256)
           for s in zoo.by_role("null")]
    sources = []
    for tname in TEACHERS:
        ref = resolve(f"zoo:{tname}", distill_root=root)
        sid = identity_of(ref, root)
        m = open_model(ref)
        try:
            sources.append(Source(ref.label, sid, answers(m, sid, probe_queries(prompts, n), prompts, root=root)))
        finally:
            m.close()
    stats_of = control_statistics(stat, ctl, sources, prompts, n, root=root)
    res = []
    for c in ctl:
        for tname, src in zip(TEACHERS, sources, strict=True):
            if c.teacher_sha256 == src.identity:
                continue
            refs = [x for x in sources if x.identity != src.identity]
            fit = null_fit(src, refs, [x for x in ctl if x.name != c.name], stats_of, "leave-one-out")
            cov = sum(stats_of[c.name][r.identity] for r in refs) / len(refs)
            _z, p, _r = fit.p_value(stats_of[c.name][src.identity], cov)
            res.append({"student": c.name, "teacher": tname, "p": p, "called": p < ALPHA / len(TEACHERS)})
    by_student: dict[str, bool] = {}
    for r in res:
        by_student[r["student"]] = by_student.get(r["student"], False) or r["called"]
    kinds = {s.name: s.kind for s in zoo.students}
    out: dict[str, Any] = {"tests": res}
    for kind in sorted({kinds[s] for s in by_student}):
        names = [s for s in by_student if kinds[s] == kind]
        k = sum(by_student[s] for s in names)
        out[kind] = {"students": len(names), "called_distilled": k}
    h = out.get("H", {"students": 0, "called_distilled": 0})
    out["fpr_h"] = h["called_distilled"] / max(1, h["students"])
    out["fpr_h_ci95"] = cp_interval(h["called_distilled"], h["students"])
    return out


def endpoint_rows(zoo: DistillZoo, n: int, tmp: Path) -> list[dict[str, Any]]:
    from taoke.blackbox.models import LlamaServer, llama_server_available
    from taoke.distill import EndpointOptions

    if not llama_server_available():
        return [{"skipped": "llama-cpp-python[server] is not installed"}]
    rows = []
    for kind in ("A", "B", "H"):
        s = next(x for x in zoo.students if x.kind == kind and x.role == "heldout")
        gguf = write_student_gguf(zoo.folder(s), tmp / f"{s.name}.gguf")
        with LlamaServer(gguf, n_ctx=512, n_threads=1) as srv:
            t0 = time.perf_counter()
            r = distill(f"{srv.base_url}#{s.name}", TEACHER_SPECS, zoo_subset=zoo.subset, root=Path(zoo.root),
                        probes=n, endpoint=EndpointOptions(budget=n + 10, concurrency=1))
            row = row_of(zoo, s.name, r)
            row["endpoint"] = True
            row["wall_seconds"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def compare_rows(zoo: DistillZoo) -> dict[str, Any]:
    import taoke
    from taoke import defaults

    data = defaults.data_dir()
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    n = 0
    bad = []
    for s in zoo.students:
        for tname, t in TEACHERS.items():
            v = taoke.compare(data / t.path, zoo.folder(s))
            counts[str(v.kind)] = counts.get(str(v.kind), 0) + 1
            n += 1
            if not v.kind.independent:
                bad.append({"student": s.name, "teacher": tname, "verdict": str(v.kind)})
    return {"pairs": n, "verdicts": counts, "not_independent": bad,
            "seconds_per_pair": round((time.perf_counter() - t0) / max(1, n), 2)}


def table(summary: dict[str, Any], title: str) -> str:
    lines = [f"**{title}**", "", "| student kind | held-out students | result | 95 % CI | identity claims teacher |",
             "|---|---|---|---|---|"]
    names = {"A": "A: SmolLM2 text", "B": "B: Gemma-3 text", "H": "H: human text", "A50": "A50: 50 % SmolLM2",
             "A10": "A10: 10 % SmolLM2", "B50": "B50: 50 % Gemma-3", "B10": "B10: 10 % Gemma-3"}
    for kind in ("A", "B", "A50", "A10", "B50", "B10", "H"):
        if kind not in summary:
            continue
        s = summary[kind]
        ident = s.get("identity_claims_teacher", "—")
        if kind == "H":
            res = f"called distilled {s['called_distilled']}/{s['n']} (FPR {s['fpr']:.0%})"
            ci = "{:.0%}–{:.0%}".format(*s["fpr_ci95"])
        else:
            res = f"right teacher {s['right_teacher']}/{s['n']} ({s['rate']:.0%}); wrong {s['wrong_teacher']}"
            ci = "{:.0%}–{:.0%}".format(*s["rate_ci95"])
        lines.append(f"| {names[kind]} | {s['n']} | {res} | {ci} | {ident}/{s['n'] if ident != '—' else ''} |")
    return "\n".join(lines)


def _rate(k: int, n: int) -> str:
    lo, hi = cp_interval(k, n)
    return f"{k}/{n} ({lo:.0%}–{hi:.0%})"


def markdown(result: dict[str, Any]) -> str:
    """Every table of a results file (what docs/distill.md shows)."""
    out: list[str] = []
    wb = result.get("white_box")
    if wb:
        out += [table(wb["summary"], "White-box student (likelihood gap, "
                      f"{PLANS[result['subset']].n_probe} probe prompts), held-out seeds"), ""]
        u = unseen_teacher_tests(wb["rows"])
        out += ["Tests of a teacher the student never saw (p < α/2 = 0.005 counts as a false alarm): "
                + "; ".join(f"{g}: {_rate(v['called'], v['tests'])}" for g, v in u.items()), ""]
    bb = result.get("black_box") or {}
    if bb:
        kinds = [k for k in ("A", "B", "A50", "A10", "B50", "B10") if any(k in v["summary"] for v in bb.values())]
        out += ["**Black-box student (style ratio of its own sampled answers), held-out seeds**", "",
                "| queries (n probes + 4 identity) | " + " | ".join(f"{k} right teacher" for k in kinds)
                + " | H called distilled | unseen-teacher tests called | student tokens (median) |",
                "|---" * (len(kinds) + 4) + "|"]
        for n in sorted(bb, key=int, reverse=True):
            sm = bb[n]["summary"]
            cells = [_rate(sm[k]["right_teacher"], sm[k]["n"]) if k in sm else "—" for k in kinds]
            h = sm.get("H")
            u = unseen_teacher_tests(bb[n]["rows"])["all"]
            tok = sorted(r["tokens"] for r in bb[n]["rows"])[len(bb[n]["rows"]) // 2]
            out.append(f"| {int(n) + 4} | " + " | ".join(cells) + " | "
                       + (_rate(h["called_distilled"], h["n"]) if h else "—") + f" | {_rate(u['called'], u['tests'])}"
                       + f" | {tok} |")
        out.append("")
    loo = result.get("leave_one_out_null")
    if loo:
        out += ["**Leave-one-out over the null students** (each null student tested against a null built from the "
                "others)", "", "| statistic | human-text students called distilled | other null students called |",
                "|---|---|---|"]
        for stat, v in loo.items():
            h = v.get("H", {"students": 0, "called_distilled": 0})
            others = [(k, x) for k, x in v.items() if isinstance(x, dict) and "students" in x and k != "H"]
            oth = "; ".join(f"{k}: {x['called_distilled']}/{x['students']}" for k, x in others)
            q = f" ({v['queries']} probes)" if "queries" in v else ""
            out.append(f"| {stat}{q} | {_rate(h['called_distilled'], h['students'])} | {oth} |")
        out.append("")
    ep = result.get("endpoint")
    if ep:
        out += ["**Through a real endpoint** (the student exported to GGUF, served by llama-cpp-python's server)", "",
                "| student | kind | verdict | attributed | p (SmolLM2) | p (Gemma-3) | queries | tokens | wall s |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in ep:
            if "skipped" in r:
                out.append(f"| skipped: {r['skipped']} |||||||||")
                continue
            out.append(f"| {r['student']} | {r['kind']} | {r['verdict']} | {r['attributed'] or '—'} | "
                       f"{r['p']['smollm2']:.2g} | {r['p']['gemma3']:.2g} | {r['queries']} | {r['tokens']} | "
                       f"{r.get('wall_seconds', r['seconds'])} |")
        out.append("")
    cmp_ = result.get("compare")
    if cmp_:
        out += [f"**Weight comparison** of every student against each teacher (`taoke.compare`): {cmp_['pairs']} "
                f"pairs, verdicts {cmp_['verdicts']}, not independent: {len(cmp_['not_independent'])}; "
                f"{cmp_['seconds_per_pair']} s per pair.", ""]
    return "\n".join(out)


SECTIONS = ("white", "black", "loo", "endpoint", "compare")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subset", default="full", choices=["fast", "full"])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parents[1] / "results" / "distill.json")
    ap.add_argument("--queries", default="128,64,32,16,8")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help="comma-separated subset of " + ",".join(SECTIONS))
    ap.add_argument("--merge", action="store_true", help="keep the other sections of an existing --out file")
    ap.add_argument("--tables", action="store_true", help="print the Markdown tables of --out and stop")
    args = ap.parse_args()
    if args.tables:
        print(markdown(json.loads(args.out.read_text())))
        return
    sections = {x.strip() for x in args.sections.split(",") if x.strip()}
    if sections - set(SECTIONS):
        ap.error(f"unknown sections: {sorted(sections - set(SECTIONS))}")
    t_all = time.perf_counter()
    zoo = build_distill_zoo(args.subset, progress=lambda m: print(m, file=sys.stderr, flush=True))
    root = Path(zoo.root)
    held = zoo.by_role("heldout")
    build_seconds = sum(s.seconds for s in zoo.students)
    queries = sorted({min(int(x), PLANS[args.subset].n_probe) for x in args.queries.split(",")}, reverse=True)
    result: dict[str, Any] = {}
    if args.merge and args.out.exists():
        result = json.loads(args.out.read_text())
        if result.get("subset") != args.subset:
            ap.error(f"{args.out} holds the {result.get('subset')} subset, not {args.subset}")
    result.update({"format": "taoke.distill-benchmark", "version": 1, "subset": args.subset,
                   "alpha": ALPHA, "students": len(zoo.students), "heldout": len(held),
                   "null_students": len(zoo.by_role("null")),
                   "train_seconds_total": round(build_seconds, 1),
                   "cpu": os.cpu_count(), "teachers": {k: v.label for k, v in TEACHERS.items()}})
    timings = result.setdefault("section_seconds", {})
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")

    if "white" in sections:
        t0 = time.perf_counter()
        rows = []
        for s in held:
            r = distill(f"zoo:{s.name}", TEACHER_SPECS, zoo_subset=args.subset, root=root)
            row = row_of(zoo, s.name, r)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        result["white_box"] = {"statistic": LIKELIHOOD, "rows": rows, "summary": summarise(rows),
                               "unseen_teacher_tests": unseen_teacher_tests(rows)}
        timings["white"] = round(time.perf_counter() - t0, 1)
        print(table(result["white_box"]["summary"], "white-box (likelihood gap, all probe prompts)"))
        save()
    if "black" in sections:
        # largest n first: the samples of smaller n are cached prefixes
        t0 = time.perf_counter()
        result.setdefault("black_box", {})  # levels measured before (--merge) stay
        for n in queries:
            brow = []
            for s in held:
                r = distill(f"zoo:{s.name}", TEACHER_SPECS, zoo_subset=args.subset, root=root, statistic="style",
                            probes=n, identity=False)
                row = row_of(zoo, s.name, r)
                row["queries"] = n + 4
                brow.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
            result["black_box"][str(n)] = {"rows": brow, "summary": summarise(brow),
                                           "unseen_teacher_tests": unseen_teacher_tests(brow)}
            print(table(result["black_box"][str(n)]["summary"], f"black-box (style ratio, {n} + 4 queries)"))
            save()
        timings["black"] = round(time.perf_counter() - t0, 1)
        save()
    if "loo" in sections:
        t0 = time.perf_counter()
        n_probe = PLANS[args.subset].n_probe
        result["leave_one_out_null"] = {"likelihood": leave_one_out_fpr(zoo, LIKELIHOOD, n_probe),
                                        "style": leave_one_out_fpr(zoo, STYLE, queries[0])}
        result["leave_one_out_null"]["style"]["queries"] = queries[0]
        timings["loo"] = round(time.perf_counter() - t0, 1)
        for k, v in result["leave_one_out_null"].items():
            print(f"leave-one-out over the null students ({k}):",
                  json.dumps({kk: vv for kk, vv in v.items() if kk != "tests"}))
        save()
    if "endpoint" in sections:
        t0 = time.perf_counter()
        tmp = root / "served"
        tmp.mkdir(exist_ok=True)
        result["endpoint"] = endpoint_rows(zoo, queries[0], tmp)  # the largest budget asked: the CLI's default (the zoo's probe count)
        timings["endpoint"] = round(time.perf_counter() - t0, 1)
        save()
    if "compare" in sections:
        t0 = time.perf_counter()
        result["compare"] = compare_rows(zoo)
        timings["compare"] = round(time.perf_counter() - t0, 1)
        print("compare:", json.dumps({k: v for k, v in result["compare"].items()}))
        save()
    print(f"wrote {args.out} ({time.perf_counter() - t_all:.0f}s)")


if __name__ == "__main__":
    sys.exit(main())
