"""Same-model test between two endpoints: a two-sample test on sampled completions.

Follows Model Equality Testing (Gao et al., 2024, arXiv:2410.20247): draw completions for the same prompts
from both endpoints and test ``H0: the two completion distributions are equal`` with the (unbiased) Maximum
Mean Discrepancy and a permutation null. The kernel is ``k((p, c), (p', c')) = 1[p = p'] * <phi(c), phi(c')>``
with ``phi`` the hashed character-n-gram embedding of :mod:`taoke.blackbox.embed` (the paper uses a Hamming
kernel over tokens; we only see text, and two endpoints may tokenise differently). Labels are permuted within
each prompt, so the null keeps the prompt design; the p-value is ``(1 + #{T_perm >= T_obs}) / (1 + B)``
(valid at any B). Because MMD tests equality of distributions, two quantisations of one model may be
told apart given enough samples -- which is reported as such, not hidden.

Sampling: temperature 1 by default, each request with its own seed drawn from the injected generator (or no
seed): llama.cpp servers honour ``seed`` and keep seed state server-wide (MANIFEST §4), so identical or
reused seeds would make samples repeat. Exact duplicate samples are counted per endpoint and reported.

With ``logprobs`` offered by both endpoints, a direct comparison of next-token distributions is added:
for each prompt both return the top-k log-probabilities of the first generated token; we report the mean
total-variation distance between the two (renormalised over the union of returned tokens), the largest
log-probability difference on shared tokens and the top-1 agreement. Identical weights give differences at
float-noise level; this is descriptive evidence (no p-value), the MMD test carries the decision.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from taoke.blackbox.client import ChatClient, ChatRequest, ChatResponse, Ledger
from taoke.blackbox.embed import embed
from taoke.errors import UsageError

DEFAULT_PROMPTS: tuple[str, ...] = (
    "Write one sentence about the ocean.",
    "Tell me a fun fact about cats.",
    "Describe your ideal weekend in one sentence.",
    "Give me a name for a new coffee shop.",
    "What is the capital of France? Explain briefly.",
    "Write the opening line of a mystery novel.",
    "List three fruits.",
    "Say something encouraging to a student.",
    "用一句话介绍一下春天。",
    "Explain what a computer is to a child.",
)


def mmd_permutation_test(emb: np.ndarray, prompt_ids: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                         n_perm: int = 1000) -> tuple[float, float, np.ndarray]:
    """Unbiased MMD^2 of the samples labelled 1 vs 0 and its within-prompt permutation p-value.

    ``emb``: (N, d) unit rows; ``prompt_ids``: (N,) prompt index; ``labels``: (N,) 0/1. Returns
    ``(mmd2, p_value, null_statistics)``.
    """
    if n_perm < 1:
        raise UsageError("n_perm must be >= 1")
    k = (emb @ emb.T).astype(np.float64)
    k *= prompt_ids[:, None] == prompt_ids[None, :]
    np.fill_diagonal(k, 0.0)
    groups = [np.flatnonzero(prompt_ids == p) for p in np.unique(prompt_ids)]

    def stat(lab: np.ndarray) -> np.ndarray:  # lab: (B, N) in {0,1}
        x = lab.astype(np.float64)
        y = 1.0 - x
        nx, ny = x.sum(1), y.sum(1)
        kx, ky = x @ k, y @ k
        sxx = (kx * x).sum(1) / (nx * (nx - 1))
        syy = (ky * y).sum(1) / (ny * (ny - 1))
        sxy = (kx * y).sum(1) / (nx * ny)
        return sxx + syy - 2 * sxy

    obs = float(stat(labels[None, :])[0])
    perms = np.empty((n_perm, labels.size), dtype=labels.dtype)
    for b in range(n_perm):
        lab = labels.copy()
        for g in groups:
            lab[g] = rng.permutation(labels[g])
        perms[b] = lab
    null = stat(perms)
    p = (1.0 + float(np.sum(null >= obs - 1e-12))) / (1.0 + n_perm)
    return obs, p, null


@dataclass(frozen=True)
class LogprobComparison:
    prompts: int
    mean_tv: float
    max_abs_logprob_diff: float
    top1_agreement: float

    def to_dict(self) -> dict[str, Any]:
        return {"prompts": self.prompts, "mean_tv": self.mean_tv,
                "max_abs_logprob_diff": self.max_abs_logprob_diff, "top1_agreement": self.top1_agreement}


@dataclass(frozen=True)
class SameModelResult:
    """The MMD test's outcome with the queries it cost and the checks on the samples."""

    mmd2: float
    p_value: float
    null: str
    alpha: float
    n_per_endpoint: tuple[int, int]
    prompts: int
    queries: tuple[int, int]
    duplicate_share: tuple[float, float]
    logprob: LogprobComparison | None
    errors: tuple[str, ...]

    @property
    def same(self) -> bool:
        return self.p_value >= self.alpha

    @property
    def verdict(self) -> str:
        if self.p_value < self.alpha:
            return (f"different output distributions (p = {self.p_value:.3g} < {self.alpha}): "
                    "not the same model, or the same model at another quantisation/settings")
        return (f"no detectable difference (p = {self.p_value:.3g}): consistent with the same model "
                f"at this sample size ({self.n_per_endpoint[0]} vs {self.n_per_endpoint[1]} samples)")

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "same": self.same, "mmd2": self.mmd2, "p_value": self.p_value,
                "null": self.null, "alpha": self.alpha, "n_per_endpoint": list(self.n_per_endpoint),
                "prompts": self.prompts, "queries": list(self.queries),
                "duplicate_share": [round(d, 3) for d in self.duplicate_share],
                "logprob": self.logprob.to_dict() if self.logprob else None, "errors": list(self.errors)}


