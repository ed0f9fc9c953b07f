"""Defaults of the analytics that a caller may read without loading NumPy or SciPy
(``handoff eval``'s option defaults)."""

__all__ = ["RISK_CONFIDENCE"]

RISK_CONFIDENCE = 0.95
"""Default probability (1 − δ) that a risk-controlled promise holds
(:mod:`handoff_server.analytics.risk`)."""
