"""The operator's fallback policy: what a visitor is offered when nobody can come, and the
queue gate past which that offer is made.

Plain data, validated with the rest of the policy (``[policy.fallbacks]`` in TOML,
``fallbacks`` in ``handoff policy export``). The gate lives in the policy, not in the
server's config, because operators tune it while the server runs (a busy Monday, a
team short of people): a policy import applies it to the next escalation, versioned
with its history like the thresholds, and it sits next to ``business_hours`` and the
order of the fallbacks it triggers. Deciding with it is :mod:`handoff_server.routing`'s.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from handoff_server.escalation.policy_numbers import PolicyFloat, PolicyInt
from handoff_server.protocol import FallbackOption, TeamName

__all__ = ["FALLBACK_OPTIONS", "FallbackPolicy", "QueueGate"]

FALLBACK_OPTIONS: tuple[FallbackOption, ...] = (
    "wait",
    "callback",
    "offline_message",
    "ai_continues",
)
"""Every fallback, in the default order: stay queued with the wait estimate; a call back
(phone or email and a preferred time); an offline message (message + email) answered
later by email; the AI keeps answering and a person follows up in the chat."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueGate(_Data):
    """How much waiting a team accepts before the fallback is offered.

    ``max_queue_length``: live conversations waiting for the team (callbacks and offline
    messages are not live and do not count), the new one included; ``max_wait_minutes``:
    the wait estimate of the new conversation (see ``docs/routing.md``). 0: no limit of
    that kind (TOML has no null, and a stored policy keeps no ``None``)."""

    max_queue_length: PolicyInt = Field(default=20, ge=0, le=100_000)
    max_wait_minutes: PolicyFloat = Field(default=30.0, ge=0, le=24 * 60)


class FallbackPolicy(_Data):
    """What happens when nobody can come (``docs/routing.md``).

    ``offer``: the fallbacks offered to the visitor, in this order (no repeats; empty:
    nothing is offered and the conversation simply stays queued). ``gate``: the limits
    of every team; ``teams``: per-team limits replacing them (team name → gate).
    ``outside_business_hours``: also offer the fallbacks outside ``Policy.business_hours``
    when agents are online (off by default: the default hours, 09–17 UTC on weekdays,
    are a placeholder, and a team online at night can serve its visitors)."""

    offer: list[FallbackOption] = Field(default_factory=lambda: list(FALLBACK_OPTIONS))
    gate: QueueGate = Field(default_factory=QueueGate)
    teams: dict[TeamName, QueueGate] = Field(default_factory=dict)
    outside_business_hours: bool = False

    @field_validator("offer")
    @classmethod
    def _no_repeats(cls, value: list[FallbackOption]) -> list[FallbackOption]:
        repeated = sorted({o for o in value if value.count(o) > 1})
        if repeated:
            raise ValueError(f"each fallback may appear once; repeated: {repeated}")
        return value

    def gate_for(self, team: str | None) -> QueueGate:
        """The gate of ``team`` (its own, else the shared one)."""
        return self.teams.get(team, self.gate) if team is not None else self.gate