def _sample_requests(prompts: tuple[str, ...], n: int, temperature: float, max_tokens: int,
                     rng: np.random.Generator, seeds: bool) -> tuple[list[ChatRequest], list[int]]:
    reqs, pids = [], []
    for _j in range(n):
        for i, p in enumerate(prompts):
            seed = int(rng.integers(0, 2**31 - 1)) if seeds else None
            reqs.append(ChatRequest.user(p, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                         nonce=int(rng.integers(0, 2**62))))
            pids.append(i)
    return reqs, pids


def _dup_share(texts: list[str], pids: list[int]) -> float:
    if not texts:
        return 0.0
    c = Counter(zip(pids, texts, strict=True))
    return sum(v - 1 for v in c.values()) / len(texts)


def _logprob_compare(a: ChatClient, b: ChatClient, prompts: tuple[str, ...], top_k: int,
                     ledger: Ledger) -> LogprobComparison | None:
    reqs = [ChatRequest.user(p, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=top_k)
            for p in prompts]
    ra, rb = ledger.keep(a.complete_many(reqs)), ledger.keep(b.complete_many(reqs))
    tvs, diffs, agree = [], [], []
    for x, y in zip(ra, rb, strict=True):
        if x is None or y is None or not x.top_logprobs or not y.top_logprobs:
            continue
        px = {t: math.exp(lp) for t, lp in x.top_logprobs[0]}
        py = {t: math.exp(lp) for t, lp in y.top_logprobs[0]}
        if not px or not py:
            continue
        zx, zy = sum(px.values()), sum(py.values())
        toks = set(px) | set(py)
        tvs.append(0.5 * sum(abs(px.get(t, 0.0) / zx - py.get(t, 0.0) / zy) for t in toks))
        shared = set(px) & set(py)
        if shared:
            diffs.append(max(abs(math.log(px[t]) - math.log(py[t])) for t in shared))
        agree.append(max(px, key=px.__getitem__) == max(py, key=py.__getitem__))
    if not tvs:
        return None
    return LogprobComparison(len(tvs), float(np.mean(tvs)), float(max(diffs)) if diffs else float("inf"),
                             float(np.mean(agree)))


def same_model_test(
    a: ChatClient,
    b: ChatClient,
    *,
    rng: np.random.Generator,
    prompts: tuple[str, ...] = DEFAULT_PROMPTS,
    n_per_prompt: int = 5,
    temperature: float = 1.0,
    max_tokens: int = 24,
    alpha: float = 0.05,
    n_perm: int = 1000,
    seeds: bool = True,
    logprobs: bool = False,
    top_k: int = 10,
) -> SameModelResult:
    """Sample ``n_per_prompt`` completions per prompt from each endpoint and run the MMD permutation test.

    Costs ``2 * len(prompts) * n_per_prompt`` queries (+ ``2 * len(prompts)`` with ``logprobs``).
    """
    if n_per_prompt < 2:
        raise UsageError("need at least 2 samples per prompt and endpoint", hint="raise --samples")
    ledger = Ledger()
    snaps = (a.budget.snapshot(), b.budget.snapshot())
    texts: list[list[str]] = [[], []]
    pids: list[list[int]] = [[], []]
    for side, client in enumerate((a, b)):
        reqs, pid = _sample_requests(prompts, n_per_prompt, temperature, max_tokens, rng, seeds)
        for r, p in zip(ledger.keep(client.complete_many(reqs)), pid, strict=True):
            if isinstance(r, ChatResponse):
                texts[side].append(r.text)
                pids[side].append(p)
    lp = _logprob_compare(a, b, prompts, top_k, ledger) if logprobs else None
    n = (len(texts[0]), len(texts[1]))
    if min(n) < 2:
        raise UsageError(f"too few samples answered ({n[0]} and {n[1]}) for a two-sample test",
                         hint="see the errors of the endpoints; " + "; ".join(ledger.errors[:2]))
    emb = embed(texts[0] + texts[1])
    pid_all = np.asarray(pids[0] + pids[1])
    labels = np.asarray([1] * n[0] + [0] * n[1], dtype=np.int8)
    mmd2, pval, _null = mmd_permutation_test(emb, pid_all, labels, rng, n_perm)
    after = (a.budget.snapshot(), b.budget.snapshot())
    q = tuple((x.charged - s.charged) + (x.cached - s.cached) for x, s in zip(after, snaps, strict=True))
    if a.budget is b.budget:  # one shared budget: split the total evenly for the report
        q = (q[0] // 2, q[0] - q[0] // 2)
    return SameModelResult(
        mmd2=mmd2, p_value=pval, null=f"within-prompt label permutation, B={n_perm}", alpha=alpha,
        n_per_endpoint=n, prompts=len(prompts), queries=(int(q[0]), int(q[1])),
        duplicate_share=(_dup_share(texts[0], pids[0]), _dup_share(texts[1], pids[1])),
        logprob=lp, errors=tuple(ledger.errors))
