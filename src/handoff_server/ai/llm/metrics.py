"""The ``llm`` engine's metrics (in :data:`handoff_server.metrics.REGISTRY`):

- ``handoff_llm_answers_total{outcome}``: answers by outcome (``answered``, or why the
  model's answer was refused: ``timeout``, ``http_error``, ``malformed_stream``,
  ``refusal``, ``truncated``, ``connect_failed``, ``no_citation``, ``unknown_citation``,
  ``empty``);
- ``handoff_llm_latency_seconds``: wall time of each request to the model server;
- ``handoff_llm_tokens_total{kind}``: ``prompt`` and ``completion`` tokens (from the
  server's ``usage``, else estimated at 4 characters a token);
- ``handoff_llm_cost_usd_total``: at the configured prices per million tokens.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from handoff_server.metrics import REGISTRY

__all__ = ["ANSWERS", "COST", "LATENCY", "TOKENS"]

ANSWERS = Counter("handoff_llm_answers", "LLM answers by outcome", ["outcome"], registry=REGISTRY)
LATENCY = Histogram(
    "handoff_llm_latency_seconds",
    "Wall time of one request to the model server",
    buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32),
    registry=REGISTRY,
)
TOKENS = Counter("handoff_llm_tokens", "Tokens sent and generated", ["kind"], registry=REGISTRY)
COST = Counter("handoff_llm_cost_usd", "Cost of the model's answers, USD", registry=REGISTRY)
