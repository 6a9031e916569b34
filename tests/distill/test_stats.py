from __future__ import annotations

import numpy as np
import pytest

from taoke.distill._stats import NullFit, UnigramModel, likelihood_gap, style_llr, words
from taoke.errors import UsageError


def test_t_prediction_p_value_is_uniform_under_a_normal_null() -> None:
    """Calibration: a new draw from the null's own distribution gets p < a with frequency a."""
    rng = np.random.default_rng(0)
    ps = []
    for _ in range(2000):
        vals = rng.normal(3.0, 2.0, size=8)
        fit = NullFit("normal", tuple(f"c{i}" for i in range(8)), tuple(float(v) for v in vals))
        ps.append(fit.p_value(float(rng.normal(3.0, 2.0)))[1])
    ps = np.asarray(ps)
    for a in (0.01, 0.05, 0.2, 0.5):
        assert abs(float(np.mean(ps < a)) - a) < 3 * np.sqrt(a * (1 - a) / len(ps)) + 0.002


def test_regression_prediction_p_value_is_uniform_under_its_null() -> None:
    """With a covariate (two clusters of controls, as human-text and other-teacher students are), a new control
    drawn from the same linear model gets p < a with frequency a."""
    rng = np.random.default_rng(1)
    ps = []
    for _ in range(2000):
        x = np.concatenate([rng.normal(0.4, 0.05, 6), rng.normal(1.2, 0.1, 4)])
        y = -0.3 + 0.5 * x + rng.normal(0, 0.05, 10)
        fit = NullFit("lin", tuple(f"c{i}" for i in range(10)), tuple(map(float, y)), tuple(map(float, x)), "ref")
        x0 = float(rng.choice([rng.normal(0.4, 0.05), rng.normal(0.8, 0.1), rng.normal(1.2, 0.1)]))
        ps.append(fit.p_value(float(-0.3 + 0.5 * x0 + rng.normal(0, 0.05)), x0)[1])
    ps = np.asarray(ps)
    for a in (0.01, 0.05, 0.2, 0.5):
        assert abs(float(np.mean(ps < a)) - a) < 3 * np.sqrt(a * (1 - a) / len(ps)) + 0.002


def test_covariate_removes_the_heterogeneity_of_the_controls() -> None:
    """Controls of two kinds (high and low reference affinity): a student with a large excess over the line is
    significant with the covariate, and not without it (the spread between kinds hides it)."""
    x = (0.40, 0.45, 0.38, 0.50, 1.20, 1.25)
    y = (-0.10, -0.08, -0.12, -0.06, 0.30, 0.33)
    with_cov = NullFit("c", tuple("abcdef"), y, x, "ref")
    without = NullFit("c", tuple("abcdef"), y)
    assert with_cov.p_value(0.40, 0.8)[1] < 1e-3 < 0.05 < without.p_value(0.40)[1]
    assert with_cov.expected(0.8) == pytest.approx(0.10, abs=0.01)
    d = with_cov.to_dict()
    assert d["covariate"] == "ref" and "regression" in str(d["p_value"])
    with pytest.raises(UsageError):
        with_cov.p_value(0.5)  # a regression null needs the student's covariate


def test_rank_p_value_and_small_null() -> None:
    fit = NullFit("x", ("a", "b", "c", "d"), (0.0, 1.0, 2.0, 3.0))
    z, p, rank = fit.p_value(10.0)
    assert rank == pytest.approx(1 / 5) and p < 0.01 and z > 5
    assert fit.p_value(-10.0)[2] == pytest.approx(1.0)
    with pytest.raises(UsageError):
        NullFit("x", ("a", "b"), (0.0, 1.0)).p_value(0.0)


def test_likelihood_gap_is_the_mean_per_probe_difference() -> None:
    t = [np.array([-1.0, -1.0]), np.array([-2.0])]
    h = [np.array([-3.0]), np.array([-2.0, -4.0])]
    v, n = likelihood_gap(t, h)
    assert n == 2 and v == pytest.approx(((-1 + 3) + (-2 + 3)) / 2)
    v2, n2 = likelihood_gap([np.array([-1.0]), np.zeros(0)], [np.array([-2.0]), np.array([-1.0])])
    assert n2 == 1 and v2 == pytest.approx(1.0)  # a probe without an answer is skipped


def test_style_ratio_prefers_the_source_the_text_was_drawn_from() -> None:
    teacher = ["Sure! Here's how you can do it: use the `sorted()` function."] * 5
    human = ["Return a new list containing all items from the iterable in ascending order."] * 5
    assert style_llr(["Sure! Here's the `list()` function."], teacher, human)[0] > 0
    assert style_llr(["Return all items of the list in order."], teacher, human)[0] < 0
    assert words("A-b") == ["a", "-", "b"]
    m = UnigramModel(teacher, 20)
    assert m.logprob("sure") > m.logprob("iterable")
