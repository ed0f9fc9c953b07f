"""Risk-controlled threshold selection: a promise on the wrong-answer rate that holds
with a stated probability, at a stated share of out-of-scope traffic.

**What is bounded.** The *risk* at threshold ``t`` is the share of all visitor questions
that get a wrong answer (answered, ``confidence >= t``, and not right; an out-of-scope
question answered is wrong). Per question, not per answer: it never rises as ``t``
rises, so "the lowest threshold that keeps the promise" is well defined. The share of
*answers* that are wrong is ``risk / coverage``.

**Out-of-scope share.** A labeled question set has its own mix (CLINC150 val: 3% out of
scope), real sites see 10–30%. The risk at an out-of-scope share ``S`` is
``(1 - S) · risk_in + S · risk_oos``, where ``risk_in`` is the wrong-answer rate over
in-scope questions and ``risk_oos`` the answered rate over out-of-scope ones.

**The bound.** Each part is a binomial proportion bounded on its own with the exact
one-sided Clopper–Pearson upper limit (Clopper & Pearson 1934, "The use of confidence or
fiducial limits illustrated in the case of the binomial", Biometrika 26(4)):
``U(k, n; a) = Beta.ppf(1 - a, k + 1, n - k)`` (1 when ``k == n``), each at error
``δ / 2``, then combined as ``(1 - S) · U_in + S · U_oos``. By the union bound both parts
hold together with probability ≥ ``1 - δ``, and then so does the combination. This is
exact and conservative; the alternative, one weighted binomial with Kish's effective
sample size, is an approximation without a coverage guarantee, and with few out-of-scope
questions reweighted up (100 in CLINC150 val) it is exactly where it is least accurate.
The honest price: the out-of-scope part is known only as well as its few questions allow,
and a set without out-of-scope questions bounds that part by 1 (nothing is known), so at
``S > 0`` it can promise nothing.

**Choosing the threshold.** Thresholds are tested from the strictest down (fixed-sequence
testing, as in Learn then Test: Angelopoulos, Bates, Candès, Jordan & Lei 2021,
"Learn then Test: Calibrating Predictive Algorithms to Achieve Risk Control",
arXiv:2110.01052): "risk(t) ≤ R" is accepted while ``U(t) ≤ R`` and the walk stops at the
first threshold where it is not. Each step is a level-δ test in a fixed order, so the
chosen threshold keeps ``risk ≤ R`` with probability ≥ ``1 - δ`` over the draw of the
questions, provided future questions are drawn like these (each part exchangeable with
the traffic it stands for).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import beta

from handoff_server.analytics.defaults import RISK_CONFIDENCE
from handoff_server.analytics.metrics import _arrays

__all__ = [
    "RISK_CONFIDENCE",
    "RiskPoint",
    "clopper_pearson_upper",
    "risk_controlled_threshold",
    "risk_coverage",
]


def clopper_pearson_upper(k: int, n: int, confidence: float = RISK_CONFIDENCE) -> float:
    """Exact one-sided upper confidence limit (0–1) for a binomial proportion after ``k``
    events in ``n`` trials: the true proportion is ≤ the result with probability ≥
    ``confidence``. ``Beta.ppf(confidence, k + 1, n - k)``; 1.0 when ``k == n`` (which
    covers ``n == 0``: nothing observed, nothing promised). Clopper & Pearson 1934.

    Raises ``ValueError`` unless ``0 <= k <= n`` and ``0 < confidence < 1``.
    """
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must lie strictly between 0 and 1")
    if k == n:
        return 1.0
    return float(beta.ppf(confidence, k + 1, n - k))


@dataclass(frozen=True)
class RiskPoint:
    """One point of the risk–coverage curve, fractions 0–1 at the stated out-of-scope share.

    - ``threshold``: answer when confidence ≥ it.
    - ``coverage``: share of questions answered.
    - ``risk``: share of questions answered wrongly (point estimate).
    - ``upper_bound``: the one-sided upper confidence bound on ``risk`` (see the module).
    - ``n_in``, ``wrong_in``: in-scope questions, and those answered wrongly;
      ``n_oos``, ``answered_oos``: out-of-scope questions, and those answered.
    """

    threshold: float
    coverage: float
    risk: float
    upper_bound: float
    n_in: int
    wrong_in: int
    n_oos: int
    answered_oos: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict, keys as in the dataclass."""
        return asdict(self)


