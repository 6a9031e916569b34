"""Evaluation of the white-box methods on the labelled zoo (``taoke eval``).

Pairs: every re-packaged or derived zoo entry against its parent (positives), and every pair of independently
trained models of one architecture, every independent model against its group's reference entry (the recipes
marked ``reference``: e.g. the std-matched random model against SmolLM2) and real unrelated models of the data set
(:func:`unrelated_pairs`; negatives: the real null). For each pair taoke's verdict is checked against the label; each scoring method
(hidden-unit agreement ``-log10 p``; per-layer std correlation) also gets AUC and TPR at 1% FPR. With fewer than
100 negatives, "TPR at 1% FPR" is the share of positives scoring above *every* negative (stated in the output).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taoke import defaults
from taoke.verdict import VerdictKind
from taoke.zoo.manifest import ZooManifest
from taoke.zoo.recipes import originals, recipes
from taoke.zoo.recipes_core import GEMMA3_GGUF, MINILM_DIR, SMOLLM2_GGUF

POSITIVE = ("repackaged", "derived")
_INDEPENDENT = frozenset(k for k in VerdictKind if k.independent)
#: zoo label → the verdicts that count as correct for it
ACCEPT: dict[str, frozenset[VerdictKind]] = {
    "repackaged": frozenset(k for k in VerdictKind if k.same_weights),
    "derived": frozenset({VerdictKind.DERIVED}),
    "independent": _INDEPENDENT,
    "unrelated": _INDEPENDENT,
}


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    truth: str
    transform: str
    verdict: str
    correct: bool
    log10_p: float | None
    unit_score: float | None  # -log10 p of the unit test (inf when skipped because re-packaged)
    std_corr: float | None
    seconds: float
    bytes_read: int
    # set when B is derived by holding more than A (modules) and the shared part is A's weights exactly: the
    # evidence is storage identity, not a p-value
    shared_part: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("unit_score",):
            if d[k] is not None and math.isinf(d[k]):
                d[k] = "inf"
        return d


def auc(pos: list[float], neg: list[float]) -> float | None:
    """Mann-Whitney AUC (ties count half).

    >>> auc([3.0, 2.0], [1.0, 2.0])
    0.875
    """
    if not pos or not neg:
        return None
    p, n = np.asarray(pos, float), np.asarray(neg, float)
    gt = (p[:, None] > n[None, :]).sum()
    eq = (p[:, None] == n[None, :]).sum()
    return float((gt + 0.5 * eq) / (len(p) * len(n)))


def tpr_at_fpr(pos: list[float], neg: list[float], fpr: float = 0.01) -> float | None:
    """Share of positives above the (1 - fpr) quantile of negatives (above all negatives when n_neg < 1/fpr)."""
    if not pos or not neg:
        return None
    n = np.sort(np.asarray(neg, float))
    k = int(math.floor(fpr * len(n)))  # negatives allowed above the threshold
    thr = n[len(n) - 1 - k]
    return float(np.mean(np.asarray(pos, float) > thr))


def eval_pairs(manifest: ZooManifest) -> list[tuple[str, str, str, str]]:
    """(a, b, truth, transform) pairs to evaluate from a :class:`~taoke.zoo.manifest.ZooManifest`."""
    out: list[tuple[str, str, str, str]] = []
    entries = list(manifest.entries)
    for e in entries:
        if e.base is not None and e.relation in POSITIVE:
            out.append((e.base, e.name, e.relation, e.transform))
    indep = [e for e in entries if e.relation == "independent"]
    by_group: dict[str, list[Any]] = {}
    for e in indep:
        by_group.setdefault(e.group, []).append(e)
    for group in by_group.values():
        for i, x in enumerate(group):
            for y in group[i + 1 :]:
                how = "" if x.transform in (None, "", "train-from-scratch") else f" ({x.transform})"
                out.append((x.name, y.name, "independent", f"independent-same-architecture{how}"))
    names = {e.name for e in entries}
    roots = [o.name for o in originals() if o.reference] + [r.name for r in recipes() if r.reference]
    for e in indep:  # an independent model against the reference entry of its architecture (std-matched SmolLM2)
        for root in roots:
            if root in names and e.group == manifest.entry(root).group:
                out.append((root, e.name, "independent", e.transform or "independent"))
    return out


def unrelated_pairs(data_dir: Path | None = None) -> list[tuple[str, str, str, str]]:
    """Real models of different families from the data set, as ``evaluate``'s ``extra`` pairs (Gemma-3 only when
    the --all data set is fetched)."""
    data = data_dir or defaults.data_dir()
    smol, gemma, minilm = data / SMOLLM2_GGUF, data / GEMMA3_GGUF, data / MINILM_DIR
    out = []
    if gemma.exists():
        out.append((str(smol), str(gemma), "unrelated", "unrelated (SmolLM2 vs Gemma-3)"))
    out.append((str(minilm), str(smol), "unrelated", "unrelated (MiniLM vs SmolLM2)"))
    return out


def evaluate(
    manifest: ZooManifest,
    pairs: Iterable[tuple[str, str, str, str]],
    *,
    seed: int = defaults.SEED,
    on_pair: Callable[[PairResult], None] | None = None,
    extra: Iterable[tuple[str, str, str, str]] = (),
) -> list[PairResult]:
    """Run ``taoke compare`` on each pair. ``extra`` pairs name files directly (real unrelated models)."""
    import taoke

    results: list[PairResult] = []
    todo = [(str(manifest.path_of(a)), str(manifest.path_of(b)), a, b, t, tr) for a, b, t, tr in pairs]
    todo += [(a, b, a.rsplit("/", 1)[-1], b.rsplit("/", 1)[-1], t, tr) for a, b, t, tr in extra]
    for pa, pb, na, nb, truth, transform in todo:
        t0 = time.time()
        with taoke.open(str(pa)) as ma, taoke.open(str(pb)) as mb:
            v = taoke.compare(ma, mb, seed=seed)
            read = ma.bytes_read + mb.bytes_read
        ev = v.evidence
        if ev.units is not None:
            score: float | None = -ev.units.log10_p
        elif v.kind.same_weights:
            score = math.inf
        else:
            score = None
        r = PairResult(na, nb, truth, transform, v.kind, v.kind in ACCEPT[truth], v.log10_p, score,
                       None if ev.stdfp is None else ev.stdfp.correlation, time.time() - t0, read,
                       None if v.shared_part is None else str(v.shared_part))  # fmt: skip
        results.append(r)
        if on_pair:
            on_pair(r)
    return results


def summarize(results: list[PairResult]) -> dict[str, Any]:
    """Per-transformation rows and per-method AUC / TPR@1%FPR / FPR."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault(r.transform, {"truth": r.truth, "n": 0, "correct": 0, "log10_p": []})
        row["n"] += 1
        row["correct"] += int(r.correct)
        if r.log10_p is not None:
            row["log10_p"].append(r.log10_p)
    table = []
    for tr, row in rows.items():
        lp = row.pop("log10_p")
        table.append({"transform": tr, **row, "accuracy": row["correct"] / row["n"],
                      "max_log10_p": max(lp) if lp else None, "min_log10_p": min(lp) if lp else None})  # fmt: skip
    pos = [r for r in results if r.truth in POSITIVE]
    neg = [r for r in results if r.truth not in POSITIVE]
    methods = {}
    for name, key in (("hidden-unit agreement (-log10 p)", "unit_score"), ("per-layer std correlation", "std_corr")):
        ps = [getattr(r, key) for r in pos if getattr(r, key) is not None]
        ns = [getattr(r, key) for r in neg if getattr(r, key) is not None]
        pos_f = [min(x, 1e6) for x in ps]
        methods[name] = {
            "coverage_pos": f"{len(ps)}/{len(pos)}",
            "coverage_neg": f"{len(ns)}/{len(neg)}",
            "auc": auc(pos_f, ns),
            "tpr_at_1pct_fpr": tpr_at_fpr(pos_f, ns),
            "max_negative": max(ns) if ns else None,
        }
    fp = [r for r in neg if not r.correct]
    return {
        "format": "taoke.eval",
        "version": 1,
        "pairs": len(results),
        "positives": len(pos),
        "negatives": len(neg),
        "verdict_accuracy": sum(r.correct for r in results) / max(1, len(results)),
        "false_positives_on_independent": len(fp),
        "false_positive_rate": len(fp) / max(1, len(neg)),
        "rows": sorted(table, key=lambda x: (x["truth"], x["transform"])),
        "methods": methods,
        "results": [r.to_dict() for r in results],
    }


