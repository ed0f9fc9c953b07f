"""What the agent app knows, as plain objects: no Textual, no I/O.

The app applies what the server says to an :class:`AgentModel`; screens and widgets read
it. See :mod:`handoff_tui.model.agent` for the whole, :mod:`handoff_tui.model.queue`,
:mod:`handoff_tui.model.staff` and :mod:`handoff_tui.model.conversation` for its parts.
"""

from handoff_tui.model.agent import AgentModel, LinkStatus, ServerLimits
from handoff_tui.model.conversation import ConversationState, PendingSend, allowed, status_hint
from handoff_tui.model.names import UNNAMED_VISITOR, visitor_label
from handoff_tui.model.operator import OperatorModel, PolicyDraft
from handoff_tui.model.queue import QueueFilter, QueueModel, QueueSort, QueueView, format_wait
from handoff_tui.model.staff import DeskFrame, StaffModel, TransferTarget

__all__ = [
    "AgentModel",
    "ConversationState",
    "DeskFrame",
    "StaffModel",
    "TransferTarget",
    "LinkStatus",
    "OperatorModel",
    "PendingSend",
    "PolicyDraft",
    "QueueFilter",
    "QueueModel",
    "QueueSort",
    "QueueView",
    "ServerLimits",
    "allowed",
    "format_wait",
    "status_hint",
    "UNNAMED_VISITOR",
    "visitor_label",
]
