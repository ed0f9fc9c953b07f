"""The escalation policy: which triggers are on, their thresholds, and the operator's rules."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Policy(BaseModel):
    """Operator-tunable escalation settings.

    ``threshold`` is the confidence (probability 0–1) below which an AI answer escalates.
    Threshold 0 never escalates on confidence; 1 escalates every AI turn.
    """

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(default=0.70, ge=0.0, le=1.0)
    human_request: bool = True
    version: int | None = None
