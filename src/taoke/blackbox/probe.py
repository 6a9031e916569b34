"""``probe_endpoint``: run the probes against one endpoint and combine them into a verdict.

Evidence flows one way: tokenizer fit (:mod:`.probes.tokenizer`), behavioural match
(:mod:`.probes.behaviour`), identity claims (:mod:`.probes.identity`), greedy agreement with the lineage
references (:mod:`.lineage`) and the per-query attribution of token counts (:mod:`.attribution`) ->
:class:`Verdict`.

Order of precedence: an endpoint whose identical requests got different token counts is *mixed* (the components
found are named). Otherwise the lineage probe, among the references whose tokenizer fits the counts, says
whether the endpoint serves a known model, a derivative of one (which base) or neither. When the endpoint adds a
system prompt of its own (its template overhead differs from the reference model's), greedy answers are not
comparable with the references: the verdict then names the base from tokenizer + behaviour and leaves the
relation open ("known-or-derivative").

Combination (simple and stated): for each known reference model ``m``,
``score(m) = P_tok(class of m's tokenizer) * (votes(m) + 1) / (answered + M)`` -- the tokenizer posterior
times a Laplace-smoothed behavioural vote share; scores are normalised to a confidence. When the tokenizer
fit names a class that holds no known model, the verdict names that tokenizer family and no model. Identity
claims never decide the model: they are checked against it, and a contradiction (or a claim inconsistent
across languages, a leaked instruction, a template overhead that differs from the real model's own server)
is reported as a sign of a masking system prompt.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from taoke.blackbox import attribution as attr
from taoke.blackbox import lineage as lin
from taoke.blackbox.budget import BudgetSnapshot
from taoke.blackbox.client import ChatClient
from taoke.blackbox.probes import behaviour as beh
from taoke.blackbox.probes import identity as ident
from taoke.blackbox.probes import tokenizer as tok
from taoke.errors import ProbeError, UsageError

REPORT_FORMAT = "taoke-probe-report/1"
PROBES = ("tokenizer", "identity", "behaviour", "lineage")
OVERHEAD_SLACK = 2  # tokens: boundary merges around the template
REPEATS = 12  # tokenizer strings sent twice: identical requests must get identical counts from one backend


@dataclass(frozen=True)
class Verdict:
    model: str | None
    family: str | None
    confidence: float
    wording: str
    scores: tuple[tuple[str, float], ...] = ()
    mixture: tuple[tuple[str, float], ...] = ()  # (component, estimated share) when the endpoint is mixed
    relation: str | None = None  # lineage: known | close | derivative | unknown | known-or-derivative | None
    base: str | None = None  # the known model it is, or derives from

    @property
    def mixed(self) -> bool:
        return bool(self.mixture) or self.wording.startswith("mixed")

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "family": self.family, "confidence": round(self.confidence, 4),
                "wording": self.wording, "scores": {m: round(s, 4) for m, s in self.scores},
                "mixed": self.mixed, "mixture": {m: round(s, 3) for m, s in self.mixture},
                "relation": self.relation, "base": self.base}


@dataclass(frozen=True)
class ProbeReport:
    endpoint: dict[str, str]
    verdict: Verdict
    tokenizer: tok.TokenizerEvidence | None
    identity: ident.IdentityEvidence | None
    behaviour: beh.BehaviourEvidence | None
    masking: tuple[str, ...]
    queries: BudgetSnapshot
    elapsed_s: float
    reported_models: tuple[str, ...] = field(default=())
    mixture: attr.MixtureEvidence | None = None
    lineage: lin.LineageEvidence | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": REPORT_FORMAT, "endpoint": self.endpoint, "verdict": self.verdict.to_dict(),
                "masking": list(self.masking),
                "evidence": {"tokenizer": self.tokenizer.to_dict() if self.tokenizer else None,
                             "identity": self.identity.to_dict() if self.identity else None,
                             "behaviour": self.behaviour.to_dict() if self.behaviour else None,
                             "mixture": self.mixture.to_dict() if self.mixture else None,
                             "lineage": self.lineage.to_dict() if self.lineage else None},
                "queries": self.queries.to_dict(), "elapsed_s": round(self.elapsed_s, 2),
                "reported_model_field": list(self.reported_models)}


def combine(t: tok.TokenizerEvidence | None, b: beh.BehaviourEvidence | None,
            refs: dict[str, Any], mix: attr.MixtureEvidence | None = None) -> Verdict:
    models: dict[str, Any] = refs["models"]
    if mix is not None and mix.mixed:
        # identical requests got different counts: no single model answers; name the components found
        return Verdict(None, None, 1.0, f"{mix.wording} (from {mix.queries} queries' token counts)",
                       mixture=tuple((c.label, c.share) for c in mix.components))
    names = list(models)
    p_tok: dict[str, float] | None = None
    if t is not None and t.best is not None:
        p_tok = {}
        for m in names:
            cls = next((c for c in t.ranking if models[m]["tokenizer"] in c.members), None)
            p_tok[m] = cls.posterior if cls else 0.0
        if models and max(p_tok.values()) < 0.5:
            fam = ", ".join(t.best.members)
            return Verdict(None, fam, t.best.posterior,
                           f"tokenizer is {fam} (posterior {t.best.posterior:.2f}); no reference model of it")
    votes = dict(b.votes) if b is not None else {}
    answered = b.answered if b is not None else 0
    if p_tok is None and not answered:
        return Verdict(None, None, 0.0, "inconclusive: neither the tokenizer nor the behaviour probe answered")
    scores = {}
    for m in names:
        s = (votes.get(m, 0) + 1) / (answered + len(names))
        if p_tok is not None:
            s *= max(p_tok[m], 1e-12)
        scores[m] = s
    z = sum(scores.values()) or 1.0
    ranked = sorted(((m, s / z) for m, s in scores.items()), key=lambda kv: -kv[1])
    best, conf = ranked[0]
    basis = " + ".join(x for x, ok in (("tokenizer", p_tok is not None), ("behaviour", answered > 0)) if ok)
    word = "most likely" if conf >= 0.9 else "probably" if conf >= 0.6 else "inconclusive, leaning"
    return Verdict(best, models[best].get("family"), conf, f"{word} {best} (confidence {conf:.2f}, from {basis})",
                   tuple(ranked))


def system_prompt_added(t: tok.TokenizerEvidence | None, model: str | None, lrefs: dict[str, Any]) -> int | None:
    """Tokens the endpoint adds beyond ``model``'s own template (None when unknown or within the slack)."""
    ref = lrefs["models"].get(model or "")
    if t is None or t.best is None or ref is None or "overhead" not in ref:
        return None
    d = t.best.overhead - int(ref["overhead"])
    return d if abs(d) > OVERHEAD_SLACK else None


