"""Risk-controlled thresholds: the Clopper–Pearson bound against published values, the
reweighting to an out-of-scope share, the selection and its refusal to promise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from handoff_server.analytics import (
    clopper_pearson_upper,
    risk_controlled_threshold,
    risk_coverage,
)


@pytest.mark.parametrize(
    ("k", "n", "confidence", "expected"),
    [
        # Tabulated exact limits (e.g. Conover, Practical Nonparametric Statistics, table A4;
        # the 90% two-sided interval for 1/10 is 0.0051–0.3942, so its upper end is the
        # one-sided 95% limit).
        (1, 10, 0.95, 0.3942),
        (5, 10, 0.975, 0.8129),
        (0, 10, 0.95, 1 - 0.05 ** (1 / 10)),
        # The rule of three: 0 events in n trials → about 3/n at 95%.
        (0, 300, 0.95, 0.00994),
        (10, 10, 0.95, 1.0),
        (0, 0, 0.95, 1.0),
    ],
)
def test_clopper_pearson_known_values(k: int, n: int, confidence: float, expected: float) -> None:
    assert clopper_pearson_upper(k, n, confidence) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("k", "n"), [(0, 50), (3, 50), (17, 200), (40, 41)])
def test_clopper_pearson_is_where_the_binomial_tail_is_alpha(k: int, n: int) -> None:
    """The defining property, checked with the binomial CDF: at the upper limit U,
    P(X ≤ k | n, U) = 1 − confidence."""
    u = clopper_pearson_upper(k, n, 0.95)
    assert binom.cdf(k, n, u) == pytest.approx(0.05, abs=1e-9)


@pytest.mark.parametrize(("k", "n", "conf"), [(-1, 5, 0.95), (6, 5, 0.95), (1, 5, 1.0)])
def test_clopper_pearson_refuses_nonsense(k: int, n: int, conf: float) -> None:
    with pytest.raises(ValueError):
        clopper_pearson_upper(k, n, conf)


def _data(n_in: int, n_oos: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-scope questions right 95% of the time with confidence that tracks it; out-of-scope
    ones with low confidence. Shapes (n_in + n_oos,)."""
    rng = np.random.default_rng(seed)
    conf_in = rng.beta(8, 1.5, n_in)
    right_in = rng.random(n_in) < conf_in
    conf_oos = rng.beta(1.5, 8, n_oos)
    conf = np.concatenate([conf_in, conf_oos])
    right = np.concatenate([right_in, np.zeros(n_oos, dtype=bool)])
    oos = np.concatenate([np.zeros(n_in, dtype=bool), np.ones(n_oos, dtype=bool)])
    return conf, right, oos


def test_reweighting_to_an_out_of_scope_share() -> None:
    """Point estimate and bound are the stated mix of the two parts, each part bounded
    exactly at half the error (union bound)."""
    conf = np.array([0.9] * 8 + [0.2] * 2 + [0.9] * 1 + [0.1] * 3)
    right = np.array([True] * 6 + [False] * 4 + [False] * 4)
    oos = np.array([False] * 10 + [True] * 4)
    (p,) = risk_coverage(conf, right, oos, oos_share=0.3, thresholds=[0.5])
    # In scope: 2 of 10 answered wrongly; out of scope: 1 of 4 answered.
    assert (p.n_in, p.wrong_in, p.n_oos, p.answered_oos) == (10, 2, 4, 1)
    assert p.risk == pytest.approx(0.7 * 2 / 10 + 0.3 * 1 / 4)
    assert p.coverage == pytest.approx(0.7 * 8 / 10 + 0.3 * 1 / 4)
    expected = 0.7 * clopper_pearson_upper(2, 10, 0.975) + 0.3 * clopper_pearson_upper(1, 4, 0.975)
    assert p.upper_bound == pytest.approx(expected)
    # The set's own mix: one binomial of 3 wrong in 14, at the whole error budget.
    (own,) = risk_coverage(conf, right, oos, oos_share=None, thresholds=[0.5])
    assert own.risk == pytest.approx(3 / 14)
    assert own.upper_bound == pytest.approx(clopper_pearson_upper(3, 14, 0.95))
    # A share of 0 is the in-scope part alone.
    (zero,) = risk_coverage(conf, right, oos, oos_share=0.0, thresholds=[0.5])
    assert zero.upper_bound == pytest.approx(clopper_pearson_upper(2, 10, 0.95))