def markdown(summary: dict[str, Any]) -> str:
    """The README table."""
    lines = [
        f"{summary['pairs']} pairs ({summary['positives']} related, {summary['negatives']} independent); "
        f"verdict accuracy {100 * summary['verdict_accuracy']:.1f}%, false positives on independent pairs: "
        f"{summary['false_positives_on_independent']}/{summary['negatives']}.",
        "",
        "| transformation | label | pairs | correct verdicts | log10 p (weakest … strongest) |",
        "|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        lp = "—" if r["max_log10_p"] is None else f"{r['max_log10_p']:.1f} … {r['min_log10_p']:.1f}"
        lines.append(f"| {r['transform']} | {r['truth']} | {r['n']} | {r['correct']}/{r['n']} | {lp} |")
    lines += ["", "| method | AUC | TPR at 1% FPR | highest score of an independent pair | coverage (pos / neg) |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, m in summary["methods"].items():
        f = lambda x: "—" if x is None else f"{x + 0.0:.3f}"  # noqa: E731
        lines.append(f"| {name} | {f(m['auc'])} | {f(m['tpr_at_1pct_fpr'])} | {f(m['max_negative'])} | "
                     f"{m['coverage_pos']} / {m['coverage_neg']} |")  # fmt: skip
    return "\n".join(lines)
