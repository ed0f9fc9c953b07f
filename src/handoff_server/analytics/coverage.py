"""Risk–coverage: how many visitors the AI would answer at each threshold, against how
often it would answer wrongly (Geifman & El-Yaniv 2017, "Selective Classification for
Deep Neural Networks").

Samples are ``(confidence, judgement)``: the AI's confidence (0–1) on a question and
whether its answer was ``right`` or ``wrong``, or ``abstain`` when it made no attempt to
judge (an agent's "not attempted"; a question with no confidence). At threshold ``t`` the
AI answers a sample when it has a confidence ``>= t`` and is not ``abstain``:

- coverage(t) = answered / all samples;
- risk(t) = wrong answers / all samples (so risk ≤ coverage; per 100 visitors, wrong
  answers are 100 × risk).

Where the samples come from (:func:`judged_samples`): conversations an agent resolved with
an ``ai_verdict`` on the ``resolved`` event (the confidence of the AI's last answer to a
question before it, or of the draft handed to the agent), and the latest saved ``handoff
eval`` results (a right top answer is ``right``, anything else ``wrong``: an out-of-scope
question answered is a wrong answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from handoff_server.analytics.risk import clopper_pearson_upper
from handoff_server.protocol_operator import RiskPoint
from handoff_server.store import EvalRun, StoredEvent

__all__ = [
    "JUDGED_EVENTS",
    "Judgement",
    "Sample",
    "eval_samples",
    "judged_samples",
    "risk_coverage",
    "trade_words",
]

Judgement = Literal["right", "wrong", "abstain"]
Sample = tuple[float | None, Judgement]

JUDGED_EVENTS = ("ai_message", "escalated", "resolved")
"""The event kinds :func:`judged_samples` reads."""

STEP = 0.05
"""How far :func:`trade_words` moves the threshold each way."""


def risk_coverage(
    samples: Sequence[Sample], thresholds: Sequence[float] | None = None
) -> list[RiskPoint]:
    """The curve at ``thresholds`` (default 0.00, 0.01, …, 1.00), ascending; ``upper`` is
    the one-sided 95% Clopper–Pearson upper bound on the risk
    (:func:`~handoff_server.analytics.risk.clopper_pearson_upper`: wrong answers out of all
    samples; 1.0 with no samples, nothing promised). No samples: coverage and risk 0."""
    grid = sorted(thresholds) if thresholds is not None else [i / 100 for i in range(101)]
    n = len(samples)
    conf = np.array([c if c is not None and j != "abstain" else -1.0 for c, j in samples])
    wrong = np.array([j == "wrong" for _, j in samples], dtype=bool)
    points = []
    for t in grid:
        answered = conf >= t
        k = int((answered & wrong).sum())
        points.append(
            RiskPoint(
                threshold=float(t),
                coverage=float(answered.sum() / n) if n else 0.0,
                risk=k / n if n else 0.0,
                upper=clopper_pearson_upper(k, n),
            )
        )
    return points


def trade_words(samples: Sequence[Sample], threshold: float, step: float = STEP) -> str:
    """What moving ``threshold`` by ``step`` each way trades, in words, e.g. ``"0.65: 6%
    more answered, about 1 more wrong answer in 100; 0.75: 5% fewer answered, about 1
    fewer wrong answer in 100"``."""
    if not samples:
        return "no judged conversations or eval results yet"
    here, *_ = risk_coverage(samples, [threshold])
    parts = []
    for t in (round(threshold - step, 2), round(threshold + step, 2)):
        if not 0.0 <= t <= 1.0:
            continue
        there, *_ = risk_coverage(samples, [t])
        parts.append(f"{t:.2f}: {_compared(there, here)}")
    return "; ".join(parts)


def _compared(there: RiskPoint, here: RiskPoint) -> str:
    covered = (there.coverage - here.coverage) * 100
    wrong = (there.risk - here.risk) * 100
    answered = (
        "as many answered"
        if round(covered) == 0
        else f"{abs(covered):.0f}% {'more' if covered > 0 else 'fewer'} answered"
    )
    if abs(wrong) < 0.05:
        return f"{answered}, no change in wrong answers"
    shown = f"{abs(wrong):.0f}" if abs(wrong) >= 0.95 else f"{abs(wrong):.1f}"
    plural = "" if shown == "1" else "s"
    return (
        f"{answered}, about {shown} {'more' if wrong > 0 else 'fewer'} wrong answer{plural} in 100"
    )


def judged_samples(events: Sequence[StoredEvent]) -> list[Sample]:
    """One sample per ``resolved`` event with an ``ai_verdict`` (``right``, ``wrong`` or
    ``not_attempted``, the last an ``abstain``), its confidence the AI's on the last
    question before it (an answered one, or the draft of an escalation), counting from the
    conversation's previous resolution. ``events``: :data:`JUDGED_EVENTS` of the
    conversations, by conversation and seq."""
    out: list[Sample] = []
    last: dict[str, float | None] = {}
    for ev in events:
        cid = ev.conversation_id
        if ev.kind == "ai_message" and ev.data.get("question", True):
            last[cid] = ev.data.get("confidence")
        elif ev.kind == "escalated":
            confidence = (ev.data.get("trigger") or {}).get("confidence")
            if confidence is not None:
                last[cid] = confidence
        elif ev.kind == "resolved":
            verdict = ev.data.get("ai_verdict")
            confidence = last.pop(cid, None)
            if verdict in ("right", "wrong"):
                out.append((confidence, verdict if confidence is not None else "abstain"))
            elif verdict == "not_attempted":
                out.append((confidence, "abstain"))
    return out


def eval_samples(run: EvalRun | None) -> list[Sample]:
    """The samples of saved ``handoff eval`` results (``None``: none saved)."""
    if run is None:
        return []
    return [(c, "right" if ok else "wrong") for c, ok in run.samples]
