"""Black-box lineage: is an endpoint a known model, a derivative of a known base (which one), or unknown?

References (``taoke probe db build --what lineage``) are computed from model *files*, in-process with
llama-cpp-python (the same code as its server: on the machine that built them, a served file gives identical greedy
answers whatever the thread count or batch size): for every
known model (:data:`taoke.blackbox.servable.KNOWN`) the greedy answer (temperature 0, ``MAX_TOKENS`` tokens) to
each of the :data:`~taoke.blackbox.prompts.FINGERPRINT_PROMPTS`. No evaluation endpoint contributes to them.
Token-only: the probe needs the answer texts, nothing else an endpoint may hide (log-probabilities are used by
``taoke probe watch`` where exposed).

The statistic is greedy agreement: for prompt ``j``, the length of the common prefix of the endpoint's answer and
the reference's, as a share of the shorter answer (characters, after whitespace normalisation); ``A(m)`` is its
mean over prompts. The same weights answer identically (``A = 1``); the same weights at another quantisation
or inference stack diverge after some tokens; a model trained further from them diverges earlier; models with
independent weights diverge at once.

Greedy decoding is not bit-identical across CPUs: other SIMD kernels sum in another order and flip the greedy
choice where the reference's top two tokens were nearly tied (measured: a run on another machine agreed 0.83 with
the shipped SmolLM2 references). Two safeguards keep the decision off bit-exactness. (1) The references store,
for each greedy token, the log-probability margin between its top two candidates; a divergence at a token whose
margin is at most :data:`TIE_NATS` (0.02 nats: float-summation noise, far below what re-quantising or training
moves; the reference itself could not settle it) ends the comparison of that prompt as agreeing. (2) ``known`` does
not need ``A = 1``: its threshold comes from the reference's lossless F16 copy, whose other kernels (F16 activations
instead of quantised ones) perturb the logits far more than another CPU running the same file.

Decision (thresholds from the reference files, stored with them, never from the endpoints):

* ``known`` when ``A >= known_threshold``: the lowest agreement between a reference and its own lossless F16 copy
  (the same weights through other kernels), minus a margin;
* ``close`` (the known model at another quantisation, or a close derivative) when ``A >= close_threshold``: the
  lowest agreement with any of its own copies, including a re-quantised Q5_1 one (the evaluation serves Q8_0 copies,
  held out), minus a margin. Greedy text cannot separate a re-quantisation from a light fine-tune: both fall
  here (measured per kind in ``docs/blackbox.md``);
* ``derivative`` of the best reference when ``A >= related_threshold``: above the largest agreement between
  independently trained references, plus a margin;
* ``unknown`` otherwise (the tokenizer family is still named by the tokenizer probe).

Only references whose tokenizer fits the endpoint's usage counts are candidates, when the tokenizer probe ran.
An endpoint that does not answer identically to an identical greedy request (it samples, whatever temperature it
is asked for) is flagged: greedy agreement then understates the relation (a known model can look like a
derivative), and the report says so.

References whose greedy answers are degenerate (:func:`informative`: the zoo's undertrained small Llamas answer
every prompt with the same newlines) cannot be told apart by their text. When the endpoint answers degenerately,
or every candidate reference does, the probe falls back on first-token log-probabilities (6 more queries,
``max_tokens`` 1, top-5), when the endpoint exposes them: the mean total variation to each reference's first-token
distributions (computed from the files) against two bands also computed from files -- a reference vs its own
re-quantised copies (``known`` at or below their largest TV plus 0.05) and independently trained references that
share a tokenizer (``unknown`` at or above their smallest TV minus 0.05), ``derivative`` between; where the two
bands overlap (a copy moved as much as another model did), ``inconclusive``. Without log-probabilities such an
endpoint gets ``inconclusive``.

Concessions: 12 prompts x 16 tokens is a small sample; a derivative that changed little (a light fine-tune of the
top layers) can agree as much as a re-quantisation and is then called the known model; the per-kind accuracy is
measured in ``benchmarks/blackbox/evaluate_lineage.py`` and reported in ``docs/blackbox.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from taoke.blackbox._data import load_versioned_json
from taoke.blackbox.client import ChatClient, ChatRequest, Ledger
from taoke.blackbox.prompts import FINGERPRINT_PROMPTS
from taoke.errors import ProbeError

LINEAGE_FORMAT = "taoke-blackbox-lineage"
LINEAGE_VERSION = 1
MAX_TOKENS = 16
TIE_NATS = 0.02  # a greedy divergence where the reference's top-2 log-probabilities are this close is a tie
TOP_K = 5
FIRST_PROMPTS = 6  # prompts asked for first-token log-probabilities when greedy text cannot decide
FIRST_MARGIN = 0.05
REPEATS = 3  # prompts asked twice to see whether the endpoint answers deterministically
SAME_MARGIN = 0.05
RELATED_MARGIN = 0.1


def _norm(text: str) -> str:
    return " ".join(text.split())


def _owners(pieces: list[str]) -> tuple[str, list[int]]:
    """The whitespace-normalised concatenation of token pieces and, per character, the index of its piece."""
    out: list[str] = []
    owner: list[int] = []
    pending = False
    for i, piece in enumerate(pieces):
        for ch in piece:
            if ch.isspace():
                pending = bool(out)
                continue
            if pending:
                out.append(" ")
                owner.append(i)
                pending = False
            out.append(ch)
            owner.append(i)
    return "".join(out), owner


def agreement(a: str, b: str, ties: list[list[Any]] | None = None, tie: float = TIE_NATS) -> float:
    """Common-prefix length of two answers as a share of the shorter (1.0 when one is a prefix of the other).

    ``ties``: the greedy tokens of the reference ``b`` as ``[piece, margin]`` (log-probability of its top token minus
    the runner-up's); when ``a`` leaves ``b`` inside a token whose margin is at most ``tie``, the divergence is a tie
    the reference itself could not settle (another CPU's rounding flips it) and the prompt counts as agreeing.

    >>> agreement("The sky is blue because", "The sky is red"), agreement("", "x")
    (0.7857142857142857, 0.0)
    >>> agreement("The sky is blue", "The sky is red", [["The", 3.0], [" sky", 2.0], [" is", 1.0], [" red", 0.01]])
    1.0
    """
    a, b = _norm(a), _norm(b)
    n = min(len(a), len(b))
    if n == 0:
        return 1.0 if a == b else 0.0
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    if k < n and ties:
        text, owner = _owners([str(t[0]) for t in ties])
        if text == b and float(ties[owner[k]][1]) <= tie:
            return 1.0
    return k / n


def informative(answers: list[str | None]) -> bool:
    """Whether greedy answers can identify a model: at least a third of them have 3 or more distinct words and at
    least half the prompts get distinct answers. A model that answers every prompt with the same newlines or the
    same repeated word (an undertrained one) cannot be told from another such model by its text.

    >>> informative(["\\n\\n"] * 12), informative([f"answer number {i} here" for i in range(12)])
    (False, True)
    """
    got = [_norm(a) for a in answers if a is not None]
    if not got:
        return False
    rich = sum(len(set(a.lower().split())) >= 3 for a in got)
    return rich * 3 >= len(got) and len(set(got)) * 2 >= len(got)


def mean_agreement(answers: list[str | None], ref: list[str], ties: list[Any] | None = None) -> float | None:
    """Mean :func:`agreement` over the answered prompts (``ties``: the reference's greedy tokens and margins)."""
    tl = list(ties) if ties else [None] * len(ref)
    vals = [agreement(a, r, t) for a, r, t in zip(answers, ref, tl, strict=True) if a is not None]
    return float(np.mean(vals)) if vals else None


# -- references (from files) ---------------------------------------------------------------------------------


def greedy_answers(gguf: Path, *, chat_format: str | None, prompts: tuple[str, ...] = FINGERPRINT_PROMPTS,
                   max_tokens: int = MAX_TOKENS, n_threads: int | None = None) -> dict[str, Any]:
    """Greedy answers of the model in ``gguf`` with each greedy token's top-2 margin (``tokens``: ``[piece,
    margin]``), and the top-5 log-probabilities of its first answer token, computed in-process with
    llama-cpp-python (as its server would)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=512, verbose=False, chat_format=chat_format, n_threads=n_threads,
                logits_all=True)
    try:
        answers, tokens, firsts = [], [], []
        for p in prompts:
            msg = [{"role": "user", "content": p}]
            r = llm.create_chat_completion(msg, max_tokens=max_tokens, temperature=0.0, logprobs=True,  # type: ignore[arg-type]
                                           top_logprobs=TOP_K)
            answers.append(r["choices"][0]["message"]["content"] or "")  # type: ignore[index]
            content = (r["choices"][0].get("logprobs") or {}).get("content") or []  # type: ignore[index,union-attr]
            tops = [t.get("top_logprobs") or [] for t in content]
            tokens.append([[t["token"], round(_margin(top), 4)] for t, top in zip(content, tops, strict=True)])  # type: ignore[arg-type]
            lp = content[0] if content else {}
            firsts.append([[a["token"], round(float(a["logprob"]), 5)] for a in lp.get("top_logprobs") or []])
        # the chat template's own overhead (as the tokenizer probe measures it: prompt_tokens("Hi") - n("Hi"))
        r = llm.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0)
        overhead = int(r["usage"]["prompt_tokens"]) - len(llm.tokenize(b"Hi", add_bos=False, special=False))  # type: ignore[index]
    finally:
        llm.close()
    return {"answers": answers, "tokens": tokens, "first": firsts, "overhead": overhead}


def _margin(top: list[dict[str, Any]]) -> float:
    """Log-probability of the top token minus the runner-up's (large when there is no runner-up)."""
    lps = sorted((float(x["logprob"]) for x in top), reverse=True)
    return lps[0] - lps[1] if len(lps) > 1 else 99.0


def build_lineage(*, root: Path | None = None, log: Callable[[str], None] = lambda s: None,
                  n_threads: int | None = None) -> dict[str, Any]:
    """References of every known model present, and the two thresholds, from files only."""
    from taoke.blackbox.servable import KNOWN, derived_dir, servable_gguf
    from taoke.blackbox.variants import derive_variant

    models: dict[str, Any] = {}
    copies: dict[str, dict[str, Any]] = {}
    for name, s in KNOWN.items():
        try:
            path = servable_gguf(s, root)
        except Exception as e:  # noqa: BLE001 - a reference that cannot be built is reported, not fatal
            log(f"skip {name}: {e}")
            continue
        log(f"lineage reference {name} ({path.name}) ...")
        ans = greedy_answers(path, chat_format=s.chat_format, n_threads=n_threads)
        models[name] = {"tokenizer": s.tokenizer, "source": path.name, "chat_format": s.chat_format,
                        "informative": informative(ans["answers"]), **ans}
        if not models[name]["informative"]:
            log(f"  {name}: degenerate greedy answers: named from first-token log-probabilities only")
        # the same weights at other precisions, written from the reference file: the "same model" band
        for q in (("F16", "Q5_1") if path.suffix == ".gguf" and "F16" not in path.name else ("Q5_1",)):
            dst = derived_dir(root) / f"{path.stem}.lineage-{q}.gguf"
            cp = derive_variant(path, q, dst)
            log(f"  {name} as {q} ...")
            copies[f"{name}/{q}"] = {"of": name, **greedy_answers(cp, chat_format=s.chat_format, n_threads=n_threads)}
    same = {k: mean_agreement(c["answers"], models[c["of"]]["answers"], models[c["of"]].get("tokens")) or 0.0
            for k, c in copies.items()
            if models[c["of"]]["informative"]}
    first_same = {k: mean_first_tv(c["first"], models[c["of"]]["first"]) for k, c in copies.items()}
    # independently trained references sharing a tokenizer (the zoo's small Llamas): the unrelated first-token band
    first_unrelated = [mean_first_tv(models[a]["first"], models[b]["first"]) for i, a in enumerate(models)
                       for b in list(models)[i + 1:] if models[a]["tokenizer"] == models[b]["tokenizer"]]
    # independently trained informative references (greedy agreement compares texts, tokenizers need not match):
    # the "unrelated" band
    unrelated: list[float] = []
    names = [m for m in models if models[m]["informative"]]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            unrelated.append(mean_agreement(models[a]["answers"], models[b]["answers"], models[b].get("tokens"))
                             or 0.0)
    return {"format": LINEAGE_FORMAT, "version": LINEAGE_VERSION,
            "params": {"max_tokens": MAX_TOKENS, "prompts": list(FINGERPRINT_PROMPTS), "tie_nats": TIE_NATS},
            "models": models,
            "calibration": {**calibrate(same, unrelated),
                            **calibrate_first({k: v for k, v in first_same.items() if v is not None},
                                              [v for v in first_unrelated if v is not None])}}


def calibrate_first(same: dict[str, float], unrelated: list[float]) -> dict[str, Any]:
    """First-token thresholds: mean total variation of a reference vs its own copies (the same weights) and between
    independent references with one tokenizer."""
    known = max(same.values()) + FIRST_MARGIN if same else 0.1
    related = min(unrelated) - FIRST_MARGIN if unrelated else 0.5
    return {"first_same": {k: round(v, 4) for k, v in same.items()},
            "first_unrelated": [round(u, 4) for u in unrelated],
            "first_known_threshold": round(known, 4), "first_related_threshold": round(max(known, related), 4)}


def first_tv(a: list[list[Any]] | None, b: list[list[Any]] | None) -> float | None:
    """Total variation between two top-k first-token distributions (each renormalised over its k tokens)."""
    if not a or not b:
        return None
    pa = {str(t): math.exp(float(lp)) for t, lp in a}
    pb = {str(t): math.exp(float(lp)) for t, lp in b}
    za, zb = sum(pa.values()) or 1.0, sum(pb.values()) or 1.0
    return 0.5 * sum(abs(pa.get(t, 0.0) / za - pb.get(t, 0.0) / zb) for t in set(pa) | set(pb))


def mean_first_tv(a: list[Any], b: list[Any]) -> float | None:
    vals = [v for v in (first_tv(x, y) for x, y in zip(a, b, strict=False)) if v is not None]
    return float(np.mean(vals)) if vals else None


def calibrate(same: dict[str, float], unrelated: list[float]) -> dict[str, Any]:
    """Thresholds from the agreements of the references with their own copies (``"<model>/F16"``: the same weights,
    other kernels; ``"<model>/Q5_1"``: re-quantised) and between independent references."""
    lossless = [v for k, v in same.items() if k.endswith("/F16")]
    return {"same": {k: round(v, 4) for k, v in same.items()}, "unrelated": [round(u, 4) for u in unrelated],
            "known_threshold": round(min(lossless) - SAME_MARGIN, 4) if lossless else 0.9,
            "close_threshold": round(min(same.values()) - SAME_MARGIN, 4) if same else 0.5,
            "related_threshold": round(max(unrelated) + RELATED_MARGIN, 4) if unrelated else 0.3}


def load_lineage(path: Path | None = None) -> dict[str, Any]:
    return load_versioned_json("blackbox_lineage.json", path, fmt=LINEAGE_FORMAT, version=LINEAGE_VERSION,
                               what="lineage references", error=ProbeError,
                               hint="rebuild them with `taoke probe db build --what lineage`")


# -- the probe ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineageEvidence:
    """``outcome``: ``known`` | ``close`` | ``derivative`` | ``unknown`` | ``inconclusive``; ``model``: the reference
    named (``close``: the known model re-quantised, or a close derivative of it -- greedy text cannot tell)."""

    outcome: str
    model: str | None
    agreement: tuple[tuple[str, float], ...]  # reference -> mean greedy agreement, best first
    deterministic: bool | None
    thresholds: tuple[float, float, float]  # known, close, related
    candidates: tuple[str, ...]
    answered: int
    queries: int
    errors: tuple[str, ...] = field(default=())
    note: str = ""
    first_tv: tuple[tuple[str, float], ...] = ()  # reference -> mean first-token TV (when that basis was used)
    basis: str = "greedy text"  # or "first-token log-probabilities"
    thresholds_first: tuple[float, float] = (0.0, 0.0)  # first-token TV: known <=, unknown >=

    @property
    def wording(self) -> str:
        if self.basis != "greedy text" and self.outcome in ("known", "derivative", "unknown") and self.first_tv:
            m, tv = self.first_tv[0]
            what = {"known": f"serves {m}", "derivative": f"a derivative of {m}",
                    "unknown": "not a known model or a derivative of one"}[self.outcome]
            return (f"{what} (its greedy text is degenerate; first-token distributions differ from {m}'s by a total "
                    f"variation of {tv:.3f}: its own copies <= {self.thresholds_first[0]:.3f}, independent models >= "
                    f"{self.thresholds_first[1]:.3f})")
        return self._wording_text()

    def _wording_text(self) -> str:
        a = dict(self.agreement).get(self.model or "", 0.0)
        caveat = "" if self.deterministic is not False else "; the endpoint samples (identical greedy requests got " \
                                                              "different answers), so agreement is understated"
        if self.outcome == "known":
            return (f"serves {self.model} (greedy agreement {a:.2f}, within the band of its own copies at other "
                    f"precision >= {self.thresholds[0]:.2f}){caveat}")
        if self.outcome == "close":
            return (f"{self.model} at another quantisation, or a close derivative of it (greedy agreement {a:.2f}: "
                    f"where re-quantised copies of it fall, >= {self.thresholds[1]:.2f}; greedy text cannot tell "
                    f"them apart){caveat}")
        if self.outcome == "derivative":
            return (f"a derivative of {self.model} (greedy agreement {a:.2f}: below every re-quantised copy of it "
                    f"{self.thresholds[1]:.2f}, above independent models {self.thresholds[2]:.2f}){caveat}")
        if self.outcome == "unknown" and not self.agreement:
            return "no lineage reference has this tokenizer"
        if self.outcome == "unknown":
            best = self.agreement[0]
            return (f"not a known model or a derivative of one (best greedy agreement {best[1]:.2f} with {best[0]}, "
                    f"independent models reach {self.thresholds[2]:.2f}){caveat}")
        return f"lineage inconclusive: {self.note or 'too few answers'}"

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "model": self.model, "wording": self.wording,
                "agreement": {m: round(v, 4) for m, v in self.agreement},
                "deterministic": self.deterministic,
                "thresholds": {"known": self.thresholds[0], "close": self.thresholds[1],
                               "related": self.thresholds[2]},
                "candidates": list(self.candidates), "answered": self.answered, "queries": self.queries,
                "errors": list(self.errors), "note": self.note, "basis": self.basis,
                "first_token_tv": {m: round(v, 4) for m, v in self.first_tv}}


def decide(answers: list[str | None], refs: dict[str, Any],
           candidates: tuple[str, ...] | None = None) -> tuple[str, str | None, list[tuple[str, float]]]:
    """(outcome, model, agreement ranking) of greedy answers against the references."""
    models = refs["models"]
    cands = [m for m in (candidates if candidates is not None else tuple(models))
             if m in models and models[m].get("informative", True)]
    agree = [(m, mean_agreement(answers, models[m]["answers"], models[m].get("tokens"))) for m in cands]
    ranked = sorted(((m, a) for m, a in agree if a is not None), key=lambda kv: -kv[1])
    cal = refs["calibration"]
    if not ranked:
        return "unknown" if not cands else "inconclusive", None, ranked
    best, a = ranked[0]
    if a >= cal["known_threshold"]:
        return "known", best, ranked
    if a >= cal["close_threshold"]:
        return "close", best, ranked
    if a >= cal["related_threshold"]:
        return "derivative", best, ranked
    return "unknown", None, ranked


def no_candidate(refs: dict[str, Any]) -> LineageEvidence:
    """The outcome when no reference shares the endpoint's tokenizer: unknown, without asking anything."""
    return LineageEvidence("unknown", None, (), None, thresholds(refs), (), 0, 0,
                           note="no lineage reference has this tokenizer")


def thresholds(refs: dict[str, Any]) -> tuple[float, float, float]:
    cal = refs["calibration"]
    return float(cal["known_threshold"]), float(cal["close_threshold"]), float(cal["related_threshold"])


def run(client: ChatClient, refs: dict[str, Any] | None = None, *, candidates: tuple[str, ...] | None = None,
        repeats: int = REPEATS) -> LineageEvidence:
    """Ask the fingerprint prompts greedily (+ ``repeats`` of them again) and compare with the references."""
    refs = refs or load_lineage()
    prompts = list(refs["params"]["prompts"])
    mt = int(refs["params"]["max_tokens"])
    reqs = [ChatRequest.user(p, max_tokens=mt, temperature=0.0) for p in prompts]
    reqs += [ChatRequest.user(p, max_tokens=mt, temperature=0.0, nonce=1) for p in prompts[:repeats]]
    before = client.budget.snapshot()
    ledger = Ledger()
    res = ledger.keep(client.complete_many(reqs))
    after = client.budget.snapshot()
    first = res[:len(prompts)]
    answers = [r.text if r is not None else None for r in first]
    pairs = [(a, b.text) for a, b in zip(answers[:repeats], res[len(prompts):], strict=True)
             if a is not None and b is not None]
    deterministic = all(_norm(a) == _norm(b) for a, b in pairs) if pairs else None
    answered = sum(a is not None for a in answers)
    th = thresholds(refs)
    spent = (after.charged - before.charged) + (after.cached - before.cached)
    if answered < len(prompts) // 2:
        return LineageEvidence("inconclusive", None, (), deterministic, th, tuple(candidates or ()), answered,
                               spent, tuple(ledger.errors))
    cands = tuple(candidates if candidates is not None else refs["models"])
    if not informative(answers) or (cands and not any(refs["models"][m].get("informative", True) for m in cands
                                                      if m in refs["models"])):
        return _by_first_tokens(client, refs, cands, prompts, deterministic, th, answered, spent, ledger)
    outcome, model, ranked = decide(answers, refs, candidates)
    return LineageEvidence(outcome, model, tuple(ranked), deterministic, th,
                           tuple(candidates if candidates is not None else refs["models"]), answered, spent,
                           tuple(ledger.errors))


def _by_first_tokens(client: ChatClient, refs: dict[str, Any], cands: tuple[str, ...], prompts: list[str],
                     deterministic: bool | None, th: tuple[float, float, float], answered: int, spent: int,
                     ledger: Ledger) -> LineageEvidence:
    """Greedy text cannot decide (degenerate answers): compare first-token log-probabilities, when exposed."""
    cal = refs["calibration"]
    tf = (float(cal.get("first_known_threshold", 0.0)), float(cal.get("first_related_threshold", 1.0)))
    reqs = [ChatRequest.user(p, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=TOP_K)
            for p in prompts[:FIRST_PROMPTS]]
    before = client.budget.snapshot()
    res = ledger.keep(client.complete_many(reqs))
    after = client.budget.snapshot()
    spent += (after.charged - before.charged) + (after.cached - before.cached)
    got = [[list(x) for x in r.top_logprobs[0]] if r is not None and r.top_logprobs else None for r in res]
    common = dict(deterministic=deterministic, thresholds=th, candidates=cands, answered=answered, queries=spent,
                  errors=tuple(ledger.errors), basis="first-token log-probabilities", thresholds_first=tf)
    if not any(got) or "first_known_threshold" not in cal:
        return LineageEvidence("inconclusive", None, (), note="the endpoint's greedy answers are degenerate (the "
                               "same few words for every prompt) and it gives no log-probabilities: its text cannot "
                               "identify it", **common)  # type: ignore[arg-type]
    outcome, best, tvs = decide_first(got, refs, cands)
    if not tvs:
        return LineageEvidence("unknown", None, (), note="no reference to compare with", **common)  # type: ignore[arg-type]
    note = (f"its first-token distributions differ from {tvs[0][0]}'s by a total variation of {tvs[0][1]:.3f}, "
            "where a reference's own re-quantised copies and independently trained models overlap"
            if outcome == "inconclusive" else "")
    return LineageEvidence(outcome, best, (), first_tv=tuple(tvs), note=note, **common)  # type: ignore[arg-type]


def decide_first(got: list[Any], refs: dict[str, Any],
                 cands: tuple[str, ...]) -> tuple[str, str | None, list[tuple[str, float]]]:
    """(outcome, model, TV ranking) of first-token top-k distributions (one per prompt, ``None`` when missing)
    against the references' (the fallback when greedy text is degenerate)."""
    cal = refs["calibration"]
    tf = (float(cal.get("first_known_threshold", 0.0)), float(cal.get("first_related_threshold", 1.0)))
    tvs = []
    for m in cands:
        ref = refs["models"].get(m, {}).get("first")
        v = mean_first_tv(got[:FIRST_PROMPTS], ref[:FIRST_PROMPTS]) if ref else None
        if v is not None:
            tvs.append((m, v))
    tvs.sort(key=lambda kv: kv[1])
    if not tvs:
        return "unknown", None, tvs
    best, tv = tvs[0]
    unrel = [float(u) for u in cal.get("first_unrelated") or []]
    # the copies' band may reach into the independent models' band (the zoo's small Llamas: a Q5_1 copy moves the
    # first token as much as another model): there, neither "known" nor "derivative" is supported
    overlap_from = min(unrel) - FIRST_MARGIN if unrel else tf[0]
    if tv <= min(tf[0], overlap_from):
        outcome = "known"
    elif tv >= tf[1]:
        outcome = "unknown"
    elif tv > overlap_from:
        outcome = "inconclusive"
    else:
        outcome = "derivative"
    return outcome, best if outcome in ("known", "derivative") else None, tvs
