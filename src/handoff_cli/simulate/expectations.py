"""Checking a finished conversation against what its script expects.

Each expectation is read from what the conversation really received:

- ``answered``, ``answered_from``, ``min_confidence``: the AI's ``ai_message`` on the turn
  (its ``sources`` and ``confidence``, which visitors receive); the confidence of a turn
  that was handed off is read on the agents' side (the queue row's trigger).
- ``escalated``, ``escalated_by``: the ``escalated`` event and its trigger kind.
- ``team``: the queue row the agents' side saw for that handoff (needs an agent token).
- ``wait_estimate``, ``fallback``: a ``wait_estimate`` / ``fallback_offer`` frame to the
  visitor (:data:`ROUTING_FRAMES`: the frames of issue 11's routing).
- ``no_ai_after_handoff``: no ``ai_message`` between a handoff and the next
  ``handed_back`` or ``reopened``; ``resolved``, ``handed_back``: those events.

A result is ``met``, ``unmet``, ``not_observed`` (what it needs was not seen: the turn was
never reached, or the agents' side did not see the handoff) or ``not_supported``: the
server never sent the frame it needs in the whole run, which is what a server without
that feature does; such a check fails saying so instead of passing or guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from handoff_cli.simulate.record import ConversationRecord, Escalation, TurnRecord
from handoff_cli.simulate.scenario import ConversationExpect, TurnExpect

__all__ = ["ROUTING_FRAMES", "Failure", "Verdict", "check_conversation"]

ROUTING_FRAMES = {"wait_estimate": "wait_estimate", "fallback": "fallback_offer"}
"""Expectation → the visitor frame type that shows it."""

Verdict = Literal["unmet", "not_observed", "not_supported"]


@dataclass
class Failure:
    """An expectation that did not hold: which visitor, conversation and turn (1-based;
    ``None`` for the whole conversation), the ``expectation`` key, what was
    ``expected`` and what was ``actual``, the ``verdict``, a sentence, the transcript."""

    visitor: str
    conversation_id: str | None
    turn: int | None
    expectation: str
    expected: Any
    actual: Any
    verdict: Verdict
    detail: str
    transcript: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


@dataclass
class _Check:
    """Checks of one conversation: how many ran, which failed."""

    record: ConversationRecord
    seen: set[str]
    checked: int = 0
    failures: list[Failure] = field(default_factory=list)

    def result(
        self,
        turn: int | None,
        key: str,
        expected: Any,
        actual: Any,
        ok: bool,
        verdict: Verdict = "unmet",
        detail: str = "",
    ) -> None:
        self.checked += 1
        if ok:
            return
        self.failures.append(
            Failure(
                visitor=self.record.script.name,
                conversation_id=self.record.conversation_id,
                turn=turn,
                expectation=key,
                expected=expected,
                actual=actual,
                verdict=verdict,
                detail=detail or f"expected {expected!r}, got {actual!r}",
                transcript=self.record.transcript,
            )
        )

    def routing(self, turn: int | None, key: str, expected: Any, payloads: list[Any]) -> None:
        """``wait_estimate`` / ``fallback``: from the frames ``payloads`` of the window."""
        frame_type = ROUTING_FRAMES[key]
        got = bool(payloads)
        actual: Any = got
        if isinstance(expected, str):
            offered = {c.get("option") for p in payloads for c in p.get("choices", [])}
            got, actual = expected in offered, sorted(str(o) for o in offered)
        if got != bool(expected) and frame_type not in self.seen:
            detail = (
                f"not supported by this server: no {frame_type} frame arrived in this whole "
                "run (a server without issue 11's routing never sends one)"
            )
            self.result(turn, key, expected, None, False, "not_supported", detail)
        else:
            self.result(turn, key, expected, actual, got == bool(expected))


def _handoff_seen(check: _Check, rec: TurnRecord) -> list[Escalation]:
    """The agents' view of the handoff this turn caused (empty when unseen or none)."""
    side, index = check.record.agent_side, rec.escalation_index
    return [side[index]] if index is not None and index < len(side) else []


def _confidence(check: _Check, number: int, rec: TurnRecord, minimum: float) -> None:
    """``min_confidence``: the answer's, or for a handoff the one agents saw."""
    seen = _handoff_seen(check, rec)
    conf = seen[0].confidence if seen else rec.confidence
    if conf is None and rec.outcome == "escalated" and not seen:
        check.result(
            number,
            "min_confidence",
            minimum,
            None,
            False,
            "not_observed",
            "handed off; the confidence of such a turn is shown to agents only"
            " and the agents' side did not see it (give --agent-token)",
        )
    else:
        ok = conf is not None and conf >= minimum
        check.result(number, "min_confidence", minimum, conf, ok)


