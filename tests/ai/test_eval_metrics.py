"""The eval metrics' definitions, pinned on small cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff_server.analytics import aurc, compute_metrics, ece, sweep

# Five questions: four in scope, the last out of scope.
CONF = [0.9, 0.8, 0.6, 0.3, 0.95]
RIGHT = [True, False, True, False, False]
OOS = [False, False, False, False, True]


def test_metrics_at_threshold_by_hand() -> None:
    """At 0.70 the AI answers #1, #2 and the out-of-scope #5; only #1 is right."""
    m = compute_metrics(CONF, RIGHT, OOS, 0.70)
    assert m.in_scope_accuracy == pytest.approx(2 / 4)
    assert m.coverage == pytest.approx(3 / 5)
    assert m.containment == pytest.approx(1 / 4)
    assert m.oos_recall == pytest.approx(0 / 1)
    assert m.wrong_answer_rate == pytest.approx(2 / 3)
    assert (m.n, m.n_oos, m.threshold) == (5, 1, 0.70)


def test_aurc_by_hand() -> None:
    """Sorted by confidence: W R W R W → risks 1, 1/2, 2/3, 2/4, 3/5; AURC is their mean."""
    expected = (1 + 1 / 2 + 2 / 3 + 2 / 4 + 3 / 5) / 5
    assert aurc(CONF, RIGHT) == pytest.approx(expected)


def test_aurc_ties_do_not_depend_on_order() -> None:
    """Two questions with equal confidence are answered together: risk 1/2 for both."""
    assert aurc([0.5, 0.5], [True, False]) == pytest.approx(0.5)
    assert aurc([0.5, 0.5], [False, True]) == pytest.approx(0.5)


def test_ece_by_hand() -> None:
    """Each confidence alone in its bin: ECE is the mean |right - confidence|."""
    expected = (0.95 + 0.1 + 0.8 + 0.4 + 0.3) / 5
    assert ece(CONF, RIGHT) == pytest.approx(expected)


def test_ece_shares_a_bin() -> None:
    """0.10 and 0.12 share bin (1/15, 2/15]: accuracy 1/2 vs mean confidence 0.11."""
    assert ece([0.10, 0.12], [True, False]) == pytest.approx(0.39)
    # 0.12 and 0.14 fall on either side of 2/15 ≈ 0.1333: two bins.
    assert ece([0.12, 0.14], [True, False]) == pytest.approx((0.88 + 0.14) / 2)


def test_ece_zero_when_perfectly_calibrated() -> None:
    conf = [0.25] * 4 + [1.0] * 2
    right = [True, False, False, False, True, True]
    assert ece(conf, right) == pytest.approx(0.0)


def test_threshold_boundary_answers_equal_confidence() -> None:
    """confidence == threshold is answered (escalation fires on confidence < threshold)."""
    m = compute_metrics([0.7], [True], [False], 0.7)
    assert m.coverage == 1.0 and m.containment == 1.0
    m = compute_metrics([0.7], [True], [False], 0.71)
    assert m.coverage == 0.0 and m.wrong_answer_rate == 0.0


def test_threshold_extremes() -> None:
    m0 = compute_metrics(CONF, RIGHT, OOS, 0.0)
    assert m0.coverage == 1.0 and m0.oos_recall == 0.0
    m1 = compute_metrics(CONF, RIGHT, OOS, 1.0)
    assert m1.coverage == 0.0 and m1.oos_recall == 1.0 and m1.containment == 0.0


def test_no_oos_questions_gives_none_recall() -> None:
    assert compute_metrics([0.9], [True], [False], 0.5).oos_recall is None


@pytest.mark.parametrize(
    "args",
    [
        ([0.5], [True], [True]),  # out-of-scope cannot be right
        ([1.5], [True], [False]),
        ([0.5, 0.2], [True], [False]),
    ],
)
def test_bad_inputs_rejected(args: tuple) -> None:
    with pytest.raises(ValueError):
        compute_metrics(*args, 0.5)


def test_sweep_by_hand() -> None:
    rows = sweep(CONF, RIGHT, OOS, thresholds=[0.0, 0.85, 0.92, 0.96])
    war = {r["threshold"]: r["wrong_answer_rate"] for r in rows}
    assert war == {0.0: 3 / 5, 0.85: 1 / 2, 0.92: 1.0, 0.96: 0.0}


@given(
    st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=60),
    st.floats(0, 1),
)
def test_metric_ranges(pairs: list[tuple[float, bool]], t: float) -> None:
    conf = [c for c, _ in pairs]
    right = [r for _, r in pairs]
    m = compute_metrics(conf, right, [False] * len(conf), t)
    for v in (m.in_scope_accuracy, m.containment, m.wrong_answer_rate, m.coverage, m.aurc, m.ece):
        assert 0.0 <= v <= 1.0 and not math.isnan(v)
    # Containment can never exceed coverage, nor accuracy at threshold 0 exceed 1 − risk.
    assert m.containment <= m.coverage + 1e-12
    m0 = compute_metrics(conf, right, [False] * len(conf), 0.0)
    assert m0.containment == pytest.approx(np.mean(right))
