"""Per-query attribution of ``usage.prompt_tokens`` and the test for mixed routing (several models behind one
endpoint).

Every text a probe sends as a lone user message has its token count under every known tokenizer in the shipped
table (:func:`taoke.blackbox.prompts.user_texts`). An endpoint served by one model reports, for every query ``i``,
``p_i = o + n_T(text_i) + e_i`` with ``T`` its tokenizer, ``o`` the constant overhead of its chat template and any
system prompt, and ``e_i`` a boundary merge of at most ``TOLERANCE`` token. A *component* is a tokenizer class
``T`` with an overhead ``o``; it *explains* query ``i`` when ``|p_i - n_T(text_i) - o| <= TOLERANCE``.

Two pieces of evidence, both from the queries a probe already made (no extra cost beyond repeated texts):

* **repeats** -- the same text sent more than once must get the same count from one model with one template
  (counts are deterministic: they depend on the text and the template only). Different counts for one text are
  direct evidence of more than one backend or template; no tokenizer table is needed.
* **components** -- the best single component explains every query of an honest endpoint (one query may miss
  by more than the tolerance). When it does not, the best *pair* of components is searched: each must explain
  at least ``MIN_EXCLUSIVE`` queries the other does not, and together they explain all. The shares are estimated
  from the exclusively explained queries (routing is independent of the text, so a query of either model is
  equally likely to be exclusive). A component whose tokenizer class holds a reference model is named by it;
  otherwise by its tokenizer.

The decision needs both: the endpoint is reported **mixed** only when identical requests got different counts;
the components then name the models (``mixed``), or the one found and "a model with an unknown tokenizer"
(``mixed-unknown``, when the best component explains at least half of the queries). Components alone are not
enough: an honest endpoint whose tokenizer is not in the table is often explained by two known tokenizers at
different overheads (measured: 62 of 540 simulated unknown-tokenizer endpoints, leave-one-class-out), while
its repeats agree. Counts that disagree on repeats and fit no known tokenizer are ``inconsistent`` (random or
rewritten usage), not mixed.

False alarms are measured, not assumed (``benchmarks/blackbox/evaluate_mixture.py``): on honest endpoints
(real servers, and every tokenizer of the table with random overheads and boundary merges), and on honest
endpoints whose tokenizer is *not* in the table (leave-one-class-out).

Concession: two models sharing a tokenizer and a chat template (a base and its fine-tune) give identical counts;
their mixture is invisible to this test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

TOLERANCE = 1
MAX_OUTLIERS = 1  # queries a single model may leave unexplained (a boundary merge of more than TOLERANCE)
MIN_EXCLUSIVE = 2
MIN_NAMED = 4  # exclusive queries a second component needs to be named (fewer fit some tokenizer by chance)
MIN_QUERIES = 8


@dataclass(frozen=True)
class Component:
    """A tokenizer class at one prompt overhead and the queries it explains."""

    members: tuple[str, ...]
    models: tuple[str, ...]  # reference models whose tokenizer is in the class
    overhead: int
    explains: tuple[int, ...]
    exclusive: int = 0
    share: float = 1.0

    @property
    def label(self) -> str:
        return self.models[0] if self.models else f"a model whose counts fit the {self.members[0]} tokenizer"

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "tokenizers": list(self.members[:6]), "models": list(self.models),
                "overhead": self.overhead, "explains": len(self.explains), "exclusive": self.exclusive,
                "share": round(self.share, 3)}


@dataclass(frozen=True)
class MixtureEvidence:
    """``outcome``: ``single`` | ``mixed`` | ``mixed-unknown`` | ``no-fit`` | ``inconsistent`` | ``insufficient``."""

    outcome: str
    components: tuple[Component, ...]
    queries: int  # attributable queries (known text, usage reported)
    repeats_checked: int  # texts seen more than once
    repeat_conflicts: tuple[tuple[str, tuple[int, ...]], ...]  # (text, distinct counts) for conflicting repeats
    unexplained: int
    note: str

    @property
    def mixed(self) -> bool:
        return self.outcome in ("mixed", "mixed-unknown")

    @property
    def wording(self) -> str:
        if self.outcome == "mixed":
            return "mixed: " + ", ".join(f"≈{c.share:.0%} {c.label}" for c in self.components)
        if self.outcome == "mixed-unknown" and self.components:
            c = self.components[0]
            return (f"mixed: ≈{c.share:.0%} {c.label}, the rest from another backend (an unknown tokenizer, or too "
                    "few of its answers to name it)")
        if self.outcome == "mixed-unknown":
            return "mixed: identical requests got different token counts; no known tokenizer explains most of them"
        return self.note

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "wording": self.wording, "components": [c.to_dict() for c in self.components],
                "queries": self.queries, "repeats_checked": self.repeats_checked,
                "repeat_conflicts": [{"text": t[:60], "counts": list(c)} for t, c in self.repeat_conflicts],
                "unexplained": self.unexplained, "note": self.note}


def text_counts(table: dict[str, Any]) -> tuple[list[str], dict[str, int], np.ndarray]:
    """(tokenizer names, text -> column, counts matrix [tokenizers, texts]) over the table's strings and texts."""
    names = list(table["tokenizers"])
    texts = list(table["strings"]) + list(table.get("texts", ()))
    cols: dict[str, int] = {}
    for j, t in enumerate(texts):
        cols.setdefault(t, j)
    mat = np.asarray([list(table["tokenizers"][n]["counts"]) + list(table["tokenizers"][n].get("text_counts", ()))
                      for n in names], dtype=np.int64)
    return names, cols, mat


