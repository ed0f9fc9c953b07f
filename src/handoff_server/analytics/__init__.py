"""Analytics: answer-or-escalate metrics and evaluation of an answerer on labeled questions."""

from handoff_server.analytics.evaluation import Predictions, predict, read_questions
from handoff_server.analytics.metrics import (
    ECE_BINS,
    Metrics,
    aurc,
    compute_metrics,
    ece,
    recommend_threshold,
    sweep,
)

__all__ = [
    "ECE_BINS",
    "Metrics",
    "Predictions",
    "aurc",
    "compute_metrics",
    "ece",
    "predict",
    "read_questions",
    "recommend_threshold",
    "sweep",
]
