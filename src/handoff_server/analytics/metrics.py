"""Answer-or-escalate metrics over a labeled question set.

Inputs, one element per visitor question:

- ``confidence``: the AI's confidence, probability 0–1.
- ``right``: the top answer is the right KB entry (always false for out-of-scope).
- ``oos``: the question is out of scope (label ``oos``).

At threshold ``t`` the AI answers a question when ``confidence >= t`` and escalates it
otherwise (the ``low_confidence`` trigger fires on ``confidence < threshold``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ECE_BINS",
    "Metrics",
    "ReliabilityBin",
    "aurc",
    "compute_metrics",
    "ece",
    "reliability_bins",
    "sweep",
]

ECE_BINS = 15


def _arrays(
    confidence: ArrayLike, right: ArrayLike, oos: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = np.asarray(confidence, dtype=float)
    r = np.asarray(right, dtype=bool)
    if c.shape != r.shape or c.ndim != 1:
        raise ValueError("confidence and right must be 1-D arrays of the same length")
    if len(c) and (np.nanmin(c) < 0 or np.nanmax(c) > 1 or np.isnan(c).any()):
        raise ValueError("confidence must lie in [0, 1]")
    o = np.zeros_like(r) if oos is None else np.asarray(oos, dtype=bool)
    if o.shape != r.shape:
        raise ValueError("oos must have the same length as confidence")
    if (r & o).any():
        raise ValueError("an out-of-scope question cannot have a right answer")
    return c, r, o


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram: confidences in ``(low, high]`` (0 falls in the
    first bin); ``count`` questions, their ``mean_confidence`` and observed ``accuracy``
    (share right), both 0–1 (0 for an empty bin)."""

    low: float
    high: float
    count: int
    mean_confidence: float
    accuracy: float


