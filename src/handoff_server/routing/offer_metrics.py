"""Push offers in ``/metrics`` (:data:`handoff_server.metrics.REGISTRY`): how offers end
and how often everyone passed, so an operator sees a push team's agents declining or
missing their offers before visitors complain.

- ``handoff_offers_sent_total``: offers sent to an agent;
- ``handoff_offers_ended_total{outcome}``: offers ended, ``outcome`` one of
  ``accepted``, ``declined``, ``expired`` (the agent let ``offer_timeout_seconds``
  pass), ``withdrawn`` (the agent went away) and ``taken`` (claimed by someone else,
  moved to a team the agent does not serve, or erased);
- ``handoff_offer_rounds_total``: new rounds started because every agent who could
  take a conversation had passed on it (``[assignment] reoffer_after_seconds``).
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter

from handoff_server.metrics import REGISTRY

__all__ = ["OfferOutcome", "ended", "round_started", "sent"]

OfferOutcome = Literal["accepted", "declined", "expired", "withdrawn", "taken"]
"""How an offer ended, as counted."""

_SENT = Counter("handoff_offers_sent", "Push offers sent to an agent", registry=REGISTRY)
_ENDED = Counter(
    "handoff_offers_ended", "Push offers ended, by outcome", ["outcome"], registry=REGISTRY
)
_ROUNDS = Counter(
    "handoff_offer_rounds",
    "New rounds of offers started after every agent passed on a conversation",
    registry=REGISTRY,
)
for _outcome in ("accepted", "declined", "expired", "withdrawn", "taken"):
    _ENDED.labels(outcome=_outcome)  # every outcome shows, at 0 until it happens


def sent() -> None:
    """Count an offer sent."""
    _SENT.inc()


def ended(outcome: OfferOutcome) -> None:
    """Count an offer ended with ``outcome``."""
    _ENDED.labels(outcome=outcome).inc()


def round_started() -> None:
    """Count a new round of offers started."""
    _ROUNDS.inc()