def test_more_out_of_scope_traffic_raises_the_risk() -> None:
    """At a low threshold out-of-scope questions are answered more often than in-scope ones
    are answered wrongly, so a larger out-of-scope share means more risk."""
    conf, right, oos = _data(2000, 200)
    at = {s: risk_coverage(conf, right, oos, oos_share=s, thresholds=[0.1])[0] for s in (0.1, 0.4)}
    assert at[0.1].answered_oos / 200 > at[0.1].wrong_in / 2000
    assert at[0.4].risk > at[0.1].risk and at[0.4].upper_bound > at[0.1].upper_bound


def test_curve_is_monotone_and_bounds_lie_above_the_estimate() -> None:
    conf, right, oos = _data(1500, 300)
    points = risk_coverage(conf, right, oos)
    assert [p.threshold for p in points] == sorted(p.threshold for p in points)
    assert len(points) == 101
    risks = [p.risk for p in points]
    bounds = [p.upper_bound for p in points]
    assert all(a >= b for a, b in zip(risks, risks[1:], strict=False))
    assert all(a >= b for a, b in zip(bounds, bounds[1:], strict=False))
    assert all(p.upper_bound >= p.risk for p in points)


def test_selects_the_lowest_threshold_that_keeps_the_promise() -> None:
    conf, right, oos = _data(3000, 600)
    points = risk_coverage(conf, right, oos, oos_share=0.2)
    t = risk_controlled_threshold(points, 0.05)
    assert t is not None
    chosen = next(p for p in points if p.threshold == t)
    assert chosen.upper_bound <= 0.05 and chosen.coverage > 0
    assert all(p.upper_bound <= 0.05 for p in points if p.threshold >= t)
    below = [p for p in points if p.threshold < t]
    assert below and below[-1].upper_bound > 0.05


def test_no_threshold_can_promise_on_too_little_data() -> None:
    """Twelve questions, all answered right: the estimate is 0, but 12 questions cannot
    promise 2% (the bound with no error in 10 in-scope questions is about 0.31)."""
    conf = np.array([0.99] * 10 + [0.01] * 2)
    right = np.array([True] * 10 + [False] * 2)
    oos = np.array([False] * 10 + [True] * 2)
    points = risk_coverage(conf, right, oos)
    assert all(p.risk == 0 for p in points if p.threshold > 0.01)
    assert risk_controlled_threshold(points, 0.02) is None


def test_no_out_of_scope_questions_promise_nothing_at_a_positive_share() -> None:
    """Nothing is known about out-of-scope traffic without out-of-scope questions, so its
    part is bounded by 1; at share 0 the in-scope part alone can keep a promise."""
    conf, right, _ = _data(5000, 0)
    oos = np.zeros(len(conf), dtype=bool)
    assert risk_controlled_threshold(risk_coverage(conf, right, oos, oos_share=0.2), 0.1) is None
    assert (
        risk_controlled_threshold(risk_coverage(conf, right, oos, oos_share=0.0), 0.1) is not None
    )


def test_answering_nothing_is_no_promise() -> None:
    """Every threshold that passes answers none of the questions: no recommendation."""
    conf = np.full(4000, 0.5)
    right = np.zeros(4000, dtype=bool)
    points = risk_coverage(conf, right, np.zeros(4000, dtype=bool), oos_share=None)
    passing = [p for p in points if p.upper_bound <= 0.02]
    assert passing and all(p.coverage == 0 for p in passing)
    assert risk_controlled_threshold(points, 0.02) is None


def test_bad_arguments() -> None:
    conf, right, oos = _data(10, 2)
    with pytest.raises(ValueError):
        risk_coverage(conf, right, oos, oos_share=1.5)
    with pytest.raises(ValueError):
        risk_coverage(conf, right, oos, confidence_level=1.0)
    with pytest.raises(ValueError):
        risk_controlled_threshold(risk_coverage(conf, right, oos), -0.1)