def with_lineage(v: Verdict, le: lin.LineageEvidence | None, t: tok.TokenizerEvidence | None,
                 lrefs: dict[str, Any]) -> Verdict:
    """The verdict refined by the lineage probe (see the module docstring for the precedence)."""
    if le is None or v.mixed or le.outcome == "inconclusive":
        return v
    fam = v.family
    best = le.agreement[0][0] if le.agreement else None
    added = system_prompt_added(t, le.model or best or v.model, lrefs)
    if added is not None and (le.model or best):
        base = le.model or best
        return Verdict(v.model or base, fam, v.confidence,
                       f"{base} or a derivative of it, behind a system prompt of its own (+{added} tokens): greedy "
                       f"answers are not comparable with the references ({le.wording})", v.scores,
                       relation="known-or-derivative", base=base)
    if le.outcome == "known":
        return Verdict(le.model, fam, max(v.confidence, 0.0), f"{le.wording}; {v.wording}", v.scores,
                       relation="known", base=le.model)
    if le.outcome in ("close", "derivative"):
        return Verdict(None, fam, v.confidence, le.wording, v.scores, relation=le.outcome, base=le.model)
    tokname = ", ".join(t.best.members[:3]) if t is not None and t.best is not None else None
    what = f"an unknown model with the {tokname} tokenizer" if tokname else "an unknown model"
    return Verdict(None, fam, v.confidence, f"{what}: {le.wording}", v.scores, relation="unknown")