def _components(p: np.ndarray, counts: np.ndarray, classes: list[tuple[tuple[str, ...], tuple[str, ...]]],
                min_cover: int) -> list[tuple[Component, int, float]]:
    """Every (class, overhead) explaining at least ``min_cover`` queries: (component, bitmask, mean |residual|)."""
    out: list[tuple[Component, int, float]] = []
    for k, (members, models) in enumerate(classes):
        v = p - counts[k]
        seen: set[int] = set()
        for o in np.unique(v):
            ok = np.abs(v - o) <= TOLERANCE
            mask = int(sum(1 << int(i) for i in np.flatnonzero(ok)))
            if int(ok.sum()) < min_cover or mask in seen:
                continue
            seen.add(mask)
            out.append((Component(members, models, int(o), tuple(int(i) for i in np.flatnonzero(ok))), mask,
                        float(np.abs(v[ok] - o).mean())))
    return out


def analyse(observations: Sequence[tuple[str, int | None]], table: dict[str, Any],
            refs: dict[str, Any] | None = None) -> MixtureEvidence:
    """Attribute each ``(user text, prompt_tokens)`` to tokenizer components and test for mixed routing.

    ``refs``: the behavioural references (their ``models[name]["tokenizer"]`` name the classes); optional.
    """
    names, cols, mat = text_counts(table)
    obs = [(t, n) for t, n in observations if n is not None and t in cols]
    # repeats: one text, several counts
    by_text: dict[str, set[int]] = {}
    seen_n: dict[str, int] = {}
    for t, n in obs:
        by_text.setdefault(t, set()).add(int(n))  # type: ignore[arg-type]
        seen_n[t] = seen_n.get(t, 0) + 1
    conflicts = tuple((t, tuple(sorted(c))) for t, c in by_text.items() if len(c) > 1)
    repeats = sum(1 for t in seen_n if seen_n[t] > 1)
    n = len(obs)
    if n < MIN_QUERIES:
        return MixtureEvidence("insufficient", (), n, repeats, conflicts, 0,
                               f"only {n} queries with usage counts: no attribution")
    p = np.asarray([int(c) for _t, c in obs], dtype=np.int64)  # type: ignore[arg-type]
    sub = mat[:, [cols[t] for t, _c in obs]]
    # classes: tokenizers with identical counts on these texts
    ref_tok: dict[str, list[str]] = {}
    for m, r in ((refs or {}).get("models") or {}).items():
        ref_tok.setdefault(str(r.get("tokenizer")), []).append(m)
    groups: dict[tuple[int, ...], list[str]] = {}
    for i, name in enumerate(names):
        groups.setdefault(tuple(int(x) for x in sub[i]), []).append(name)
    classes = [(tuple(g), tuple(m for nm in g for m in ref_tok.get(nm, ()))) for g in groups.values()]
    counts = np.asarray([list(k) for k in groups], dtype=np.int64)
    comps = _components(p, counts, classes, MIN_EXCLUSIVE)
    full = (1 << n) - 1

    def rank(item: tuple[Component, int, float]) -> tuple[int, int, float]:
        c, mask, res = item
        return (-bin(mask).count("1"), 0 if c.models else 1, res)

    comps.sort(key=rank)
    if not comps:
        return MixtureEvidence("no-fit", (), n, repeats, conflicts, n,
                               "usage counts fit no known tokenizer (unknown tokenizer, or rewritten usage)")
    best, bmask, _bres = comps[0]
    covered = bin(bmask).count("1")
    if n - covered <= MAX_OUTLIERS and not conflicts:
        what = f"all {n}" if bmask == full else f"{covered} of {n}"
        return MixtureEvidence("single", (best,), n, repeats, conflicts, n - covered,
                               f"one tokenizer explains {what} queries: {best.label} (overhead {best.overhead})")
    # best pair
    pair: tuple[Component, Component, int, int] | None = None
    for (a, ma, _ra), (b, mb, _rb) in combinations(comps[:400], 2):
        if bin(ma & ~mb).count("1") < MIN_EXCLUSIVE or bin(mb & ~ma).count("1") < MIN_EXCLUSIVE:
            continue
        u = bin(ma | mb).count("1")
        named = bool(a.models) + bool(b.models)
        if pair is None or (u, named) > (pair[2], pair[3]):
            pair = (a, b, u, named)
    pair_explains = pair is not None and pair[2] == n and n - covered >= MIN_EXCLUSIVE
    if pair_explains:
        assert pair is not None
        ma, mb = sum(1 << i for i in pair[0].explains), sum(1 << i for i in pair[1].explains)
        named = min(bin(ma & ~mb).count("1"), bin(mb & ~ma).count("1")) >= MIN_NAMED
    else:
        named = False
    if not conflicts:
        if pair_explains:
            return MixtureEvidence("no-fit", (best,), n, repeats, conflicts, n - covered,
                                   f"no known tokenizer explains all counts (best {best.label}: {covered} of {n}); "
                                   "two known ones together would, but identical requests got identical counts, so "
                                   "one model with an unknown tokenizer is the likelier explanation")
        return MixtureEvidence("no-fit", (best,), n, repeats, conflicts, n - covered,
                               f"no known tokenizer explains all counts (best {best.label}: {covered} of {n}); "
                               "unknown tokenizer, or rewritten usage")
    if pair_explains and named:
        assert pair is not None
        a, b = pair[0], pair[1]
        ma, mb = sum(1 << i for i in a.explains), sum(1 << i for i in b.explains)
        ea, eb = bin(ma & ~mb).count("1"), bin(mb & ~ma).count("1")
        sa = ea / (ea + eb)
        ca = Component(a.members, a.models, a.overhead, a.explains, ea, sa)
        cb = Component(b.members, b.models, b.overhead, b.explains, eb, 1 - sa)
        comps2 = tuple(sorted((ca, cb), key=lambda c: -c.share))
        same = " (one tokenizer at two prompt overheads: two system prompts or templates, or two models "\
               "sharing a tokenizer)" if a.members == b.members else ""
        return MixtureEvidence("mixed", comps2, n, repeats, conflicts, 0,
                               f"identical requests got different counts ({len(conflicts)} of {repeats} repeated "
                               f"texts) and two tokenizers explain all {n} queries: {ca.label} ({ea} queries only "
                               f"it explains) and {cb.label} ({eb}){same}")
    # one known component and another backend: the known one explains a good part of the queries and one count of
    # every conflicting repeat (random or rewritten usage fits no component that well)
    ov = best.overhead
    rows = {t: k for k, (t, _c) in enumerate(obs)}
    cls = next(k for k, (m, _mo) in enumerate(classes) if m == best.members)
    fits_each = all(any(abs(c - ov - int(counts[cls, rows[t]])) <= TOLERANCE for c in cs) for t, cs in conflicts)
    if covered * 3 >= n and fits_each:
        c = Component(best.members, best.models, best.overhead, best.explains, covered, covered / n)
        return MixtureEvidence("mixed-unknown", (c,), n, repeats, conflicts, n - covered,
                               f"identical requests got different counts ({len(conflicts)} of {repeats} repeated "
                               f"texts); {best.label} explains {covered} of {n} queries, and no known tokenizer "
                               f"explains the rest with {MIN_NAMED} or more queries of its own")
    if covered * 3 >= n:
        return MixtureEvidence("mixed-unknown", (), n, repeats, conflicts, n - covered,
                               f"identical requests got different counts ({len(conflicts)} of {repeats} repeated "
                               f"texts); {best.label} explains {covered} of {n} but not every repeat")
    return MixtureEvidence("inconsistent", (), n, repeats, conflicts, n - covered,
                           f"identical requests got different counts ({len(conflicts)} of {repeats} repeated texts) "
                           "and no known tokenizer explains most of them: the usage counts are random or rewritten, "
                           "or several unknown backends answer")