def _turn_checks(check: _Check, number: int, rec: TurnRecord, exp: TurnExpect) -> None:
    answered, escalated = rec.outcome == "answered", rec.outcome == "escalated"
    if exp.answered is not None:
        check.result(number, "answered", exp.answered, rec.outcome, answered == exp.answered)
    if exp.answered_from is not None:
        got = rec.sources if answered else rec.outcome
        ok = answered and exp.answered_from in rec.sources
        check.result(number, "answered_from", exp.answered_from, got, ok)
    if exp.min_confidence is not None:
        _confidence(check, number, rec, exp.min_confidence)
    if exp.escalated is not None:
        check.result(number, "escalated", exp.escalated, rec.outcome, escalated == exp.escalated)
    if exp.escalated_by is not None:
        ok = escalated and rec.trigger == exp.escalated_by
        check.result(number, "escalated_by", exp.escalated_by, rec.trigger or rec.outcome, ok)
    if exp.team is not None:
        _team(check, number, exp.team, _handoff_seen(check, rec), escalated)
    start, end = rec.window
    for key in ROUTING_FRAMES:
        expected = getattr(exp, key)
        if expected is not None:
            frames = check.record.payloads(ROUTING_FRAMES[key], start, end)
            check.routing(number, key, expected, frames)


def _team(check: _Check, turn: int | None, team: str, seen: list[Any], escalated: bool) -> None:
    teams = [e.team for e in seen]
    if escalated and not seen:
        check.result(
            turn,
            "team",
            team,
            None,
            False,
            "not_observed",
            "handed off, but the agents' side did not see the handoff in the queue",
        )
    else:
        check.result(turn, "team", team, teams, team in teams)


def _after_handoff(record: ConversationRecord) -> int:
    """AI messages between a handoff and the next handback or reopening."""
    human, count = False, 0
    for kind in record.kinds():
        if kind == "escalated":
            human = True
        elif kind in ("handed_back", "reopened"):
            human = False
        elif kind == "ai_message" and human:
            count += 1
    return count


def _conversation_checks(check: _Check, exp: ConversationExpect) -> None:
    record = check.record
    if exp.escalated is not None:
        check.result(
            None, "escalated", exp.escalated, record.escalated, record.escalated == exp.escalated
        )
    if exp.escalated_by is not None:
        check.result(
            None,
            "escalated_by",
            exp.escalated_by,
            record.triggers,
            exp.escalated_by in record.triggers,
        )
    if exp.team is not None:
        _team(check, None, exp.team, record.agent_side, record.escalated)
    for key in ROUTING_FRAMES:
        expected = getattr(exp, key)
        if expected is not None:
            check.routing(None, key, expected, record.payloads(ROUTING_FRAMES[key]))
    if exp.no_ai_after_handoff:
        n = _after_handoff(record)
        check.result(
            None, "no_ai_after_handoff", True, f"{n} AI message(s) after the handoff", n == 0
        )
    kinds = set(record.kinds())
    if exp.resolved is not None:
        check.result(
            None,
            "resolved",
            exp.resolved,
            "resolved" in kinds,
            ("resolved" in kinds) == exp.resolved,
        )
    if exp.handed_back is not None:
        got = "handed_back" in kinds
        check.result(None, "handed_back", exp.handed_back, got, got == exp.handed_back)


def check_conversation(record: ConversationRecord, seen: set[str]) -> tuple[int, list[Failure]]:
    """Check ``record`` against its script: ``(expectations checked, failures)``.

    ``seen``: every frame type (and event kind) any conversation of the run received,
    which tells a feature the server lacks from one it did not use here."""
    check = _Check(record, seen)
    for index, turn in enumerate(record.script.turns):
        number = index + 1
        if index >= len(record.turns) or record.turns[index].outcome in ("pending", "timeout"):
            if turn.expect.model_fields_set:
                reason = record.unfinished_reason or "the turn got no outcome"
                check.result(
                    number,
                    "reached",
                    True,
                    False,
                    False,
                    "not_observed",
                    f"the turn was not completed: {reason}",
                )
            continue
        _turn_checks(check, number, record.turns[index], turn.expect)
    _conversation_checks(check, record.script.expect)
    return check.checked, check.failures
