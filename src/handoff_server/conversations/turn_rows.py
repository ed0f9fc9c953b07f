"""The stored record of a decided AI turn (:class:`~handoff_server.store.AiTurnRow`).

Every AI turn is stored with its decision's inputs (the judging stage's signals, see
:mod:`handoff_server.escalation.signals`), so that the what-if replay
(:mod:`handoff_server.analytics.whatif`) can decide it again under another policy
without the AI, and the knowledge gaps can find the questions the AI failed. Pure: the
service stores what it returns with the turn's events, in one transaction.
"""

from __future__ import annotations

from handoff_server.conversations.turn import TurnResult, says_yes
from handoff_server.store import AiTurnRow, ConversationRecord

__all__ = ["turn_row"]


def turn_row(
    conv: ConversationRecord, text: str, result: TurnResult, *, pressed: bool
) -> AiTurnRow | None:
    """The row of the turn ``result`` on the visitor message ``text`` (the conversation's
    last event, ``conv.last_seq``). ``pressed``: the visitor pressed "talk to a person"
    (an accepted offer of a person is explicit too, but only after an offer: the replay
    decides that again). ``None`` when the policy failed to evaluate (no signals)."""
    s = result.signals
    if s is None:
        return None
    from handoff_server.escalation.signals import to_record

    decision = result.decision
    answer = result.answer
    return AiTurnRow(
        conversation_id=conv.id,
        seq=conv.last_seq,
        at=s.now,
        text=text,
        policy_version=decision.policy_version,
        action=decision.action,
        trigger=decision.trigger,
        confidence=answer.confidence if answer is not None else None,
        threshold=result.threshold,
        question=result.question,
        entry_id=answer.entry_id if answer is not None else None,
        exchange=s.exchanges,
        pressed=pressed,
        said_yes=says_yes(text),
        **to_record(s),
    )
