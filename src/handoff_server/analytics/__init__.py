"""Analytics: answer-or-escalate metrics and evaluation of an answerer on labeled questions."""

from handoff_server.analytics.evaluation import Predictions, predict, read_questions
from handoff_server.analytics.metrics import (
    ECE_BINS,
    Metrics,
    ReliabilityBin,
    aurc,
    compute_metrics,
    ece,
    reliability_bins,
    sweep,
)
from handoff_server.analytics.risk import (
    RISK_CONFIDENCE,
    RiskPoint,
    clopper_pearson_upper,
    risk_controlled_threshold,
    risk_coverage,
)

__all__ = [
    "ECE_BINS",
    "Metrics",
    "Predictions",
    "RISK_CONFIDENCE",
    "ReliabilityBin",
    "RiskPoint",
    "aurc",
    "clopper_pearson_upper",
    "compute_metrics",
    "ece",
    "predict",
    "read_questions",
    "reliability_bins",
    "risk_controlled_threshold",
    "risk_coverage",
    "sweep",
]