def masking_signs(v: Verdict, t: tok.TokenizerEvidence | None, i: ident.IdentityEvidence | None,
                  refs: dict[str, Any]) -> tuple[str, ...]:
    signs: list[str] = []
    ref = refs["models"].get(v.model or "", {})
    if i is not None:
        if i.top_claim and ref and ident.vendor_of(i.top_claim) != ref.get("vendor"):
            signs.append(f"claims to be {i.top_claim} ({ident.vendor_of(i.top_claim)}) but the evidence points "
                         f"to {v.model} ({ref.get('vendor')})")
        if i.inconsistent:
            signs.append("identity claims disagree across languages/framings: " +
                         ", ".join(f"{c}x{n}" for c, n in i.tally))
        for s in i.leaked_instructions[:3]:
            signs.append(f"instruction leaked when asked to repeat its prompt: {s!r}")
    if t is not None and t.best is not None and ref and "overhead" in ref:
        delta = t.best.overhead - int(ref["overhead"])
        if abs(delta) > OVERHEAD_SLACK:
            signs.append(f"prompt overhead is {t.best.overhead} tokens vs {ref['overhead']} on {v.model}'s own "
                         f"template: the endpoint adds or replaces a system prompt ({delta:+d} tokens)")
    return tuple(signs)


def lineage_candidates(t: tok.TokenizerEvidence | None, lrefs: dict[str, Any]) -> tuple[str, ...] | None:
    """Lineage references whose tokenizer fits the counts (None: no tokenizer evidence, try them all)."""
    if t is None or t.best is None:
        return None
    return tuple(m for m, r in lrefs["models"].items() if r.get("tokenizer") in t.best.members)


def probe_endpoint(client: ChatClient, *, probes: Sequence[str] = PROBES, table: dict[str, Any] | None = None,
                   refs: dict[str, Any] | None = None, lineage_refs: dict[str, Any] | None = None,
                   repeats: int = REPEATS) -> ProbeReport:
    """Run the selected probes (each one's failures are kept as partial results) and build the report.

    Every answered query's ``usage.prompt_tokens`` is then attributed to tokenizers (:mod:`.attribution`): an
    endpoint whose identical requests get different counts is reported as mixed, with the models found."""
    unknown = set(probes) - set(PROBES)
    if unknown:
        raise UsageError(f"unknown probe(s): {', '.join(sorted(unknown))}", hint="choose from " + ", ".join(PROBES))
    refs = refs or beh.load_references()
    table = table or tok.load_table()
    start = len(client.transcript)
    t0 = time.monotonic()
    t = tok.run(client, table, repeats=repeats) if "tokenizer" in probes else None
    b = beh.run(client, refs) if "behaviour" in probes else None
    i = ident.run(client) if "identity" in probes else None
    le = None
    lrefs: dict[str, Any] = {"models": {}}
    if "lineage" in probes:
        lrefs = lineage_refs or lin.load_lineage()
        cands = lineage_candidates(t, lrefs)
        le = lin.run(client, lrefs, candidates=cands) if cands != () else lin.no_candidate(lrefs)
    answered = (t.n_strings_answered + (t.observed[0] is not None) if t else 0) + (b.answered if b else 0) + (
        len(i.answers) if i else 0) + (le.answered if le else 0)
    if answered == 0:
        errs = [e for ev in (t, b, i, le) if ev is not None for e in ev.errors]
        raise ProbeError(f"no query was answered ({len(errs)} failed): {errs[0] if errs else 'no probes run'}",
                         subject=client.endpoint.base_url, hint="check the URL, the key and the endpoint's health")
    mix = attr.analyse(client.observations(start), table, refs)
    v0 = combine(t, b, refs, mix)
    v = with_lineage(v0, le, t, lrefs)
    return ProbeReport(endpoint=client.endpoint.to_dict(), verdict=v, tokenizer=t, identity=i, behaviour=b,
                       masking=masking_signs(v0, t, i, refs) if not v.mixed else (), queries=client.budget.snapshot(),
                       elapsed_s=time.monotonic() - t0, reported_models=tuple(sorted(client.seen_models)),
                       mixture=mix, lineage=le)
