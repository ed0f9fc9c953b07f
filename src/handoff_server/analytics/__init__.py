"""Analytics: answer-or-escalate metrics and evaluation of an answerer on labeled questions.

The names below are loaded on first use (PEP 562): the submodules pull in NumPy and SciPy
(about a second), and importing one light submodule (:mod:`.teams`, :mod:`.report`) or
reading :data:`RISK_CONFIDENCE` (``handoff eval``'s option default) must not pay for them.
"""

from typing import TYPE_CHECKING

from handoff_server.analytics.defaults import RISK_CONFIDENCE
from handoff_server.lazy import lazy_names

if TYPE_CHECKING:
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

_LAZY = {
    "Predictions": ".evaluation",
    "predict": ".evaluation",
    "read_questions": ".evaluation",
    "ECE_BINS": ".metrics",
    "Metrics": ".metrics",
    "ReliabilityBin": ".metrics",
    "aurc": ".metrics",
    "compute_metrics": ".metrics",
    "ece": ".metrics",
    "reliability_bins": ".metrics",
    "sweep": ".metrics",
    "RiskPoint": ".risk",
    "clopper_pearson_upper": ".risk",
    "risk_controlled_threshold": ".risk",
    "risk_coverage": ".risk",
}
"""The submodule (of this package) that defines each name loaded on first use."""


__getattr__ = lazy_names(__name__, _LAZY)