def _rate(k: int, n: int) -> float:
    return k / n if n else 0.0


def _point(
    t: float, c: np.ndarray, r: np.ndarray, o: np.ndarray, share: float | None, conf: float
) -> RiskPoint:
    answered = c >= t
    n_in, n_oos = int((~o).sum()), int(o.sum())
    wrong_in = int((answered & ~r & ~o).sum())
    answered_oos = int((answered & o).sum())
    if share is None:
        # The set's own mix: one binomial over all questions, at the full error budget.
        n = n_in + n_oos
        risk = _rate(wrong_in + answered_oos, n)
        coverage = _rate(int(answered.sum()), n)
        bound = clopper_pearson_upper(wrong_in + answered_oos, n, conf)
    else:
        parts = [(1 - share, wrong_in, n_in, int((answered & ~o).sum()))]
        parts.append((share, answered_oos, n_oos, answered_oos))
        parts = [p for p in parts if p[0] > 0]
        # Union bound: each part that carries weight gets an equal share of the error.
        each = 1 - (1 - conf) / len(parts)
        risk = sum(w * _rate(k, n) for w, k, n, _ in parts)
        coverage = sum(w * _rate(a, n) for w, _, n, a in parts)
        bound = sum(w * clopper_pearson_upper(k, n, each) for w, k, n, _ in parts)
    return RiskPoint(
        threshold=float(t),
        coverage=float(coverage),
        risk=float(risk),
        upper_bound=float(min(1.0, bound)),
        n_in=n_in,
        wrong_in=wrong_in,
        n_oos=n_oos,
        answered_oos=answered_oos,
    )


def risk_coverage(
    confidence: ArrayLike,
    right: ArrayLike,
    oos: ArrayLike,
    *,
    oos_share: float | None = 0.2,
    thresholds: ArrayLike | None = None,
    confidence_level: float = RISK_CONFIDENCE,
) -> list[RiskPoint]:
    """The risk–coverage curve with its upper confidence bound, one :class:`RiskPoint` per
    threshold, ascending (what the operator's risk–coverage view plots).

    ``confidence`` (n,) in 0–1, ``right`` (n,) bool, ``oos`` (n,) bool, one per labeled
    question, as for :func:`~handoff_server.analytics.metrics.compute_metrics`.
    ``oos_share``: the out-of-scope share of traffic to reweight to (0–1), or ``None`` for
    the set's own mix. ``thresholds``: default 0.00, 0.01, …, 1.00.
    ``confidence_level``: probability (0–1, exclusive) that each bound holds.

    Raises ``ValueError`` on mismatched or out-of-range inputs.
    """
    c, r, o = _arrays(confidence, right, oos)
    if oos_share is not None and not 0.0 <= oos_share <= 1.0:
        raise ValueError("oos_share must lie in [0, 1]")
    if not 0.0 < confidence_level < 1.0:
        raise ValueError("confidence_level must lie strictly between 0 and 1")
    grid = np.round(np.arange(0, 101) / 100, 2) if thresholds is None else np.asarray(thresholds)
    return [_point(t, c, r, o, oos_share, confidence_level) for t in sorted(map(float, grid))]


def risk_controlled_threshold(points: list[RiskPoint], target_risk: float) -> float | None:
    """The lowest threshold whose upper bound, and that of every stricter threshold in
    ``points`` (from :func:`risk_coverage`), is ≤ ``target_risk`` (fixed-sequence testing
    from the strictest threshold down; see the module docstring).

    ``None`` when no threshold can promise ``target_risk`` on this data: the strictest
    one's bound is already above it, or the only thresholds that pass answer nothing
    (coverage 0 is no promise about answers). Raises ``ValueError`` for a target outside
    [0, 1].
    """
    if not 0.0 <= target_risk <= 1.0:
        raise ValueError("target_risk must lie in [0, 1]")
    best: RiskPoint | None = None
    for p in sorted(points, key=lambda p: -p.threshold):
        if p.upper_bound > target_risk:
            break
        best = p
    if best is None or best.coverage == 0.0:
        return None
    return best.threshold
