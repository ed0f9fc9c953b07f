"""Conversations: the lifecycle, AI turns, the event log and what each reader sees.

- :mod:`.service`: :class:`ConversationService`, the orchestrator (lock → load →
  decide → store → publish);
- :mod:`.lifecycle`: status × action → new status, or a typed refusal (a table);
- :mod:`.turn`: :func:`evaluate_turn`, one AI turn decided (the server and
  ``handoff triage`` both call it);
- :mod:`.changes`: the events and columns each change stores;
- :mod:`.projections`: visitor view, queue row, handoff packet, the draft;
- :mod:`.sink`: the interface the service publishes through.
"""

from handoff_server.conversations.projections import (
    build_packet,
    question_analysis,
    to_event,
    visitor_view,
)
from handoff_server.conversations.service import ConversationService, finish_task
from handoff_server.conversations.sink import EventSink
from handoff_server.conversations.turn import TurnInput, TurnResult, evaluate_turn

__all__ = [
    "ConversationService",
    "EventSink",
    "TurnInput",
    "TurnResult",
    "build_packet",
    "evaluate_turn",
    "finish_task",
    "question_analysis",
    "to_event",
    "visitor_view",
]
