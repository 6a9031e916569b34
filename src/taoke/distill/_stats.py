"""The two statistics of distillation and the null they are compared with.

**Likelihood gap** (white-box student; the teacher may be weights or an endpoint). On ``n`` probe prompts
(:mod:`taoke.distill._prompts`: real passages the student never saw), the teacher's sampled answer ``t_i`` and
the human continuation ``h_i`` are scored by the *student*: ``gap = mean_i [ℓ_S(t_i) − ℓ_S(h_i)]`` where ``ℓ``
is the mean log-probability per answer token given the prompt. A student trained on a teacher's outputs has
learnt that teacher's distribution, so it finds fresh samples of that teacher likelier than a student that did
not. This is the "student inherits its teacher's idiosyncrasies" effect of Sun et al., *Idiosyncrasies in Large
Language Models* (arXiv:2502.12150), measured with likelihoods instead of a trained classifier; next-token
agreement with the teacher is its hard-decision special case.

**Style log-likelihood ratio** (black-box student: only its sampled answers). Word unigram models (add-½) are
fitted to the teacher's answers and to the human continuations of the same probe prompts; the statistic is the
mean, over the student's answers to those prompts, of the per-word log ratio ``log P_teacher(w) − log
P_human(w)`` (a naive-Bayes score of "written like the teacher"). Concessions: word choice and punctuation only,
no order or meaning (a bigram model with absolute discounting did worse on the fast zoo's students, whose
samples are noisy); it is cheap and needs nothing but text, which is what a pair of endpoints gives.

**Null and p-value.** Neither statistic has a known distribution for a model that did not see the teacher:
human text is less predictable than model text for *every* model, and a student of one teacher finds every
model's text easier than a human-text student does (on the fast zoo, students of Gemma-3 score SmolLM2's
answers +0.3 nats/token above human text, human-text students −0.1). So the null is measured on *control
students* — models of the student's kind trained without the teacher's text (by default the null-role students
of the distillation zoo, :mod:`taoke.zoo.distill`: human-text students and students of other teachers) — and it
is *conditioned on reference affinity*: the same statistic computed for reference models other than the teacher
(the other candidates and the zoo's teachers) measures how much the student likes model text in general, and
the null is the normal linear regression of the teacher statistic on that covariate over the controls. The
p-value is the regression's one-sided prediction p-value (``n − 2`` degrees of freedom; exact for normal errors;
:class:`NullFit`); without references it is the normal-sample prediction p-value (``n − 1``). The rank p-value
``(1 + #{null ≥ x}) / (n + 1)`` is given beside it (assumption-free, never below ``1/(n+1)``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from taoke.errors import UsageError

LIKELIHOOD = "likelihood-gap"
STYLE = "style-ratio"
#: bumped when a statistic's computation changes (keys of the cached control statistics)
STAT_VERSION = {LIKELIHOOD: 1, STYLE: 2}


@dataclass(frozen=True)
class NullFit:
    """The statistic of the control students (and their reference affinity, when there is one), and what they are.

    Without ``covariates`` the null is a normal sample: ``t = (x − mean) / (sd · sqrt(1 + 1/n))``, ``n − 1``
    degrees of freedom. With them it is a normal linear regression of the statistic on the covariate (the
    student's affinity to *reference* model text: the same statistic for models other than the teacher under
    test) and the p-value is the regression's prediction p-value: ``r = x − (a + b·c)``,
    ``t = r / (s · sqrt(1 + 1/n + (c − mean c)² / Sxx))``, ``n − 2`` degrees of freedom. Both are exact for
    normal errors. The rank p-value uses the controls' leave-one-out residuals.
    """

    description: str  # e.g. "16 null students of the distillation zoo (full) that did not see the teacher"
    members: tuple[str, ...]
    values: tuple[float, ...]
    covariates: tuple[float, ...] | None = None
    covariate: str = ""  # what the covariate is

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def sd(self) -> float:
        return float(np.std(self.values, ddof=1))

    def _line(self) -> tuple[float, float, float, np.ndarray]:
        """(intercept, slope, residual sd, leave-one-out residuals) of the regression on the covariate."""
        x = np.asarray(self.covariates, dtype=float)
        y = np.asarray(self.values, dtype=float)
        sxx = float(((x - x.mean()) ** 2).sum())
        if sxx <= 1e-18:
            raise UsageError("the control students' reference affinities are all equal; no regression possible")
        b = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
        a = float(y.mean() - b * x.mean())
        r = y - (a + b * x)
        s = float(np.sqrt((r**2).sum() / (len(y) - 2)))
        h = 1 / len(x) + (x - x.mean()) ** 2 / sxx
        return a, b, s, r / (1 - h)

    def expected(self, covariate: float | None = None) -> float:
        """The statistic expected of a control student (with this reference affinity)."""
        if self.covariates is None or covariate is None:
            return self.mean
        a, b, _s, _loo = self._line()
        return a + b * covariate

    def p_value(self, x: float, covariate: float | None = None) -> tuple[float, float, float]:
        """(z, prediction p-value, rank p-value) of ``x`` against this null (upper tail)."""
        from scipy import stats

        need = 3 if self.covariates is None else 4
        if self.n < need:
            raise UsageError(f"a null of {self.n} control students is too small", hint=f"give at least {need}")
        if self.covariates is None:
            sd = max(self.sd, 1e-12)
            z = (x - self.mean) / sd
            t = (x - self.mean) / (sd * math.sqrt(1 + 1 / self.n))
            p = float(stats.t.sf(t, df=self.n - 1))
            rank = (1 + sum(v >= x for v in self.values)) / (self.n + 1)
            return float(z), p, float(rank)
        if covariate is None:
            raise UsageError("this null is a regression on the reference affinity: give the student's")
        a, b, s, loo = self._line()
        cx = np.asarray(self.covariates, dtype=float)
        s = max(s, 1e-12)
        r = x - (a + b * covariate)
        se = s * math.sqrt(1 + 1 / self.n + (covariate - cx.mean()) ** 2 / float(((cx - cx.mean()) ** 2).sum()))
        p = float(stats.t.sf(r / se, df=self.n - 2))
        rank = (1 + int((loo >= r).sum())) / (self.n + 1)
        return float(r / s), p, float(rank)

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "description": self.description, "n": self.n, "mean": round(self.mean, 5), "sd": round(self.sd, 5),
            "members": list(self.members), "values": [round(v, 5) for v in self.values]}
        if self.covariates is None:
            d["p_value"] = "one-sided t prediction p-value (normal null, mean and sd estimated from the n values)"
        else:
            a, b, s, _loo = self._line()
            d |= {"covariate": self.covariate, "covariates": [round(v, 5) for v in self.covariates],
                  "intercept": round(a, 5), "slope": round(b, 5), "residual_sd": round(s, 5),
                  "p_value": "one-sided prediction p-value of a normal linear regression of the statistic on the "
                             "covariate (n - 2 degrees of freedom)"}
        d["p_rank"] = "(1 + #null >= x) / (n + 1), on leave-one-out residuals when there is a covariate"
        return d


def likelihood_gap(teacher_lp: Sequence[np.ndarray], human_lp: Sequence[np.ndarray]) -> tuple[float, int]:
    """(mean over probes of [mean teacher-answer log-prob − mean human log-prob], probes used)."""
    diffs = [float(t.mean() - h.mean()) for t, h in zip(teacher_lp, human_lp, strict=True) if len(t) and len(h)]
    if not diffs:
        raise UsageError("no probe had both a teacher answer and a human continuation to score")
    return float(np.mean(diffs)), len(diffs)


_WORD = re.compile(r"\w+|[^\w\s]")
_BOS = "<s>"


def words(text: str) -> list[str]:
    """Lower-cased words and single punctuation marks.

    >>> words("Here's `sorted()`!")
    ['here', "'", 's', '`', 'sorted', '(', ')', '`', '!']
    """
    return _WORD.findall(text.lower())


class UnigramModel:
    """Word unigram model of a set of texts, add-½ smoothed over the joint vocabulary ``V``.

    >>> round(UnigramModel(["a a b"], 3).logprob("a"), 3)  # (2 + 0.5) / (3 + 1.5)
    -0.588
    """

    def __init__(self, texts: Sequence[str], vocab_size: int) -> None:
        self.counts: Counter[str] = Counter(w for t in texts for w in words(t))
        self.total = sum(self.counts.values())
        self.V = vocab_size

    def logprob(self, w: str) -> float:
        return math.log((self.counts.get(w, 0) + 0.5) / (self.total + 0.5 * self.V))


def style_llr(student_answers: Sequence[str], teacher_answers: Sequence[str], human_answers: Sequence[str]) -> \
        tuple[float, int]:
    """(mean over the student's answers of the per-word log ratio teacher-vs-human, answers used)."""
    vocab = {w for t in (*student_answers, *teacher_answers, *human_answers) for w in words(t)}
    mt = UnigramModel(teacher_answers, len(vocab) + 1)
    mh = UnigramModel(human_answers, len(vocab) + 1)
    vals = []
    for a in student_answers:
        ws = words(a)
        if ws:
            vals.append(sum(mt.logprob(w) - mh.logprob(w) for w in ws) / len(ws))
    if not vals:
        raise UsageError("the student gave no non-empty answers to score")
    return float(np.mean(vals)), len(vals)
