"""Swaps over time: ``taoke probe snapshot`` stores a compact baseline of an endpoint, ``taoke probe watch``
re-tests it with a small fixed budget and alarms with a calibrated false-alarm rate.

Baseline (:func:`take_snapshot`): each of the :data:`~taoke.blackbox.prompts.FINGERPRINT_PROMPTS` asked
``snapshot_samples`` times at temperature 0 (``max_tokens`` 16): the answer texts, their ``usage.prompt_tokens``
and, where the endpoint exposes them, the top-5 log-probabilities of the first generated token. No key, no
headers: the file holds the endpoint URL, the model name and the answers.

A check (:func:`check`, ``len(prompts) * check_samples + len(COUNT_TEXTS)`` queries, 27 by default, never more than 30) asks the same
prompts again and tests ``H0: the endpoint's answer distribution is the one of the baseline`` with a two-sample
MMD statistic and a within-prompt label permutation null (as the same-model test, Gao et al. 2024,
arXiv:2410.20247; B3IT, ICML 2026, and logprob tracking, ICLR 2026, use the same idea of re-asking fixed prompts
and testing the output tokens / first-token log-probabilities). The kernel averages the cosine of the answers'
hashed character n-gram embeddings (token-only evidence) and, when both sides have log-probabilities, the cosine
of the first-token distributions. The p-value ``(1 + #{T_perm >= T_obs}) / (1 + B)`` is valid whenever baseline
and check answers are exchangeable under H0 -- which holds for a deterministic endpoint (p = 1: every
permutation ties) and for one that samples (sampling noise is in both groups). An alarm at level ``alpha``
therefore has a false-alarm rate of at most ``alpha`` per check (measured in ``benchmarks/blackbox``).

Besides the test, deterministic evidence: ``usage.prompt_tokens`` of a prompt that differs from every baseline count
means another tokenizer or template. Short English prompts count alike under most tokenizers (SmolLM2's and
Gemma-3's give the same counts on the fingerprint prompts), so a swap between two models moves them all by the
difference of the templates' overheads; the snapshot therefore also stores the counts of :data:`COUNT_TEXTS` (three
strings in scripts that tokenizers split very differently: Hangul, emoji, Devanagari; one query each, 1 token). A
shift by the same number of tokens on every prompt *and* every count text is a changed system prompt or template
(the tokenizer counts all of them alike); any other change is another tokenizer, i.e. another model. Without count
texts (a snapshot that has none, or none answered) a uniform shift is reported as ``shift`` but cannot exclude
another tokenizer that counts the prompts alike.

What changed (only when the test alarms or the counts changed), from effect sizes with fixed thresholds:

* ``another model`` -- the tokenizer changed, or the outputs moved far: the first word of the answers agrees with
  the baseline's on fewer than ``DRIFT_AGREEMENT`` of the prompts (token-only), or the mean total variation between
  first-token distributions exceeds ``DRIFT_TV`` (log-probabilities);
* ``drift`` -- same tokenizer, the first words still agree and the first-token distributions moved little: what a
  re-quantisation or another inference stack does to the same weights, and also what a light fine-tune or continued
  pre-training of them does (measured: total variation 0.12-0.14 for the zoo's SmolLM2 fine-tune and continued
  pre-training, 0.06 for its Q8_0 re-quantisation), so the wording names all of them;
* ``system prompt`` -- every count shifted by the same amount (and the outputs did not move far).

The thresholds are fixed from quantisation error, not fitted to the evaluation: re-quantising the same weights
(Q4_K_M -> Q8_0 on Gemma-3-270M in ``docs/blackbox.md``) moves the first-token distribution by a total variation of
about 0.05 and keeps most greedy first words; models with other weights differ at most first words.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from taoke.blackbox.client import ChatClient, ChatRequest, ChatResponse, Ledger
from taoke.blackbox.embed import embed
from taoke.blackbox.probes.tokenizer import PROBE_STRINGS
from taoke.blackbox.prompts import FINGERPRINT_PROMPTS
from taoke.blackbox.same_model import mmd_permutation_test
from taoke.errors import ProbeError, UsageError

SNAPSHOT_FORMAT = "taoke-probe-snapshot"
SNAPSHOT_VERSION = 1
MAX_CHECK_QUERIES = 30
DRIFT_AGREEMENT = 0.5  # first-word agreement with the baseline below this: another model
DRIFT_TV = 0.25  # mean first-token total variation above this: another model
TOP_K = 5
# strings whose token counts differ most across the shipped tokenizer table (Hangul, emoji, Devanagari)
COUNT_TEXTS: tuple[str, ...] = (PROBE_STRINGS[4], PROBE_STRINGS[9], PROBE_STRINGS[13])
_NONCE_SNAPSHOT = 1 << 40  # nonces of snapshot requests; a check's are (check index << 8) + sample


@dataclass(frozen=True)
class Sample:
    """One answer: its text, the prompt's token count, and the first token's top log-probabilities."""

    text: str
    prompt_tokens: int | None
    first: tuple[tuple[str, float], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "prompt_tokens": self.prompt_tokens}
        if self.first is not None:
            d["first"] = [[t, round(lp, 5)] for t, lp in self.first]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        first = d.get("first")
        return cls(str(d["text"]), d.get("prompt_tokens"),
                   tuple((str(t), float(lp)) for t, lp in first) if first is not None else None)


@dataclass(frozen=True)
class Snapshot:
    """A compact baseline of one endpoint (``taoke probe snapshot``)."""

    endpoint: dict[str, str]
    created: str
    prompts: tuple[str, ...]
    max_tokens: int
    logprobs: bool
    samples: tuple[tuple[Sample, ...], ...]  # per prompt
    queries: int
    counts: tuple[tuple[str, int], ...] = ()  # COUNT_TEXTS -> usage.prompt_tokens (1-token answers)

    def to_dict(self) -> dict[str, Any]:
        return {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "endpoint": self.endpoint,
                "created": self.created, "max_tokens": self.max_tokens, "logprobs": self.logprobs,
                "queries": self.queries, "prompts": [{"prompt": p, "samples": [s.to_dict() for s in ss]}
                                                     for p, ss in zip(self.prompts, self.samples, strict=True)],
                "counts": [{"text": t, "prompt_tokens": n} for t, n in self.counts]}

    @classmethod
    def from_dict(cls, d: Any, subject: str = "snapshot") -> Snapshot:
        hint = "take one with `taoke probe snapshot URL --out FILE`"
        if not isinstance(d, dict) or d.get("format") != SNAPSHOT_FORMAT or d.get("version") != SNAPSHOT_VERSION:
            raise UsageError("not a taoke probe snapshot (format/version)", subject=subject, hint=hint)
        try:
            prompts = tuple(str(p["prompt"]) for p in d["prompts"])
            samples = tuple(tuple(Sample.from_dict(s) for s in p["samples"]) for p in d["prompts"])
            counts = tuple((str(c["text"]), int(c["prompt_tokens"])) for c in d.get("counts") or ())
            return cls(dict(d["endpoint"]), str(d["created"]), prompts, int(d["max_tokens"]), bool(d["logprobs"]),
                       samples, int(d.get("queries", 0)), counts)
        except (KeyError, TypeError, ValueError) as e:
            raise UsageError(f"malformed snapshot: {type(e).__name__}: {e}", subject=subject, hint=hint) from None

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read the snapshot: {e}", subject=str(path)) from None
        return cls.from_dict(d, str(path))


def _sample(r: ChatResponse) -> Sample:
    first = r.top_logprobs[0] if r.top_logprobs else None
    return Sample(r.text, r.prompt_tokens, tuple(first) if first else None)


def _ask(client: ChatClient, prompts: Sequence[str], n: int, max_tokens: int, logprobs: bool, nonce0: int,
         ledger: Ledger) -> list[list[Sample]]:
    reqs = [ChatRequest.user(p, max_tokens=max_tokens, temperature=0.0, logprobs=logprobs,
                             top_logprobs=TOP_K if logprobs else None, nonce=nonce0 + r)
            for r in range(n) for p in prompts]
    out: list[list[Sample]] = [[] for _ in prompts]
    for i, res in enumerate(ledger.keep(client.complete_many(reqs))):
        if res is not None:
            out[i % len(prompts)].append(_sample(res))
    return out


def _ask_counts(client: ChatClient, texts: Sequence[str], nonce: int, ledger: Ledger) -> list[int | None]:
    """``usage.prompt_tokens`` of each text sent alone (1 generated token)."""
    reqs = [ChatRequest.user(t, max_tokens=1, temperature=0.0, nonce=nonce) for t in texts]
    return [r.prompt_tokens if r is not None else None for r in ledger.keep(client.complete_many(reqs))]


def take_snapshot(client: ChatClient, *, prompts: Sequence[str] = FINGERPRINT_PROMPTS, samples: int = 3,
                  max_tokens: int = 16, logprobs: bool | None = None) -> Snapshot:
    """Ask every prompt ``samples`` times; ``logprobs=None`` asks for them and keeps them if the endpoint does."""
    if samples < 2:
        raise UsageError("a snapshot needs at least 2 samples per prompt", hint="--samples 3")
    ledger = Ledger()
    before = client.budget.snapshot()
    if logprobs is None:
        probe = _ask(client, prompts[:1], 1, max_tokens, True, _NONCE_SNAPSHOT, ledger)
        logprobs = bool(probe[0]) and probe[0][0].first is not None
        ledger = Ledger()
    got = _ask(client, prompts, samples, max_tokens, logprobs, _NONCE_SNAPSHOT, ledger)
    counts = _ask_counts(client, COUNT_TEXTS, _NONCE_SNAPSHOT, ledger)
    answered = sum(len(g) for g in got)
    if answered < len(prompts):
        raise ProbeError(f"snapshot: only {answered} of {len(prompts) * samples} queries answered"
                         + (f" (first failure: {ledger.errors[0]})" if ledger.errors else ""),
                         subject=client.endpoint.base_url, hint="check the endpoint, then take the snapshot again")
    after = client.budget.snapshot()
    return Snapshot(client.endpoint.to_dict(), _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                    tuple(prompts), max_tokens, logprobs, tuple(tuple(g) for g in got),
                    (after.charged - before.charged) + (after.cached - before.cached),
                    tuple((t, n) for t, n in zip(COUNT_TEXTS, counts, strict=True) if n is not None))


# -- the check --------------------------------------------------------------------------------------------------


def _first_word(text: str) -> str:
    w = text.strip().split()
    return w[0].lower().strip(".,:;!?\"'*#") if w else ""


def _dist_vec(first: tuple[tuple[str, float], ...] | None, dim: int = 1024) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float64)
    for t, lp in first or ():
        v[zlib.crc32(t.encode("utf-8")) % dim] += math.exp(lp)
    nrm = np.linalg.norm(v)
    return v / nrm if nrm > 0 else v


def _tv(a: tuple[tuple[str, float], ...], b: tuple[tuple[str, float], ...]) -> float:
    pa = {t: math.exp(lp) for t, lp in a}
    pb = {t: math.exp(lp) for t, lp in b}
    za, zb = sum(pa.values()) or 1.0, sum(pb.values()) or 1.0
    return 0.5 * sum(abs(pa.get(t, 0.0) / za - pb.get(t, 0.0) / zb) for t in set(pa) | set(pb))


@dataclass(frozen=True)
class CheckResult:
    """One re-test. ``status``: ``unchanged`` | ``changed`` | ``inconclusive`` | ``error``."""

    index: int
    time: str
    status: str
    change: str | None  # "another model" | "drift" | "system prompt" | None
    p_value: float | None
    alpha: float
    first_word_agreement: float | None
    mean_tv: float | None
    count_change: str | None
    answered: int
    queries: int
    errors: tuple[str, ...] = field(default=())
    note: str = ""

    @property
    def alarm(self) -> bool:
        return self.status == "changed"

    @property
    def wording(self) -> str:
        if self.status == "changed":
            what = {"another model": "another model is answering (a swap)",
                    "drift": "same tokenizer, outputs drifted a little: a re-quantisation or another inference stack "
                             "of the same weights, or a fine-tune of them (this check cannot tell which)",
                    "system prompt": "the system prompt or chat template changed"}[self.change or "another model"]
            return f"ALARM: {what}" + (f" (p = {self.p_value:.3g})" if self.p_value is not None else "")
        if self.status == "unchanged":
            return f"unchanged (p = {self.p_value:.3g})" if self.p_value is not None else "unchanged"
        return self.note

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.index, "time": self.time, "status": self.status, "alarm": self.alarm,
                "change": self.change, "wording": self.wording, "p_value": self.p_value, "alpha": self.alpha,
                "first_word_agreement": self.first_word_agreement, "mean_tv": self.mean_tv,
                "count_change": self.count_change, "answered": self.answered, "queries": self.queries,
                "errors": list(self.errors), "note": self.note}


def _count_change(base: Snapshot, cur: list[list[Sample]], counts: Sequence[int | None] = ()) -> str | None:
    """None (no count differs), ``shift:<d>`` (every prompt and count text moved by the same d), or ``tokenizer``
    (counts changed otherwise). ``counts``: the check's counts of ``base.counts``' texts, in order."""
    pairs: list[tuple[set[int], int]] = []  # (baseline counts of a text, one count now)
    for bs, cs in zip(base.samples, cur, strict=True):
        known = {s.prompt_tokens for s in bs if s.prompt_tokens is not None}
        pairs += [(known, c.prompt_tokens) for c in cs if c.prompt_tokens is not None and known]
    pairs += [({n0}, n) for (_t, n0), n in zip(base.counts, counts, strict=False) if n is not None]
    shifts: list[int] = []
    moved = 0
    compared = len(pairs)
    for known, n in pairs:
        if n not in known:
            moved += 1
            shifts.append(n - min(known))
        else:
            shifts.append(0)
    if not moved:
        return None
    if moved == compared and len(set(shifts)) == 1:
        return f"shift:{shifts[0]:+d}"
    return "tokenizer"


def check(client: ChatClient, base: Snapshot, *, index: int = 0, samples: int = 2, alpha: float = 0.002,
          n_perm: int = 2000, rng: np.random.Generator) -> CheckResult:
    """Re-ask the baseline's prompts ``samples`` times (at most :data:`MAX_CHECK_QUERIES` queries) and test."""
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    n_queries = samples * len(base.prompts) + len(base.counts)
    if n_queries > MAX_CHECK_QUERIES:
        raise UsageError(f"a check would send {n_queries} queries (max {MAX_CHECK_QUERIES})", hint="lower --samples")
    ledger = Ledger()
    before = client.budget.snapshot()
    cur = _ask(client, base.prompts, samples, base.max_tokens, base.logprobs, (index + 1) << 8, ledger)
    now_counts = _ask_counts(client, [t for t, _n in base.counts], (index + 1) << 8, ledger) if base.counts else []
    after = client.budget.snapshot()
    spent = (after.charged - before.charged) + (after.cached - before.cached)
    answered = sum(len(c) for c in cur)
    common = dict(index=index, time=now, alpha=alpha, answered=answered, queries=spent, errors=tuple(ledger.errors))
    if answered == 0:
        return CheckResult(status="error", change=None, p_value=None, first_word_agreement=None, mean_tv=None,
                           count_change=None, note="no query answered: " + (ledger.errors[0] if ledger.errors else "?"),
                           **common)  # type: ignore[arg-type]
    counts = _count_change(base, cur, now_counts)
    # first-word agreement: share of prompts whose most common first word is among the baseline's first words
    agree = [Counter(_first_word(s.text) for s in cs).most_common(1)[0][0] in {_first_word(b.text) for b in bs}
             for bs, cs in zip(base.samples, cur, strict=True) if cs]
    fwa = float(np.mean(agree)) if agree else None
    tvs = [_tv(b.first, c.first) for bs, cs in zip(base.samples, cur, strict=True) for b in bs[:1] for c in cs
           if b.first and c.first]
    mtv = float(np.mean(tvs)) if tvs else None
    if answered < len(base.prompts):  # fewer answers than prompts: not enough for the test
        change = _classify(counts, fwa, mtv) if counts else None
        return CheckResult(status="changed" if counts else "inconclusive", change=change, p_value=None,
                           first_word_agreement=fwa, mean_tv=mtv, count_change=counts,
                           note=f"only {answered} answers: too few for the test", **common)  # type: ignore[arg-type]
    texts, pids, labels, dists = [], [], [], []
    for j, (bs, cs) in enumerate(zip(base.samples, cur, strict=True)):
        for lab, group in ((0, bs), (1, cs)):
            for s in group:
                texts.append(s.text)
                pids.append(j)
                labels.append(lab)
                dists.append(s.first)
    feats = embed(texts).astype(np.float64)
    if base.logprobs and all(d is not None for d in dists):
        feats = np.hstack([feats, np.vstack([_dist_vec(d) for d in dists])]) / math.sqrt(2.0)
    _mmd, p, _null = mmd_permutation_test(feats, np.asarray(pids), np.asarray(labels, dtype=np.int8), rng, n_perm)
    changed = p < alpha or counts is not None
    change = _classify(counts, fwa, mtv) if changed else None
    return CheckResult(status="changed" if changed else "unchanged", change=change, p_value=p,
                       first_word_agreement=fwa, mean_tv=mtv, count_change=counts, **common)  # type: ignore[arg-type]


def _classify(counts: str | None, fwa: float | None, mtv: float | None) -> str:
    if counts == "tokenizer":
        return "another model"
    far = (fwa is not None and fwa < DRIFT_AGREEMENT) or (mtv is not None and mtv > DRIFT_TV)
    if far:
        return "another model"
    if counts is not None:
        return "system prompt"
    return "drift"