def reliability_bins(
    confidence: ArrayLike, right: ArrayLike, bins: int = ECE_BINS
) -> list[ReliabilityBin]:
    """``bins`` equal-width bins of [0, 1] with the questions' count, mean confidence and
    accuracy in each: the reliability diagram (DeGroot & Fienberg 1983; as in Guo et al.
    2017), and what :func:`ece` sums over. Raises ``ValueError`` on bad inputs."""
    c, r, _ = _arrays(confidence, right)
    idx = np.clip(np.ceil(c * bins).astype(int) - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        n = int(m.sum())
        out.append(
            ReliabilityBin(
                low=b / bins,
                high=(b + 1) / bins,
                count=n,
                mean_confidence=float(c[m].mean()) if n else 0.0,
                accuracy=float(r[m].mean()) if n else 0.0,
            )
        )
    return out


def ece(confidence: ArrayLike, right: ArrayLike, bins: int = ECE_BINS) -> float:
    """Expected calibration error (Guo et al. 2017, "On Calibration of Modern Neural
    Networks"): ``sum_b (n_b / n) * |accuracy_b - mean confidence_b|`` over ``bins``
    equal-width bins of [0, 1] (:func:`reliability_bins`); bin ``b`` holds confidences in
    ``(b/B, (b+1)/B]``, and 0 falls in the first bin. Returns a fraction 0–1 (0 for no
    questions)."""
    parts = reliability_bins(confidence, right, bins)
    n = sum(b.count for b in parts)
    if not n:
        return 0.0
    return float(sum(b.count / n * abs(b.accuracy - b.mean_confidence) for b in parts))


def aurc(confidence: ArrayLike, right: ArrayLike) -> float:
    """Area under the risk–coverage curve (Geifman & El-Yaniv 2017, "Selective
    Classification for Deep Neural Networks"): answer the ``k`` most confident questions
    for ``k = 1..n``; risk(k) = wrong answers among them / k; AURC = mean of risk(k).
    Questions with equal confidence are answered together (each gets the risk of its whole
    group), so the value does not depend on their order. Lower is better; 0–1."""
    c, r, _ = _arrays(confidence, right)
    n = len(c)
    if not n:
        return 0.0
    order = np.argsort(-c, kind="stable")
    cs, wrong = c[order], (~r[order]).astype(float)
    cum_wrong = np.cumsum(wrong)
    k = np.arange(1, n + 1)
    # Position of the last member of each tie group.
    last = np.r_[np.nonzero(np.diff(cs))[0], n - 1]
    group_end = last[np.searchsorted(last, np.arange(n))]
    return float(np.mean(cum_wrong[group_end] / k[group_end]))


@dataclass(frozen=True)
class Metrics:
    """The report of ``handoff eval`` at one threshold; fractions are 0–1.

    - ``in_scope_accuracy``: in-scope questions whose top answer is right (no threshold).
    - ``containment``: in-scope questions answered, and answered right, at the threshold.
    - ``oos_recall``: out-of-scope questions escalated (``None`` when there are none).
    - ``wrong_answer_rate``: wrong answers among all answers given, out-of-scope included
      (0 when nothing is answered).
    - ``coverage``: share of all questions answered.
    - ``aurc``: see :func:`aurc`; ``ece``: see :func:`ece` (15 bins), both over all
      questions, out-of-scope ones counted as wrong.
    - ``threshold``; ``n`` questions, of which ``n_oos`` out of scope.
    """

    in_scope_accuracy: float
    containment: float
    oos_recall: float | None
    wrong_answer_rate: float
    coverage: float
    aurc: float
    ece: float
    threshold: float
    n: int
    n_oos: int

    def as_dict(self) -> dict[str, float | int | None]:
        """Plain dict, keys as in the dataclass."""
        return asdict(self)


def _at(
    c: np.ndarray, r: np.ndarray, o: np.ndarray, t: float
) -> tuple[float, float | None, float, float]:
    answered = c >= t
    n_in = int((~o).sum())
    containment = float((answered & r & ~o).sum() / n_in) if n_in else 0.0
    oos_recall = float((~answered[o]).mean()) if o.any() else None
    n_ans = int(answered.sum())
    war = float((answered & ~r).sum() / n_ans) if n_ans else 0.0
    coverage = float(answered.mean()) if len(c) else 0.0
    return containment, oos_recall, war, coverage


def compute_metrics(
    confidence: ArrayLike, right: ArrayLike, oos: ArrayLike, threshold: float
) -> Metrics:
    """All metrics at ``threshold`` (0–1). Raises ``ValueError`` on mismatched or
    out-of-range inputs, or an out-of-scope question marked right."""
    c, r, o = _arrays(confidence, right, oos)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must lie in [0, 1]")
    containment, oos_recall, war, coverage = _at(c, r, o, threshold)
    n_in = int((~o).sum())
    return Metrics(
        in_scope_accuracy=float(r[~o].mean()) if n_in else 0.0,
        containment=containment,
        oos_recall=oos_recall,
        wrong_answer_rate=war,
        coverage=coverage,
        aurc=aurc(c, r),
        ece=ece(c, r),
        threshold=float(threshold),
        n=len(c),
        n_oos=int(o.sum()),
    )


def sweep(
    confidence: ArrayLike,
    right: ArrayLike,
    oos: ArrayLike,
    thresholds: ArrayLike | None = None,
) -> list[dict[str, float | None]]:
    """Rows ``{threshold, containment, oos_recall, wrong_answer_rate, coverage}`` for each
    threshold (default 0.00, 0.01, …, 1.00), ascending."""
    c, r, o = _arrays(confidence, right, oos)
    grid = np.round(np.arange(0, 101) / 100, 2) if thresholds is None else np.asarray(thresholds)
    rows: list[dict[str, float | None]] = []
    for t in sorted(float(x) for x in grid):
        containment, oos_recall, war, coverage = _at(c, r, o, t)
        rows.append(
            {
                "threshold": t,
                "containment": containment,
                "oos_recall": oos_recall,
                "wrong_answer_rate": war,
                "coverage": coverage,
            }
        )
    return rows
